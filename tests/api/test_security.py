"""Security promises that are not about the browser (tests/api/test_browser_security.py has
the headers, CSP and CORS) and not about who may call what (test_auth_matrix.py):

- a token's plaintext is stored nowhere (no database column, no Redis key, no log record),
  and it is compared in constant time;
- a revoked token is refused on the next request by every api replica (a remembered lookup
  counts only under the shared token generation: test_token_cache.py);
- nothing read from Redis is unpickled or evaluated: no pickle / marshal / eval in the code,
  every taskiq serializer is JSON, and pickle payloads planted in every key an api request
  reads are never run;
- the dashboard puts API data into the page as text, never as HTML.
"""

from __future__ import annotations

import ast
import hmac
import logging
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq.serializers import JSONSerializer

import taskplane
from taskplane import auth, messages
from taskplane.api.app import create_app
from taskplane.db.models import Base
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.settings import Settings
from taskplane.state.history import HistoryEvent
from taskplane.state.keys import Keys
from taskplane.state.schedule_records import decode_state
from taskplane.worker.broker import TaskplaneBroker
from tests.api.configs import create
from tests.api.conftest import make_client
from tests.stored_registrations import put_text

Sessions = async_sessionmaker[AsyncSession]
PACKAGE = Path(taskplane.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
DASHBOARD_JS = sorted((PACKAGE / "dashboard" / "static").glob("*.js"))


# --- tokens --------------------------------------------------------------------------------


async def everything_stored(sessions: Sessions, redis: Redis, keys: Keys) -> str:
    """Every row of every table and every value under the test's Redis prefix, as text."""
    parts: list[str] = []
    async with sessions() as s:
        for table in Base.metadata.sorted_tables:
            rows = await s.execute(text(f"SELECT row_to_json(t)::text FROM {table.name} t"))
            parts.extend(row[0] for row in rows)
    async for key in redis.scan_iter(match=keys.prefix + "*", count=1000):
        kind = await redis.type(key)
        if kind == "string":
            parts.append(str(await redis.get(key) or ""))
        elif kind == "hash":
            parts.append(repr(await redis.hgetall(key)))
        elif kind == "list":
            parts.append(repr(await redis.lrange(key, 0, -1)))
        elif kind == "zset":
            parts.append(repr(await redis.zrange(key, 0, -1)))
        elif kind == "set":
            parts.append(repr(await redis.smembers(key)))
        elif kind == "stream":
            parts.append(repr(await redis.xrange(key)))
    return "\n".join(parts)


def logged(records: list[logging.LogRecord]) -> str:
    return "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in records)


async def test_a_token_is_stored_nowhere_and_logged_nowhere(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: Sessions,
    redis: Redis,
    keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = (await client.post("/tokens", json={"name": "ci", "role": "admin"})).json()
    secret = created["token"]
    async with make_client(app, secret) as holder:
        assert (await holder.get("/tokens")).status_code == 200  # last_used_at written
        cid = (await create(holder, "made-by-token"))["id"]
        assert (await holder.post(f"/schedules/{cid}/start")).status_code == 200
    assert (await client.delete(f"/tokens/{created['id']}")).status_code == 204
    async with make_client(app, secret) as holder:
        assert (await holder.get("/tokens")).status_code == 401
    stored = await everything_stored(sessions, redis, keys)
    assert auth.hash_token(secret) in stored  # the search does reach the token table
    assert secret not in stored
    assert secret[len(auth.TOKEN_PREFIX) :] not in stored
    assert caplog.records, "nothing was logged: the log check would prove nothing"
    assert secret not in logged(caplog.records)
    assert "admin-test-token" not in logged(caplog.records)


async def test_tokens_are_compared_in_constant_time(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    secret = (await client.post("/tokens", json={"name": "t", "role": "viewer"})).json()["token"]
    for token, status in (
        ("admin-test-token", 200),
        (secret, 200),
        ("admin-test-tokex", 401),
        (secret[:-1] + "x", 401),
    ):
        compared.clear()
        async with make_client(app, token) as caller:
            assert (await caller.get("/configs")).status_code == status
        assert compared, f"{token!r} was not compared with hmac.compare_digest"


def comparisons_of_secrets(tree: ast.AST) -> Iterator[str]:
    """``==`` / ``!=`` with an operand named like a secret (token, secret, digest, hash)."""
    secretish = re.compile(r"(?i)token|secret|digest|hash|password")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            continue
        for operand in [node.left, *node.comparators]:
            if isinstance(operand, ast.Constant) and operand.value is None:
                break
            name = ast.unparse(operand)
            if re.fullmatch(r"[A-Z]\w*\.\w+", name):
                break  # a model column: an SQL expression (a lookup by digest), not a compare
            if secretish.search(name) and not re.search(r"(?i)_id\b|count|len\(", name):
                yield ast.unparse(node)
                break


def test_no_secret_is_compared_with_equality() -> None:
    found = []
    for path in SOURCES:
        for line in comparisons_of_secrets(ast.parse(path.read_text(), str(path))):
            found.append(f"{path.relative_to(PACKAGE)}: {line}")
    assert found == []
    auth_source = (PACKAGE / "auth.py").read_text()
    assert auth_source.count("hmac.compare_digest(") >= 2


def test_the_equality_scan_finds_a_secret_compared_with_eq() -> None:
    def scan(source: str) -> list[str]:
        return list(comparisons_of_secrets(ast.parse(source)))

    assert scan("ok = given_token == settings.admin_token") != []
    assert scan("ok = row.token_hash != digest") != []
    assert scan("query.where(ApiToken.token_hash == digest)") == []
    assert scan("ok = token is None or row.token_id == 3") == []


async def test_a_revoked_token_is_refused_by_every_replica_on_the_next_request(
    settings: Settings, sessions: Sessions, redis: Redis
) -> None:
    replicas = [create_app(settings), create_app(settings)]
    async with (
        replicas[0].router.lifespan_context(replicas[0]),
        replicas[1].router.lifespan_context(replicas[1]),
        make_client(replicas[0], "admin-test-token") as admin,
    ):
        created = (await admin.post("/tokens", json={"name": "both", "role": "viewer"})).json()
        async with (
            make_client(replicas[0], created["token"]) as first,
            make_client(replicas[1], created["token"]) as second,
        ):
            for _ in range(3):  # warm whatever a replica might remember
                assert (await first.get("/configs")).status_code == 200
                assert (await second.get("/configs")).status_code == 200
            assert (await admin.delete(f"/tokens/{created['id']}")).status_code == 204
            assert (await second.get("/configs")).status_code == 401
            assert (await first.get("/configs")).status_code == 401


# --- nothing from Redis is unpickled or evaluated -------------------------------------------

UNSAFE_MODULES = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle"}
UNSAFE_BUILTINS = {"eval", "exec", "compile", "__import__"}


def unsafe_uses(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in UNSAFE_MODULES | {"jsonpickle"}:
                    yield f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.split(".")[0] in UNSAFE_MODULES | {"jsonpickle"}:
                yield f"from {module} import ..."
            if module.startswith("taskiq.serializers") or module.startswith("taskiq_redis"):
                for alias in node.names:
                    if "serializer" in alias.name.lower() and alias.name != "JSONSerializer":
                        yield f"from {module} import {alias.name}"
                    if alias.name.endswith(("ResultBackend", "ScheduleSource")):
                        yield f"from {module} import {alias.name} (built without review)"
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in UNSAFE_BUILTINS:
                yield ast.unparse(node)[:80]
            if isinstance(func, ast.Attribute) and func.attr == "with_serializer":
                arg = ast.unparse(node.args[0]) if node.args else ""
                if arg != "JSONSerializer()":
                    yield ast.unparse(node)[:80]
            if isinstance(func, ast.Attribute) and ast.unparse(func.value) == "yaml":
                loader = {k.arg: ast.unparse(k.value) for k in node.keywords}.get("Loader", "")
                if func.attr in {"unsafe_load", "full_load", "unsafe_load_all", "full_load_all"}:
                    yield ast.unparse(node)[:80]
                if func.attr in {"load", "load_all"} and "SafeLoader" not in loader:
                    yield ast.unparse(node)[:80]
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if "pickle" in name.lower():
                yield name


def test_the_code_never_unpickles_or_evaluates() -> None:
    assert len(SOURCES) > 50
    found = []
    for path in SOURCES:
        for use in unsafe_uses(ast.parse(path.read_text(), str(path))):
            found.append(f"{path.relative_to(PACKAGE)}: {use}")
    assert found == []


def test_the_scan_finds_what_it_looks_for() -> None:
    sample = """
import pickle
from taskiq.serializers import PickleSerializer
from taskiq_redis import RedisAsyncResultBackend
import yaml
eval(data)
yaml.load(data)
yaml.load(data, Loader=yaml.SafeLoader)
broker.with_serializer(CBORSerializer())
broker.with_serializer(JSONSerializer())
redis.eval(script, 1, key)
"""
    assert list(unsafe_uses(ast.parse(sample))) == [
        "import pickle",
        "from taskiq.serializers import PickleSerializer",
        "from taskiq_redis import RedisAsyncResultBackend (built without review)",
        "eval(data)",
        "yaml.load(data)",
        "broker.with_serializer(CBORSerializer())",
    ]


TRIPPED: list[str] = []


def trip(what: str) -> None:
    TRIPPED.append(what)


class Trap:
    """Unpickling this runs ``trip``: if anything unpickles it, TRIPPED says so."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (trip, ("unpickled",))


PAYLOADS = [pickle.dumps(Trap(), protocol=p) for p in (0, 2, pickle.HIGHEST_PROTOCOL)]


async def test_every_taskiq_serializer_is_json_and_no_decoder_unpickles(
    settings: Settings, keys: Keys
) -> None:
    broker = TaskplaneBroker(settings, keys, ["default"], consumer_name="security-test")
    try:
        assert type(broker.serializer) is JSONSerializer
        assert "Dummy" in type(broker.result_backend).__name__  # no result backend in Redis
        TRIPPED.clear()
        for payload in PAYLOADS:
            with pytest.raises(ValueError):
                broker.serializer.loadb(payload)
            with pytest.raises(ValueError):
                messages.decode(payload)
            assert SchedulerCoreService.decode(payload) is None
            with pytest.raises(ValueError):
                HistoryEvent.from_json(payload.decode("latin-1"))
            decode_state(1, {"status": "active", "metadata": payload.decode("latin-1")})
        assert TRIPPED == []
    finally:
        await broker.connection_pool.disconnect()


async def test_pickle_planted_in_redis_is_never_run_by_any_read(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    cid = (await create(client, "planted"))["id"]
    assert (await client.post(f"/schedules/{cid}/start")).status_code == 200
    trap = PAYLOADS[0].decode("ascii")  # protocol 0 is text: what a string read returns
    await redis.hset(keys.schedule(cid), mapping={"metadata": trap, "note": trap, "j:name": trap})
    await redis.lpush(keys.history(cid), trap)
    await put_text(redis, keys, cid, trap)
    await redis.hset(keys.workers, "w-planted", trap)
    await redis.hset(keys.scheduler_instances, "s-planted", trap)
    await redis.set(keys.scheduler_leader, trap)
    TRIPPED.clear()
    for path in (
        f"/configs/{cid}",
        f"/configs/{cid}?include_stats=true",
        "/configs",
        "/schedules",
        f"/schedules/{cid}",
        f"/schedules/{cid}/history",
        "/schedules/summary",
        "/system/status",
        "/system/health",
        "/system/dashboard",
    ):
        response = await client.get(path)
        # health is 503 here (the planted heartbeats are no heartbeats); never a 500
        assert response.status_code < 500 or path == "/system/health", (path, response.text)
        assert response.status_code != 500, (path, response.text)
    assert TRIPPED == []


# --- the dashboard writes text, never HTML ----------------------------------------------------

# Writing into these parses the value as HTML; `escapeHtml(...)` is the one way a value built
# from API data may reach them (the dashboard has no such sink today).
HTML_SINK = re.compile(
    r"\.(innerHTML|outerHTML)\s*\+?=\s*(?P<value>[^;]+)"
    r"|\.insertAdjacentHTML\(\s*[^,]+,\s*(?P<adjacent>[^;]+)\)"
    r"|document\.write(ln)?\((?P<written>[^;]+)\)"
    r"|\.setAttribute\(\s*[\"'`](on\w+|href|src|srcdoc)[\"'`]"
    r"|new\s+Function\(|\beval\(|set(Timeout|Interval)\(\s*[\"'`]"
)
LITERAL = re.compile(r"^\s*([\"'])[^\"'`$]*\1\s*$")


def unsafe_sinks(source: str) -> list[str]:
    bad = []
    for match in HTML_SINK.finditer(source):
        value = match.group("value") or match.group("adjacent") or match.group("written")
        if value is not None and (LITERAL.match(value) or value.strip().startswith("escapeHtml(")):
            continue
        bad.append(match.group(0)[:80])
    return bad


@pytest.mark.parametrize("script", DASHBOARD_JS, ids=lambda p: p.name)
def test_the_dashboard_inserts_api_data_as_text(script: Path) -> None:
    assert unsafe_sinks(script.read_text()) == []


def test_the_dashboard_builds_elements_in_one_place_from_text() -> None:
    # its one element builder (dom.js, imported by every view) appends strings as text
    # nodes, and attributes named on* are bound as listeners (never set as attribute text)
    builders = [p for p in DASHBOARD_JS if "export function el(" in p.read_text()]
    assert [p.name for p in builders] == ["dom.js"]
    source = builders[0].read_text()
    assert "document.createTextNode(" in source
    assert re.search(r'key\.startsWith\("on"\)\) node\.addEventListener', source)


def test_the_sink_check_finds_html_built_from_data() -> None:
    assert unsafe_sinks("row.innerHTML = `<td>${c.name}</td>`;") != []
    assert unsafe_sinks("row.innerHTML += c.name;") != []
    assert unsafe_sinks("box.insertAdjacentHTML('beforeend', c.name);") != []
    assert unsafe_sinks('a.setAttribute("href", c.url);') != []
    assert unsafe_sinks('row.innerHTML = "";') == []
    assert unsafe_sinks("row.innerHTML = escapeHtml(c.name);") == []
    assert unsafe_sinks("row.textContent = c.name;") == []


def test_the_trap_and_the_scripts_are_real() -> None:
    assert "app.js" in [p.name for p in DASHBOARD_JS]
    for payload in PAYLOADS:
        TRIPPED.clear()
        pickle.loads(payload)  # the control: a real unpickle trips it
        assert TRIPPED == ["unpickled"]
    TRIPPED.clear()
