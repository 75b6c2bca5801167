"""POST /schedules/{id}/skip and /unskip: chosen upcoming fires left out (API.md, "Skipping
runs"), validated against the schedule's own next fire times, against real Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis

from taskplane.epoch import to_ms
from taskplane.state.keys import Keys
from tests.api.configs import create


async def started(client: httpx.AsyncClient, **overrides: Any) -> int:
    cid = int((await create(client, **overrides))["id"])
    assert (await client.post(f"/schedules/{cid}/start")).status_code == 200
    return cid


async def detail(client: httpx.AsyncClient, cid: int) -> dict[str, Any]:
    response = await client.get(f"/schedules/{cid}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_skipped_fire_leaves_next_runs_and_unskip_restores_it(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    cid = await started(client)
    runs = (await detail(client, cid))["next_runs"]
    assert len(runs) == 5
    skipped = client.post(f"/schedules/{cid}/skip", json={"due_at": runs[1:3], "note": "release"})
    response = await skipped
    assert response.status_code == 200, response.text
    assert response.json() == {
        "config_id": cid,
        "skipped_runs": [{"due_at": t, "note": "release"} for t in runs[1:3]],
    }
    after = await detail(client, cid)
    assert after["skipped_runs"] == [{"due_at": t, "note": "release"} for t in runs[1:3]]
    assert runs[1] not in after["next_runs"] and runs[2] not in after["next_runs"]
    assert after["next_runs"][:2] == [runs[0], runs[3]]
    # the live state and the history event
    stored = await redis.hgetall(keys.skips(cid))
    assert {int(k) for k in stored} == {to_ms(datetime.fromisoformat(t)) for t in runs[1:3]}
    event = after["recent_history"][0]
    assert event["event"] == "skipped_runs" and event["note"] == "release"
    assert event["details"]["action"] == "skip"
    audit = (await client.get("/audit", params={"config_id": cid})).json()["items"]
    newest = audit[0]
    assert (newest["action"], newest["actor"], newest["note"]) == (
        "skipped_runs",
        "admin",
        "release",
    )
    assert [datetime.fromisoformat(t) for t in event["details"]["due_at"]] == [
        datetime.fromisoformat(t) for t in runs[1:3]
    ]
    # skipping again changes nothing but the event; unskip restores the fire times
    restored = await client.post(f"/schedules/{cid}/unskip", json={"due_at": [runs[1]]})
    assert restored.status_code == 200
    assert restored.json()["skipped_runs"] == [{"due_at": runs[2], "note": "release"}]
    assert (await detail(client, cid))["next_runs"][:3] == [runs[0], runs[1], runs[3]]


async def test_a_time_that_is_no_fire_time_is_a_422_naming_its_index_and_changes_nothing(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    cid = await started(client)
    runs = (await detail(client, cid))["next_runs"]
    off_by_a_minute = (datetime.fromisoformat(runs[0]) + timedelta(minutes=1)).isoformat()
    far = (datetime.fromisoformat(runs[0]) + timedelta(days=5)).isoformat()  # > 1000 fires
    response = await client.post(
        f"/schedules/{cid}/skip", json={"due_at": [runs[0], off_by_a_minute, far]}
    )
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [
        ["body", "due_at", 1],
        ["body", "due_at", 2],
    ]
    assert await redis.exists(keys.skips(cid)) == 0
    bad_bodies: list[dict[str, Any]] = [{"due_at": []}, {"due_at": ["2026-01-01T00:00:00"]}, {}]
    for bad in bad_bodies:
        assert (await client.post(f"/schedules/{cid}/skip", json=bad)).status_code == 422
    assert (await detail(client, cid))["skipped_runs"] == []


async def test_a_schedule_that_is_not_active_is_a_409(client: httpx.AsyncClient) -> None:
    cid = await started(client)
    runs = (await detail(client, cid))["next_runs"]
    assert (await client.post(f"/schedules/{cid}/pause")).status_code == 200
    response = await client.post(f"/schedules/{cid}/skip", json={"due_at": runs[:1]})
    assert response.status_code == 409 and "paused" in response.json()["detail"]
    idle = int((await create(client, "idle"))["id"])
    response = await client.post(f"/schedules/{idle}/unskip", json={"due_at": runs[:1]})
    assert response.status_code == 409 and "inactive" in response.json()["detail"]
    assert (
        await client.post("/schedules/999999/skip", json={"due_at": runs[:1]})
    ).status_code == 404


async def test_an_excluded_time_cannot_be_skipped_and_next_runs_leave_it_out(
    client: httpx.AsyncClient,
) -> None:
    excluded = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    cid = await started(
        client,
        scheduler_type="interval",
        schedule_config={"hours": 24, "run_immediately": False, "exclude": {"dates": [excluded]}},
    )
    runs = [datetime.fromisoformat(t) for t in (await detail(client, cid))["next_runs"]]
    assert len(runs) == 5 and all(t.date().isoformat() != excluded for t in runs)
    assert runs[1] - runs[0] == timedelta(days=2)  # the excluded day's fire is left out
    assert runs[2] - runs[1] == timedelta(days=1)
    the_excluded_one = (runs[0] + timedelta(days=1)).isoformat()
    response = await client.post(f"/schedules/{cid}/skip", json={"due_at": [the_excluded_one]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "due_at", 0]


async def test_a_viewer_may_not_skip(viewer: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    cid = await started(client)
    runs = (await detail(client, cid))["next_runs"]
    response = await viewer.post(f"/schedules/{cid}/skip", json={"due_at": runs[:1]})
    assert response.status_code == 403


async def test_a_jittered_fire_is_skipped_by_the_send_time_next_runs_show(
    client: httpx.AsyncClient,
) -> None:
    cid = await started(
        client,
        scheduler_type="interval",
        schedule_config={"minutes": 10, "run_immediately": False, "jitter_seconds": 300},
    )
    runs = [datetime.fromisoformat(t) for t in (await detail(client, cid))["next_runs"]]
    assert all(t.second or t.microsecond for t in runs)  # jittered: not on the cadence
    response = await client.post(f"/schedules/{cid}/skip", json={"due_at": [runs[1].isoformat()]})
    assert response.status_code == 200, response.text
    [skipped] = response.json()["skipped_runs"]
    due = datetime.fromisoformat(skipped["due_at"])
    assert due <= runs[1] < due + timedelta(minutes=5)  # the due time, sent up to 300 s later
    after = [datetime.fromisoformat(t) for t in (await detail(client, cid))["next_runs"]]
    assert runs[1] not in after and after[:2] == [runs[0], runs[2]]


async def test_deleting_a_config_drops_its_skips(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    cid = await started(client)
    runs = (await detail(client, cid))["next_runs"]
    assert (
        await client.post(f"/schedules/{cid}/skip", json={"due_at": runs[:1]})
    ).status_code == 200
    version = int(await redis.get(keys.skips_version) or 0)
    assert await redis.sismember(keys.skipping, str(cid))
    assert (await client.delete(f"/configs/{cid}")).status_code == 204
    assert await redis.exists(keys.skips(cid)) == 0
    assert not await redis.sismember(keys.skipping, str(cid))
    assert int(await redis.get(keys.skips_version) or 0) == version + 1  # the engine reloads
