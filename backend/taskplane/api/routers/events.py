"""``GET /events``: a server-sent event stream of schedule status changes and recorded
executions (``state/events.py``), with a comment line at least every
``events_keepalive_seconds`` so proxies keep it open. A viewer may listen.

Streams are bounded and revocable (``api/streams.py``): past a token's or the process's cap
the answer is 429; revoking the token ends its streams; a client that stops reading is
disconnected by the connection's write timeout (``api/connections.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse

from taskplane.api.deps import Caller
from taskplane.api.schemas.errors import documented
from taskplane.api.streams import OpenStreams, StreamRefused
from taskplane.state.events import Hub

router = APIRouter(tags=["system"])


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "server-sent events: `event: schedule` with data `{config_id, "
            "status, event}`, `event: execution` with data `{config_id, id, is_success, "
            "trigger}`, and a comment line (`: keep-alive`) at least every 15 s",
        },
        **documented(429),
    },
)
async def events(request: Request, principal: Caller) -> StreamingResponse:
    """`schedule` events `{config_id, status, event}` on every status change and `execution`
    events `{config_id, id, is_success, trigger}` on every recorded execution."""
    hub: Hub = request.app.state.events
    keepalive = request.app.state.settings.events_keepalive_seconds
    streams: OpenStreams = request.app.state.streams
    try:
        sub = streams.open(principal)
    except StreamRefused as exc:
        raise HTTPException(status_code=429, detail=str(exc)) from exc
    with contextlib.suppress(TimeoutError):
        await hub.ready()  # "connected" means listening: nothing after it is missed

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n: connected\n\n"
            while True:
                try:
                    event = await sub.get(keepalive)
                except StopAsyncIteration:
                    return
                yield event.sse() if event is not None else ": keep-alive\n\n"
        finally:
            streams.close(principal, sub)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
