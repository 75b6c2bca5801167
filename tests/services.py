"""Where the test run's PostgreSQL and Redis live, decided once per run.

Defaults are this machine's servers; TASKPLANE_TEST_DATABASE_URL / TASKPLANE_TEST_REDIS_URL
point elsewhere. If one is unreachable the run starts its own: a private PostgreSQL cluster
(``initdb`` + ``pg_ctl`` into a temp dir on a free port, as the fault suite does; removed at
the end of the run) / a private real Redis (the embedded ``redis-server`` of `taskplane dev`,
nothing on disk), and says so in its header, unless TASKPLANE_TEST_REQUIRE_SERVICES=1, in
which case the run fails. A test that claims PostgreSQL runs on PostgreSQL: the run's
database is never SQLite (the SQLite cases use their own engine, ``sqlite_engine``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from taskplane.embedded_redis import EmbeddedRedis
from tests.faults.postgres import PrivatePostgres

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class TestServices:
    run_id: str
    database_url: str
    database_kind: str  # "postgresql" (the machine's, or a private cluster: see notes)
    redis_url: str
    redis_kind: str  # "redis" or "embedded redis"
    notes: list[str] = field(default_factory=list)
    admin_pg_url: str | None = None
    database_name: str | None = None
    _private_postgres: PrivatePostgres | None = None
    _embedded_redis: EmbeddedRedis | None = None


def require_services() -> bool:
    return os.environ.get("TASKPLANE_TEST_REQUIRE_SERVICES", "") not in ("", "0", "false")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


async def _pg_admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def decide() -> TestServices:
    run_id = uuid.uuid4().hex[:10]
    pg = os.environ.get("TASKPLANE_TEST_DATABASE_URL", DEFAULT_PG)
    redis_url = os.environ.get("TASKPLANE_TEST_REDIS_URL", DEFAULT_REDIS)
    notes: list[str] = []
    problems: list[str] = []

    services = TestServices(run_id, "", "", "", "", notes)
    if _reachable(pg, 5432):
        services.database_kind = "postgresql"
    else:
        problems.append(f"PostgreSQL unreachable at {urlsplit(pg).netloc}")
        if not require_services():
            services._private_postgres = _start_private_postgres(problems[-1])
            pg = services._private_postgres.url
            services.database_kind = "postgresql"

    if services.database_kind:
        name = f"taskplane_test_{run_id}"
        asyncio.run(_pg_admin(pg, f'CREATE DATABASE "{name}"'))
        base = pg.rsplit("/", 1)[0]
        services.database_url = f"{base}/{name}"
        services.admin_pg_url = pg
        services.database_name = name

    if _reachable(redis_url, 6379):
        services.redis_url = redis_url
        services.redis_kind = "redis"
    else:
        problems.append(f"Redis unreachable at {urlsplit(redis_url).netloc}")
        services._embedded_redis = EmbeddedRedis().start()
        services.redis_url = services._embedded_redis.url
        services.redis_kind = "embedded redis"

    if problems and require_services():
        services.notes = problems
        teardown(services)
        raise RuntimeError("TASKPLANE_TEST_REQUIRE_SERVICES=1 but " + "; ".join(problems))
    notes.extend(f"{p}: started a private one ({_where(services, p)})" for p in problems)
    return services


def for_worker(run: TestServices, worker: str) -> TestServices:
    """A pytest-xdist worker's services: the servers the run decided on (``run``, decided
    once by the controller), its own database (``taskplane_test_<run>_<worker>``, dropped
    when the worker ends) and its own run id, so its Redis prefixes are its own too."""
    run_id = f"{run.run_id}_{worker}"
    services = TestServices(
        run_id, "", run.database_kind, run.redis_url, run.redis_kind, list(run.notes)
    )
    if run.admin_pg_url:
        name = f"taskplane_test_{run_id}"
        asyncio.run(_pg_admin(run.admin_pg_url, f'CREATE DATABASE "{name}"'))
        services.database_url = f"{run.admin_pg_url.rsplit('/', 1)[0]}/{name}"
        services.admin_pg_url = run.admin_pg_url
        services.database_name = name
    return services


def _start_private_postgres(problem: str) -> PrivatePostgres:
    try:
        server = PrivatePostgres()
    except AssertionError as exc:  # no initdb on this machine
        raise RuntimeError(f"{problem}, and no private cluster can start: {exc}") from exc
    try:
        server.init()
        server.start()
    except AssertionError as exc:
        server.remove()
        raise RuntimeError(f"{problem}, and the private cluster failed: {exc}") from exc
    return server


def _where(services: TestServices, problem: str) -> str:
    server = services._private_postgres
    if problem.startswith("PostgreSQL") and server is not None:
        return f"initdb cluster in {server.dir}, port {server.port}"
    return services.redis_url


def teardown(services: TestServices) -> None:
    if services.database_name and services.admin_pg_url:
        asyncio.run(
            _pg_admin(
                services.admin_pg_url,
                f'DROP DATABASE IF EXISTS "{services.database_name}" WITH (FORCE)',
            )
        )
    if services._private_postgres is not None:
        services._private_postgres.remove()
    if services._embedded_redis is not None:
        services._embedded_redis.stop()
