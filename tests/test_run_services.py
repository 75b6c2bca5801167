"""Where a test run's PostgreSQL lives when the machine's does not answer: a private cluster
(``initdb`` + ``pg_ctl`` into a temp dir, on a free port), never SQLite."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from taskplane.embedded_redis import free_port
from tests import services as test_services

pytestmark = pytest.mark.slow


def _unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres"
    monkeypatch.setenv("TASKPLANE_TEST_DATABASE_URL", url)


async def _version(url: str) -> int:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"), timeout=10)
    try:
        return int(await conn.fetchval("select current_setting('server_version_num')"))
    finally:
        await conn.close()


def test_an_unreachable_postgresql_starts_a_private_cluster_not_sqlite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _unreachable(monkeypatch)
    monkeypatch.delenv("TASKPLANE_TEST_REQUIRE_SERVICES", raising=False)
    found = test_services.decide()
    server = found._private_postgres
    try:
        assert server is not None and server.is_running()
        assert found.database_kind == "postgresql"
        assert found.database_url.startswith("postgresql+asyncpg://")
        assert found.database_url.endswith(f":{server.port}/taskplane_test_{found.run_id}")
        (note,) = [n for n in found.notes if n.startswith("PostgreSQL unreachable")]
        assert f"port {server.port}" in note and server.password not in note
        # the run's database is a real PostgreSQL, made for this run
        assert asyncio.run(_version(found.database_url)) >= 130000
    finally:
        test_services.teardown(found)
    assert not server.dir.exists()  # removed with the run


def test_required_services_fail_the_run_instead_of_starting_a_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _unreachable(monkeypatch)
    monkeypatch.setenv("TASKPLANE_TEST_REQUIRE_SERVICES", "1")
    with pytest.raises(RuntimeError, match="PostgreSQL unreachable"):
        test_services.decide()


def test_no_initdb_fails_the_run_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    _unreachable(monkeypatch)
    monkeypatch.delenv("TASKPLANE_TEST_REQUIRE_SERVICES", raising=False)

    def no_initdb() -> None:
        raise AssertionError("no initdb: install PostgreSQL's server binaries")

    monkeypatch.setattr("tests.faults.postgres.bin_dir", no_initdb)
    with pytest.raises(RuntimeError, match="no private cluster can start: no initdb"):
        test_services.decide()
