"""``python -m taskplane.worker [--queue Q ...] [--concurrency N]``: a worker from the
environment's settings (TASKPLANE_*), the same process ``taskplane worker`` runs."""

from __future__ import annotations

import argparse
import asyncio

from taskplane.logs import setup_logging
from taskplane.observability import start_metrics_server
from taskplane.settings import load_settings
from taskplane.worker.process import run_worker


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m taskplane.worker")
    parser.add_argument("--queue", "-q", action="append", default=[], help="queue (repeat)")
    parser.add_argument("--concurrency", type=int, default=10, help="executions at once")
    args = parser.parse_args(argv)
    settings = load_settings()
    setup_logging(settings.log_level, str(settings.log_format))
    start_metrics_server(settings.worker_metrics_port, "worker", settings.metrics_host)
    asyncio.run(run_worker(settings, args.queue or None, max(1, args.concurrency)))


if __name__ == "__main__":
    main()
