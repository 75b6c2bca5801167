"""B7 - /health while one bad client attacks: ``python -m bench b7 [--duration SECONDS]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import machine, procs, stack
from bench.env import BenchEnv, bench_env
from bench.results import Result

TITLE = "/health under a bad client"
DURATION_SECONDS = 10.0
GOAL_P99_MS = 100.0
Attack = Callable[["Base"], Coroutine[Any, Any, None]]
HEALTH = "/api/v1/system/health"
MIB = 1024 * 1024

DESCRIPTION = f"""
One `taskplane api` process (its production defaults: head timeout 10 s, write timeout 30 s, 5
`/events` streams per token, 200 per process) on PostgreSQL and Redis. For each attack of the
outside probe (issue 24) in turn, {DURATION_SECONDS:g} s of it (`--duration`) while
`bench/health_probe.py` (a process of its own, one keep-alive client, 20 calls/s at most) calls
`GET /api/v1/system/health` (started, and answered once, before the attack; only the calls
during the attack count); first a quiet baseline. The attacks: a 64 MiB header (again and
again, no token), one viewer opening 1,000 `/events` streams at once (held 2 s, reopened),
waves of 50 previews of a rare cron (`0 0 29 2 sun#5`, count 50) from one viewer, and 300
slow-loris connections (a header line every 2 s, reopened when closed). The attacker runs in
the bench process, on the same 2 cores as the api. Goal: `/health` p99 <= {GOAL_P99_MS:g} ms
and no failed call under each attack. The pass/fail tests of the same attacks (short
timeouts) are docs/reliability.md's "Bad clients".
"""


async def huge_headers(base: Base) -> None:
    while True:
        try:
            _, writer = await asyncio.open_connection(base.host, base.port)
            writer.write(f"GET {HEALTH} HTTP/1.1\r\nHost: x\r\nX-Big: ".encode())
            for _ in range(64):
                writer.write(b"a" * MIB)
                await writer.drain()
            writer.close()
        except ConnectionError:
            pass


async def streams(base: Base) -> None:
    limits = httpx.Limits(max_connections=1001)
    headers = {"Authorization": f"Bearer {base.viewer}"}
    async with httpx.AsyncClient(base_url=base.url, timeout=60, limits=limits) as client:
        while True:
            requests = [client.build_request("GET", "/api/v1/events", headers=headers)] * 1000
            responses = await asyncio.gather(
                *(client.send(r, stream=True) for r in requests), return_exceptions=True
            )
            await asyncio.sleep(2)
            for r in responses:
                if isinstance(r, httpx.Response):
                    await r.aclose()


async def previews(base: Base) -> None:
    body = {
        "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "0 0 29 2 sun#5"},
        "count": 50,
    }
    headers = {"Authorization": f"Bearer {base.viewer}"}
    async with httpx.AsyncClient(base_url=base.url, headers=headers, timeout=300) as client:
        while True:
            await asyncio.gather(
                *(client.post("/api/v1/schedules/preview", json=body) for _ in range(50))
            )


async def slow_loris(base: Base) -> None:
    async def one() -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(base.host, base.port)
                writer.write(f"GET {HEALTH} HTTP/1.1\r\nHost: x\r\n".encode())
                for line in range(10_000):
                    writer.write(f"X-Slow-{line}: a\r\n".encode())
                    await writer.drain()
                    with contextlib.suppress(TimeoutError):
                        if await asyncio.wait_for(reader.read(1), 2) == b"":
                            break
                writer.close()
            except ConnectionError:
                pass

    await asyncio.gather(*(one() for _ in range(300)))


async def quiet(base: Base) -> None:
    await asyncio.Event().wait()


ATTACKS: list[tuple[str, Attack]] = [
    ("none (baseline)", quiet),
    ("64 MiB header, repeated", huge_headers),
    ("1,000 /events streams of one viewer", streams),
    ("50 rare-cron previews at once, repeated", previews),
    ("300 slow-loris connections", slow_loris),
]


class Base:
    def __init__(self, port: int, viewer: str) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.viewer = viewer
        self.url = f"http://{self.host}:{port}"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass(frozen=True)
class Health:
    """/health as the probe saw it during one attack."""

    latencies_ms: list[float]
    failures: int

    def p(self, q: float) -> float:
        return quantile(self.latencies_ms, q)

    def met(self) -> bool:
        return self.failures == 0 and bool(self.latencies_ms) and self.p(0.99) <= GOAL_P99_MS


def _lines(out: Path) -> list[str]:
    return out.read_text().split() if out.exists() else []


async def measure(base: Base, attack: Attack, seconds: float) -> Health:
    """/health during ``seconds`` of ``attack``: the probe is started and has answered once
    before the attack starts (its start-up is not the attack's), and only the calls made
    after that count."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "health.txt"
        probe = subprocess.Popen(
            [sys.executable, "-m", "bench.health_probe", base.url + HEALTH, str(out)],
            cwd=procs.ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            while not _lines(out):
                if time.monotonic() > deadline or probe.poll() is not None:
                    raise RuntimeError("the /health probe made no call within 60 s")
                await asyncio.sleep(0.05)
            before = len(_lines(out))
            task = asyncio.create_task(attack(base))
            await asyncio.sleep(seconds)
        finally:
            probe.terminate()
            probe.wait(30)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        lines = _lines(out)[before:]
    return Health([float(x) for x in lines if x != "fail"], lines.count("fail"))


async def viewer_token(env: BenchEnv) -> str:
    from taskplane import auth
    from taskplane.db.session import make_engine, make_session_factory
    from taskplane.enums import Role

    engine = make_engine(env.settings())
    try:
        async with make_session_factory(engine)() as s, s.begin():
            _, plaintext = await auth.create_token(s, "b7-viewer", Role.VIEWER)
    finally:
        await engine.dispose()
    return plaintext


async def run(result: Result, args: argparse.Namespace) -> None:
    seconds = args.duration or DURATION_SECONDS
    table = result.table(
        f"/health during {seconds:g} s of each attack",
        ["attack", "/health calls", "failed", "p50 ms", "p99 ms", "max ms", "load after"],
    )
    worst: tuple[float, str] | None = None
    unmet: list[str] = []
    async with bench_env("b7", database=True) as env:
        port = stack.free_port()
        api = stack.api_proc(env, "b7-api", port, log_level="WARNING").start()
        try:
            await stack.wait_http(f"http://127.0.0.1:{port}{HEALTH}", api)
            base = Base(port, await viewer_token(env))
            for name, attack in ATTACKS:
                started = time.monotonic()
                h = await measure(base, attack, seconds)
                p99 = h.p(0.99)
                table.add(
                    name,
                    f"{len(h.latencies_ms):,}",
                    h.failures,
                    f"{h.p(0.5):.1f}",
                    f"{p99:.1f}",
                    f"{max(h.latencies_ms, default=float('nan')):.1f}",
                    machine.load().split(" / ")[0],
                )
                if worst is None or not p99 <= worst[0]:
                    worst = (p99, name)
                if not h.met():
                    unmet.append(name)
                await asyncio.sleep(max(0.0, 3 - (time.monotonic() - started)))
        finally:
            api.stop()
    assert worst is not None
    detail = f"worst p99 {worst[0]:.1f} ms ({worst[1]})"
    if unmet:
        detail += f"; over the goal or with a failed call: {', '.join(unmet)}"
    result.goal(
        f"/health p99 <= {GOAL_P99_MS:g} ms and no failed call under each attack",
        not unmet,
        detail,
    )
    result.note("load after: the 1-minute load average when the attack ended (2 cores, shared).")
