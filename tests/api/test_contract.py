"""API.md clause by clause, for the clauses the per-resource tests do not already pin:
every field of the composed responses, schedule_config rules through the API, next_runs by
kind and status, history event shape, lists and 404s on every endpoint (from the route
table, so a new route is covered too), runs bounds, dashboard with data."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db import configs, executions
from taskplane.db.executions import ExecutionRecord
from taskplane.enums import Trigger
from taskplane.pages import Page
from taskplane.state.keys import Keys
from taskplane.state.schedule_records import ExecutionOutcome
from taskplane.state.schedule_state import ScheduleStateService
from tests.api.configs import config, create
from tests.stored_registrations import drop
from tests.support import stream_entries

Sessions = async_sessionmaker[AsyncSession]
UNKNOWN = 987_654_321


async def act(client: httpx.AsyncClient, cid: int, action: str, **body: Any) -> httpx.Response:
    return await client.post(f"/schedules/{cid}/{action}", json=body or None)


async def broker_messages(redis: Redis, keys: Keys) -> list[dict[str, Any]]:
    entries = await stream_entries(redis, keys.broker_stream("default"))
    return [json.loads(fields["data"]) for _, fields in entries]


# --- schedule_config rules, through the API ------------------------------------------------


async def test_unknown_schedule_config_key_is_422_naming_the_key(
    client: httpx.AsyncClient,
) -> None:
    cases = [
        ("cron", {"cron_expression": "* * * * *", "every": 5}, "every"),
        ("interval", {"seconds": 5, "cron_expression": "* * * * *"}, "cron_expression"),
        ("date", {"run_date": "2999-01-01T00:00:00Z", "seconds": 1}, "seconds"),
        ("manual", {"anything": 1}, "anything"),
        ("manual", {"overlap": "skip"}, "overlap"),
        ("manual", {"misfire_grace_seconds": 5}, "misfire_grace_seconds"),
    ]
    for kind, schedule, key in cases:
        body = config(f"k-{kind}-{key}", scheduler_type=kind, schedule_config=schedule)
        response = await client.post("/configs", json=body)
        assert response.status_code == 422, (kind, schedule, response.text)
        locs = [e["loc"] for e in response.json()["detail"]]
        assert ["body", "schedule_config", key] in locs, (kind, key, locs)
    assert (await client.get("/configs")).json()["total"] == 0


async def test_policy_values_are_validated(client: httpx.AsyncClient) -> None:
    for key, value in (
        ("misfire", "sometimes"),
        ("overlap", "never"),
        ("misfire_grace_seconds", 86401),
        ("misfire_grace_seconds", -1),
        ("misfire_grace_seconds", 1.5),
    ):
        body = config(schedule_config={"cron_expression": "* * * * *", key: value})
        response = await client.post("/configs", json=body)
        assert response.status_code == 422, (key, value)
        assert ["body", "schedule_config", key] in [e["loc"] for e in response.json()["detail"]]
    ok = config(
        schedule_config={
            "cron_expression": "* * * * *",
            "misfire": "skip",
            "misfire_grace_seconds": 86400,
            "overlap": "skip",
        }
    )
    assert (await client.post("/configs", json=ok)).status_code == 201


async def test_interval_units_add_up(client: httpx.AsyncClient) -> None:
    body = await create(
        client,
        name="units",
        scheduler_type="interval",
        schedule_config={
            "days": 1,
            "hours": 2,
            "minutes": 3,
            "seconds": 4,
            "run_immediately": False,
        },
    )
    started = await act(client, body["id"], "start")
    assert started.status_code == 200, started.text
    detail = (await client.get(f"/schedules/{body['id']}")).json()
    total = 86400 + 2 * 3600 + 3 * 60 + 4
    assert detail["schedule"] == f"every {total}s"
    runs = [datetime.fromisoformat(t) for t in detail["next_runs"]]
    assert len(runs) == 5
    assert all((b - a).total_seconds() == total for a, b in itertools.pairwise(runs))
    only_minutes = config("minutes", scheduler_type="interval", schedule_config={"minutes": 0})
    response = await client.post("/configs", json=only_minutes)
    assert response.status_code == 422  # adds up to 0 seconds
    assert response.json()["detail"][0]["loc"][:2] == ["body", "schedule_config"]


async def test_naive_run_date_is_utc_and_past_is_422(client: httpx.AsyncClient) -> None:
    when = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    naive = when.replace(tzinfo=None).isoformat()
    body = await create(
        client, name="naive", scheduler_type="date", schedule_config={"run_date": naive}
    )
    await act(client, body["id"], "start")
    detail = (await client.get(f"/schedules/{body['id']}")).json()
    assert [datetime.fromisoformat(t) for t in detail["next_runs"]] == [when]
    config_out = (await client.get(f"/configs/{body['id']}")).json()
    assert datetime.fromisoformat(config_out["next_run_at"]) == when
    past = (datetime.now(UTC) - timedelta(minutes=1)).replace(tzinfo=None).isoformat()
    response = await client.post(
        "/configs",
        json=config("past", scheduler_type="date", schedule_config={"run_date": past}),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "schedule_config", "run_date"]


async def test_cron_forms_and_timezone(client: httpx.AsyncClient) -> None:
    four = config("four", schedule_config={"cron_expression": "* * * *"})
    response = await client.post("/configs", json=four)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "schedule_config", "cron_expression"]
    fields = await create(
        client,
        name="fields",
        schedule_config={"minute": "0", "hour": "9", "timezone": "Europe/Berlin"},
    )
    await act(client, fields["id"], "start")
    detail = (await client.get(f"/schedules/{fields['id']}")).json()
    assert detail["schedule"] == "cron 0 9 * * * (Europe/Berlin)"
    from zoneinfo import ZoneInfo

    for at in detail["next_runs"]:
        local = datetime.fromisoformat(at).astimezone(ZoneInfo("Europe/Berlin"))
        assert (local.hour, local.minute) == (9, 0)
    bad_tz = config("badtz", schedule_config={"cron_expression": "* * * * *", "timezone": "Mars/X"})
    response = await client.post("/configs", json=bad_tz)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "schedule_config", "timezone"]
    bad_field = config("badfield", schedule_config={"minute": "61"})
    response = await client.post("/configs", json=bad_field)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "schedule_config", "minute"]


# --- config response fields ----------------------------------------------------------------


async def test_config_response_carries_redis_state_fields(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    body = await create(client, scheduler_type="interval", schedule_config={"seconds": 600})
    cid = body["id"]
    assert body["last_run_at"] is None and body["last_success"] is None
    started = (await client.post(f"/schedules/{cid}/start")).json()
    assert started["status"] == "active"
    active = (await client.get(f"/configs/{cid}")).json()
    assert active["schedule_status"] == "active" and active["is_scheduled"] is True
    assert active["status_consistent"] is True
    next_run = datetime.fromisoformat(active["next_run_at"])
    assert timedelta(seconds=500) < next_run - datetime.now(UTC) <= timedelta(seconds=600)

    state: ScheduleStateService = app.state.services.state
    finished = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    await state.record_executions([ExecutionOutcome(cid, "t1", False, finished)])
    after = (await client.get(f"/configs/{cid}")).json()
    assert datetime.fromisoformat(after["last_run_at"]) == finished
    assert after["last_success"] is False
    listed = (await client.get("/configs")).json()["items"][0]
    assert listed["last_success"] is False and listed["next_run_at"] == after["next_run_at"]

    await client.post(f"/schedules/{cid}/pause")
    paused = (await client.get(f"/configs/{cid}")).json()
    assert paused["schedule_status"] == "paused" and paused["is_scheduled"] is False
    assert paused["next_run_at"] is None and paused["status_consistent"] is True
    assert paused["last_success"] is False  # counters survive a pause


async def test_status_consistent_is_false_when_redis_disagrees(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    cid = (await create(client))["id"]
    await act(client, cid, "start")
    await redis.zrem(keys.due, str(cid))
    await drop(redis, keys, cid)
    body = (await client.get(f"/configs/{cid}")).json()
    assert body["schedule_status"] == "active" and body["status_consistent"] is False
    assert body["next_run_at"] is None
    detail = (await client.get(f"/schedules/{cid}")).json()
    assert detail["is_scheduled"] is True and detail["is_actually_scheduled"] is False
    assert detail["status_consistent"] is False and detail["next_runs"] == []


# --- schedule detail: next_runs by kind and status -------------------------------------------


async def test_next_runs_by_kind_and_status(client: httpx.AsyncClient) -> None:
    interval = (
        await create(client, name="iv", scheduler_type="interval", schedule_config={"seconds": 90})
    )["id"]
    await act(client, interval, "start")
    detail = (await client.get(f"/schedules/{interval}")).json()
    runs = [datetime.fromisoformat(t) for t in detail["next_runs"]]
    assert len(runs) == 5 and detail["next_run_at"] == detail["next_runs"][0]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(runs)] == [90.0] * 4

    await act(client, interval, "pause")
    paused = (await client.get(f"/schedules/{interval}")).json()
    assert paused["status"] == "paused" and paused["next_runs"] == []
    assert paused["next_run_at"] is None and paused["is_actually_scheduled"] is False

    manual = (await create(client, name="mn", scheduler_type="manual", schedule_config={}))["id"]
    detail = (await client.get(f"/schedules/{manual}")).json()
    assert detail["status"] == "inactive" and detail["next_runs"] == []
    assert detail["next_run_at"] is None

    cron = (await create(client, name="cr"))["id"]
    assert (await client.get(f"/schedules/{cron}")).json()["next_runs"] == []  # inactive
    await act(client, cron, "start")
    runs = (await client.get(f"/schedules/{cron}")).json()["next_runs"]
    assert len(runs) == 5
    assert all(datetime.fromisoformat(t).minute % 5 == 0 for t in runs)


async def test_fired_date_schedule_is_inactive_completed_with_no_next_runs(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    when = datetime.now(UTC) + timedelta(hours=1)
    cid = (
        await create(
            client,
            name="once",
            scheduler_type="date",
            schedule_config={"run_date": when.isoformat()},
        )
    )["id"]
    await act(client, cid, "start")
    await app.state.services.scheduler.complete(cid)  # what the engine calls after the fire
    detail = (await client.get(f"/schedules/{cid}")).json()
    assert detail["status"] == "inactive" and detail["next_runs"] == []
    assert detail["recent_history"][0]["event"] == "completed"


# --- history -------------------------------------------------------------------------------


async def test_history_event_shape(client: httpx.AsyncClient) -> None:
    cid = (await create(client))["id"]
    await act(client, cid, "start")
    await act(client, cid, "stop", note="done for today")
    await act(client, cid, "stop")  # a no-op records no event
    await act(client, cid, "start")  # no note
    page = (await client.get(f"/schedules/{cid}/history")).json()
    assert set(page) == {"items", "total", "limit", "offset"}
    items = page["items"]
    assert [e["event"] for e in items] == ["started", "stopped", "started", "created"]
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in items]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    for event in items:
        assert set(event) == {"event", "timestamp", "note", "details", "actor"}, event
        assert isinstance(event["details"], dict)
        assert datetime.fromisoformat(event["timestamp"]).tzinfo is not None
    assert items[1]["note"] == "done for today"
    assert items[0]["note"] is None
    assert {e["actor"] for e in items} == {"admin"}  # the settings' admin token
    created = items[-1]
    assert created["note"] is None and created["details"] == {}
    assert items[1]["details"] == {}  # a stop has nothing to add
    detail = (await client.get(f"/configs/{cid}")).json()
    assert detail["recent_history"] == items  # same events, same order


async def test_immediate_fire_is_in_history_with_due_at_and_trigger(
    client: httpx.AsyncClient,
) -> None:
    cid = (await create(client, scheduler_type="interval", schedule_config={"seconds": 3600}))["id"]
    await act(client, cid, "start")
    items = (await client.get(f"/schedules/{cid}/history")).json()["items"]
    fired = next(e for e in items if e["event"] == "fired")
    assert fired["details"]["trigger"] == "immediate" and "due_at" in fired["details"]


# --- PATCH of an active interval ----------------------------------------------------------


async def test_patch_of_active_interval_sends_an_immediate_message_before_answering(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    cid = (await create(client, scheduler_type="interval", schedule_config={"seconds": 3600}))["id"]
    await act(client, cid, "start")
    first = await broker_messages(redis, keys)
    assert [m["labels"]["trigger"] for m in first] == ["immediate"]
    response = await client.patch(f"/configs/{cid}", json={"parameters": {"message": "changed"}})
    assert response.status_code == 200
    sent = await broker_messages(redis, keys)
    assert len(sent) == 2
    assert sent[1]["labels"]["trigger"] == "immediate"
    assert sent[1]["kwargs"]["message"] == "changed"
    renamed = await client.patch(f"/configs/{cid}", json={"name": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["schedule_status"] == "active"
    assert len(await broker_messages(redis, keys)) == 2  # a rename re-registers nothing


# --- runs ------------------------------------------------------------------------------------


async def test_batch_run_accepts_1000_ids_and_reports_each_unknown(
    client: httpx.AsyncClient,
) -> None:
    cid = (await create(client))["id"]
    ids = [cid] + [UNKNOWN + i for i in range(999)]
    response = await client.post("/runs", json={"config_ids": ids})
    assert response.status_code == 202, response.text
    body = response.json()
    assert [d["config_id"] for d in body["dispatched"]] == [cid]
    assert len(body["errors"]) == 999
    assert all(set(e) == {"config_id", "detail"} for e in body["errors"])
    one = await client.post("/runs", json={"config_ids": [cid]})
    assert one.status_code == 202 and len(one.json()["dispatched"]) == 1
    for bad in ([0], [-1], ["x"], None):
        assert (await client.post("/runs", json={"config_ids": bad})).status_code == 422


# --- executions ----------------------------------------------------------------------------


async def test_execution_filters_combine(client: httpx.AsyncClient, sessions: Sessions) -> None:
    cid = (await create(client, scheduler_type="manual", schedule_config={}))["id"]
    now = datetime.now(UTC)
    records = [
        ExecutionRecord(
            config_id=cid,
            task_id=f"e{i}",
            task_type="echo",
            trigger=trigger,
            is_success=ok,
            attempt=1,
            started_at=now - timedelta(hours=hours),
            completed_at=now - timedelta(hours=hours) + timedelta(seconds=1),
            duration_seconds=1.0,
        )
        for i, (hours, ok, trigger) in enumerate(
            [
                (30, True, Trigger.IMMEDIATE),
                (20, False, Trigger.SCHEDULED),
                (10, True, Trigger.SCHEDULED),
                (1, False, Trigger.MANUAL),
            ]
        )
    ]
    async with sessions() as s, s.begin():
        await executions.insert_many(s, records)

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/executions", params=params)
        assert response.status_code == 200, response.text
        return [e["task_id"] for e in response.json()["items"]]

    since = (now - timedelta(hours=25)).isoformat()
    until = (now - timedelta(hours=5)).isoformat()
    assert await ids() == ["e3", "e2", "e1", "e0"]
    assert await ids(since=since, until=until) == ["e2", "e1"]
    assert await ids(trigger="scheduled", is_success="true") == ["e2"]
    assert await ids(trigger="immediate", config_id=cid) == ["e0"]
    assert await ids(config_id=cid, is_success="false", since=since) == ["e3", "e1"]
    assert (await client.get("/executions", params={"trigger": "cron"})).status_code == 422
    stats = (await client.get("/executions/stats", params={"config_id": cid})).json()
    assert stats["total"] == 4 and stats["success_rate"] == 0.5
    none = (await client.get("/executions/stats", params={"config_id": UNKNOWN})).json()
    assert none["total"] == 0 and none["success_rate"] is None
    assert none["avg_duration_seconds"] is None and none["p95_duration_seconds"] is None


async def test_delete_config_removes_its_execution_records(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    cid = (await create(client, scheduler_type="manual", schedule_config={}))["id"]
    now = datetime.now(UTC)
    async with sessions() as s, s.begin():
        await executions.insert_many(
            s,
            [
                ExecutionRecord(
                    config_id=cid,
                    task_id="gone",
                    task_type="echo",
                    trigger=Trigger.MANUAL,
                    is_success=True,
                    attempt=1,
                    started_at=now,
                    completed_at=now,
                    duration_seconds=0.0,
                )
            ],
        )
    assert (await client.get("/executions", params={"config_id": cid})).json()["total"] == 1
    assert (await client.delete(f"/configs/{cid}")).status_code == 204
    assert (await client.get("/executions", params={"config_id": cid})).json()["total"] == 0


# --- system --------------------------------------------------------------------------------


async def test_dashboard_with_data(client: httpx.AsyncClient, sessions: Sessions) -> None:
    cid = (await create(client, name="dash"))["id"]
    await act(client, cid, "start")
    now = datetime.now(UTC)
    async with sessions() as s, s.begin():
        await executions.insert_many(
            s,
            [
                ExecutionRecord(
                    config_id=cid,
                    task_id=f"d{i}",
                    task_type="echo",
                    trigger=Trigger.SCHEDULED,
                    is_success=i != 0,
                    attempt=1,
                    started_at=now - timedelta(minutes=i),
                    completed_at=now - timedelta(minutes=i),
                    duration_seconds=0.5,
                    error_message="boom" if i == 0 else None,
                )
                for i in range(4)
            ],
        )
    body = (await client.get("/system/dashboard")).json()
    assert set(body) == {"schedules", "executions_24h", "recent_failures", "next_fires"}
    assert body["schedules"] == {"total": 1, "active": 1, "paused": 0, "inactive": 0, "error": 0}
    assert body["executions_24h"] == {"total": 4, "failed": 1, "success_rate": 0.75}
    (failure,) = body["recent_failures"]
    assert failure["task_id"] == "d0" and failure["error_message"] == "boom"
    assert set(failure) >= {"id", "config_id", "trigger", "is_success", "started_at"}
    (fire,) = body["next_fires"]
    detail = (await client.get(f"/configs/{cid}")).json()
    assert fire == {"config_id": cid, "name": "dash", "next_run_at": fire["next_run_at"]}
    assert datetime.fromisoformat(fire["next_run_at"]) == datetime.fromisoformat(
        detail["next_run_at"]
    )


# --- every list, every id ----------------------------------------------------------------


def _routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    out = []
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if isinstance(original, APIRoute) and (route.path or "").startswith("/api/v1"):
            for method in sorted(route.methods or ()):
                out.append((method, route.path or "", original))
    return out


def _fill(path: str, value: int) -> str:
    return (
        path.replace("/api/v1", "")
        .replace("{config_id}", str(value))
        .replace("{execution_id}", str(value))
        .replace("{token_id}", str(value))
    )


def _is_page(route: APIRoute) -> bool:
    model = route.response_model
    return isinstance(model, type) and issubclass(model, Page)


async def test_every_list_endpoint_has_the_page_shape_and_bounds(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    cid = (await create(client))["id"]
    lists = [(m, p) for m, p, r in _routes(app) if m == "GET" and _is_page(r)]
    assert len(lists) >= 8, lists
    for _, template in lists:
        path = _fill(template, cid)
        default = await client.get(path)
        assert default.status_code == 200, (path, default.text)
        assert set(default.json()) == {"items", "total", "limit", "offset"}, path
        assert default.json()["offset"] == 0
        for params, field in (
            ({"limit": 0}, "limit"),
            ({"limit": 501}, "limit"),
            ({"limit": -5}, "limit"),
            ({"offset": -1}, "offset"),
        ):
            response = await client.get(path, params=params)
            assert response.status_code == 422, (path, params)
            assert response.json()["detail"][0]["loc"] == ["query", field], (path, params)
        edge = await client.get(path, params={"limit": 500, "offset": 0})
        assert edge.status_code == 200 and edge.json()["limit"] == 500, path
        one = await client.get(path, params={"limit": 1})
        assert one.json()["limit"] == 1 and len(one.json()["items"]) <= 1, path
        far = await client.get(path, params={"offset": 10_000})
        assert far.status_code == 200 and far.json()["items"] == [], path
        assert far.json()["total"] == default.json()["total"], path


BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/configs/{config_id}"): {"priority": 1},
    ("POST", "/api/v1/schedules/{config_id}/backfill"): {
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-02T00:00:00Z",
        "dry_run": True,
    },
    ("POST", "/api/v1/schedules/{config_id}/skip"): {"due_at": ["2026-01-01T00:00:00Z"]},
    ("POST", "/api/v1/schedules/{config_id}/unskip"): {"due_at": ["2026-01-01T00:00:00Z"]},
}


async def test_every_unknown_id_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    checked = 0
    for method, template, route in _routes(app):
        if not any(p.name.endswith("_id") for p in route.dependant.path_params):
            continue  # no id in the path (bulk control names its ids in the body)
        body = BODIES.get((method, template))
        actions = ["start", "stop", "pause", "resume", "reload"] if "{action}" in template else [""]
        for action in actions:
            path = _fill(template, UNKNOWN).replace("{action}", action)
            response = await client.request(method, path, json=body)
            assert response.status_code == 404, (method, path, response.text)
            assert isinstance(response.json()["detail"], str)
            checked += 1
    assert checked >= 13


@pytest.mark.parametrize("path", ["/configs/0", "/configs/x", "/executions/-1", "/schedules/0"])
async def test_malformed_ids_are_422(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 422


# --- transitions around error, paused, manual -----------------------------------------------


async def test_error_status_from_a_failed_registration_and_recovery(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    when = datetime.now(UTC) + timedelta(hours=1)
    cid = (
        await create(client, scheduler_type="date", schedule_config={"run_date": when.isoformat()})
    )["id"]
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    async with sessions() as s, s.begin():  # the spec became invalid (time passed)
        await configs.update(s, cid, {"schedule_config": {"run_date": past}})
    started = await act(client, cid, "start", note="try")
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["success"] is False and body["status"] == "error"
    detail = (await client.get(f"/schedules/{cid}")).json()
    assert detail["status"] == "error" and detail["next_runs"] == []
    assert detail["is_actually_scheduled"] is False and detail["status_consistent"] is True
    error = detail["recent_history"][0]
    assert error["event"] == "error" and "past" in error["details"]["reason"]
    for action in ("pause", "resume", "reload"):
        refused = await act(client, cid, action)
        assert refused.status_code == 409 and "error" in refused.json()["detail"], action
    fixed = await client.patch(
        f"/configs/{cid}", json={"schedule_config": {"run_date": when.isoformat()}}
    )
    assert fixed.status_code == 200
    again = (await act(client, cid, "start")).json()
    assert again["success"] is True and again["status"] == "active"
    stopped = (await act(client, cid, "stop")).json()
    assert stopped["status"] == "inactive"


async def test_stop_from_paused_and_conflict_messages_name_the_status(
    client: httpx.AsyncClient,
) -> None:
    cid = (await create(client))["id"]
    await act(client, cid, "start")
    await act(client, cid, "pause")
    assert "paused" in (await act(client, cid, "reload")).json()["detail"]
    assert "paused" in (await act(client, cid, "pause")).json()["detail"]
    stopped = await act(client, cid, "stop", note="off")
    assert stopped.status_code == 200 and stopped.json()["status"] == "inactive"
    assert stopped.json()["success"] is True
    await act(client, cid, "start")
    assert "active" in (await act(client, cid, "resume")).json()["detail"]
    manual = (await create(client, name="m", scheduler_type="manual", schedule_config={}))["id"]
    refused = await act(client, manual, "start")
    assert refused.status_code == 409 and "inactive" in refused.json()["detail"]
    noop = (await act(client, manual, "stop")).json()
    assert noop["success"] is True and "already" in noop["message"]


async def test_patch_of_active_cron_reregisters_and_to_manual_stops(
    client: httpx.AsyncClient,
) -> None:
    cid = (await create(client))["id"]
    await act(client, cid, "start")
    changed = await client.patch(
        f"/configs/{cid}", json={"schedule_config": {"cron_expression": "0 3 * * *"}}
    )
    assert changed.status_code == 200
    detail = (await client.get(f"/schedules/{cid}")).json()
    assert detail["schedule"] == "cron 0 3 * * * (UTC)" and detail["status"] == "active"
    assert all(datetime.fromisoformat(t).hour == 3 for t in detail["next_runs"])
    assert changed.json()["next_run_at"] == detail["next_run_at"]
    manual = await client.patch(
        f"/configs/{cid}", json={"scheduler_type": "manual", "schedule_config": {}}
    )
    assert manual.status_code == 200
    body = manual.json()
    assert body["schedule_status"] == "inactive" and body["next_run_at"] is None
    assert body["is_scheduled"] is False and body["status_consistent"] is True


async def test_list_defaults(client: httpx.AsyncClient) -> None:
    cid = (await create(client))["id"]
    for path, limit in (
        ("/configs", 50),
        ("/schedules", 50),
        (f"/schedules/{cid}/history", 50),
        ("/executions", 50),
        ("/executions/recent", 20),
        ("/executions/failed", 20),
        ("/task-types", 50),
        ("/tokens", 50),
    ):
        body = (await client.get(path)).json()
        assert (body["limit"], body["offset"]) == (limit, 0), path


async def test_docs_and_openapi_are_open_and_describe_models(
    anonymous: httpx.AsyncClient,
) -> None:
    assert (await anonymous.get("http://testserver/docs")).status_code == 200
    doc = (await anonymous.get("http://testserver/openapi.json")).json()
    scheme = doc["components"]["securitySchemes"]["BearerToken"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    schemas = doc["components"]["schemas"]
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                if "text/event-stream" in response["content"]:  # GET /events: a stream
                    assert "schedule" in response["description"], (method, path)
                    continue
                schema = response["content"]["application/json"]["schema"]
                name = schema["$ref"].rsplit("/", 1)[-1]
                assert schemas[name].get("properties"), (method, path, name)
            if method in {"post", "patch"} and "requestBody" in operation:
                assert operation["requestBody"]["content"]["application/json"]["schema"]
    create_body = doc["paths"]["/api/v1/configs"]["post"]["requestBody"]
    assert create_body["content"]["application/json"]["schema"]["$ref"].endswith("ConfigCreate")
    config_props = schemas["ConfigOut"]["properties"]
    for field in ("next_run_at", "last_run_at", "last_success", "status_consistent"):
        assert field in config_props and field in schemas["ConfigOut"]["required"]


async def test_interval_runs_at_once_on_each_activation_unless_told_not_to(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    cid = (await create(client, scheduler_type="interval", schedule_config={"seconds": 3600}))["id"]
    for action in ("start", "pause", "resume", "reload"):
        assert (await act(client, cid, action)).status_code == 200, action
    triggers = [m["labels"]["trigger"] for m in await broker_messages(redis, keys)]
    assert triggers == ["immediate"] * 3  # start, resume, reload; not pause
    quiet = (
        await create(
            client,
            name="quiet",
            scheduler_type="interval",
            schedule_config={"seconds": 3600, "run_immediately": False},
        )
    )["id"]
    await act(client, quiet, "start")
    await client.patch(f"/configs/{quiet}", json={"priority": 2})
    assert len(await broker_messages(redis, keys)) == 3
    detail = (await client.get(f"/configs/{quiet}")).json()
    assert detail["schedule_status"] == "active" and detail["next_run_at"] is not None
