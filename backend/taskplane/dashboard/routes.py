"""Serve the dashboard: `index.html` at `/`, its assets under `/dashboard/`.

The page holds no secret: the user pastes a token, kept in the browser's sessionStorage,
and every call goes to the public `/api/v1` with it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS_PATH = "/dashboard"


def mount_dashboard(app: FastAPI) -> None:
    """Add the dashboard routes to the api. Idempotent."""
    if any(getattr(route, "path", None) == ASSETS_PATH for route in app.router.routes):
        return
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="dashboard")

    @app.get("/", include_in_schema=False)
    async def dashboard_index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})
