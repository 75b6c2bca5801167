"""Serve the api under a path prefix (setting ``root_path``, e.g. ``/taskplane``).

A reverse proxy either forwards ``/taskplane/x`` as is or strips the prefix and forwards
``/x``; both reach the same route. The ASGI scope then says where the app lives
(``root_path``, with ``path`` including it, as the ASGI spec asks), so redirects and the
OpenAPI ``servers`` name the public URL. The dashboard and the docs use relative URLs, so they
need nothing more.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class RootPathMiddleware:
    """Sets ``root_path`` on every HTTP request and prefixes ``path`` when a proxy stripped it."""

    def __init__(self, app: ASGIApp, root_path: str) -> None:
        self.app = app
        self.root_path = root_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"} and self.root_path:
            path: str = scope["path"]
            prefix = self.root_path
            if path != prefix and not path.startswith(prefix + "/"):
                path = prefix + path
            scope = {**scope, "root_path": prefix, "path": path}
        await self.app(scope, receive, send)
