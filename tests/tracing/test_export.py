"""End to end: the real api, scheduler and worker processes with ``OTEL_EXPORTER_OTLP_ENDPOINT``
aimed at a local OTLP/HTTP receiver. Each process exports under its own service name; a
scheduled fire and its run, and a request and the run it sent, are one trace each; the health
check the test polls is not traced. Spans still buffered at a stop are flushed on exit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import tracing
from taskplane.settings import Settings
from tests.e2e.processes import free_port, running, settings_env, start, wait_healthy
from tests.support import eventually
from tests.tracing.receiver import Received, otlp_receiver

pytestmark = pytest.mark.slow

SPAN_KIND_SERVER, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER = 2, 4, 5  # OTLP's Span.SpanKind


def _runs(spans: list[Received], trigger: str) -> list[Received]:
    return [
        s
        for s in spans
        if s.service == tracing.WORKER and s.attributes.get("taskplane.trigger") == trigger
    ]


def _parent(spans: list[Received], child: Received) -> Received:
    [parent] = [s for s in spans if s.span_id == child.parent_span_id]
    assert parent.trace_id == child.trace_id
    return parent


async def test_each_process_exports_its_spans_and_a_fire_and_its_run_are_one_trace(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    with otlp_receiver() as receiver:
        env = settings_env(
            settings,
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.port}",
            OTEL_BSP_SCHEDULE_DELAY="200",
        )
        api_port = free_port()
        api = start(["api", "--port", str(api_port)], env, tmp_path / "api.log")
        worker = start(["worker", "--metrics-port", str(free_port())], env, tmp_path / "worker.log")
        scheduler = start(
            ["scheduler", "--metrics-port", str(free_port())], env, tmp_path / "scheduler.log"
        )
        token = settings.admin_token.get_secret_value() if settings.admin_token else ""
        with running(scheduler, worker, api):
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{api_port}/api/v1",
                headers={"Authorization": f"Bearer {token}"},
                timeout=15,
            ) as http:
                await wait_healthy(http, within=90)
                created = await http.post(
                    "/configs",
                    params={"auto_start": "true"},
                    json={
                        "name": "traced-echo",
                        "task_type": "echo",
                        "scheduler_type": "interval",
                        "schedule_config": {"seconds": 1},
                        "parameters": {"message": "traced"},
                    },
                )
                assert created.status_code == 201, created.text
                cid = created.json()["id"]
                ran = await http.post(f"/configs/{cid}/run")
                assert ran.status_code == 202, ran.text

                async def every_kind_ran() -> bool:
                    page = await http.get("/executions", params={"config_id": cid, "limit": 50})
                    triggers = {e["trigger"] for e in page.json()["items"]}
                    return {"immediate", "manual", "scheduled"} <= triggers

                await eventually(every_kind_ran, within=60)
                paused = await http.post(f"/schedules/{cid}/pause", json={})
                assert paused.status_code == 200, paused.text
        # stopped (SIGTERM): each process flushed what it still held
        spans = receiver.received()

    assert set(receiver.paths) == {"/v1/traces"}
    assert {s.service for s in spans} == {tracing.API, tracing.SCHEDULER, tracing.WORKER}

    # a scheduled fire, then its run: one trace
    fires = {
        s.span_id: s
        for s in spans
        if s.service == tracing.SCHEDULER and s.name == "fire" and s.kind == SPAN_KIND_PRODUCER
    }
    assert fires
    assert all(f.attributes["taskplane.config_id"] == cid for f in fires.values())
    scheduled = _runs(spans, "scheduled")
    assert scheduled
    for run in scheduled:
        fire = _parent(spans, run)
        assert fire.span_id in fires
        assert fire.attributes["taskplane.task_id"] == run.attributes["taskplane.task_id"]
        assert run.name == "echo" and run.kind == SPAN_KIND_CONSUMER
        assert run.attributes["taskplane.outcome"] == "success"

    # a request, then the run it sent: one trace
    requests = {
        "immediate": "POST /api/v1/configs",
        "manual": "POST /api/v1/configs/{config_id}/run",
    }
    for trigger, route in requests.items():
        [run] = _runs(spans, trigger)
        request = _parent(spans, run)
        assert (request.service, request.name, request.kind) == (
            tracing.API,
            route,
            SPAN_KIND_SERVER,
        )

    # one server span per request: FastAPI's own telemetry stands aside for the instrumentation
    servers = [s.name for s in spans if s.kind == SPAN_KIND_SERVER]
    assert servers.count("POST /api/v1/configs/{config_id}/run") == 1
    assert servers.count("POST /api/v1/configs") == 1

    # the health check, polled above, is never traced
    assert not [s for s in spans if "health" in s.name]
