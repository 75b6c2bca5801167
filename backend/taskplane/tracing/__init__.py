"""Traces (OpenTelemetry), on only where the standard OTLP endpoint variable is set.

Each server process calls ``setup(SERVICE)`` once at start and ``shutdown()`` on exit (which
flushes): with ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` in
the environment it installs a ``TracerProvider`` (service name ``taskplane-api``,
``taskplane-scheduler`` or ``taskplane-worker``) with a ``BatchSpanProcessor`` and the
OTLP/HTTP exporter (which reads the other ``OTEL_EXPORTER_OTLP_*`` variables itself); without
either nothing is installed and nothing of OpenTelemetry's tracing SDK, exporter or
instrumentation is imported (this module imports none of it: ``provider.py`` is imported by
``install`` only).

The spans (``provider.Tracing``):

- api: one server span per request (FastAPI instrumentation; ``/metrics``, the health
  check, the event stream and the static files are left out);
- scheduler: one ``fire`` span per scheduled fire sent or skipped for overlap (attributes
  ``taskplane.config_id``, ``taskplane.due_at``, ``taskplane.trigger``), from the due instant
  to the send; its id is in the run message's ``traceparent`` label (W3C), written by a
  third hole of the fire's message template chosen when the registration is parsed, so the
  fire path does no added work with tracing off;
- run now, batch runs and the ``immediate`` run from the api: the message's ``traceparent``
  is the request's span;
- worker: one execution span per attempt (name = task type; ``taskplane.config_id``,
  ``taskplane.task_id``, ``taskplane.trigger``, ``taskplane.attempt``, ``taskplane.outcome``;
  status error on failure), a child of the message's ``traceparent``: one trace shows a
  fire (or a request) and its run, retries included (a retry keeps the label).

Tests install a provider on an exporter of their own (``install``); a process has at most
one installed at a time (``active``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from taskplane.tracing.provider import Tracing

__all__ = [
    "API",
    "ENDPOINT_VARIABLES",
    "SCHEDULER",
    "WORKER",
    "active",
    "current_traceparent",
    "install",
    "is_configured",
    "setup",
    "shutdown",
]

API = "taskplane-api"
SCHEDULER = "taskplane-scheduler"
WORKER = "taskplane-worker"

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
"""Either one set (and not empty) turns tracing on; the exporter reads it itself."""

_active: Tracing | None = None


def is_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether an OTLP endpoint for traces is set (in ``environ``, default the process's)."""
    env = os.environ if environ is None else environ
    return any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def active() -> Tracing | None:
    """The process's installed tracing, None when traces are off."""
    return _active


def setup(service_name: str, environ: Mapping[str, str] | None = None) -> Tracing | None:
    """Install the process's tracing if an OTLP endpoint is set (see the module doc); None
    (and nothing imported) otherwise. Called once at process start (again: the installed
    one)."""
    if _active is not None:
        return _active
    if not is_configured(environ):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return install(service_name, OTLPSpanExporter(), batch=True, is_global=True)


def install(
    service_name: str,
    exporter: SpanExporter,
    *,
    batch: bool = False,
    is_global: bool = False,
) -> Tracing:
    """Install tracing on ``exporter`` (``batch``: a ``BatchSpanProcessor``, else each span is
    exported as it ends, as tests want). ``is_global`` also makes it OpenTelemetry's global
    provider, so spans a task function makes join the run's trace (a process may set that
    once: real processes only)."""
    global _active
    from taskplane.tracing.provider import Tracing

    if _active is not None:
        raise RuntimeError("tracing is already installed in this process")
    _active = Tracing.create(service_name, exporter, batch=batch, is_global=is_global)
    return _active


def shutdown() -> None:
    """Flush and stop the installed tracing (nothing when off); the process may install
    again afterwards."""
    global _active
    tracing, _active = _active, None
    if tracing is not None:
        tracing.shutdown()


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (a request's, in the api), None when
    traces are off or no span is current: what a message sent now carries."""
    tracing = _active
    return None if tracing is None else tracing.current_traceparent()
