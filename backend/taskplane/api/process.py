"""The api process: ``serve_api`` is its one entry (``taskplane api``): logging from settings,
then uvicorn on ``APP_FACTORY``, the app with /metrics and the dashboard. Each uvicorn worker
process builds its app from the environment's settings through the factory."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from taskplane import tracing
from taskplane.logs import setup_logging
from taskplane.settings import Settings, load_settings

APP_FACTORY = "taskplane.api.process:app_from_environment"


def _drop_color_message(record: logging.LogRecord) -> bool:
    """uvicorn attaches an ANSI-coloured copy of its message; the formatters would print it."""
    record.__dict__.pop("color_message", None)
    return True


def _setup_logging(settings: Settings) -> None:
    setup_logging(settings.log_level, settings.log_format.value)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_drop_color_message)


def app_from_environment() -> FastAPI:
    """uvicorn factory: the API app, settings from the environment (TASKPLANE_*); traces
    when an OTLP endpoint is set (``taskplane.tracing``: a span per request, flushed when
    the app's lifespan ends)."""
    from taskplane.api import connections
    from taskplane.api.app import create_app

    settings = load_settings()
    _setup_logging(settings)
    connections.configure(
        head_timeout_seconds=settings.api_head_timeout_seconds,
        write_timeout_seconds=settings.api_write_timeout_seconds,
    )
    tracing.setup(tracing.API)  # before create_app: it instruments the app when traces are on
    app = create_app(settings)
    app.state.owns_tracing = True  # the lifespan's end shuts it down (flush)
    app.state.settle_heap = True  # taskplane.heap: applied when the start-up is done
    return app


GRACEFUL_SHUTDOWN_SECONDS = 5
WORKER_HEALTHCHECK_SECONDS = 60
"""``--workers N``: how long uvicorn's supervisor waits for a worker's answer before it kills
it as hung. A spawned worker answers only once it has imported the app (about 3 s of CPU
here); uvicorn's default of 5 s killed every worker in a loop, none ever serving, on a machine
whose cores were busy (seen at a load of 14)."""


def serve_api(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int = 1,
    factory: str = APP_FACTORY,
) -> None:
    """Run uvicorn until SIGINT/SIGTERM; ``host`` / ``port`` default to the settings.
    ``factory`` is for the benchmarks only (their reference app, served the same way)."""
    import uvicorn

    from taskplane.api.connections import KEEP_ALIVE_SECONDS, BoundedHttpProtocol

    _setup_logging(settings)
    uvicorn.run(
        factory,
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        http=BoundedHttpProtocol,  # bounded heads, head and write timeouts (see there)
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # open GET /events streams never end by themselves: after this long they are cut,
        # so a stop never hangs on a dashboard left open
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
