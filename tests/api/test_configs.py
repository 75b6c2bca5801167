from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from taskplane.state.keys import Keys
from tests.api.configs import Sessions, config, create, rows


async def test_create_returns_config_with_inactive_state_and_created_event(
    client: httpx.AsyncClient,
) -> None:
    body = await create(client)
    for field in [
        "id",
        "name",
        "description",
        "task_type",
        "scheduler_type",
        "schedule_config",
        "parameters",
        "max_retries",
        "timeout_seconds",
        "priority",
        "created_at",
        "updated_at",
        "schedule_status",
        "is_scheduled",
        "status_consistent",
        "next_run_at",
        "last_run_at",
        "last_success",
    ]:
        assert field in body, field
    assert body["schedule_status"] == "inactive" and body["is_scheduled"] is False
    assert body["status_consistent"] is True and body["next_run_at"] is None
    assert body["parameters"] == {"message": "hello", "fail": False}  # normalized
    assert body["max_retries"] == 0 and body["priority"] == 0
    detail = (await client.get(f"/configs/{body['id']}")).json()
    assert [e["event"] for e in detail["recent_history"]] == ["created"]
    assert "stats" not in detail or detail["stats"] is None


async def test_auto_start_starts_in_the_same_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/configs", params={"auto_start": "true"}, json=config("auto"))
    assert response.status_code == 201
    body = response.json()
    assert body["schedule_status"] == "active" and body["is_scheduled"] is True
    assert body["next_run_at"] is not None and body["status_consistent"] is True
    manual = await client.post(
        "/configs",
        params={"auto_start": "true"},
        json=config("by-hand", scheduler_type="manual", schedule_config={}),
    )
    assert manual.status_code == 201 and manual.json()["schedule_status"] == "inactive"


async def test_auto_start_interval_runs_at_once(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    response = await client.post(
        "/configs",
        params={"auto_start": "true"},
        json=config("every-minute", scheduler_type="interval", schedule_config={"seconds": 60}),
    )
    assert response.status_code == 201
    assert await redis.xlen(keys.broker_stream("default")) == 1  # on the broker already


async def test_validation_names_the_deepest_field(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    cases = [
        (config(schedule_config={"cron_expression": "nope"}), ["body", "schedule_config"]),
        (config(parameters={}), ["body", "parameters", "message"]),
        (config(task_type="no-such-type"), ["body", "task_type"]),
        (config(max_retries=21), ["body", "max_retries"]),
        (config(priority=10), ["body", "priority"]),
        (config(timeout_seconds=0), ["body", "timeout_seconds"]),
        (config(name=""), ["body", "name"]),
        (config(name="x" * 129), ["body", "name"]),
        (config(description="d" * 2001), ["body", "description"]),
        (config(scheduler_type="hourly"), ["body", "scheduler_type"]),
        (
            config(scheduler_type="manual", schedule_config={"misfire": "skip"}),
            ["body", "schedule_config", "misfire"],
        ),
        (
            config(scheduler_type="interval", schedule_config={"seconds": 0}),
            ["body", "schedule_config", "seconds"],
        ),
        (
            config(
                scheduler_type="date",
                schedule_config={"run_date": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
            ),
            ["body", "schedule_config", "run_date"],
        ),
        (
            config(
                task_type="http_request",
                parameters={"url": "ftp://example.com"},
            ),
            ["body", "parameters", "url"],
        ),
    ]
    for body, loc in cases:
        response = await client.post("/configs", json=body)
        assert response.status_code == 422, (body, response.text)
        locs = [e["loc"] for e in response.json()["detail"]]
        assert any(found[: len(loc)] == loc for found in locs), (loc, locs)
        cron = body.get("schedule_config", {}).get("cron_expression")
        if cron == "nope":
            assert ["body", "schedule_config", "cron_expression"] in locs
    assert await rows(sessions) == 0


async def test_unencodable_input_in_parameters_is_422(client: httpx.AsyncClient) -> None:
    raw = (
        b'{"name": "x", "task_type": "echo", "scheduler_type": "manual", '
        b'"parameters": {"message": "a\\ud800", "n": 1e999999}}'
    )
    response = await client.post(
        "/configs", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", "parameters"]


async def test_duplicate_name_is_409_also_when_racing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await create(client, name="taken")
    again = await client.post("/configs", json=config("taken"))
    assert again.status_code == 409 and "taken" in again.json()["detail"]
    results = await asyncio.gather(
        *(client.post("/configs", json=config("race")) for _ in range(6))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409, 409, 409, 409, 409]
    assert await rows(sessions) == 2


async def test_failed_registration_leaves_nothing(
    client: httpx.AsyncClient, sessions: Sessions, redis: Redis, keys: Keys, app: Any
) -> None:
    scheduler = app.state.services.scheduler

    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("spec refused by the schedule source")

    async def exploded(*args: Any, **kwargs: Any) -> Any:
        raise redis_errors.ConnectionError("lost Redis mid-way")

    scheduler.core.add = refused
    response = await client.post("/configs", params={"auto_start": "true"}, json=config("doomed"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "schedule_config"]
    assert await rows(sessions) == 0
    assert await redis.scard(keys.all_schedules) == 0
    assert await redis.zcard(keys.due) == 0

    scheduler.core.add = exploded
    response = await client.post("/configs", params={"auto_start": "true"}, json=config("doomed"))
    assert response.status_code == 503
    assert "Redis" in response.json()["detail"]
    assert await rows(sessions) == 0
    assert await redis.scard(keys.all_schedules) == 0


async def test_list_filters_and_pages(client: httpx.AsyncClient) -> None:
    a = await create(client, name="alpha", description="first one")
    await create(client, name="beta", scheduler_type="manual", schedule_config={})
    await create(client, name="gamma", task_type="sleep", parameters={"seconds": 1})
    await client.post(f"/schedules/{a['id']}/start")
    page = (await client.get("/configs")).json()
    assert page["total"] == 3 and page["limit"] == 50 and page["offset"] == 0
    assert [c["name"] for c in page["items"]] == ["gamma", "beta", "alpha"]

    async def names(**params: Any) -> list[str]:
        response = await client.get("/configs", params=params)
        assert response.status_code == 200, response.text
        return [c["name"] for c in response.json()["items"]]

    assert await names(task_type="sleep") == ["gamma"]
    assert await names(scheduler_type="manual") == ["beta"]
    assert await names(status="active") == ["alpha"]
    assert await names(status="inactive") == ["gamma", "beta"]
    assert await names(status="paused") == []
    assert await names(q="FIRST") == ["alpha"]
    assert await names(q="%") == []
    assert await names(limit=1, offset=1) == ["beta"]
    assert (await client.get("/configs", params={"status": "bogus"})).status_code == 422
    assert (await client.get("/configs", params={"limit": 501})).status_code == 422


async def test_detail_with_stats_and_404(client: httpx.AsyncClient) -> None:
    body = await create(client)
    detail = (await client.get(f"/configs/{body['id']}", params={"include_stats": "true"})).json()
    assert detail["stats"]["total"] == 0 and detail["stats"]["success_rate"] is None
    assert (await client.get("/configs/424242")).status_code == 404


async def test_patch_updates_validates_and_reregisters_active_schedule(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    body = await create(client, scheduler_type="interval", schedule_config={"seconds": 3600})
    cid = body["id"]
    await client.post(f"/schedules/{cid}/start")
    before = await redis.xlen(keys.broker_stream("default"))
    response = await client.patch(
        f"/configs/{cid}", json={"schedule_config": {"seconds": 60}, "priority": 3}
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["priority"] == 3 and updated["schedule_config"] == {"seconds": 60}
    assert updated["schedule_status"] == "active" and updated["updated_at"] >= body["updated_at"]
    assert await redis.xlen(keys.broker_stream("default")) == before + 1  # runs at once
    history = (await client.get(f"/schedules/{cid}/history")).json()["items"]
    assert "updated" in [e["event"] for e in history]

    bad = await client.patch(f"/configs/{cid}", json={"parameters": {"message": 5}})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "parameters", "message"]
    assert (await client.patch(f"/configs/{cid}", json={"name": None})).status_code == 422
    assert (await client.patch(f"/configs/{cid}", json={"bogus": 1})).status_code == 422
    assert (await client.patch("/configs/999999", json={"priority": 1})).status_code == 404
    still = (await client.get(f"/configs/{cid}")).json()
    assert still["parameters"]["message"] == "hello" and still["priority"] == 3

    await create(client, name="other")
    clash = await client.patch(f"/configs/{cid}", json={"name": "other"})
    assert clash.status_code == 409
    cleared = await client.patch(f"/configs/{cid}", json={"description": None})
    assert cleared.status_code == 200 and cleared.json()["description"] is None


async def test_delete_removes_row_schedule_state_and_history(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    body = await create(client)
    cid = body["id"]
    await client.post(f"/schedules/{cid}/start")
    assert await redis.exists(keys.schedule(cid))
    assert (await client.delete(f"/configs/{cid}")).status_code == 204
    assert (await client.get(f"/configs/{cid}")).status_code == 404
    assert not await redis.exists(keys.schedule(cid), keys.history(cid))
    assert await redis.zscore(keys.due, str(cid)) is None
    assert (await client.delete(f"/configs/{cid}")).status_code == 404


async def test_a_misspelled_parameter_is_a_422_naming_it_and_nothing_is_saved(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    before = await rows(sessions)
    response = await client.post(
        "/configs", json=config(parameters={"message": "hello", "mesage": "typo"})
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "parameters", "mesage"]
    assert await rows(sessions) == before


async def test_the_create_response_says_where_each_run_setting_came_from(
    client: httpx.AsyncClient,
) -> None:
    # echo declares timeout_seconds=60 and no retries
    body = await create(client, "explicit", max_retries=3)
    assert (body["max_retries"], body["timeout_seconds"], body["priority"]) == (3, 60, 0)
    assert body["run_settings_source"] == {
        "max_retries": "config",
        "timeout_seconds": "task_type",
        "priority": "default",
    }
