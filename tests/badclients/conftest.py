"""Bad clients against a real ``taskplane api`` process: each test starts one (short
timeouts and small stream caps from its environment), attacks it, and watches ``/health``
answer meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.settings import Settings
from tests.e2e.processes import free_port, running, settings_env, start, wait_until
from tests.support import eventually

HEAD_TIMEOUT_SECONDS = 1.5
WRITE_TIMEOUT_SECONDS = 2.0
STREAMS_PER_TOKEN = 3
STREAMS_TOTAL = 10
HEALTH = "/api/v1/system/health"
ROOT = Path(__file__).resolve().parents[2]


def answered(response: httpx.Response) -> bool:
    """/health answered: 200, or 503 as no scheduler or worker runs beside this api."""
    return response.status_code in (200, 503)


@dataclass(frozen=True, slots=True)
class Api:
    host: str
    port: int
    token: str
    log: Path

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
def api(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Api]:
    """The api process; a test module's ``API_ENV`` dict adds to (or overrides) its env."""
    port = free_port()
    extra = {
        "TASKPLANE_API_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT_SECONDS),
        "TASKPLANE_API_WRITE_TIMEOUT_SECONDS": str(WRITE_TIMEOUT_SECONDS),
        "TASKPLANE_EVENTS_STREAMS_PER_TOKEN": str(STREAMS_PER_TOKEN),
        "TASKPLANE_EVENTS_STREAMS_TOTAL": str(STREAMS_TOTAL),
        "TASKPLANE_EVENTS_KEEPALIVE_SECONDS": "0.5",
        **getattr(request.module, "API_ENV", {}),
    }
    env = settings_env(settings, **extra)
    log = tmp_path / "api.log"
    proc = start(["api", "--port", str(port)], env, log)
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    with running(proc):

        def healthy() -> bool:
            try:
                return answered(httpx.get(f"http://127.0.0.1:{port}{HEALTH}", timeout=2))
            except httpx.HTTPError:
                return False

        wait_until(healthy, 60, "the api answers /health", log)
        yield Api("127.0.0.1", port, token, log)


@dataclass
class HealthWatch:
    """/health latencies while an attack runs, measured by a process of its own
    (``bench/health_probe.py``)."""

    api: Api
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0

    @contextlib.asynccontextmanager
    async def during(self) -> AsyncIterator[None]:
        out = self.api.log.with_name("health.txt")
        probe = subprocess.Popen(
            [sys.executable, "-m", "bench.health_probe", self.api.base + HEALTH, out],
            cwd=ROOT,
        )
        try:

            async def probing() -> bool:
                return out.exists() and bool(out.read_text())

            await eventually(probing, within=30)  # a baseline call before the attack
            yield
        finally:
            probe.terminate()
            probe.wait(timeout=30)
        lines = out.read_text().split()
        self.failures = lines.count("fail")
        self.latencies_ms = [float(x) for x in lines if x != "fail"]

    def figures(self) -> dict[str, float | int]:
        ordered = sorted(self.latencies_ms) or [float("nan")]
        return {
            "health_calls": len(self.latencies_ms),
            "health_failures": self.failures,
            "health_p50_ms": ordered[len(ordered) // 2],
            "health_max_ms": ordered[-1],
        }


@contextlib.asynccontextmanager
async def open_streams(api: Api, tokens: list[str]) -> AsyncIterator[list[int]]:
    """Open one GET /events per entry of ``tokens`` at once; yields their statuses, in order,
    while the admitted ones stay open."""
    limits = httpx.Limits(max_connections=len(tokens) + 1)
    async with httpx.AsyncClient(base_url=api.base, timeout=60, limits=limits) as client:
        responses = await asyncio.gather(
            *(
                client.send(
                    client.build_request(
                        "GET", "/api/v1/events", headers={"Authorization": f"Bearer {t}"}
                    ),
                    stream=True,
                )
                for t in tokens
            )
        )
        try:
            yield [r.status_code for r in responses]
        finally:
            await asyncio.gather(*(r.aclose() for r in responses))
