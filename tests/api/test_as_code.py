"""Schedules as code through the API: ``GET /configs/export`` and ``POST /configs/apply``
(API.md "Schedules as code"), against the run's PostgreSQL and the test's Redis."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis.exceptions
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import SCHEDULER
from taskplane.api.schemas.as_code import ConfigEntry
from taskplane.api.schemas.configs import ConfigCreate
from taskplane.db import configs
from taskplane.enums import Event, ScheduleStatus
from taskplane.scheduling.as_code import EXPORTED_FIELDS
from tests.api.configs import config, create, rows

Sessions = async_sessionmaker[AsyncSession]
HEADERS = {"Authorization": "Bearer sk-live-0123456789"}


async def _act(client: httpx.AsyncClient, config_id: int, action: str, note: str) -> None:
    response = await client.post(f"/schedules/{config_id}/{action}", json={"note": note})
    assert response.status_code == 200, response.text


async def _system(client: httpx.AsyncClient) -> dict[str, int]:
    """Four configs in every exported status, with notes; name -> id."""
    ids = {}
    ids["b-active"] = (await create(client, "b-active"))["id"]
    await _act(client, ids["b-active"], "start", "live since the launch")
    ids["a-paused"] = (
        await create(
            client,
            "a-paused",
            scheduler_type="interval",
            schedule_config={"minutes": 5, "run_immediately": False},
            max_retries=2,
        )
    )["id"]
    await _act(client, ids["a-paused"], "start", "up")
    await _act(client, ids["a-paused"], "pause", "vendor outage")
    ids["d-stopped"] = (await create(client, "d-stopped", description=None, priority=3))["id"]
    await _act(client, ids["d-stopped"], "start", "up")
    await _act(client, ids["d-stopped"], "stop", "retired")
    ids["c-manual"] = (
        await create(client, "c-manual", scheduler_type="manual", schedule_config={})
    )["id"]
    return ids


async def _export(client: httpx.AsyncClient) -> httpx.Response:
    response = await client.get("/configs/export")
    assert response.status_code == 200, response.text
    return response


async def _apply(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/configs/apply", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _history_lengths(client: httpx.AsyncClient) -> dict[int, int]:
    listed = (await client.get("/configs", params={"limit": 500})).json()["items"]
    return {
        c["id"]: (await client.get(f"/schedules/{c['id']}/history")).json()["total"] for c in listed
    }


async def test_export_is_sorted_by_name_has_no_ids_or_times_and_is_stable(
    client: httpx.AsyncClient,
) -> None:
    await _system(client)
    first = await _export(client)
    document = first.json()
    assert document["version"] == 1
    assert [c["name"] for c in document["configs"]] == [
        "a-paused",
        "b-active",
        "c-manual",
        "d-stopped",
    ]
    by_name = {c["name"]: c for c in document["configs"]}
    assert list(by_name["b-active"]) == [
        "name",
        "description",
        "task_type",
        "scheduler_type",
        "schedule_config",
        "parameters",
        "max_retries",
        "timeout_seconds",
        "priority",
        "alerts",
        "status",
        "note",
    ]
    assert (by_name["a-paused"]["status"], by_name["a-paused"]["note"]) == (
        "paused",
        "vendor outage",
    )
    assert (by_name["b-active"]["status"], by_name["b-active"]["note"]) == (
        "active",
        "live since the launch",
    )
    assert (by_name["d-stopped"]["status"], by_name["d-stopped"]["note"]) == (
        "inactive",
        "retired",
    )
    assert (by_name["c-manual"]["status"], by_name["c-manual"]["note"]) == ("inactive", None)
    assert by_name["b-active"]["parameters"] == {"message": "hello", "fail": False}
    assert by_name["a-paused"]["max_retries"] == 2
    assert "_at" not in first.text and '"id"' not in first.text
    assert (await _export(client)).content == first.content  # an unchanged system: same bytes


async def test_an_export_applied_to_an_empty_system_recreates_every_config(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    ids = await _system(client)
    exported = await _export(client)
    for config_id in ids.values():
        assert (await client.delete(f"/configs/{config_id}")).status_code == 204
    assert await rows(sessions) == 0

    report = await _apply(client, **exported.json())  # the document as it was exported
    assert sorted(report["created"]) == ["a-paused", "b-active", "c-manual", "d-stopped"]
    assert report["updated"] == [] and report["deleted"] == [] and report["unchanged"] == []
    assert sorted((s["name"], s["from"], s["to"]) for s in report["status_changed"]) == [
        ("a-paused", "inactive", "paused"),
        ("b-active", "inactive", "active"),
    ]
    assert (await _export(client)).content == exported.content
    listed = (await client.get("/configs")).json()["items"]
    paused = next(c for c in listed if c["name"] == "a-paused")
    assert paused["is_scheduled"] is False and paused["status_consistent"] is True
    active = next(c for c in listed if c["name"] == "b-active")
    assert active["is_scheduled"] is True and active["next_run_at"] is not None


async def test_the_same_body_twice_changes_nothing_the_second_time_and_records_no_event(
    client: httpx.AsyncClient,
) -> None:
    body = {
        "configs": [
            {**config("one"), "status": "active", "note": "on"},
            {**config("two", scheduler_type="interval", schedule_config={"hours": 1})},
        ]
    }
    first = await _apply(client, **body)
    assert first["created"] == ["one", "two"]
    assert [(s["name"], s["to"], s["note"]) for s in first["status_changed"]] == [
        ("one", "active", "on")
    ]
    before = await _export(client)
    events = await _history_lengths(client)
    second = await _apply(client, **body)
    assert second == {
        "created": [],
        "updated": [],
        "unchanged": ["one", "two"],
        "deleted": [],
        "status_changed": [],
        "dry_run": False,
    }
    assert await _history_lengths(client) == events
    assert (await _export(client)).content == before.content
    # the apply that changed something is one `applied` audit entry; the second is none
    audit = await client.get("/audit", params={"actor": "admin"})
    assert audit.status_code == 200, audit.text
    applied = [e for e in audit.json()["items"] if e["action"] == "applied"]
    assert [(e["config_id"], e["details"]["created"]) for e in applied] == [(None, 2)]


async def test_apply_updates_fields_status_and_note_and_says_from_and_to(
    client: httpx.AsyncClient,
) -> None:
    ids = await _system(client)
    document = (await _export(client)).json()
    by_name = {c["name"]: c for c in document["configs"]}
    by_name["b-active"]["schedule_config"] = {"cron_expression": "0 9 * * *"}
    by_name["b-active"]["status"] = "paused"
    by_name["b-active"]["note"] = "frozen for the release"
    by_name["a-paused"]["status"] = "active"
    by_name["d-stopped"]["note"] = "retired for good"  # the status stays: the note alone
    report = await _apply(client, configs=list(by_name.values()))
    assert report["updated"] == [
        {
            "name": "b-active",
            "changes": {
                "schedule_config": {
                    "from": {"cron_expression": "*/5 * * * *"},
                    "to": {"cron_expression": "0 9 * * *"},
                }
            },
        },
        {"name": "d-stopped", "changes": {"note": {"from": "retired", "to": "retired for good"}}},
    ]
    assert sorted((s["name"], s["from"], s["to"]) for s in report["status_changed"]) == [
        ("a-paused", "paused", "active"),
        ("b-active", "active", "paused"),
    ]
    assert report["unchanged"] == ["c-manual"]
    active = (await client.get(f"/schedules/{ids['a-paused']}")).json()
    assert active["status"] == "active" and active["is_actually_scheduled"] is True
    paused = (await client.get(f"/schedules/{ids['b-active']}")).json()
    assert (paused["status"], paused["note"]) == ("paused", "frozen for the release")
    assert paused["is_actually_scheduled"] is False
    stopped = (await client.get(f"/schedules/{ids['d-stopped']}")).json()
    assert (stopped["status"], stopped["note"]) == ("inactive", "retired for good")
    detail = (await client.get(f"/configs/{ids['b-active']}")).json()
    assert detail["schedule_config"] == {"cron_expression": "0 9 * * *"}
    events = [e["event"] for e in detail["recent_history"]]
    assert events[:2] == ["paused", "updated"]


async def test_prune_deletes_the_configs_the_body_does_not_name(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    ids = await _system(client)
    kept = [c for c in (await _export(client)).json()["configs"] if c["name"] != "c-manual"]
    without_prune = await _apply(client, configs=kept)
    assert without_prune["deleted"] == [] and await rows(sessions) == 4
    pruned = await _apply(client, configs=kept, prune=True)
    assert pruned["deleted"] == ["c-manual"]
    assert sorted(pruned["unchanged"]) == ["a-paused", "b-active", "d-stopped"]
    assert (await client.get(f"/configs/{ids['c-manual']}")).status_code == 404
    assert (await client.get(f"/schedules/{ids['c-manual']}")).status_code == 404


async def test_a_dry_run_reports_what_would_change_and_changes_nothing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _system(client)
    document = (await _export(client)).json()
    before = await _export(client)
    events = await _history_lengths(client)
    changed = [dict(c) for c in document["configs"] if c["name"] != "c-manual"]
    changed[0]["priority"] = 7  # a-paused
    changed[1]["status"] = "inactive"  # b-active
    changed.append({**config("e-new"), "status": "active"})
    report = await _apply(client, configs=changed, prune=True, dry_run=True)
    assert report["dry_run"] is True
    assert report["created"] == ["e-new"]
    assert report["updated"] == [
        {"name": "a-paused", "changes": {"priority": {"from": 0, "to": 7}}}
    ]
    assert report["deleted"] == ["c-manual"]
    assert sorted((s["name"], s["from"], s["to"]) for s in report["status_changed"]) == [
        ("b-active", "active", "inactive"),
        ("e-new", "inactive", "active"),
    ]
    assert report["unchanged"] == ["d-stopped"]
    assert (await _export(client)).content == before.content
    assert await _history_lengths(client) == events and await rows(sessions) == 4


async def test_every_invalid_entry_is_a_422_naming_its_index_and_nothing_changes(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await create(client, "existing")
    before = await _export(client)
    body = {
        "configs": [
            {**config("fine"), "status": "active"},
            config("bad-cron", schedule_config={"cron_expression": "99 * * * *"}),
            config("fine"),  # a repeated name
            {**config("manual", scheduler_type="manual", schedule_config={}), "status": "paused"},
            config("bad-param", parameters={"message": "x", "nope": 1}),
            config("existing", task_type="no-such-type"),
        ]
    }
    response = await client.post("/configs/apply", json=body)
    assert response.status_code == 422, response.text
    locs = [tuple(e["loc"]) for e in response.json()["detail"]]
    assert ("body", "configs", 1, "schedule_config", "cron_expression") in locs
    assert ("body", "configs", 2, "name") in locs
    assert ("body", "configs", 3, "status") in locs
    assert ("body", "configs", 4, "parameters", "nope") in locs
    assert ("body", "configs", 5, "task_type") in locs
    assert not any(loc[:3] == ("body", "configs", 0) for loc in locs)
    assert await rows(sessions) == 1
    assert (await _export(client)).content == before.content

    shape = await client.post(
        "/configs/apply", json={"configs": [config("a"), {**config("b"), "priority": 99}]}
    )
    assert shape.status_code == 422
    assert [e["loc"] for e in shape.json()["detail"]] == [["body", "configs", 1, "priority"]]
    assert await rows(sessions) == 1


async def test_secrets_are_exported_masked_kept_on_apply_and_refused_for_a_new_config(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    hook = await create(
        client,
        "hook",
        task_type="http_request",
        scheduler_type="interval",
        schedule_config={"hours": 1},
        parameters={"url": "https://example.com/hook", "headers": HEADERS},
    )
    exported = await _export(client)
    assert "sk-live" not in exported.text
    entry = exported.json()["configs"][0]
    assert entry["parameters"]["headers"] == "***"
    assert (await _apply(client, **exported.json()))["unchanged"] == ["hook"]
    async with sessions() as s:
        assert (await configs.get(s, hook["id"])).parameters["headers"] == HEADERS

    copy = {**entry, "name": "hook-copy"}
    refused = await client.post("/configs/apply", json={"configs": [entry, copy]})
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [
        ["body", "configs", 1, "parameters", "headers"]
    ]
    given = {**copy, "parameters": {**copy["parameters"], "headers": {"X-Key": "k"}}}
    assert (await _apply(client, configs=[entry, given]))["created"] == ["hook-copy"]


async def test_a_viewer_may_export_and_dry_run_but_not_apply(
    client: httpx.AsyncClient, viewer: httpx.AsyncClient, sessions: Sessions
) -> None:
    await create(client, "existing")
    exported = await viewer.get("/configs/export")
    assert exported.status_code == 200
    body = {"configs": [*exported.json()["configs"], config("new")]}
    refused = await viewer.post("/configs/apply", json=body)
    assert refused.status_code == 403
    invalid = await viewer.post("/configs/apply", json={"configs": "not a list"})
    assert invalid.status_code == 403  # refused before the body is judged
    assert await rows(sessions) == 1
    dry = await viewer.post("/configs/apply", json={**body, "dry_run": True, "prune": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["created"] == ["new"] and await rows(sessions) == 1


async def test_a_fired_date_schedule_is_recreated_inactive_but_never_started_in_the_past(
    client: httpx.AsyncClient,
) -> None:
    fired = config(
        "fired", scheduler_type="date", schedule_config={"run_date": "2020-01-01T00:00:00+00:00"}
    )
    assert (await _apply(client, configs=[fired]))["created"] == ["fired"]  # a date is a date
    assert (await _apply(client, configs=[fired]))["unchanged"] == ["fired"]
    started = await client.post(
        "/configs/apply", json={"configs": [fired, {**fired, "name": "late", "status": "active"}]}
    )
    assert started.status_code == 422
    assert [e["loc"] for e in started.json()["detail"]] == [
        ["body", "configs", 1, "schedule_config", "run_date"]
    ]


async def test_an_apply_broken_midway_is_finished_by_the_next_one(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduler = app.state.services.scheduler
    real_start = scheduler.start
    starts = 0

    async def start_losing_redis_once(config: Any, note: str | None = None, **kw: Any) -> Any:
        nonlocal starts
        starts += 1
        if starts == 2:
            raise redis.exceptions.ConnectionError("Connection refused")
        return await real_start(config, note, **kw)

    monkeypatch.setattr(scheduler, "start", start_losing_redis_once)
    body = {"configs": [{**config(name), "status": "active"} for name in ("one", "two", "three")]}
    broken = await client.post("/configs/apply", json=body)
    assert broken.status_code == 503, broken.text
    left = {c["name"]: c["status"] for c in (await _export(client)).json()["configs"]}
    assert left == {"one": "active", "two": "inactive"}  # "three" was never reached

    report = await _apply(client, **body)
    assert report["created"] == ["three"] and report["unchanged"] == ["one"]
    assert sorted((s["name"], s["from"], s["to"]) for s in report["status_changed"]) == [
        ("three", "inactive", "active"),
        ("two", "inactive", "active"),
    ]
    again = await _apply(client, **body)
    assert again["unchanged"] == ["one", "two", "three"] and again["status_changed"] == []


async def test_a_config_created_paused_is_never_started_and_runs_nothing(
    client: httpx.AsyncClient,
) -> None:
    every_hour = {"scheduler_type": "interval", "schedule_config": {"hours": 1}}
    body = {
        "configs": [
            {**config("held", **every_hour), "status": "paused", "note": "not yet"},
            {**config("live", **every_hour), "status": "active"},  # runs at once when started
        ]
    }
    report = await _apply(client, **body)
    assert sorted((s["name"], s["from"], s["to"]) for s in report["status_changed"]) == [
        ("held", "inactive", "paused"),
        ("live", "inactive", "active"),
    ]
    listed = {c["name"]: c for c in (await client.get("/configs")).json()["items"]}
    events = {
        name: [
            e["event"] for e in (await client.get(f"/schedules/{c['id']}/history")).json()["items"]
        ]
        for name, c in listed.items()
    }
    assert events["held"] == ["paused", "created"]
    assert "fired" in events["live"] and "started" in events["live"]
    held = (await client.get(f"/schedules/{listed['held']['id']}")).json()
    assert (held["status"], held["note"], held["is_actually_scheduled"]) == (
        "paused",
        "not yet",
        False,
    )


async def test_a_config_in_error_is_exported_active_and_an_apply_starts_it_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    broken = await create(client, "broken")
    await app.state.services.state.transition(
        broken["id"], ScheduleStatus.ERROR, allowed_from=None, event=Event.ERROR, actor=SCHEDULER
    )
    exported = (await _export(client)).json()
    assert exported["configs"][0]["status"] == "active"
    report = await _apply(client, **exported)
    assert [(s["name"], s["from"], s["to"]) for s in report["status_changed"]] == [
        ("broken", "error", "active")
    ]
    assert (await client.get(f"/schedules/{broken['id']}")).json()["status"] == "active"


def test_an_entry_carries_every_create_field_and_the_export_every_stored_one() -> None:
    """A field added to the create body (``alerts``) must be a stored, editable column too,
    or the export would drop it: this fails until it is both."""
    assert set(EXPORTED_FIELDS) == set(ConfigCreate.model_fields)
    assert set(ConfigEntry.model_fields) == {*EXPORTED_FIELDS, "status", "note"}
