from __future__ import annotations

import json

import httpx
from redis.asyncio import Redis

from taskplane.state.keys import Keys
from tests.api.configs import create
from tests.support import stream_entries


async def messages(redis: Redis, keys: Keys, queue: str = "default") -> list[dict[str, object]]:
    entries = await stream_entries(redis, keys.broker_stream(queue))
    return [json.loads(fields["data"]) for _, fields in entries]


async def test_run_now_puts_the_message_on_the_broker_before_answering(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    cid = (await create(client))["id"]
    await client.post(f"/schedules/{cid}/start")
    await client.post(f"/schedules/{cid}/pause")
    response = await client.post(f"/configs/{cid}/run")
    assert response.status_code == 202
    body = response.json()
    assert body["config_id"] == cid and body["trigger"] == "manual" and body["task_id"]
    (message,) = await messages(redis, keys)
    assert message["task_id"] == body["task_id"]
    assert message["labels"]["trigger"] == "manual"  # type: ignore[index]
    history = (await client.get(f"/schedules/{cid}/history")).json()["items"]
    assert history[0]["event"] == "run_requested"
    assert (await client.post("/configs/999999/run")).status_code == 404


async def test_batch_run_dispatches_known_and_reports_unknown(
    client: httpx.AsyncClient, redis: Redis, keys: Keys
) -> None:
    a = (await create(client, name="a"))["id"]
    b = (await create(client, name="b"))["id"]
    response = await client.post("/runs", json={"config_ids": [a, 999999, b, a]})
    assert response.status_code == 202
    body = response.json()
    assert [d["config_id"] for d in body["dispatched"]] == [a, b]
    assert body["errors"] == [{"config_id": 999999, "detail": "config 999999 not found"}]
    sent = await messages(redis, keys)
    assert {m["task_id"] for m in sent} == {d["task_id"] for d in body["dispatched"]}
    assert all(m["labels"]["trigger"] == "batch" for m in sent)  # type: ignore[index]


async def test_batch_run_bounds(client: httpx.AsyncClient) -> None:
    assert (await client.post("/runs", json={"config_ids": []})).status_code == 422
    too_many = {"config_ids": list(range(1, 1002))}
    assert (await client.post("/runs", json=too_many)).status_code == 422
    assert (await client.post("/runs", json={})).status_code == 422
