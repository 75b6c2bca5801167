"""A task type in a test module listed in TASKPLANE_TASK_MODULES, end to end with no change to
any other file: the API lists it with its schema and validates its parameters, a config of it
runs on a real worker process and its execution is served by the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from taskplane.api.app import create_app
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests import services as test_services
from tests.support import eventually
from tests.worker.conftest import Sessions, fast_settings

BASE_URL = "http://testserver/api/v1"


@pytest.fixture
def settings(services: test_services.TestServices) -> Settings:
    return fast_settings(services)


@pytest.fixture
async def api(settings: Settings, sessions: Sessions, redis: Redis) -> AsyncIterator[Any]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=BASE_URL,
            headers={"Authorization": "Bearer admin-test-token"},
        ) as client:
            yield client


async def test_module_task_type_is_listed_validated_and_runs(
    api: httpx.AsyncClient, settings: Settings, redis: Redis, keys: Keys, spawn: Any
) -> None:
    listed = (await api.get("/task-types", params={"limit": 500})).json()["items"]
    add = next(t for t in listed if t["name"] == "test_add")
    assert add["description"] == "Add a and b"
    assert add["default_max_retries"] == 1
    assert add["parameters_schema"]["required"] == ["a"]
    assert add["parameters_schema"]["properties"]["b"]["default"] == 0

    body = {
        "name": "adder",
        "task_type": "test_add",
        "scheduler_type": "manual",
        "schedule_config": {},
        "parameters": {"a": "not a number"},
    }
    bad = await api.post("/configs", json=body)
    assert bad.status_code == 422
    assert any(
        e["loc"][-2:] == ["parameters", "a"] or e["loc"][-1] == "a" for e in bad.json()["detail"]
    )

    body["parameters"] = {"a": 20, "b": 22}
    created = await api.post("/configs", json=body)
    assert created.status_code == 201, created.text
    config_id = created.json()["id"]

    worker = await spawn(settings)
    await worker.wait_ready(redis, keys)
    run = await api.post(f"/configs/{config_id}/run")
    assert run.status_code == 202, run.text
    task_id = run.json()["task_id"]

    found: list[dict[str, Any]] = []

    async def recorded() -> bool:
        nonlocal found
        page = await api.get("/executions", params={"config_id": config_id})
        found = page.json()["items"]
        return len(found) == 1

    await eventually(recorded, within=60)
    [execution] = found
    assert execution["task_id"] == task_id and execution["task_type"] == "test_add"
    assert execution["is_success"] is True and execution["trigger"] == "manual"
    assert execution["result"]["data"] == 42


async def test_a_config_without_max_retries_gets_the_task_types_and_is_retried(
    api: httpx.AsyncClient, settings: Settings, redis: Redis, keys: Keys, spawn: Any, tmp_path: Any
) -> None:
    attempts = tmp_path / "attempts"
    body = {
        "name": "always-fails",
        "task_type": "test_fail_twice_retried",
        "scheduler_type": "manual",
        "parameters": {"path": str(attempts)},
    }
    created = await api.post("/configs", json=body)
    assert created.status_code == 201, created.text
    config = created.json()
    assert (config["max_retries"], config["timeout_seconds"], config["priority"]) == (2, 40, 0)
    assert config["run_settings_source"] == {
        "max_retries": "task_type",
        "timeout_seconds": "task_type",
        "priority": "default",
    }
    stored = (await api.get(f"/configs/{config['id']}")).json()
    assert stored["max_retries"] == 2 and stored["timeout_seconds"] == 40

    worker = await spawn(settings)
    await worker.wait_ready(redis, keys)
    assert (await api.post(f"/configs/{config['id']}/run")).status_code == 202

    async def three_attempts_recorded() -> bool:
        page = (await api.get("/executions", params={"config_id": config["id"]})).json()
        return attempts.exists() and len(page["items"]) >= 1 and _lines(attempts) == 3

    await eventually(three_attempts_recorded, within=60)
    assert _lines(attempts) == 3  # the first attempt and max_retries=2 retries, no more


def _lines(path: Any) -> int:
    return len(path.read_text().splitlines())
