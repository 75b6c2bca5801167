"""Hostile and odd input through the API: deeply nested or huge ``parameters``, control
characters in names, SQL / Redis-protocol / HTML injection strings in names, descriptions,
notes and ``q``, and a storm of concurrent control actions on one config.

Each is refused with a clear 4xx or stored harmlessly and returned exactly as sent (escaping
is the dashboard's job); nothing else is touched, and a 5xx never happens.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db import configs
from taskplane.state.keys import Keys
from taskplane.storable import MAX_JSON_DEPTH
from tests.api.configs import config, create

Sessions = async_sessionmaker[AsyncSession]
JSON = {"Content-Type": "application/json"}
MIB = 1024 * 1024


def nested(depth: int, shape: str) -> str:
    """``depth`` levels of lists or objects around a 1, as JSON text (built as text: json
    itself would refuse to write it)."""
    if shape == "list":
        return "[" * depth + "1" + "]" * depth
    return '{"a": ' * depth + "1" + "}" * depth


def body_with(field: str, value_json: str) -> bytes:
    """A valid create body of an http_request config whose ``field`` holds ``value_json``."""
    body = config("deep", task_type="http_request", parameters={"url": "http://127.0.0.1:9/"})
    if field == "parameters":  # the `json` parameter takes any JSON value
        body["parameters"]["json"] = "@@"
    else:
        body["schedule_config"]["extra"] = "@@"
    return json.dumps(body).replace('"@@"', value_json).encode()


# --- nesting and size --------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500])
@pytest.mark.parametrize("shape", ["list", "object"])
@pytest.mark.parametrize("field", ["parameters", "schedule_config"])
async def test_nesting_past_the_limit_is_422_naming_the_deepest_field_checked(
    client: httpx.AsyncClient, sessions: Sessions, field: str, shape: str, depth: int
) -> None:
    response = await client.post(
        "/configs", content=body_with(field, nested(depth, shape)), headers=JSON
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    inner = "json" if field == "parameters" else "extra"
    step: str | int = 0 if shape == "list" else "a"
    assert error["loc"][:3] == ["body", field, inner]
    assert error["loc"][3:] == [step] * MAX_JSON_DEPTH
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in error["msg"]
    async with sessions() as s:
        assert await configs.count(s) == 0


@pytest.mark.parametrize("shape", ["list", "object"])
@pytest.mark.parametrize("depth", [10_000, 100_000])
async def test_nesting_too_deep_to_decode_is_a_clear_422(
    client: httpx.AsyncClient, sessions: Sessions, depth: int, shape: str
) -> None:
    response = await client.post(
        "/configs", content=body_with("parameters", nested(depth, shape)), headers=JSON
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert "nested too deeply" in error["msg"], error
    assert len(response.content) < 1000  # nothing of the input echoed
    deep_patch = b'{"parameters": ' + nested(depth, shape).encode() + b"}"
    update = await client.patch("/configs/1", content=deep_patch, headers=JSON)
    assert update.status_code == 422 and "nested too deeply" in update.text
    async with sessions() as s:
        assert await configs.count(s) == 0


async def test_deep_nesting_in_any_body_is_422_never_500(client: httpx.AsyncClient) -> None:
    deep = nested(10_000, "list").encode()
    for method, path, raw in (
        ("POST", "/runs", b'{"config_ids": ' + deep + b"}"),
        ("POST", "/tokens", b'{"name": "x", "role": "viewer", "x": ' + deep + b"}"),
        ("POST", "/schedules/1/stop", b'{"note": ' + deep + b"}"),
        ("PATCH", "/configs/1", deep),
    ):
        response = await client.request(method, path, content=raw, headers=JSON)
        assert response.status_code == 422, (path, response.text)


async def test_many_parameter_keys_under_the_body_limit_are_stored_and_returned_exactly(
    client: httpx.AsyncClient,
) -> None:
    many = {f"key-{i}": i for i in range(50_000)}
    body = config("many", task_type="http_request", parameters={"url": "http://x/", "json": many})
    assert len(json.dumps(body)) < MIB
    created = await client.post("/configs", json=body)
    assert created.status_code == 201, created.text[:300]
    read = await client.get(f"/configs/{created.json()['id']}")
    assert read.json()["parameters"]["json"] == many


async def test_parameters_over_the_body_limit_are_413_sent_whole_or_chunked(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    many = {f"key-{i}": i for i in range(120_000)}
    body = config("huge", task_type="http_request", parameters={"url": "http://x/", "json": many})
    raw = json.dumps(body).encode()
    assert len(raw) > MIB

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 65536):
            yield raw[start : start + 65536]

    whole = await client.post("/configs", content=raw, headers=JSON)
    chunked = await client.post("/configs", content=chunks(), headers=JSON)
    assert "content-length" not in chunked.request.headers
    for response in (whole, chunked):
        assert response.status_code == 413
        assert "detail" in response.json()
    async with sessions() as s:
        assert await configs.count(s) == 0


# --- control characters ------------------------------------------------------------------

# API.md bounds a name by length and uniqueness only: a control character is stored and
# returned exactly (JSON escapes it); only NUL, which PostgreSQL cannot store, is refused.
CONTROL_NAMES = [
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "bell\x07",
    "escape\x1b[31mred\x1b[0m",
    "delete\x7f",
    "c1\x85\x9b",
    "right-to-left\u202eevil",
    "zero\u200bwidth",
    "\x01\x02\x03",
]


async def test_control_characters_in_names_are_stored_and_returned_exactly(
    client: httpx.AsyncClient,
) -> None:
    ids = {}
    for name in CONTROL_NAMES:
        created = await client.post("/configs", json=config(name))
        assert created.status_code == 201, (name, created.text)
        assert created.json()["name"] == name
        ids[name] = created.json()["id"]
    for name, cid in ids.items():
        assert (await client.get(f"/configs/{cid}")).json()["name"] == name
        found = await client.get("/configs", params={"q": name})
        assert found.status_code == 200
        assert [c["name"] for c in found.json()["items"]] == [name]
    listed = (await client.get("/configs", params={"limit": 500})).json()["items"]
    assert sorted(c["name"] for c in listed) == sorted(CONTROL_NAMES)
    schedules = (await client.get("/schedules", params={"limit": 500})).json()["items"]
    assert sorted(s["name"] for s in schedules) == sorted(CONTROL_NAMES)
    bell = ids["bell\x07"]
    renamed = await client.patch(f"/configs/{bell}", json={"name": "new\x0bname"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "new\x0bname"
    taken = await client.post("/configs", json=config("tab\there"))
    assert taken.status_code == 409


async def test_a_nul_in_a_name_is_422_naming_name_on_create_and_update(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post("/configs", json=config("nul\x00name"))
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [["body", "name"]]
    cid = (await create(client, "fine"))["id"]
    update = await client.patch(f"/configs/{cid}", json={"name": "nul\x00name"})
    assert update.status_code == 422
    assert [e["loc"] for e in update.json()["detail"]] == [["body", "name"]]
    assert (await client.get(f"/configs/{cid}")).json()["name"] == "fine"


async def prefixed(redis: Redis, keys: Keys) -> set[str]:
    return {key async for key in redis.scan_iter(match=keys.prefix + "*", count=1000)}


# --- injection strings -------------------------------------------------------------------

INJECTIONS = [
    "x'; DROP TABLE task_config; --",
    "' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM api_token WHERE 1=1",
    "\r\n*1\r\n$8\r\nFLUSHALL\r\n",
    "*3\r\n$3\r\nSET\r\n$4\r\npwnd\r\n$1\r\n1\r\n",
    "x\r\nDEL taskplane:due\r\nQUIT\r\n",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg/onload=alert(document.cookie)>",
    "{{7*7}} ${7*7} %s %n",
    "%_\\",
]


async def test_injection_strings_are_stored_harmlessly_and_returned_exactly(
    client: httpx.AsyncClient, redis: Redis, keys: Keys, sessions: Sessions
) -> None:
    bystander = await create(
        client,
        "bystander",
        scheduler_type="interval",
        schedule_config={"seconds": 3600, "run_immediately": False},
    )
    assert (await client.post(f"/schedules/{bystander['id']}/start")).status_code == 200
    sentinel = keys.prefix + "sentinel"
    await redis.set(sentinel, "still here")
    before = await prefixed(redis, keys)
    ids = {}
    for i, text in enumerate(INJECTIONS):
        created = await client.post(
            "/configs",
            json=config(text, description=text, schedule_config={"cron_expression": "0 0 1 1 *"}),
        )
        assert created.status_code == 201, (text, created.text)
        assert created.headers["content-type"] == "application/json"
        cid = created.json()["id"]
        ids[text] = cid
        assert created.json()["name"] == text and created.json()["description"] == text
        for action in ("start", "pause"):
            acted = await client.post(f"/schedules/{cid}/{action}", json={"note": text})
            assert acted.status_code == 200, (text, acted.text)
        info = (await client.get(f"/schedules/{cid}")).json()
        assert info["note"] == text
        history = (await client.get(f"/schedules/{cid}/history")).json()["items"]
        assert [e["note"] for e in history[:2]] == [text, text]
        assert i + 2 == len((await client.get("/configs")).json()["items"])
    for text, cid in ids.items():
        read = (await client.get(f"/configs/{cid}")).json()
        assert (read["name"], read["description"]) == (text, text)
        found = await client.get("/configs", params={"q": text})
        assert found.status_code == 200
        assert [c["id"] for c in found.json()["items"]] == [cid], text
    # LIKE wildcards in q are literal characters, not patterns
    for wildcard in ("%", "_", "\\"):
        found = (await client.get("/configs", params={"q": wildcard})).json()["items"]
        expected = sorted(cid for text, cid in ids.items() if wildcard in text)
        assert expected and sorted(c["id"] for c in found) == expected, wildcard
    # nothing else was touched: the bystander, its registration, the other keys, the tokens
    assert await redis.get(sentinel) == "still here"
    assert await redis.get("pwnd") is None and await redis.get(keys.prefix + "pwnd") is None
    assert before <= await prefixed(redis, keys)
    info = (await client.get(f"/schedules/{bystander['id']}")).json()
    assert info["status"] == "active" and info["is_actually_scheduled"]
    assert await redis.zscore(keys.due, bystander["id"]) is not None
    async with sessions() as s:
        assert await configs.count(s) == len(INJECTIONS) + 1
    assert (await client.get("/tokens")).status_code == 200


# --- concurrent control actions ----------------------------------------------------------

CHANGED_EVENT = {
    "start": "started",
    "pause": "paused",
    "resume": "resumed",
    "stop": "stopped",
    "reload": "reloaded",
}


@pytest.mark.parametrize("seed", [17, 42])
async def test_concurrent_mixed_control_actions_end_consistent_with_one_event_per_change(
    client: httpx.AsyncClient, redis: Redis, keys: Keys, seed: int
) -> None:
    cid = (await create(client, "busy", schedule_config={"cron_expression": "0 0 1 1 *"}))["id"]
    chooser = random.Random(seed)
    actions = [chooser.choice(list(CHANGED_EVENT)) for _ in range(100)]

    async def act(i: int, action: str) -> tuple[int, str, httpx.Response]:
        return i, action, await client.post(f"/schedules/{cid}/{action}", json={"note": f"n{i}"})

    outcomes = await asyncio.gather(*(act(i, a) for i, a in enumerate(actions)))
    changed: dict[str, str] = {}
    for i, action, response in outcomes:
        assert response.status_code in {200, 409}, (action, response.text)
        body = response.json()
        if response.status_code == 200 and not body["message"].startswith("already"):
            changed[f"n{i}"] = CHANGED_EVENT[action]
    assert changed, "no action changed anything"

    history = (await client.get(f"/schedules/{cid}/history", params={"limit": 500})).json()
    events = {e["note"]: e["event"] for e in history["items"] if e["note"] is not None}
    assert len([e for e in history["items"] if e["note"] is not None]) == len(events)
    assert events == changed
    # the events, oldest first, are a walk the state machine allows
    status = "inactive"
    for event in reversed([e["event"] for e in history["items"] if e["note"] is not None]):
        status = walk(status, event)

    info = (await client.get(f"/schedules/{cid}")).json()
    assert info["status"] == status
    assert info["status_consistent"] is True
    assert info["is_actually_scheduled"] == (info["status"] == "active")
    registered = await redis.hexists(keys.schedule(cid), "r")
    due = await redis.zscore(keys.due, cid)
    assert bool(registered) == (due is not None) == (status == "active")
    assert await redis.sismember(keys.by_status(info["status"]), cid)
    summary = (await client.get("/schedules/summary")).json()
    assert summary[status] == 1 and summary["total"] == 1


def walk(status: str, event: str) -> str:
    allowed = {
        "started": ({"inactive", "error"}, "active"),
        "paused": ({"active"}, "paused"),
        "resumed": ({"paused"}, "active"),
        "reloaded": ({"active"}, "active"),
        "stopped": ({"active", "paused", "error"}, "inactive"),
    }
    sources, target = allowed[event]
    assert status in sources, f"{event} from {status}"
    return target
