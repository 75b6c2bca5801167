"""Prometheus exposition on the api: ``GET /metrics`` (``mount_observability``), with the
queue and buffer depths read from Redis at scrape time.

The metrics themselves, and the small server the worker and scheduler serve them from, are
in ``taskplane.metrics``; each process exposes the default registry of its own process.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from taskplane import messages, metrics  # registers every taskplane metric family in this process
from taskplane.worker import recorder

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"


def mount_observability(app: FastAPI) -> None:
    """Add ``GET /metrics`` (outside the OpenAPI document) to the api. Idempotent.

    Open unless the ``metrics_token`` setting is set; then a scrape must send
    ``Authorization: Bearer <metrics_token>`` (compared in constant time), else 401."""
    if any(getattr(route, "path", None) == METRICS_PATH for route in app.router.routes):
        return

    @app.get(METRICS_PATH, include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        if not _may_scrape(request):
            return JSONResponse(
                status_code=401,
                content={"detail": "metrics need the metrics token"},
                headers={"WWW-Authenticate": "Bearer"},
            )
        await observe_backlog(request.app)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: Request) -> bool:
    settings = getattr(request.app.state, "settings", None)
    token = getattr(settings, "metrics_token", None)
    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)


async def observe_backlog(app: FastAPI) -> None:
    """Set the broker queue depth (per queue of the registered task types), the recorder
    buffer depth (asked of the recorder, the buffer's owner) and the open alert incidents
    per kind from Redis at scrape time, so the api alone shows the backlog. A Redis that
    cannot answer leaves the gauges as they were."""
    resources = getattr(app.state, "resources", None)
    services = getattr(app.state, "services", None)  # none before the lifespan has run
    if resources is None or services is None:
        return
    registry = services.registry
    keys = resources.keys
    queues = sorted(registry.queues())
    try:
        depths = await messages.queue_depths(resources.redis, keys, queues)
        depth = await recorder.buffered(resources.redis, keys)
        open_alerts = await services.alerts.open_counts()
    except Exception:  # metrics must never fail the scrape
        log.warning("backlog metrics unavailable", exc_info=True)
        return
    for queue, queue_depth in depths.items():
        metrics.BROKER_QUEUE_DEPTH.labels(queue).set(queue_depth)
    metrics.RECORDER_BUFFER_DEPTH.set(depth)
    for kind, count in open_alerts.items():
        metrics.ALERTS_OPEN.labels(str(kind)).set(count)
