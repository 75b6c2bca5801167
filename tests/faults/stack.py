"""A whole taskplane stack for the fault tests: `taskplane api`, `scheduler` and `worker` as
real processes (started by the ``launch`` fixture of conftest.py, output in log files),
driven over HTTP as a client would, and the checks every scenario shares: answers while a
store is down, executions counted per task id and per due time, secrets in the output."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from taskplane.embedded_redis import free_port
from taskplane.settings import Settings
from tests.conftest import make_test_settings
from tests.faults import ledger_types
from tests.faults.conftest import Launch
from tests.services import TestServices
from tests.support import eventually

API = "/api/v1"
HISTORY_MAX = 10_000  # every event of a scenario is kept: the counts read them all


def stack_settings(
    services: TestServices, *, redis_url: str, database_url: str | None = None
) -> Settings:
    """The settings of a stack: a random admin token (a secret to look for in the output),
    the ledger task type, heartbeats that go stale in 3 s."""
    return make_test_settings(
        services,
        database_url=database_url or services.database_url,
        redis_url=redis_url,
        admin_token=f"adm-{secrets.token_hex(16)}",
        task_modules=[ledger_types.MODULE],
        heartbeat_interval_seconds=0.5,
        heartbeat_stale_seconds=3.0,
        history_max=HISTORY_MAX,
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer (or none) the api gave a client."""

    label: str  # e.g. "GET /configs/{id}"
    status: int | None  # None: no HTTP answer (connection refused / cut)
    error: str  # the client's exception class when there was no answer
    content_type: str
    body: str
    sent_at: float  # monotonic
    answered_at: float

    def json(self) -> Any:
        return json.loads(self.body)


def is_clean_refusal(reply: Reply, status: int = 503) -> bool:
    """``status`` with a JSON body holding a ``detail`` (or health's ``status``), no trace."""
    if reply.status != status or not reply.content_type.startswith("application/json"):
        return False
    if "Traceback" in reply.body or 'File "' in reply.body:
        return False
    body = reply.json()
    return isinstance(body, dict) and ("detail" in body or body.get("status") == "degraded")


@dataclass
class Stack:
    """api + scheduler + worker against ``settings``; the ``launch`` fixture stops them."""

    settings: Settings
    launch: Launch
    tmp_path: Path
    api_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)  # the latest of each process
    http: httpx.AsyncClient | None = None
    env: dict[str, str] = field(default_factory=dict)  # more environment for every process
    worker_concurrency: int = 4

    @property
    def token(self) -> str:
        assert self.settings.admin_token is not None
        return self.settings.admin_token.get_secret_value()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start_api(self) -> subprocess.Popen[bytes]:
        self.procs["api"], self.logs["api"] = self._launch("api", "--port", str(self.api_port))
        return self.procs["api"]

    def _launch(self, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        history = str(self.settings.history_max)
        return self.launch(self.settings, *args, TASKPLANE_HISTORY_MAX=history, **self.env)

    async def start(self, within: float = 90) -> Stack:
        self.start_api()
        self.procs["scheduler"], self.logs["scheduler"] = self._launch("scheduler")
        self.procs["worker"], self.logs["worker"] = self._launch(
            "worker", "--concurrency", str(self.worker_concurrency)
        )
        self.http = httpx.AsyncClient(
            base_url=self.base_url + API,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=15,
            # never reuse a connection near uvicorn's 5 s keep-alive timeout: a request sent
            # as the server closes an idle connection fails with ReadError, a client-side
            # race that says nothing about the outage under test
            limits=httpx.Limits(keepalive_expiry=1.0),
        )
        await self.wait_healthy(within)
        return self

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()

    def alive(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self.procs.items()}

    def output(self) -> dict[str, str]:
        """Every process's output so far (api restarts included), by log file name."""
        return {p.name: p.read_text(errors="replace") for p in sorted(self.tmp_path.glob("*.log"))}

    async def call(self, method: str, path: str, label: str = "", **kw: Any) -> Reply:
        assert self.http is not None
        sent = time.monotonic()
        try:
            response = await self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            return Reply(label or path, None, type(exc).__name__, "", "", sent, time.monotonic())
        return Reply(
            label or f"{method} {path}",
            response.status_code,
            "",
            response.headers.get("content-type", ""),
            response.text,
            sent,
            time.monotonic(),
        )

    async def health(self) -> Reply:
        return await self.call("GET", "/system/health", "GET /system/health")

    async def wait_healthy(self, within: float) -> float:
        """Seconds until health answers 200 ``ok`` (every component up)."""
        started = time.monotonic()

        async def ok() -> bool:
            reply = await self.health()
            return reply.status == 200 and reply.json()["status"] == "ok"

        await eventually(ok, within=within)
        return time.monotonic() - started

    async def create_ledger_config(
        self, name: str, ledger: Path, *, every_seconds: int = 1, run_immediately: bool = True
    ) -> int:
        reply = await self.call(
            "POST",
            "/configs",
            params={"auto_start": "true"},
            json={
                "name": name,
                "task_type": "fault_ledger",
                "scheduler_type": "interval",
                "schedule_config": {"seconds": every_seconds, "run_immediately": run_immediately},
                "parameters": {"path": str(ledger)},
            },
        )
        assert reply.status == 201, reply.body
        config_id: int = reply.json()["id"]
        return config_id

    async def _all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list endpoint, page after page."""
        items: list[dict[str, Any]] = []
        while True:
            reply = await self.call(
                "GET", path, params={**params, "limit": 500, "offset": len(items)}
            )
            assert reply.status == 200, reply.body
            page = reply.json()
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                return items

    async def history(self, config_id: int) -> list[dict[str, Any]]:
        """The config's whole history (``stack_settings`` keeps far more than a test makes)."""
        items = await self._all(f"/schedules/{config_id}/history")
        assert len(items) < HISTORY_MAX, "history capped: the counts would miss events"
        return items

    async def executions(self, config_id: int | None = None) -> list[dict[str, Any]]:
        """The config's execution records (every config's without one)."""
        if config_id is None:
            return await self._all("/executions")
        return await self._all("/executions", config_id=config_id)


async def watch(stack: Stack, paths: list[str], done: asyncio.Event, out: list[Reply]) -> None:
    """Read ``paths`` again and again until ``done``: what clients see while a store goes
    away and comes back (the transitions included, when a store half answers)."""
    while not done.is_set():
        for path in paths:
            out.append(await stack.call("GET", path, f"GET {path}"))
        await asyncio.sleep(0.02)


def unclean(replies: list[Reply]) -> list[str]:
    """Replies that are neither a 200 nor a clean 503 (JSON ``detail``, no trace)."""
    return [
        f"{r.label} -> {r.status} {r.error} {r.body[:300]}"
        for r in replies
        if r.status != 200 and not is_clean_refusal(r)
    ]


def requested_ids(history: list[dict[str, Any]]) -> set[str]:
    """Every task id the platform promised to run: each fire sent (scheduled, immediate)
    and each run requested by hand."""
    return {
        e["details"]["task_id"]
        for e in history
        if e["event"] in ("fired", "run_requested") and "task_id" in e["details"]
    }


async def wait_settled(stack: Stack, config_id: int, ledger: Path, within: float = 60) -> None:
    """Every requested task id has started and has its record (none still in flight)."""

    async def settled() -> bool:
        wanted = requested_ids(await stack.history(config_id))
        ran = {task_id for task_id, _ in ledger_types.read(ledger)}
        recorded = {e["task_id"] for e in await stack.executions(config_id)}
        return wanted <= ran and wanted <= recorded

    await eventually(settled, within=within)


@dataclass(frozen=True, slots=True)
class Count:
    """Executions of one config counted per task id, against what was requested."""

    requested: int
    lost: int  # requested, never run or never recorded
    duplicated: int  # extra runs or extra records of one task id
    unrequested: int  # ran though nobody asked (a 503'd request that did something)
    off_cadence: int  # scheduled fires whose due time is not on the schedule's grid
    dues_unaccounted: int  # due times neither fired nor dropped by the misfire policy
    dropped_by_policy: int  # due times dropped by ``misfire`` (documented behaviour)

    @property
    def figures(self) -> dict[str, int]:
        return {
            "requested": self.requested,
            "lost": self.lost + self.dues_unaccounted,
            "duplicated": self.duplicated,
            "unrequested": self.unrequested,
            "dropped_by_misfire_policy": self.dropped_by_policy,
        }


def _due_ms(details: dict[str, Any]) -> int:
    """A due time in whole milliseconds: the engine keeps due times in ms, an immediate
    fire's ``due_at`` has the microseconds of the moment it was sent."""
    return round(datetime.fromisoformat(details["due_at"]).timestamp() * 1000)


async def count(
    stack: Stack, config_id: int, ledger: Path, every_seconds: int, *, until: datetime
) -> Count:
    """Count per task id (ledger and records) and per due time (history) for a config with
    an interval schedule; due times are checked on the grid up to ``until``."""
    history = await stack.history(config_id)
    executions = await stack.executions(config_id)
    return tally(history, executions, ledger_types.read(ledger), every_seconds, until=until)


def tally(
    history: list[dict[str, Any]],
    executions: list[dict[str, Any]],
    started: list[tuple[str, int]],
    every_seconds: int,
    *,
    until: datetime,
) -> Count:
    """``count`` of what was read: one config's history and execution records, and the
    ledger's lines (``ledger_types.read``)."""
    wanted = requested_ids(history)
    runs = Counter(task_id for task_id, _ in started)
    records = Counter((e["task_id"], e["attempt"]) for e in executions)
    recorded = Counter(task_id for task_id, _ in records)
    lost = len([t for t in wanted if runs[t] == 0 or recorded[t] == 0])
    duplicated = sum(n - 1 for n in runs.values() if n > 1) + sum(
        n - 1 for n in recorded.values() if n > 1
    )
    unrequested = len((set(runs) | set(recorded)) - wanted)

    fired = [
        _due_ms(e["details"])
        for e in history
        if e["event"] == "fired" and e["details"].get("trigger") == "scheduled"
    ]
    first_fire = [
        _due_ms(e["details"])
        for e in history
        if e["event"] == "fired" and e["details"].get("trigger") == "immediate"
    ]
    step = every_seconds * 1000
    dropped: list[int] = []
    for e in history:
        details = e["details"]
        if e["event"] == "skipped" and details.get("reason") == "misfire":
            dropped += [_due_ms(details) + step * k for k in range(details["missed"])]
    starts = [*first_fire, *fired]
    anchor = min(starts) if starts else None
    off = [d for d in fired if anchor is not None and (d - anchor) % step != 0]
    end = round(until.timestamp() * 1000)
    grid = range(anchor + step, end + 1, step) if anchor is not None else range(0)
    seen = set(fired) | set(dropped)
    unaccounted = [d for d in grid if d not in seen]
    duplicated += len(fired) - len(set(fired))
    return Count(
        requested=len(wanted),
        lost=lost,
        duplicated=duplicated,
        unrequested=unrequested,
        off_cadence=len(off),
        dues_unaccounted=len(unaccounted),
        dropped_by_policy=len(dropped),
    )


def leaks(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    """``where:line: what`` for every line of ``texts`` that holds one of ``secrets``."""
    found = []
    for where, text in texts.items():
        for number, line in enumerate(text.splitlines(), 1):
            for what, secret in secrets.items():
                if secret and secret in line:
                    found.append(f"{where}:{number}: {what}")
    return found
