"""The real stack and the real browser for the dashboard's browser tests.

`Stack`: the api, a worker and a scheduler as real processes (`taskplane api|worker|scheduler`)
against the run's PostgreSQL and a private Redis key prefix. `Watch`: what a page did that it
must not (a console error, an uncaught exception, a request to another origin, a 5xx).
Debian's chromium is driven by Playwright's Python package; nothing is downloaded.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.async_api import ConsoleMessage, Page, Request, Response, expect

from taskplane.settings import Settings
from tests.e2e.processes import free_port, kill_group, settings_env, start, stop
from tests.support import eventually

CHROMIUM = Path("/usr/bin/chromium")
PREVIEW = 20_000
"""ms a form's live preview may take: one api call after each pause in typing, which on a
loaded machine (the parallel suite: other workers' stacks and chromiums) can take seconds
more than Playwright's default 5 s; what it must show is the same."""

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING_CHROMIUM = (
    "chromium is missing: run `apt-get install -y chromium` as root "
    "(or scripts/ensure-chromium), then run the tests again"
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
# what the browser itself logs for a response the test provoked on purpose (a 403 probe, a
# 422 shown beside its field); any other console error fails the test
EXPECTED_STATUS = "Failed to load resource: the server responded with a status of 4"


def chromium() -> Path:
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        raise RuntimeError(MISSING_CHROMIUM)
    return CHROMIUM


@dataclass
class Api:
    """One `taskplane api` process on a free port (restartable on the same port)."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = start(["api", "--port", str(self.port)], self.env, self.log)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            kill_group(self.proc)
            self.proc = None

    def kill(self) -> None:
        """The api dies at once (SIGKILL): its open streams break, as on a crash."""
        if self.proc is not None:
            kill_group(self.proc)
            self.proc.wait(timeout=10)
            self.proc = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_healthy(self, prefix: str = "") -> None:
        async with httpx.AsyncClient(timeout=5) as http:

            async def healthy() -> bool:
                try:
                    r = await http.get(f"{self.origin}{prefix}/api/v1/system/health")
                except httpx.HTTPError:
                    return False
                return r.status_code == 200

            try:
                await eventually(healthy, within=60)
            except AssertionError as exc:
                raise AssertionError(self.log.read_text(errors="replace")[-3000:]) from exc


@dataclass
class Stack:
    settings: Settings
    api: Api
    admin_token: str
    viewer_token: str
    http: httpx.AsyncClient  # the admin's client on /api/v1
    processes: list[subprocess.Popen[bytes]]
    logs: Path

    @property
    def url(self) -> str:
        return self.api.origin + "/"

    def as_viewer(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"{self.api.origin}/api/v1",
            headers={"Authorization": f"Bearer {self.viewer_token}"},
            timeout=15,
        )

    async def create(self, name: str, **body: Any) -> dict[str, Any]:
        auto_start = body.pop("auto_start", False)
        payload = {
            "name": name,
            "task_type": "echo",
            "scheduler_type": "manual",
            "schedule_config": {},
            "parameters": {"message": "hi"},
            **body,
        }
        r = await self.http.post(
            "/configs", params={"auto_start": str(auto_start).lower()}, json=payload
        )
        assert r.status_code == 201, r.text
        result: dict[str, Any] = r.json()
        return result

    async def executions(self, config_id: int) -> list[dict[str, Any]]:
        r = await self.http.get("/executions", params={"config_id": config_id, "limit": 500})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items


def start_processes(
    settings: Settings, logs: Path, **extra: str
) -> tuple[Api, list[subprocess.Popen[bytes]]]:
    env = settings_env(
        settings,
        TASKPLANE_SCHEDULER_TICK_MS="50",
        TASKPLANE_WORKER_METRICS_PORT="0",
        TASKPLANE_SCHEDULER_METRICS_PORT="0",
        **extra,
    )
    api = Api(env, logs / "api.log")
    api.start()
    worker = start(["worker"], env, logs / "worker.log")
    scheduler = start(["scheduler"], env, logs / "scheduler.log")
    return api, [worker, scheduler]


@dataclass
class Watch:
    """Collects what a page must never do; `problems()` lists it."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    allow_network_errors: bool = False  # a test that takes the api away on purpose

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("request", self._request)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        if text.startswith(EXPECTED_STATUS):
            return
        if self.allow_network_errors and "net::ERR_" in text:
            return
        self.errors.append(text)

    def _request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in {"data", "blob", "about"}:
            return
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.foreign.append(request.url)

    def _response(self, response: Response) -> None:
        if response.status >= 500:
            self.failures.append(f"{response.status} {response.url}")

    def problems(self) -> list[str]:
        return (
            [f"console: {e}" for e in self.errors]
            + [f"request to another origin: {u}" for u in self.foreign]
            + [f"server error: {f}" for f in self.failures]
        )


async def screenshot(page: Page, name: str) -> None:
    """Refresh docs/img/<name> only when asked (`make screenshots`, or
    TASKPLANE_TEST_SCREENSHOTS=1): a test run never rewrites tracked images on its own."""
    if os.environ.get("TASKPLANE_TEST_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


async def sign_in(page: Page, stack: Stack, token: str) -> None:
    """Sign in with `token` on the stack's dashboard; the navigation shows once it took."""
    await page.goto(stack.url)
    await page.fill("#token", token)
    await page.click("#sign-in button[type=submit]")
    await expect(page.locator("#nav")).to_be_visible()
