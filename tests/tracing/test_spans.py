"""The spans, on the SDK's in-memory exporter against real Redis and PostgreSQL: a fire and
its run are one trace, a run now is a child of its request, a failed run is an error; with
traces off no message carries a ``traceparent``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from redis.asyncio import Redis

from taskplane import messages, tracing
from taskplane.api.app import create_app
from taskplane.epoch import to_ms
from taskplane.resources import Resources
from taskplane.scheduling.engine import Engine
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.tracing.provider import traceparent
from taskplane.worker import run_worker
from tests.scheduling.registrations import interval, register
from tests.support import eventually, stream_entries
from tests.tracing.conftest import Traced
from tests.worker.conftest import new_config, send

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ADMIN = {"Authorization": "Bearer admin-test-token"}


class FakeClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


async def sent_labels(redis: Redis, keys: Keys) -> list[dict[str, Any]]:
    entries = await stream_entries(redis, keys.broker_stream("default"))
    return [json.loads(fields["data"])["labels"] for _, fields in entries]


def ids_of(parent: str) -> tuple[int, int]:
    """(trace id, span id) of a ``traceparent``."""
    _, trace_id, span_id, _ = parent.split("-")
    return int(trace_id, 16), int(span_id, 16)


def parent_of(span: ReadableSpan) -> tuple[int, int] | None:
    return None if span.parent is None else (span.parent.trace_id, span.parent.span_id)


def own_ids(span: ReadableSpan) -> tuple[int, int]:
    assert span.context is not None
    return span.context.trace_id, span.context.span_id


async def test_a_fire_and_its_run_are_one_trace_and_a_failure_is_an_error(
    traced: Traced, resources: Resources
) -> None:
    redis, keys = resources.redis, resources.keys
    cid = await new_config(resources.sessions)
    await register(redis, keys, cid, interval(10), T0)
    clock = FakeClock(T0 + timedelta(milliseconds=200))
    engine = Engine(redis, keys, clock=clock, history_max=50, tracing=traced.tracing)
    assert (await engine.tick()).sent == 1

    [fire] = traced.spans("fire")
    assert fire.kind is SpanKind.PRODUCER
    assert fire.parent is None  # a fire starts its trace
    task_id = f"{cid}-{to_ms(T0)}"
    assert dict(fire.attributes or {}) == {
        "taskplane.config_id": cid,
        "taskplane.due_at": T0.isoformat(),
        "taskplane.trigger": "scheduled",
        "taskplane.task_id": task_id,
        "taskplane.outcome": "sent",
        "taskplane.catch_up": False,
    }
    assert (fire.start_time, fire.end_time) == (to_ms(T0) * 10**6, to_ms(clock.at) * 10**6)
    [labels] = await sent_labels(redis, keys)
    assert ids_of(labels["traceparent"]) == own_ids(fire)  # the message names the span

    # a run of another trace, which fails
    caller = (0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0, 0x0FED_CBA9_8765_4321)
    failing = await send(
        redis,
        keys,
        cid,
        "echo",
        {"message": "boom", "fail": True},
        traceparent=traceparent(*caller),
    )

    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(resources.settings, ["default"], 2, stop=stop))
    try:

        async def both_ran() -> bool:
            return len(traced.spans("echo")) >= 2

        await eventually(both_ran, within=60)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 60)

    runs = {dict(s.attributes or {})["taskplane.task_id"]: s for s in traced.spans("echo")}
    assert set(runs) == {task_id, failing}
    run = runs[task_id]
    assert run.kind is SpanKind.CONSUMER
    assert parent_of(run) == own_ids(fire)  # one trace: the fire, then its run
    assert own_ids(run)[0] == own_ids(fire)[0]
    assert dict(run.attributes or {}) == {
        "taskplane.config_id": cid,
        "taskplane.task_id": task_id,
        "taskplane.trigger": "scheduled",
        "taskplane.attempt": 1,
        "taskplane.outcome": "success",
    }
    assert run.status.status_code is StatusCode.UNSET

    bad = runs[failing]
    assert parent_of(bad) == caller
    assert dict(bad.attributes or {})["taskplane.outcome"] == "failure"
    assert bad.status.status_code is StatusCode.ERROR
    assert "boom" in (bad.status.description or "")


@pytest.fixture
async def traced_app(
    traced: Traced, settings: Settings, resources: Resources
) -> AsyncIterator[FastAPI]:
    application = create_app(settings)  # traces installed first: the app is instrumented
    async with application.router.lifespan_context(application):
        yield application


async def run_now(app: FastAPI) -> tuple[int, str]:
    """A manual config made and run through the API: (config id, task id)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=ADMIN
    ) as client:
        created = await client.post(
            "/api/v1/configs",
            json={
                "name": "traced",
                "task_type": "echo",
                "scheduler_type": "manual",
                "schedule_config": {},
                "parameters": {"message": "m"},
            },
        )
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        ran = await client.post(f"/api/v1/configs/{cid}/run")
        assert ran.status_code == 202, ran.text
        for path in ("/metrics", "/api/v1/system/health", "/dashboard/app.js"):
            # answered (health is 503 here: no scheduler nor worker runs), never traced
            assert (await client.get(path)).status_code in (200, 503), path
        return cid, ran.json()["task_id"]


async def test_a_run_now_is_a_child_of_its_request_and_noisy_paths_are_untraced(
    traced: Traced, traced_app: FastAPI, redis: Redis, keys: Keys
) -> None:
    await run_now(traced_app)
    [labels] = await sent_labels(redis, keys)
    servers = [s for s in traced.spans() if s.kind is SpanKind.SERVER]
    by_ids = {own_ids(s): s for s in servers}
    request = by_ids[ids_of(labels["traceparent"])]
    assert request.name == "POST /api/v1/configs/{config_id}/run"
    assert dict(request.attributes or {})["http.route"] == "/api/v1/configs/{config_id}/run"
    assert sorted(s.name for s in servers) == [
        "POST /api/v1/configs",
        "POST /api/v1/configs/{config_id}/run",
    ]  # no span for /metrics, the health check or the static files

    # a caller's own trace context: the request's span joins it
    caller = (0xCAFE, 0xBEEF)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=traced_app), base_url="http://testserver"
    ) as client:
        listed = await client.get(
            "/api/v1/configs", headers={**ADMIN, "traceparent": traceparent(*caller)}
        )
        assert listed.status_code == 200, listed.text
    [joined] = [s for s in traced.spans("GET /api/v1/configs") if s.kind is SpanKind.SERVER]
    assert parent_of(joined) == caller


async def test_with_traces_off_no_message_carries_a_traceparent(
    settings: Settings, resources: Resources, redis: Redis, keys: Keys
) -> None:
    assert tracing.active() is None
    app = create_app(settings)
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    async with app.router.lifespan_context(app):
        cid, _ = await run_now(app)
    await register(redis, keys, cid, interval(10), T0)
    engine = Engine(redis, keys, clock=FakeClock(T0 + timedelta(seconds=1)), history_max=50)
    assert (await engine.tick()).sent == 1
    sent = await sent_labels(redis, keys)
    assert [labels["trigger"] for labels in sent] == ["manual", "scheduled"]
    assert all(messages.TRACEPARENT_LABEL not in labels for labels in sent)
