"""POST /schedules/bulk/{action}: per id exactly what the single call gives, in order; the
refusals (404 / 409) as errors that stop nothing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.db import configs
from tests.api.configs import create
from tests.api.costs import measured

ACTIONS = ["start", "pause", "resume", "stop", "reload"]


async def make_set(client: httpx.AsyncClient, tag: str) -> list[int]:
    """Configs in every state: inactive interval, active interval, paused cron, manual."""
    inactive = await create(
        client, name=f"{tag}-inactive", scheduler_type="interval", schedule_config={"hours": 1}
    )
    active = await create(
        client, name=f"{tag}-active", scheduler_type="interval", schedule_config={"hours": 2}
    )
    paused = await create(
        client,
        name=f"{tag}-paused",
        scheduler_type="cron",
        schedule_config={"cron_expression": "0 3 * * *"},
    )
    manual = await create(client, name=f"{tag}-manual", scheduler_type="manual", schedule_config={})
    assert (await client.post(f"/schedules/{active['id']}/start")).status_code == 200
    assert (await client.post(f"/schedules/{paused['id']}/start")).status_code == 200
    assert (await client.post(f"/schedules/{paused['id']}/pause")).status_code == 200
    return [inactive["id"], active["id"], paused["id"], manual["id"]]


def single_outcome(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if response.status_code == 200:
        return {
            "kind": "result",
            **{k: body[k] for k in ("action", "success", "status", "message")},
        }
    return {"kind": "error", "status_code": response.status_code, "detail": body["detail"]}


def bulk_outcomes(body: dict[str, Any]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for r in body["results"]:
        out[r["config_id"]] = {
            "kind": "result",
            **{k: r[k] for k in ("action", "success", "status", "message")},
        }
    for e in body["errors"]:
        out[e["config_id"]] = {
            "kind": "error",
            "status_code": e["status_code"],
            "detail": e["detail"],
        }
    return out


@pytest.mark.parametrize("action", ACTIONS)
async def test_each_id_gets_exactly_what_the_single_call_gives(
    client: httpx.AsyncClient, action: str
) -> None:
    singles = await make_set(client, f"single-{action}")
    bulked = await make_set(client, f"bulk-{action}")
    expected = []
    for cid in [*singles, 999_001]:
        outcome = single_outcome(await client.post(f"/schedules/{cid}/{action}"))
        expected.append(outcome)
    response = await client.post(
        f"/schedules/bulk/{action}", json={"config_ids": [*bulked, 999_002]}
    )
    assert response.status_code == 200, response.text
    got = bulk_outcomes(response.json())
    for single_id, bulk_id, want in zip(
        [*singles, 999_001], [*bulked, 999_002], expected, strict=True
    ):
        have = got[bulk_id]
        if have["kind"] == "error":
            have = {**have, "detail": have["detail"].replace(str(bulk_id), str(single_id))}
        assert have == want, (action, single_id)
    # and the states ended alike
    for single_id, bulk_id in zip(singles, bulked, strict=True):
        a = (await client.get(f"/schedules/{single_id}")).json()
        b = (await client.get(f"/schedules/{bulk_id}")).json()
        assert (a["status"], a["is_actually_scheduled"]) == (
            b["status"],
            b["is_actually_scheduled"],
        )


async def test_results_keep_the_order_given_and_a_repeated_id_runs_once(
    client: httpx.AsyncClient,
) -> None:
    ids = await make_set(client, "order")
    inactive, active, paused, manual = ids
    order = [active, 999_003, inactive, manual, inactive, paused]
    body = (await client.post("/schedules/bulk/start", json={"config_ids": order})).json()
    assert [r["config_id"] for r in body["results"]] == [active, inactive]
    assert body["results"][0]["message"] == "already active"
    assert (
        body["results"][1]["status"] == "active"
        and body["results"][1]["message"] != "already active"
    )
    assert [(e["config_id"], e["status_code"]) for e in body["errors"]] == [
        (999_003, 404),
        (manual, 409),
        (paused, 409),
    ]
    assert body["duplicates"] == [inactive]


async def test_a_bulk_pause_keeps_the_note_for_each(client: httpx.AsyncClient) -> None:
    ids = []
    for n in range(3):
        body = await create(
            client, name=f"note-{n}", scheduler_type="interval", schedule_config={"hours": 1}
        )
        assert (await client.post(f"/schedules/{body['id']}/start")).status_code == 200
        ids.append(body["id"])
    response = await client.post(
        "/schedules/bulk/pause", json={"config_ids": ids, "note": "quarterly maintenance"}
    )
    assert [r["status"] for r in response.json()["results"]] == ["paused"] * 3
    for cid in ids:
        info = (await client.get(f"/schedules/{cid}")).json()
        assert info["note"] == "quarterly maintenance"
        assert info["recent_history"][0]["event"] == "paused"
        assert info["recent_history"][0]["note"] == "quarterly maintenance"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"config_ids": []}, ["body", "config_ids"]),
        ({"config_ids": list(range(1, 1002))}, ["body", "config_ids"]),
        ({"config_ids": [0]}, ["body", "config_ids", 0]),
        ({"config_ids": [1], "note": "x" * 2001}, ["body", "note"]),
        ({"config_ids": [1], "extra": 1}, ["body", "extra"]),
    ],
)
async def test_a_bad_body_is_a_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], loc: list[Any]
) -> None:
    response = await client.post("/schedules/bulk/start", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


async def test_an_unknown_action_is_a_422_and_a_viewer_is_refused(
    client: httpx.AsyncClient, viewer: httpx.AsyncClient
) -> None:
    assert (
        await client.post("/schedules/bulk/explode", json={"config_ids": [1]})
    ).status_code == 422
    assert (await viewer.post("/schedules/bulk/stop", json={"config_ids": [1]})).status_code == 403


async def test_a_thousand_ids_in_one_request(client: httpx.AsyncClient) -> None:
    body = await create(
        client, name="one-real", scheduler_type="interval", schedule_config={"hours": 1}
    )
    ids = [body["id"], *range(900_000, 900_999)]
    response = await client.post("/schedules/bulk/start", json={"config_ids": ids})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1
    assert len(response.json()["errors"]) == 999


async def _many(client: httpx.AsyncClient, tag: str, n: int) -> list[int]:
    ids = []
    for i in range(n):
        body = await create(
            client, name=f"{tag}-{i}", scheduler_type="interval", schedule_config={"hours": 1}
        )
        ids.append(body["id"])
    return ids


async def test_a_chunk_costs_the_same_redis_round_trips_whatever_its_size(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = await _many(client, "small", 3)
    large = await _many(client, "large", 120)
    costs = {}
    for name, ids in (("small", small), ("large", large)):
        for action in ("start", "pause", "resume", "stop"):
            with measured(app, monkeypatch) as cost:
                response = await client.post(f"/schedules/bulk/{action}", json={"config_ids": ids})
            assert response.status_code == 200
            assert len(response.json()["results"]) == len(ids), response.json()["errors"][:3]
            costs[(name, action)] = cost.redis
    for action in ("start", "pause", "resume", "stop"):
        # not eight per id: the same handful for 3 ids as for 120
        assert costs[("large", action)] == costs[("small", action)], costs
        assert costs[("large", action)] <= 16, costs


async def test_a_busy_config_and_one_that_cannot_register_go_the_single_way(
    client: httpx.AsyncClient,
    app: FastAPI,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    [free, busy] = await _many(client, "lanes", 2)
    async with sessions() as s, s.begin():
        broken = await configs.create(
            s,
            name="gone-type",
            task_type="no_such_type",
            scheduler_type="interval",
            schedule_config={"hours": 1},
            parameters={},
        )
    await app.state.services.scheduler.on_created(broken, actor=CLI)
    scheduler = app.state.services.scheduler

    async def hold_busy() -> None:
        async with scheduler.locks.held(busy):
            await asyncio.sleep(0.5)

    holder = asyncio.create_task(hold_busy())
    await asyncio.sleep(0.05)
    response = await client.post(
        "/schedules/bulk/start", json={"config_ids": [free, busy, broken.id]}
    )
    await holder
    body = response.json()
    by_id = {r["config_id"]: r for r in body["results"]}
    assert by_id[free]["status"] == by_id[busy]["status"] == "active"  # busy: waited, then done
    assert by_id[broken.id]["status"] == "error" and by_id[broken.id]["success"] is False
    assert by_id[broken.id]["message"].startswith("registration failed: ")
    history = (await client.get(f"/schedules/{broken.id}/history")).json()["items"]
    assert history[0]["event"] == "error"


def test_a_refusals_code_comes_from_the_one_mapping_of_api_errors() -> None:
    """The bulk report carries the domain error; its code is ``api.errors.status_of``'s,
    the mapping the single routes' handlers use."""
    from taskplane.api.errors import status_of
    from taskplane.errors import Conflict, InvalidInput, NotFound

    assert status_of(NotFound("config", 1)) == 404
    assert status_of(Conflict("config 1 is paused")) == 409
    assert status_of(InvalidInput.field("schedule_config", msg="bad")) == 422


@pytest.mark.parametrize(("action", "changes"), [("start", "inactive"), ("pause", "active")])
async def test_the_bulk_log_line_names_the_configs_it_changed(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, action: str, changes: str
) -> None:
    inactive, active, *_ = ids = await make_set(client, f"log-{action}")
    with caplog.at_level(logging.INFO, logger="taskplane.scheduling.bulk"):
        response = await client.post(f"/schedules/bulk/{action}", json={"config_ids": ids})
    assert response.status_code == 200, response.text
    lines = [r for r in caplog.records if r.getMessage() == "bulk action"]
    named = [cid for line in lines for cid in line.config_ids]  # type: ignore[attr-defined]
    assert lines and named == [{"inactive": inactive, "active": active}[changes]]
