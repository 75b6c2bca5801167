"""Prometheus exposition for every process: `/metrics` on the api (``mount_observability``)
and a small HTTP server on the worker and scheduler ports (``start_metrics_server``).

The metrics themselves are defined once in ``taskplane.metrics``; each process exposes the
default registry of its own process.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, start_http_server

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"


def mount_observability(app: FastAPI) -> None:
    """Add ``GET /metrics`` (open, outside the OpenAPI document) to the api. Idempotent."""
    if any(getattr(route, "path", None) == METRICS_PATH for route in app.router.routes):
        return

    @app.get(METRICS_PATH, include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def start_metrics_server(port: int, process: str, host: str = "0.0.0.0") -> bool:
    """Serve ``/metrics`` on ``port`` in a daemon thread (0 disables). A port already taken
    is a warning, not a failure: the process still does its work without metrics."""
    if port <= 0:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning(
            "metrics port unavailable; metrics disabled",
            extra={"component": process, "port": port, "reason": str(exc)},
        )
        return False
    log.info("metrics served", extra={"component": process, "port": port})
    return True
