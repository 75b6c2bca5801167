"""``python -m taskplane.scheduling``: one scheduler instance, settings from TASKPLANE_*."""

from __future__ import annotations

import asyncio

from prometheus_client import start_http_server

from taskplane.logs import setup_logging
from taskplane.scheduling.process import run_scheduler
from taskplane.settings import load_settings


def main() -> None:
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format.value)
    if settings.scheduler_metrics_port:
        start_http_server(settings.scheduler_metrics_port)
    asyncio.run(run_scheduler(settings))


if __name__ == "__main__":
    main()
