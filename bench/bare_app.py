"""B4's reference: the api app exactly as ``taskplane api`` builds it (same factory, settings,
middleware, uvicorn options) plus ONE bench-only route, ``GET /api/v1/bench/bare``, that
returns a constant without the auth dependency. CPU per request on a taskplane endpoint is
reported as a ratio to this route's, measured in the same run.

Only the benchmark imports this module: production serves ``taskplane.api.process``'s
factory, which never mounts the route (``python -m bench.bare_app --port N [--workers W]``).
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI

from taskplane.api.process import app_from_environment as taskplane_app
from taskplane.api.process import serve_api
from taskplane.settings import load_settings

BARE_PATH = "/api/v1/bench/bare"
FACTORY = "bench.bare_app:app_from_environment"


def app_from_environment() -> FastAPI:
    app = taskplane_app()

    @app.get(BARE_PATH, include_in_schema=False)
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    return app


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bare_app")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    serve_api(load_settings(), port=args.port, workers=args.workers, factory=FACTORY)


if __name__ == "__main__":
    main()
