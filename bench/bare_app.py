"""B4's reference: the api app exactly as ``taskplane api`` builds it (same factory, settings,
middleware, uvicorn options) plus two bench-only routes. ``GET /api/v1/bench/bare`` returns a
constant without the auth dependency. ``GET /api/v1/bench/floor/{id}`` does the I/O of a
config read and nothing else: the token lookup (the app's own auth dependency), one asyncpg
fetch of the config's row (the row reader's pool, plain SQL, the record as asyncpg gives
it) and one Redis pipeline (the commands the read model queues for one config with its
recent history), answered as JSON of the raw values. CPU per request on a taskplane
endpoint is reported as a ratio to each route's, measured in the same run: to the bare one
(what the framework costs) and to the floor (what a config read adds to its own I/O).

Only the benchmark imports this module: production serves ``taskplane.api.process``'s
factory, which never mounts the route (``python -m bench.bare_app --port N [--workers W]``).
"""

from __future__ import annotations

import argparse
import json

from fastapi import FastAPI, Response

from taskplane.api.deps import Caller, KeysDep, RedisDep, RowsDep
from taskplane.api.process import app_from_environment as taskplane_app
from taskplane.api.process import serve_api
from taskplane.api.routers.configs import DETAIL_HISTORY
from taskplane.scheduling import info_reads
from taskplane.settings import load_settings

BARE_PATH = "/api/v1/bench/bare"
FLOOR_PATH = "/api/v1/bench/floor"
FACTORY = "bench.bare_app:app_from_environment"


def app_from_environment() -> FastAPI:
    app = taskplane_app()

    @app.get(BARE_PATH, include_in_schema=False)
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    @app.get(FLOOR_PATH + "/{config_id}", include_in_schema=False)
    async def floor(
        config_id: int, _: Caller, rows: RowsDep, redis: RedisDep, keys: KeysDep
    ) -> Response:
        pool = await rows._open()  # the row reader's asyncpg pool (PostgreSQL only)
        record = await pool.fetchrow("SELECT * FROM task_config WHERE id = $1", config_id)
        async with redis.pipeline(transaction=False) as pipe:
            info_reads.queue(pipe, keys, [config_id], history=DETAIL_HISTORY)
            replies = await pipe.execute()
        body = {"row": dict(record) if record is not None else None, "redis": replies}
        return Response(json.dumps(body, default=str), media_type="application/json")

    return app


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bare_app")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    serve_api(load_settings(), port=args.port, workers=args.workers, factory=FACTORY)


if __name__ == "__main__":
    main()
