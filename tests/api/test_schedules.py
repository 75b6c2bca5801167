from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db import configs
from taskplane.enums import SchedulerType
from tests.api.configs import create


async def act(client: httpx.AsyncClient, cid: int, action: str, **body: Any) -> httpx.Response:
    return await client.post(f"/schedules/{cid}/{action}", json=body or None)


async def test_transition_table(client: httpx.AsyncClient) -> None:
    cid = (await create(client))["id"]
    started = await act(client, cid, "start", note="go")
    assert started.status_code == 200
    assert started.json() == {
        "config_id": cid,
        "action": "start",
        "success": True,
        "status": "active",
        "message": started.json()["message"],
    }
    again = (await act(client, cid, "start")).json()
    assert again["success"] is True and again["status"] == "active"
    assert "already" in again["message"]
    assert (await act(client, cid, "resume")).status_code == 409
    reloaded = await act(client, cid, "reload")
    assert reloaded.status_code == 200 and reloaded.json()["status"] == "active"
    paused = await act(client, cid, "pause", note="maintenance")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    conflict = await act(client, cid, "start")
    assert conflict.status_code == 409 and "paused" in conflict.json()["detail"]
    assert (await act(client, cid, "pause")).status_code == 409
    assert (await act(client, cid, "reload")).status_code == 409
    resumed = await act(client, cid, "resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    stopped = await act(client, cid, "stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "inactive"
    noop = (await act(client, cid, "stop")).json()
    assert noop["success"] is True and noop["status"] == "inactive"
    for action in ("pause", "resume", "reload"):
        response = await act(client, cid, action)
        assert response.status_code == 409 and "inactive" in response.json()["detail"]

    events = (await client.get(f"/schedules/{cid}/history")).json()
    names = [e["event"] for e in events["items"]]
    assert names == ["stopped", "resumed", "paused", "reloaded", "started", "created"]
    assert events["total"] == 6 and events["limit"] == 50 and events["offset"] == 0
    paused_event = events["items"][2]
    assert paused_event["note"] == "maintenance" and isinstance(paused_event["details"], dict)
    assert events["items"][-1]["note"] is None
    assert set(paused_event) >= {"event", "timestamp", "note", "details"}
    page = await client.get(f"/schedules/{cid}/history", params={"limit": 2, "offset": 1})
    assert [e["event"] for e in page.json()["items"]] == ["resumed", "paused"]


async def test_manual_config_refuses_schedule_actions_but_stops(
    client: httpx.AsyncClient,
) -> None:
    cid = (await create(client, scheduler_type="manual", schedule_config={}))["id"]
    for action in ("start", "pause", "resume", "reload"):
        assert (await act(client, cid, action)).status_code == 409, action
    stopped = await act(client, cid, "stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "inactive"


async def test_unknown_config_and_action(client: httpx.AsyncClient) -> None:
    assert (await act(client, 777777, "start")).status_code == 404
    cid = (await create(client))["id"]
    assert (await act(client, cid, "explode")).status_code == 422
    assert (await client.post(f"/schedules/{cid}/start", json={"note": 5})).status_code == 422
    assert (await client.get("/schedules/777777")).status_code == 404
    assert (await client.get("/schedules/777777/history")).status_code == 404


async def test_detail_next_runs_and_consistency(client: httpx.AsyncClient) -> None:
    cid = (await create(client))["id"]
    inactive = (await client.get(f"/schedules/{cid}")).json()
    for field in [
        "config_id",
        "status",
        "note",
        "metadata",
        "recent_history",
        "is_scheduled",
        "is_actually_scheduled",
        "status_consistent",
        "next_run_at",
        "next_runs",
    ]:
        assert field in inactive, field
    assert inactive["status"] == "inactive" and inactive["next_runs"] == []
    await act(client, cid, "start", note="on")
    active = (await client.get(f"/schedules/{cid}")).json()
    assert active["status"] == "active" and active["note"] == "on"
    assert active["is_scheduled"] and active["is_actually_scheduled"]
    assert active["status_consistent"] is True
    assert len(active["next_runs"]) == 5 and active["next_run_at"] == active["next_runs"][0]
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    date_id = (
        await create(
            client,
            name="once",
            scheduler_type="date",
            schedule_config={"run_date": when.isoformat()},
        )
    )["id"]
    await act(client, date_id, "start")
    pending = (await client.get(f"/schedules/{date_id}")).json()
    assert len(pending["next_runs"]) == 1
    assert datetime.fromisoformat(pending["next_runs"][0]) == when


async def test_list_and_summary(client: httpx.AsyncClient) -> None:
    a = (await create(client, name="a"))["id"]
    b = (await create(client, name="b"))["id"]
    await create(client, name="c", scheduler_type="manual", schedule_config={})
    await act(client, a, "start")
    await act(client, b, "start")
    await act(client, b, "pause")
    summary = (await client.get("/schedules/summary")).json()
    assert summary == {"total": 3, "active": 1, "paused": 1, "inactive": 1, "error": 0}
    page = (await client.get("/schedules")).json()
    assert page["total"] == 3
    item = next(i for i in page["items"] if i["config_id"] == a)
    assert item["name"] == "a" and item["task_type"] == "echo"
    assert item["schedule_status"] == "active" and item["next_run_at"] is not None
    assert "*/5 * * * *" in item["schedule"]
    paused = (await client.get("/schedules", params={"status": "paused"})).json()
    assert [i["config_id"] for i in paused["items"]] == [b]
    assert paused["items"][0]["next_run_at"] is None


async def test_every_status_shows_the_configured_schedule_in_words(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """An operator scanning the list sees what a paused, stopped or never-started schedule
    will do when it runs again, not null; ``manual`` for a manual config."""
    soon = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    cron = {"cron_expression": "0 9 * * 1-5", "timezone": "Europe/Berlin"}
    paused = (await create(client, name="paused", schedule_config=cron))["id"]
    stopped = (
        await create(
            client, name="stopped", scheduler_type="interval", schedule_config={"minutes": 2}
        )
    )["id"]
    never = (
        await create(
            client,
            name="never",
            scheduler_type="date",
            schedule_config={"run_date": soon.isoformat()},
        )
    )["id"]
    manual = (await create(client, name="manual", scheduler_type="manual", schedule_config={}))[
        "id"
    ]
    async with sessions() as session, session.begin():  # a date that has passed (completed)
        past = await configs.create(
            session,
            name="fired",
            task_type="echo",
            scheduler_type=SchedulerType.DATE,
            schedule_config={"run_date": "2020-01-01T00:00:00+00:00"},
            parameters={"message": "x"},
        )
    assert (await act(client, paused, "start")).status_code == 200
    active_words = (await client.get(f"/schedules/{paused}")).json()["schedule"]
    assert active_words == "cron 0 9 * * 1-5 (Europe/Berlin)"
    assert (await act(client, paused, "pause", note="db work")).status_code == 200
    assert (await act(client, stopped, "start")).status_code == 200
    assert (await act(client, stopped, "stop")).status_code == 200

    expected = {
        paused: ("paused", active_words),
        stopped: ("inactive", "every 120s"),
        never: ("inactive", f"at {soon.isoformat()}"),
        manual: ("inactive", "manual"),
        past.id: ("inactive", "at 2020-01-01T00:00:00+00:00"),
    }
    listed = {i["config_id"]: i for i in (await client.get("/schedules")).json()["items"]}
    for cid, (status, words) in expected.items():
        assert (listed[cid]["schedule_status"], listed[cid]["schedule"]) == (status, words), cid
        detail = (await client.get(f"/schedules/{cid}")).json()
        assert detail["schedule"] == words, cid
        assert (await client.get(f"/configs/{cid}")).json()["schedule"] == words, cid
    in_configs = {c["id"]: c for c in (await client.get("/configs")).json()["items"]}
    assert {cid: in_configs[cid]["schedule"] for cid in expected} == {
        cid: words for cid, (_, words) in expected.items()
    }
    # the paused one still has nothing due, and says so
    assert listed[paused]["next_run_at"] is None
