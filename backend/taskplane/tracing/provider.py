"""The installed tracing: the provider, its exporter, and every span taskplane makes
(the package doc lists them). Imported only once traces are on (``tracing.install``).

A fire's span ids are decided before the span exists: the fire's run message is written
(``FireMessage``) while the batch is planned, and the span is made once the fire script
says what happened (``fire_span``). Both read them from ``fire_ids(task_id)``, a keyed hash
of the fire's task id (a random key per process: the ids are as unpredictable as random
ones, and a fire planned again, after a changed registration, keeps its trace); the span
gets them from the provider's id generator, primed for that one span (``_Ids``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from taskplane.enums import Trigger
from taskplane.json_template import Template
from taskplane.messages import TRACEPARENT_LABEL, RunLabels

FIRE_SPAN = "fire"
"""The name of a scheduled fire's span."""

EXCLUDED_URLS = ",".join(
    [
        "/metrics$",  # scraped every few seconds
        "/api/v1/system/health$",  # probed every few seconds
        "/api/v1/events$",  # a stream open for hours: one span as long as the stream
        "/dashboard/",  # static files
        "/docs",  # Swagger UI and its assets
    ]
)
"""The api's requests left untraced, unless ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS`` says."""

_ROOT = context_api.Context()  # no parent: a fire span starts its own trace


class _Ids(RandomIdGenerator):
    """Random ids, except for the one span started right after ``prime`` (per thread)."""

    def __init__(self) -> None:
        self._primed = threading.local()

    def prime(self, trace_id: int, span_id: int) -> None:
        self._primed.ids = (trace_id, span_id)

    def unprime(self) -> None:
        """A span that asked for no id (a disabled tracer) leaves them for no other."""
        self._primed.ids = None

    def generate_trace_id(self) -> int:
        ids: tuple[int, int] | None = getattr(self._primed, "ids", None)
        return ids[0] if ids is not None else super().generate_trace_id()

    def generate_span_id(self) -> int:  # asked last when a span starts: it unprimes
        ids: tuple[int, int] | None = getattr(self._primed, "ids", None)
        if ids is None:
            return super().generate_span_id()
        self._primed.ids = None
        return ids[1]


def traceparent(trace_id: int, span_id: int, *, is_sampled: bool = True) -> str:
    """The W3C ``traceparent`` header of a span (version 00)."""
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if is_sampled else '00'}"


class FireMessage:
    """A fire's run message template (``messages.body_template(..., traced=True)``) filled
    like the untraced one, ``fill_in(task_id, due_at)``: its third hole, the
    ``traceparent`` label, is the fire span's."""

    __slots__ = ("_fill", "_traceparent")

    def __init__(self, template: Template, tracing: Tracing) -> None:
        if template.holes != ("task_id", "due_at", TRACEPARENT_LABEL):
            raise ValueError(f"not a traced fire template: holes {template.holes}")
        self._fill = template.fill_in
        self._traceparent = tracing.fire_traceparent

    @property
    def holes(self) -> tuple[str, ...]:
        return ("task_id", "due_at")

    def fill_in(self, task_id: str, due_at: str, /) -> str:
        return self._fill(task_id, due_at, self._traceparent(task_id))


class ExecutionSpan:
    """The span of one attempt in the worker; ``finish`` says how it ended."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def finish(self, outcome: str, error: str | None = None) -> None:
        """``outcome``: ``success``, ``failure`` (status error, ``error`` its description)
        or ``skipped`` (a delivery not run: another one of it ran)."""
        self.span.set_attribute("taskplane.outcome", outcome)
        if outcome == "failure":
            self.span.set_status(Status(StatusCode.ERROR, error))


class Tracing:
    """The process's provider and the spans it makes (build with ``create``)."""

    def __init__(self, provider: TracerProvider, ids: _Ids) -> None:
        self.provider = provider
        self._ids = ids
        self._tracer = provider.get_tracer("taskplane")
        self._key = os.urandom(32)
        self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def create(
        cls, service_name: str, exporter: SpanExporter, *, batch: bool, is_global: bool
    ) -> Tracing:
        ids = _Ids()
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: service_name}), id_generator=ids
        )
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        if is_global:
            trace.set_tracer_provider(provider)
        return cls(provider, ids)

    def shutdown(self) -> None:
        """Export what is buffered, then stop (the process is ending)."""
        self.provider.shutdown()

    # --- api ---------------------------------------------------------------------------

    def instrument_app(self, app: FastAPI) -> None:
        """One server span per request of ``app`` (not for ``EXCLUDED_URLS``)."""
        excluded = None if os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS") else EXCLUDED_URLS
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            excluded_urls=excluded,
            exclude_spans=["receive", "send"],  # a span per ASGI message: noise
        )

    def current_traceparent(self) -> str | None:
        """The current span's ``traceparent`` (None without a valid one)."""
        ctx = trace.get_current_span().get_span_context()
        if not ctx.is_valid:
            return None
        return traceparent(ctx.trace_id, ctx.span_id, is_sampled=ctx.trace_flags.sampled)

    # --- scheduler ---------------------------------------------------------------------

    def fire_message(self, template: Template) -> FireMessage:
        return FireMessage(template, self)

    def fire_ids(self, task_id: str) -> tuple[int, int]:
        """The trace and span id of the fire with ``task_id`` (see the module doc)."""
        digest = hashlib.blake2b(task_id.encode(), digest_size=24, key=self._key).digest()
        return int.from_bytes(digest[:16]) or 1, int.from_bytes(digest[16:]) or 1

    def fire_traceparent(self, task_id: str) -> str:
        trace_id, span_id = self.fire_ids(task_id)
        decision = self.provider.sampler.should_sample(_ROOT, trace_id, FIRE_SPAN).decision
        # what the sampler decides for the span is what the run's parent says
        return traceparent(trace_id, span_id, is_sampled=decision is Decision.RECORD_AND_SAMPLE)

    def fire_span(
        self,
        task_id: str,
        *,
        config_id: int,
        due_at: str,
        due_ns: int,
        sent_ns: int,
        is_sent: bool,
        is_catch_up: bool,
    ) -> None:
        """The span of a fire sent (``is_sent``) or skipped for overlap, from its due
        instant to the send, with the ids its message carries."""
        self._ids.prime(*self.fire_ids(task_id))
        span = self._tracer.start_span(
            FIRE_SPAN,
            context=_ROOT,
            kind=SpanKind.PRODUCER,
            attributes={
                "taskplane.config_id": config_id,
                "taskplane.due_at": due_at,
                "taskplane.trigger": str(Trigger.SCHEDULED),
                "taskplane.task_id": task_id,
                "taskplane.outcome": "sent" if is_sent else "skipped",
                "taskplane.catch_up": is_catch_up,
            },
            start_time=due_ns,
        )
        self._ids.unprime()
        span.end(end_time=max(due_ns, sent_ns))

    # --- worker ------------------------------------------------------------------------

    @contextmanager
    def execution(self, labels: RunLabels, task_id: str) -> Iterator[ExecutionSpan]:
        """The span of one attempt, current while it runs (spans a task function makes
        are its children), a child of the message's ``traceparent`` (a root without one).
        An exception through it marks it failed."""
        parent: Any = _ROOT
        if labels.traceparent:
            parent = self._propagator.extract({TRACEPARENT_LABEL: labels.traceparent})
        span = self._tracer.start_span(
            labels.task_type or "run",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "taskplane.config_id": labels.config_id,
                "taskplane.task_id": task_id,
                "taskplane.trigger": str(labels.trigger),
                "taskplane.attempt": labels.attempt,
            },
        )
        token = context_api.attach(trace.set_span_in_context(span))
        try:
            yield ExecutionSpan(span)
        except BaseException as exc:
            span.set_attribute("taskplane.outcome", "failure")
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            context_api.detach(token)
            span.end()
