"""Traces are on only with an OTLP endpoint set; off, nothing of OpenTelemetry's SDK is
imported and the run messages are what they were. The ``traceparent`` label's contract."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from taskplane import messages, tracing
from taskplane.enums import Trigger
from taskplane.tracing.provider import FireMessage, traceparent
from tests.tracing.conftest import Traced

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_EXPORTER": "otlp"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4318/v1/traces"}, True),
    ],
)
def test_traces_are_on_only_with_an_otlp_endpoint(environ: dict[str, str], expected: bool) -> None:
    assert tracing.is_configured(environ) is expected


def test_without_an_endpoint_no_provider_is_installed_and_no_sdk_imported() -> None:
    """In a fresh interpreter, as each process starts: its setup with no endpoint set
    installs nothing, and the SDK's tracing, the exporter and the instrumentation are never
    imported (the app is built uninstrumented). redis-py 8 imports the SDK's metrics
    package when it is installed, on its own (``redis.observability``): not counted."""
    script = """
import json, sys
from taskplane import tracing
from taskplane.api.app import create_app
from taskplane.api.process import app_from_environment
from taskplane.scheduling.process import serve_scheduler
from taskplane.settings import Settings
from taskplane.worker.process import serve_worker
installed = [tracing.setup(name) for name in (tracing.API, tracing.SCHEDULER, tracing.WORKER)]
app = create_app(Settings(_env_file=None))
heavy = (
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter",
    "opentelemetry.instrumentation",
    "taskplane.tracing.provider",
)
loaded = sorted(m for m in sys.modules if m.startswith(heavy))
print(json.dumps({
    "installed": [t is not None for t in installed],
    "active": tracing.active() is not None,
    "instrumented": bool(getattr(app, "_is_instrumented_by_opentelemetry", False)),
    "loaded": loaded,
}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TASKPLANE_"))}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {
        "installed": [False, False, False],
        "active": False,
        "instrumented": False,
        "loaded": [],
    }


def test_a_second_install_is_refused_and_setup_returns_the_installed(traced: Traced) -> None:
    assert tracing.active() is traced.tracing
    assert tracing.setup(tracing.API, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"}) is (
        traced.tracing
    )
    with pytest.raises(RuntimeError, match="already installed"):
        tracing.install("again", traced.exporter)


def test_the_traceparent_label_round_trips_and_a_retry_keeps_it() -> None:
    parent = traceparent(0xABC, 0xDEF)
    assert parent == f"00-{0xABC:032x}-{0xDEF:016x}-01"
    labels = messages.RunLabels(
        config_id=4, task_type="echo", trigger=Trigger.MANUAL, traceparent=parent
    )
    out = messages.compose(labels, {"message": "m"})
    decoded = messages.RunLabels.of(messages.decode(out.body))
    assert decoded.traceparent == parent
    assert decoded.next_attempt().traceparent == parent  # a retry is in the same trace
    plain = messages.compose(dataclasses.replace(labels, traceparent=None), {"message": "m"})
    assert messages.TRACEPARENT_LABEL not in json.loads(plain.body)["labels"]
    for unreadable in ("", 7, None):
        raw = {**labels.to_dict(), messages.TRACEPARENT_LABEL: unreadable}
        assert messages.RunLabels.parse(raw).traceparent is None
    # a registration's labels never carry one into its fires
    assert labels.scheduled_fire(4).traceparent is None


def test_a_traced_fire_template_writes_what_compose_writes(traced: Traced) -> None:
    """With traces on, the engine's template has a third hole: the message is byte for byte
    ``compose``'s with the fire span's traceparent as its label."""
    labels = messages.RunLabels(
        config_id=9, task_type="echo", trigger=Trigger.SCHEDULED, timeout_seconds=5
    )
    parameters = {"message": "hi ✓", "n": [1, 2]}
    plain = messages.body_template(labels, parameters)
    assert plain.holes == ("task_id", "due_at")
    fire = traced.tracing.fire_message(messages.body_template(labels, parameters, traced=True))
    body = fire.fill_in("9-1000", T0.isoformat())
    parent = traced.tracing.fire_traceparent("9-1000")
    expected = messages.compose(
        dataclasses.replace(labels, due_at=T0, traceparent=parent), parameters, "9-1000"
    )
    assert body == expected.body.decode()
    trace_id, span_id = traced.tracing.fire_ids("9-1000")
    assert parent == traceparent(trace_id, span_id)
    # another fire, another trace; the same fire (planned again), the same one
    assert traced.tracing.fire_ids("9-2000") != (trace_id, span_id)
    assert traced.tracing.fire_ids("9-1000") == (trace_id, span_id)
    with pytest.raises(ValueError, match="not a traced fire template"):
        FireMessage(plain, traced.tracing)


def test_a_fire_the_sampler_drops_says_so_in_its_traceparent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run's parent carries the sampler's decision, so the worker (parent-based) drops
    the run of a fire whose span was dropped rather than export an orphan."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    exporter = InMemorySpanExporter()
    installed = tracing.install("taskplane-test", exporter)
    try:
        assert installed.fire_traceparent("1-2").endswith("-00")
        installed.fire_span(
            "1-2",
            config_id=1,
            due_at=T0.isoformat(),
            due_ns=0,
            sent_ns=1,
            is_sent=True,
            is_catch_up=False,
        )
        assert exporter.get_finished_spans() == ()
    finally:
        tracing.shutdown()
    monkeypatch.delenv("OTEL_TRACES_SAMPLER")
    with_default = tracing.install("taskplane-test", InMemorySpanExporter())
    try:
        assert with_default.fire_traceparent("1-2").endswith("-01")
    finally:
        tracing.shutdown()
