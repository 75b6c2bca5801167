"""The interactive API docs at ``/docs``: Swagger UI served entirely from the package.

No CDN: the page, its start script and the Swagger UI assets (``static/swagger-ui/``,
swagger-ui-dist ``SWAGGER_UI_VERSION`` from the npm registry, unchanged; see its README)
come from this api, so ``/docs`` works on an air-gapped network and under the strict
Content-Security-Policy of ``api/security.py`` (no inline script). ReDoc is not served:
API.md's open paths are the health check, ``/openapi.json`` and ``/docs``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI_VERSION = "5.35.0"  # swagger-ui-dist, `npm pack swagger-ui-dist@5.35.0`
STATIC_DIR = Path(__file__).resolve().parent / "static"
DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"


def mount_docs(app: FastAPI) -> None:
    """Add ``GET /docs`` (open, outside the OpenAPI document) and its assets. Idempotent."""
    if any(getattr(route, "path", None) == ASSETS_PATH for route in app.router.routes):
        return
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> FileResponse:
        return FileResponse(STATIC_DIR / "docs.html", headers={"Cache-Control": "no-cache"})
