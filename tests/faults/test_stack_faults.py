"""A whole stack (api + scheduler + worker, real processes) against a private Redis with
append-only persistence and a private PostgreSQL with a password: Redis restarted, Redis
gone 10 s, PostgreSQL gone 10 s. Each time: the api answers 503 JSON (never 500, never a
trace) for what needs the missing store and answers the rest; every process recovers alone;
counted per task id and per due time, nothing is lost and nothing runs twice; and no token,
Authorization header or DSN password shows in any line any process wrote."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from taskplane.api.app import create_app
from taskplane.db import migrations
from taskplane.db.models import Base
from taskplane.db.session import make_engine
from taskplane.settings import Settings
from tests import services as test_services
from tests.conftest import make_test_settings
from tests.faults import figures, ledger_types
from tests.faults.conftest import Launch
from tests.faults.postgres import PrivatePostgres, private_postgres
from tests.faults.servers import PrivateRedis
from tests.faults.stack import (
    Reply,
    Stack,
    count,
    is_clean_refusal,
    leaks,
    stack_settings,
    unclean,
    wait_settled,
    watch,
)
from tests.support import eventually

pytestmark = [pytest.mark.slow, pytest.mark.faults]

OUTAGE_SECONDS = 10.0
EVERY_SECONDS = 1


def watched_paths(cid: int) -> list[str]:
    """Reads a client keeps making while a store goes and comes back."""
    return [f"/configs/{cid}", f"/executions?config_id={cid}", "/schedules/summary"]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
async def migrated(
    postgres: PrivatePostgres, services: test_services.TestServices
) -> PrivatePostgres:
    settings = make_test_settings(services, database_url=postgres.url)
    engine = make_engine(settings)
    try:
        await migrations.upgrade(engine, settings)
    finally:
        await engine.dispose()
    return postgres


async def _wipe(postgres: PrivatePostgres, services: test_services.TestServices) -> None:
    """Each test starts on empty tables: a config left by another test would be
    reconciled into this test's Redis and run."""
    engine = make_engine(make_test_settings(services, database_url=postgres.url))
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
async def stack(
    services: test_services.TestServices,
    server: PrivateRedis,
    migrated: PrivatePostgres,
    launch: Launch,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    await _wipe(migrated, services)
    settings = stack_settings(services, redis_url=server.url, database_url=migrated.url)
    running = Stack(settings, launch, tmp_path)
    try:
        yield await running.start()
    finally:
        await running.close()


async def viewer_token(stack: Stack) -> str:
    """A second secret: a viewer token, used by a second client during the scenario."""
    reply = await stack.call("POST", "/tokens", json={"name": "fault-viewer", "role": "viewer"})
    assert reply.status == 201, reply.body
    token: str = reply.json()["token"]
    return token


async def probe(
    stack: Stack, expected: dict[tuple[str, str], int], seconds: float, viewer: str
) -> list[tuple[Reply, int]]:
    """Ask every ``(method, path)`` again and again for ``seconds``; each reply with the
    status it should have. The viewer's token asks for the reads too."""
    out: list[tuple[Reply, int]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for (method, path), status in expected.items():
            out.append((await stack.call(method, path), status))
            if method == "GET":
                reply = await stack.call(
                    method, path, headers={"Authorization": f"Bearer {viewer}"}
                )
                out.append((reply, status))
        await asyncio.sleep(0.2)
    return out


def wrong(replies: list[tuple[Reply, int]]) -> list[str]:
    """Every reply that is not the expected status, or a 503 that is not clean JSON."""
    bad = []
    for reply, status in replies:
        ok = is_clean_refusal(reply, status) if status == 503 else reply.status == status
        if not ok:
            bad.append(f"{reply.label} -> {reply.status} {reply.error} {reply.body[:300]}")
    return bad


async def recovered(stack: Stack, ledger: Path, since: datetime, within: float = 60) -> float:
    """Seconds until health is ``ok`` again and a fire due after ``since`` has run."""
    started = time.monotonic()
    await stack.wait_healthy(within)

    async def fired_again() -> bool:
        for task_id, _ in ledger_types.read(ledger):
            stamp = task_id.rsplit("-", 1)[-1]
            if stamp.isdigit() and int(stamp) / 1000 > since.timestamp():
                return True
        return False

    await eventually(fired_again, within=within)
    return time.monotonic() - started


async def run_now(stack: Stack, config_id: int) -> str:
    reply = await stack.call("POST", f"/configs/{config_id}/run")
    assert reply.status == 202, reply.body
    task_id: str = reply.json()["task_id"]
    return task_id


async def finish(stack: Stack, config_id: int, ledger: Path) -> datetime:
    """Pause the schedule and wait until everything asked for has run and is recorded;
    returns the last due time that must be accounted for."""
    paused = await stack.call("POST", f"/schedules/{config_id}/pause", json={"note": "done"})
    assert paused.status == 200, paused.body
    until = datetime.now(UTC) - timedelta(seconds=2)
    await wait_settled(stack, config_id, ledger)
    return until


def stack_token(settings: Settings) -> str:
    assert settings.admin_token is not None
    return settings.admin_token.get_secret_value()


def secrets_of(stack: Stack, viewer: str, password: str) -> dict[str, str]:
    return {
        "admin token": stack.token,
        "Authorization header": f"Bearer {stack.token}",
        "viewer token": viewer,
        "DSN password": password,
    }


async def test_stack_rides_out_a_redis_restart_and_a_10s_redis_outage(
    stack: Stack,
    server: PrivateRedis,
    migrated: PrivatePostgres,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    viewer = await viewer_token(stack)
    ledger = tmp_path / "ledger"
    cid = await stack.create_ledger_config("redis-fault", ledger, every_seconds=EVERY_SECONDS)
    manual = {await run_now(stack, cid)}

    async def three_fires() -> bool:
        return len(ledger_types.read(ledger)) >= 3

    await eventually(three_fires, within=30)

    # what needs Redis answers 503; the execution records (PostgreSQL only) still answer
    expected = {
        ("GET", "/system/health"): 503,
        ("GET", "/schedules/summary"): 503,
        ("GET", f"/schedules/{cid}"): 503,
        ("GET", f"/configs/{cid}"): 503,
        ("POST", f"/configs/{cid}/run"): 503,
        ("POST", f"/schedules/{cid}/pause"): 503,
        ("DELETE", f"/configs/{cid}"): 503,
        ("GET", f"/executions?config_id={cid}"): 200,
    }
    recovery: dict[str, float] = {}
    replies: list[tuple[Reply, int]] = []
    watched: list[Reply] = []
    done = asyncio.Event()
    watcher = asyncio.create_task(watch(stack, watched_paths(cid), done, watched))
    for name, pause in (("restart", 0.0), ("outage", OUTAGE_SECONDS)):
        await asyncio.to_thread(server.stop)
        if pause:
            replies += await probe(stack, expected, pause, viewer)
        await asyncio.to_thread(server.start)
        back_at = datetime.now(UTC)
        recovery[name] = await recovered(stack, ledger, since=back_at)
        assert stack.alive() == {"api": True, "scheduler": True, "worker": True}
        manual.add(await run_now(stack, cid))
    done.set()
    await watcher

    assert replies and not wrong(replies), "\n".join(wrong(replies)[:20])
    assert not unclean(watched), "\n".join(unclean(watched)[:20])
    # the 503'd pause and delete changed nothing: the config is there, its schedule active
    config = await stack.call("GET", f"/configs/{cid}")
    assert config.status == 200 and config.json()["schedule_status"] == "active", config.body
    state = await stack.call("GET", f"/schedules/{cid}")
    assert state.status == 200 and state.json()["status"] == "active", state.body
    assert state.json()["status_consistent"] is True

    until = await finish(stack, cid, ledger)
    counted = await count(stack, cid, ledger, EVERY_SECONDS, until=until)
    runs = {task_id for task_id, _ in ledger_types.read(ledger)}
    assert manual <= runs, "a run the api accepted (202) never ran"
    assert counted.lost == 0 and counted.dues_unaccounted == 0, counted
    assert counted.duplicated == 0 and counted.unrequested == 0, counted
    assert counted.off_cadence == 0, counted

    leaked = leaks(
        {
            **stack.output(),
            **{f"reply {r.label}": r.body for r, _ in replies},
            **{f"reply {r.label}": r.body for r in watched},
        },
        secrets_of(stack, viewer, migrated.password),
    )
    assert not leaked, leaked
    figures.record(
        request,
        **counted.figures,
        recovery_after_restart_seconds=recovery["restart"],
        recovery_after_outage_seconds=recovery["outage"],
        outage_seconds=OUTAGE_SECONDS,
        replies_during_outage=len(replies),
        replies_watched=len(watched),
        answers=len(watched) + len(replies),
        answers_500=sum(1 for r in [*watched, *(r for r, _ in replies)] if r.status == 500),
        secret_leaks=len(leaked),
    )


async def test_stack_rides_out_a_10s_postgresql_outage(
    stack: Stack,
    migrated: PrivatePostgres,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    viewer = await viewer_token(stack)
    ledger = tmp_path / "ledger"
    cid = await stack.create_ledger_config("pg-fault", ledger, every_seconds=EVERY_SECONDS)

    async def three_recorded() -> bool:
        return len(await stack.executions(cid)) >= 3

    await eventually(three_recorded, within=30)

    # what needs PostgreSQL answers 503 (the viewer's token itself is checked there);
    # the schedule state (Redis only) still answers the admin
    expected = {
        ("GET", "/system/health"): 503,
        ("GET", f"/configs/{cid}"): 503,
        ("GET", f"/executions?config_id={cid}"): 503,
        ("POST", f"/configs/{cid}/run"): 503,
    }
    redis_only = {("GET", "/schedules/summary"): 200}
    watched: list[Reply] = []
    done = asyncio.Event()
    watcher = asyncio.create_task(watch(stack, watched_paths(cid), done, watched))
    await asyncio.to_thread(migrated.stop)
    before = len(ledger_types.read(ledger))
    replies = await probe(stack, expected, OUTAGE_SECONDS / 2, viewer)
    for (method, path), status in redis_only.items():
        replies.append((await stack.call(method, path), status))
    replies += await probe(stack, expected, OUTAGE_SECONDS / 2, viewer)
    ran_during = len(ledger_types.read(ledger)) - before
    await asyncio.to_thread(migrated.start)
    started = time.monotonic()

    recovery = await recovered(stack, ledger, since=datetime.now(UTC))
    done.set()
    await watcher
    assert stack.alive() == {"api": True, "scheduler": True, "worker": True}
    assert replies and not wrong(replies), "\n".join(wrong(replies)[:20])
    # the fires kept running while PostgreSQL was away, their records waited in Redis
    assert ran_during >= OUTAGE_SECONDS / EVERY_SECONDS / 2

    until = await finish(stack, cid, ledger)
    flushed = time.monotonic() - started
    counted = await count(stack, cid, ledger, EVERY_SECONDS, until=until)
    assert counted.lost == 0 and counted.dues_unaccounted == 0, counted
    assert counted.duplicated == 0 and counted.unrequested == 0, counted
    assert counted.off_cadence == 0, counted

    leaked = leaks(
        {
            **stack.output(),
            **{f"reply {r.label}": r.body for r, _ in replies},
            **{f"reply {r.label}": r.body for r in watched},
        },
        secrets_of(stack, viewer, migrated.password),
    )
    assert not leaked, leaked
    figures.record(
        request,
        **counted.figures,
        ran_during_outage=ran_during,
        recovery_seconds=recovery,
        all_recorded_after_seconds=flushed,
        outage_seconds=OUTAGE_SECONDS,
        replies_during_outage=len(replies),
        replies_watched=len(watched),
        answers=len(watched) + len(replies),
        answers_500=sum(1 for r in [*watched, *(r for r, _ in replies)] if r.status == 500),
        secret_leaks=len(leaked),
    )
    # last, so that the figures above are kept: while PostgreSQL shuts down and starts up
    # (it refuses sessions with SQLSTATE 57P03) reads must get a 503 too, never a 500
    assert not unclean(watched), "\n".join(unclean(watched)[:20])
    # and no request ever escaped the api's handlers (a dropped connection to its client)
    escaped = {
        name: text
        for name, text in stack.output().items()
        if "Exception in ASGI application" in text
    }
    assert not escaped, {name: text[-3000:] for name, text in escaped.items()}


async def test_api_answers_503_while_postgresql_refuses_sessions_shutting_down(
    services: test_services.TestServices,
    server: PrivateRedis,
    migrated: PrivatePostgres,
) -> None:
    """A PostgreSQL that is shutting down (or starting up) refuses new sessions with
    SQLSTATE 57P03 "cannot connect now": the api must call that unavailable (503 JSON),
    as it does a refused connection, not an unhandled error (500)."""
    await _wipe(migrated, services)
    settings = stack_settings(services, redis_url=server.url, database_url=migrated.url)
    app = create_app(settings)
    dsn = migrated.url.replace("postgresql+asyncpg", "postgresql")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver/api/v1",
            headers={"Authorization": f"Bearer {stack_token(settings)}"},
        ) as client,
    ):
        assert (await client.get("/configs")).status_code == 200
        holder = await asyncpg.connect(dsn)  # keeps a smart shutdown waiting
        try:
            await asyncio.to_thread(migrated.begin_stop, "smart")

            async def refusing() -> bool:
                try:
                    other = await asyncpg.connect(dsn)
                except asyncpg.exceptions.CannotConnectNowError:
                    return True
                await other.close()
                return False

            await eventually(refusing, within=30)
            # the next request needs a session: the engine's pool and the row reader's
            await app.state.resources.engine.dispose()
            await app.state.resources.rows.close()
            replies = [await client.get("/configs"), await client.get("/system/health")]
        finally:
            await holder.close()
            await eventually(lambda: _stopped(migrated), within=30)
            await asyncio.to_thread(migrated.start)
    for reply in replies:
        assert reply.status_code == 503, reply.text
        assert reply.headers["content-type"].startswith("application/json")
        assert "Traceback" not in reply.text
    assert replies[1].json()["database"]["ok"] is False


async def _stopped(server: PrivatePostgres) -> bool:
    return not server.is_running()
