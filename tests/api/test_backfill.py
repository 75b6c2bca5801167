"""POST /schedules/{id}/backfill (API.md, "Backfill"): admin sends, a viewer may dry-run;
the 422s name `end`; one `backfill` event per call that sends; trigger `backfill` is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis

from taskplane.state.keys import Keys
from tests.api.configs import create
from tests.support import stream_entries

HOURLY = {"cron_expression": "0 * * * *"}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def hours_before(now: datetime) -> list[datetime]:
    top = now.replace(minute=0, second=0, microsecond=0)
    return [top - timedelta(hours=n) for n in range(10)]


async def backfills(client: httpx.AsyncClient, cid: int) -> list[dict[str, object]]:
    history = (await client.get(f"/schedules/{cid}/history")).json()["items"]
    return [e for e in history if e["event"] == "backfill"]


async def test_a_viewer_may_dry_run_and_only_an_admin_sends(
    client: httpx.AsyncClient, viewer: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    cid = (await create(client, "hourly", schedule_config=HOURLY))["id"]
    ago = hours_before(datetime.now(UTC))
    body = {"start": iso(ago[3]), "end": iso(ago[0]), "dry_run": True}
    dry = await viewer.post(f"/schedules/{cid}/backfill", json=body)
    assert dry.status_code == 200, dry.text
    expected = [iso(ago[3]), iso(ago[2]), iso(ago[1])]
    assert [iso(datetime.fromisoformat(d)) for d in dry.json()["due_times"]] == expected
    assert dry.json()["sent"] == dry.json()["due_times"]
    assert dry.json()["already_ran"] == []
    assert await stream_entries(redis, keys.broker_stream("default")) == []
    assert await backfills(client, cid) == []

    refused = await viewer.post(f"/schedules/{cid}/backfill", json={**body, "dry_run": False})
    assert refused.status_code == 403
    assert await stream_entries(redis, keys.broker_stream("default")) == []

    sent = await client.post(
        f"/schedules/{cid}/backfill", json={**body, "dry_run": False, "note": "outage"}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["sent"] == dry.json()["due_times"]
    assert len(sent.json()["task_ids"]) == 3
    assert len(await stream_entries(redis, keys.broker_stream("default"))) == 3
    [event] = await backfills(client, cid)
    assert event["note"] == "outage"

    again = await client.post(f"/schedules/{cid}/backfill", json={**body, "dry_run": False})
    assert (again.json()["sent"], len(again.json()["already_ran"])) == ([], 3)
    assert len(await backfills(client, cid)) == 2  # one per call that is not a dry run
    audited = (await client.get("/audit", params={"config_id": cid})).json()["items"]
    entries = [e for e in audited if e["action"] == "backfill"]
    assert [(e["actor"], e["details"]["sent"]) for e in entries] == [("admin", 0), ("admin", 3)]
    assert len(await stream_entries(redis, keys.broker_stream("default"))) == 3


@pytest.mark.parametrize(
    ("start_hours", "end_delta", "msg"),
    [
        (2, timedelta(hours=1), "must not be in the future"),
        (2, timedelta(hours=-2), "must be after start"),
    ],
)
async def test_a_bad_window_is_422_naming_end(
    client: httpx.AsyncClient, start_hours: int, end_delta: timedelta, msg: str
) -> None:
    cid = (await create(client, f"w-{start_hours}-{msg}", schedule_config=HOURLY))["id"]
    now = datetime.now(UTC)
    start = now - timedelta(hours=start_hours)
    response = await client.post(
        f"/schedules/{cid}/backfill", json={"start": iso(start), "end": iso(now + end_delta)}
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", "end"], msg)
    assert await backfills(client, cid) == []


async def test_more_than_a_thousand_due_times_is_422_naming_end(
    client: httpx.AsyncClient,
) -> None:
    made = await create(client, "minutely", schedule_config={"cron_expression": "* * * * *"})
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    response = await client.post(
        f"/schedules/{made['id']}/backfill",
        json={"start": iso(now - timedelta(minutes=1001)), "end": iso(now), "dry_run": True},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "end"]
    ok = await client.post(
        f"/schedules/{made['id']}/backfill",
        json={"start": iso(now - timedelta(minutes=1000)), "end": iso(now), "dry_run": True},
    )
    assert ok.status_code == 200 and len(ok.json()["due_times"]) == 1000


async def test_manual_is_409_and_unknown_is_404_and_fields_are_required(
    client: httpx.AsyncClient,
) -> None:
    manual = await create(client, "by-hand", scheduler_type="manual", schedule_config={})
    now = datetime.now(UTC)
    window = {"start": iso(now - timedelta(hours=2)), "end": iso(now - timedelta(hours=1))}
    assert (
        await client.post(f"/schedules/{manual['id']}/backfill", json=window)
    ).status_code == 409
    assert (await client.post("/schedules/999999/backfill", json=window)).status_code == 404
    missing = await client.post(
        f"/schedules/{manual['id']}/backfill", json={"start": window["start"]}
    )
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "end"]


async def test_executions_know_the_backfill_trigger(client: httpx.AsyncClient) -> None:
    response = await client.get("/executions", params={"trigger": "backfill"})
    assert response.status_code == 200
    assert "backfill" in (await client.get("/system/enums")).json()["triggers"]
