"""The built-in task types, called directly (the worker tests run them through the broker)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from taskplane.db import configs, executions
from taskplane.db.executions import ExecutionRecord
from taskplane.db.models import TaskExecution, utcnow
from taskplane.enums import SchedulerType, Trigger
from taskplane.resources import Resources
from taskplane.tasks.builtin.cleanup_executions import CleanupParams, cleanup_executions
from taskplane.tasks.builtin.echo import EchoFailure, EchoParams, echo
from taskplane.tasks.builtin.http_request import HttpRequestParams, http_request
from taskplane.tasks.builtin.sleep import SleepParams, sleep
from taskplane.tasks.registry import TaskContext


async def test_echo_returns_message_and_fail_raises_it() -> None:
    r = await echo(EchoParams(message="hello"))
    assert r.success and r.data == "hello"
    with pytest.raises(EchoFailure, match="boom"):
        await echo(EchoParams(message="boom", fail=True))


async def test_sleep_sleeps() -> None:
    r = await sleep(SleepParams(seconds=0.01))
    assert r.success and r.data == {"slept_seconds": 0.01}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 404 if self.path.startswith("/missing") else 200
        body = ("x" * 5000 if self.path.startswith("/big") else "hello").encode()
        if self.path.startswith("/huge"):  # 64 MiB: the task must stop reading at its excerpt
            self.send_response(200)
            self.send_header("Content-Length", str(64 * 1024 * 1024))
            self.end_headers()
            chunk = b"y" * 65536
            try:
                for _ in range(1024):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        received = self.rfile.read(length)
        body = json.dumps(
            {
                "got": received.decode(),
                "ctype": self.headers.get("Content-Type"),
                "x": self.headers.get("X-Test"),
            }
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_http_request_records_status_elapsed_and_excerpt(http_base: str) -> None:
    r = await http_request(HttpRequestParams.model_validate({"url": f"{http_base}/ok"}))
    assert r.success
    assert r.data["status_code"] == 200 and r.data["response_excerpt"] == "hello"
    assert r.data["elapsed_seconds"] >= 0
    big = await http_request(HttpRequestParams.model_validate({"url": f"{http_base}/big"}))
    assert len(big.data["response_excerpt"]) == 2000


async def test_http_request_sends_json_and_headers(http_base: str) -> None:
    params = HttpRequestParams.model_validate(
        {
            "method": "post",
            "url": f"{http_base}/p",
            "json": {"a": 1},
            "headers": {"X-Test": "t"},
            "expected_status": [201],
        }
    )
    r = await http_request(params)
    assert r.success, r.error
    echoed = json.loads(r.data["response_excerpt"])
    assert json.loads(echoed["got"]) == {"a": 1}
    assert echoed["ctype"] == "application/json" and echoed["x"] == "t"


async def test_http_request_unexpected_status_is_a_failure(http_base: str) -> None:
    r = await http_request(HttpRequestParams.model_validate({"url": f"{http_base}/missing"}))
    assert not r.success
    assert r.error is not None and "unexpected status 404" in r.error
    assert r.data["status_code"] == 404


async def test_cleanup_executions_deletes_old_records_through_the_context(
    resources: Resources,
) -> None:
    async with resources.sessions() as s, s.begin():
        c = await configs.create(
            s,
            name="c",
            task_type="echo",
            scheduler_type=SchedulerType.MANUAL,
            schedule_config={},
            parameters={},
        )
        now = utcnow()
        records = [
            ExecutionRecord(
                config_id=c.id,
                task_id=f"t{i}",
                task_type="echo",
                trigger=Trigger.MANUAL,
                is_success=True,
                attempt=1,
                started_at=now - timedelta(days=age),
                completed_at=now - timedelta(days=age),
                duration_seconds=0.0,
            )
            for i, age in enumerate([40, 35, 31, 1, 0])
        ]
        await executions.insert_many(s, records)
    context = TaskContext(
        settings=resources.settings,
        sessions=resources.sessions,
        redis=resources.redis,
        keys=resources.keys,
        task_id="x",
        config_id=c.id,
        attempt=1,
        trigger=Trigger.MANUAL,
        worker="w",
    )
    r = await cleanup_executions(CleanupParams(older_than_days=30, batch_size=2), context)
    assert r.success and r.data == {"deleted": 3}
    async with resources.sessions() as s:
        left = set(await s.scalars(select(TaskExecution.task_id)))
    assert left == {"t3", "t4"}


def test_http_request_expects_2xx_by_default_and_checks_statuses() -> None:
    params = HttpRequestParams.model_validate({"url": "http://example.test/"})
    assert params.expected_status == list(range(200, 300))
    with pytest.raises(ValueError, match="expected_status"):
        HttpRequestParams.model_validate({"url": "http://x.test/", "expected_status": [99]})


async def test_http_request_reads_only_the_excerpt_of_a_huge_body(http_base: str) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        r = await http_request(HttpRequestParams.model_validate({"url": f"{http_base}/huge"}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.success and len(r.data["response_excerpt"]) == 2000
    assert peak < 16 * 1024 * 1024, f"read {peak} bytes of a 64 MiB body"
