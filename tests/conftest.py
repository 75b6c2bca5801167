"""Fixtures against real PostgreSQL and Redis: one fresh database per run (created and
dropped), one unique Redis key prefix per test (its keys deleted after)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from taskplane.db import migrations
from taskplane.db.models import Base
from taskplane.db.rows import RowReader
from taskplane.db.session import make_engine, make_session_factory
from taskplane.resources import Resources, make_redis
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests import services as test_services
from tests.faults import figures, reliability

_SERVICES: test_services.TestServices | None = None
_counter = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    """The run's services, decided once (by the controller under pytest-xdist); each xdist
    worker then makes its own database on them (``pytest_configure_node``)."""
    global _SERVICES
    if _SERVICES is not None:
        return
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        run = test_services.TestServices(**workerinput["taskplane_services"])
        _SERVICES = test_services.for_worker(run, workerinput["workerid"])
        return
    try:
        _SERVICES = test_services.decide()
    except RuntimeError as exc:
        raise pytest.UsageError(str(exc)) from exc


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: what a worker needs of the run's services (not the private servers'
    handles: the controller keeps and removes those)."""
    s = _SERVICES
    assert s is not None
    node.workerinput["taskplane_services"] = {
        "run_id": s.run_id,
        "database_url": s.database_url,
        "database_kind": s.database_kind,
        "redis_url": s.redis_url,
        "redis_kind": s.redis_kind,
        "notes": s.notes,
        "admin_pg_url": s.admin_pg_url,
        "database_name": s.database_name,
    }


def pytest_unconfigure(config: pytest.Config) -> None:
    global _SERVICES
    if _SERVICES is not None:
        test_services.teardown(_SERVICES)
        _SERVICES = None


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = _SERVICES
    if s is None:
        return []
    lines = [
        f"taskplane: database={s.database_kind} ({s.database_url.rsplit('/', 1)[-1]}), "
        f"redis={s.redis_kind} ({s.redis_url}), run={s.run_id}"
    ]
    lines += [f"taskplane: NOTE {note}" for note in s.notes]
    return lines


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """How each test docs/reliability.md cites ended, next to its figures (figures.py)."""
    report = yield
    figures.outcome(item, report, reliability.cited())
    return report


@pytest.fixture(scope="session")
def services() -> test_services.TestServices:
    assert _SERVICES is not None
    return _SERVICES


def make_test_settings(services: test_services.TestServices, **overrides: Any) -> Settings:
    prefix = f"tp-test:{services.run_id}:{next(_counter)}:"
    values: dict[str, Any] = {
        "database_url": services.database_url,
        "redis_url": services.redis_url,
        "redis_prefix": prefix,
        "admin_token": "admin-test-token",
        "heartbeat_interval_seconds": 0.2,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(services: test_services.TestServices) -> Settings:
    return make_test_settings(services)


@pytest.fixture(scope="session")
async def engine(services: test_services.TestServices) -> AsyncIterator[AsyncEngine]:
    settings = make_test_settings(services)
    eng = make_engine(settings)
    await migrations.upgrade(eng, settings)
    yield eng
    await eng.dispose()


async def _wipe(eng: AsyncEngine) -> None:
    async with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())


@pytest.fixture
async def sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    yield make_session_factory(engine)
    await _wipe(engine)


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as s:
        yield s


@pytest.fixture(scope="session")
async def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncEngine]:
    path: Path = tmp_path_factory.mktemp("sqlite") / "contract.db"
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{path}")
    eng = make_engine(settings)
    await migrations.upgrade(eng, settings)
    yield eng
    await eng.dispose()


@pytest.fixture(params=["main", "sqlite"])
async def any_sessions(
    request: pytest.FixtureRequest, engine: AsyncEngine, sqlite_engine: AsyncEngine
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The data-access contract suite runs on the run's database and on SQLite (dev default)."""
    eng = engine if request.param == "main" else sqlite_engine
    yield make_session_factory(eng)
    await _wipe(eng)


async def delete_prefix(redis: Redis, prefix: str) -> None:
    batch: list[str] = []
    async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            await redis.delete(*batch)
            batch.clear()
    if batch:
        await redis.delete(*batch)


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = make_redis(settings)
    yield client
    await delete_prefix(client, settings.redis_prefix)
    pool = client.connection_pool
    in_use = len(getattr(pool, "_in_use_connections", ()))
    await client.aclose()
    await pool.disconnect()
    assert in_use == 0, f"{in_use} Redis connections still checked out at teardown"


@pytest.fixture
def keys(settings: Settings) -> Keys:
    return Keys(settings.redis_prefix)


@pytest.fixture
async def resources(
    settings: Settings,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
) -> AsyncIterator[Resources]:
    rows = RowReader(engine, max_size=2)
    yield Resources(
        settings=settings, engine=engine, sessions=sessions, redis=redis, keys=keys, rows=rows
    )
    await rows.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; a developer's TASKPLANE_* env never leaks in."""
    import os

    for name in list(os.environ):
        if name.startswith("TASKPLANE_") and not name.startswith("TASKPLANE_TEST_"):
            monkeypatch.delenv(name)
