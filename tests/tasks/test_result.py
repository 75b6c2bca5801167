"""ExecutionResult: constructors, plain values, exceptions with bounded tracebacks, dict form."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from taskplane.tasks.result import MAX_ERROR_CHARS, MAX_TRACEBACK_CHARS, ExecutionResult


def test_ok_and_fail_and_dict_form_is_json() -> None:
    ok = ExecutionResult.ok({"n": 1}, message="done", metadata={"k": "v"}).with_duration(0.5)
    assert ok.to_dict() == {
        "success": True,
        "message": "done",
        "data": {"n": 1},
        "error": None,
        "duration_seconds": 0.5,
        "metadata": {"k": "v"},
    }
    bad = ExecutionResult.fail("nope", data=[1])
    assert bad.success is False and bad.error == "nope" and bad.data == [1]
    json.dumps(bad.to_dict())


def test_plain_value_is_a_success_with_it_as_data() -> None:
    r = ExecutionResult.from_value(42)
    assert r.success and r.data == 42
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert ExecutionResult.from_value({"at": when}).data == {"at": "2026-01-01T00:00:00Z"}
    assert ExecutionResult.from_value(object()).data.startswith("<object")
    same = ExecutionResult.fail("x")
    assert ExecutionResult.from_value(same) is same


def test_exception_is_a_failure_with_a_bounded_traceback() -> None:
    def deep(n: int) -> None:
        if n == 0:
            raise ValueError("x" * 10_000)
        deep(n - 1)

    try:
        deep(200)
    except ValueError as exc:
        r = ExecutionResult.from_exception(exc)
    assert r.success is False
    assert r.error is not None and r.error.startswith("ValueError: xxx")
    assert r.error is not None and len(r.error) <= MAX_ERROR_CHARS
    assert r.traceback is not None and len(r.traceback) <= MAX_TRACEBACK_CHARS
    assert r.traceback.startswith("Traceback") and "ValueError: xxx" in r.traceback
    assert "in deep" in r.traceback
    assert "traceback" not in r.to_dict()


def test_exception_without_message_names_its_type() -> None:
    assert ExecutionResult.from_exception(TimeoutError()).error == "TimeoutError"
