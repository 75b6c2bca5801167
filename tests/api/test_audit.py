"""Who did it, through the API: every history event names its actor (the token's name,
``admin`` for the settings' token), an update's event says what changed (secrets masked),
and ``GET /audit`` lists every change (filters, keyset paging, admin only, entries that
outlive their config, one per id of a bulk call, token changes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import auth
from taskplane.enums import Role
from tests.api.configs import create
from tests.api.conftest import make_client


async def _history(client: httpx.AsyncClient, config_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/schedules/{config_id}/history", params={"limit": 50})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _audit(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/audit", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _named_admin(sessions: async_sessionmaker[AsyncSession], name: str) -> str:
    async with sessions() as s, s.begin():
        _, plaintext = await auth.create_token(s, name, Role.ADMIN)
    return plaintext


async def test_every_event_names_the_token_that_caused_it(
    app: FastAPI, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    made = await create(
        client, scheduler_type="interval", schedule_config={"hours": 1, "run_immediately": True}
    )
    cid = made["id"]
    async with make_client(app, await _named_admin(sessions, "ops-bot")) as bot:
        assert (await bot.post(f"/schedules/{cid}/start", json={"note": "go"})).status_code == 200
        assert (await bot.post(f"/configs/{cid}/run")).status_code == 202
    assert (await client.post(f"/schedules/{cid}/pause")).status_code == 200

    events = [(e["event"], e["actor"]) for e in await _history(client, cid)]
    assert events == [
        ("paused", "admin"),
        ("run_requested", "ops-bot"),
        ("fired", "ops-bot"),  # the immediate run of the start it asked for
        ("started", "ops-bot"),
        ("created", "admin"),
    ]
    detail = (await client.get(f"/configs/{cid}")).json()
    assert {e["actor"] for e in detail["recent_history"]} == {"admin", "ops-bot"}

    audit = await _audit(client)
    assert [(e["action"], e["actor"], e["config_id"]) for e in audit["items"]] == [
        ("paused", "admin", cid),
        ("run_requested", "ops-bot", cid),
        ("started", "ops-bot", cid),
        ("created", "admin", cid),
    ]  # the immediate fire is no change someone made: not audited
    assert audit["total"] == 4
    started = audit["items"][2]
    assert started["note"] == "go" and started["config_name"] == "nightly"
    assert set(started) == {
        "id", "at", "actor", "action", "config_id", "config_name", "note", "details"
    }  # fmt: skip


async def test_an_update_records_each_change_with_secrets_masked(
    client: httpx.AsyncClient,
) -> None:
    made = await create(
        client,
        "hook",
        task_type="http_request",
        scheduler_type="interval",
        schedule_config={"hours": 1},
        parameters={"url": "https://example.com/a", "headers": {"X-Key": "sk-old"}},
    )
    cid = made["id"]
    changed = await client.patch(
        f"/configs/{cid}",
        json={
            "priority": 3,
            "description": "new words",
            "parameters": {"url": "https://example.com/b", "headers": {"X-Key": "sk-new"}},
        },
    )
    assert changed.status_code == 200, changed.text

    updated = (await _history(client, cid))[0]
    assert updated["event"] == "updated" and updated["actor"] == "admin"
    changes = updated["details"]["changes"]
    assert changes["priority"] == {"from": 0, "to": 3}
    assert changes["description"] == {"from": "says hello", "to": "new words"}
    assert changes["parameters"]["from"]["url"] == "https://example.com/a"
    assert changes["parameters"]["to"]["url"] == "https://example.com/b"
    assert changes["parameters"]["from"]["headers"] == "***"
    assert changes["parameters"]["to"]["headers"] == "***"
    assert set(changes) == {"priority", "description", "parameters"}

    entry = (await _audit(client, config_id=cid))["items"][0]
    assert entry["action"] == "updated" and entry["details"]["changes"] == changes
    assert "sk-old" not in str(await _audit(client)) and "sk-new" not in str(await _audit(client))


async def test_an_update_that_changes_nothing_records_nothing(client: httpx.AsyncClient) -> None:
    cid = (await create(client))["id"]
    before = await _history(client, cid)
    total = (await _audit(client))["total"]
    same = await client.patch(
        f"/configs/{cid}", json={"priority": 0, "description": "says hello", "name": "nightly"}
    )
    assert same.status_code == 200, same.text
    assert await _history(client, cid) == before
    assert (await _audit(client))["total"] == total == 1


async def test_audit_filters_by_config_actor_and_time_and_pages_by_cursor(
    app: FastAPI, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = (await create(client, "first"))["id"]
    second = (await create(client, "second"))["id"]
    async with make_client(app, await _named_admin(sessions, "deployer")) as deployer:
        for _ in range(3):
            assert (await deployer.post(f"/configs/{first}/run")).status_code == 202
        assert (await deployer.post(f"/configs/{second}/run")).status_code == 202

    everything = await _audit(client, limit=500)
    assert everything["total"] == 6
    ids = [e["id"] for e in everything["items"]]
    assert len(set(ids)) == 6
    assert [e["at"] for e in everything["items"]] == sorted(
        (e["at"] for e in everything["items"]), reverse=True
    )

    by_config = await _audit(client, config_id=first)
    assert by_config["total"] == 4
    assert [e["action"] for e in by_config["items"]] == ["run_requested"] * 3 + ["created"]
    by_actor = await _audit(client, actor="deployer")
    assert by_actor["total"] == 4
    assert [e["config_id"] for e in by_actor["items"]] == [second, first, first, first]
    both = await _audit(client, config_id=first, actor="deployer")
    assert both["total"] == 3 and {e["config_id"] for e in both["items"]} == {first}
    assert (await _audit(client, actor="nobody"))["items"] == []

    # keyset paging: two at a time, newest first, until empty; total stays the filter's
    seen: list[str] = []
    after: str | None = None
    while True:
        page = await _audit(client, limit=2, **({"after": after} if after else {}))
        assert page["total"] == 6
        if not page["items"]:
            break
        seen += [e["id"] for e in page["items"]]
        after = page["items"][-1]["id"]
    assert seen == ids
    paged_config = await _audit(client, config_id=first, limit=2, after=by_config["items"][1]["id"])
    assert [e["id"] for e in paged_config["items"]] == [e["id"] for e in by_config["items"][2:]]
    assert (await _audit(client, limit=2, offset=4))["items"] == everything["items"][4:]

    # time bounds: an entry's `at` is its id's millisecond
    newest = datetime.fromisoformat(everything["items"][0]["at"])
    only_newest = await _audit(client, since=newest.isoformat())
    assert [e["id"] for e in only_newest["items"]] == [
        e["id"] for e in everything["items"] if datetime.fromisoformat(e["at"]) >= newest
    ]
    oldest = datetime.fromisoformat(everything["items"][-1]["at"])
    assert (await _audit(client, until=(oldest - timedelta(milliseconds=1)).isoformat()))[
        "items"
    ] == []
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (await _audit(client, since=future))["total"] == 0
    ancient = "0001-01-01T00:00:00+00:00"  # before the epoch: no stream id, no error
    assert (await _audit(client, until=ancient))["total"] == 0
    assert (await _audit(client, since=ancient))["total"] == 6


async def test_audit_refuses_bad_queries_and_viewers(
    client: httpx.AsyncClient, viewer: httpx.AsyncClient
) -> None:
    await create(client)
    assert (await viewer.get("/audit")).status_code == 403
    for params, loc in (
        ({"after": "not-an-id"}, ["query", "after"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"config_id": 0}, ["query", "config_id"]),
        ({"since": "yesterday"}, ["query", "since"]),
        ({"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, ["query", "until"]),
    ):
        response = await client.get("/audit", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["detail"][0]["loc"] == loc


async def test_entries_outlive_their_config(client: httpx.AsyncClient) -> None:
    cid = (await create(client, "doomed"))["id"]
    assert (await client.post(f"/configs/{cid}/run")).status_code == 202
    assert (await client.delete(f"/configs/{cid}")).status_code == 204
    assert (await client.get(f"/schedules/{cid}/history")).status_code == 404
    entries = (await _audit(client, config_id=cid))["items"]
    assert [(e["action"], e["config_name"]) for e in entries] == [
        ("deleted", "doomed"),
        ("run_requested", "doomed"),
        ("created", "doomed"),
    ]


async def test_a_bulk_call_records_one_entry_per_config_changed(
    client: httpx.AsyncClient,
) -> None:
    ids = [
        (
            await create(
                client, f"bulk-{i}", scheduler_type="interval", schedule_config={"hours": 1}
            )
        )["id"]
        for i in range(3)
    ]
    started = await client.post(
        "/schedules/bulk/start", json={"config_ids": [*ids, 999_999], "note": "all at once"}
    )
    assert started.status_code == 200, started.text
    paused = await client.post("/schedules/bulk/pause", json={"config_ids": ids})
    assert paused.status_code == 200, paused.text
    again = await client.post("/schedules/bulk/pause", json={"config_ids": ids})  # 409 each
    assert len(again.json()["errors"]) == 3

    audit = (await _audit(client, limit=500))["items"]
    assert sorted(e["config_id"] for e in audit if e["action"] == "started") == ids
    assert sorted(e["config_id"] for e in audit if e["action"] == "paused") == ids
    assert len(audit) == 9  # 3 created, 3 started, 3 paused: refusals record nothing
    assert {e["note"] for e in audit if e["action"] == "started"} == {"all at once"}
    for cid in ids:
        events = [(e["event"], e["actor"]) for e in await _history(client, cid)]
        assert ("started", "admin") in events and ("paused", "admin") in events


async def test_token_changes_are_audited_without_their_secret(client: httpx.AsyncClient) -> None:
    made = await client.post("/tokens", json={"name": "reporter", "role": "viewer"})
    assert made.status_code == 201, made.text
    token_id, secret = made.json()["id"], made.json()["token"]
    assert (await client.delete(f"/tokens/{token_id}")).status_code == 204
    entries = (await _audit(client))["items"]
    assert [(e["action"], e["config_id"], e["details"]) for e in entries] == [
        ("token_revoked", None, {"token_id": token_id, "name": "reporter", "role": "viewer"}),
        ("token_created", None, {"token_id": token_id, "name": "reporter", "role": "viewer"}),
    ]
    assert secret not in str(entries)
