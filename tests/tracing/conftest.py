"""Traces installed on the SDK's in-memory exporter for one test (``traced``), uninstalled
after it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from taskplane import tracing
from taskplane.tracing.provider import Tracing


@dataclass
class Traced:
    tracing: Tracing
    exporter: InMemorySpanExporter

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """The spans ended so far (named ``name``), oldest first."""
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]


@pytest.fixture
def traced() -> Iterator[Traced]:
    assert tracing.active() is None, "a test left tracing installed"
    exporter = InMemorySpanExporter()
    installed = tracing.install("taskplane-test", exporter)
    try:
        yield Traced(installed, exporter)
    finally:
        tracing.shutdown()
