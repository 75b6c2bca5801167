"""Fixtures of the browser tests: one real stack and one chromium per module, a fresh page
(fresh sessionStorage) per test, and every page watched for console errors, uncaught
exceptions, requests to another origin and 5xx responses."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from taskplane.resources import make_redis
from tests import services as test_services
from tests.conftest import _wipe, make_test_settings
from tests.dashboard.browser import (
    CHROMIUM_FLAGS,
    Api,
    Stack,
    Watch,
    chromium,
    start_processes,
)
from tests.e2e.processes import kill_group, stop

# an assertion waits as long as an action does (the contexts' default timeout, 10 s), not
# Playwright's 5 s: the parallel suite loads the machine; a test that promises a time ("within
# two seconds") passes its own timeout
expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
async def stack(services: test_services.TestServices, engine: AsyncEngine) -> AsyncIterator[Stack]:
    settings = make_test_settings(services)
    logs = Path(tempfile.mkdtemp(prefix="tp-dashboard-"))
    api, others = start_processes(settings, logs)
    admin = settings.admin_token.get_secret_value() if settings.admin_token else ""
    http = httpx.AsyncClient(
        base_url=f"{api.origin}/api/v1", headers={"Authorization": f"Bearer {admin}"}, timeout=15
    )
    try:
        await api.wait_healthy()
        created = await http.post("/tokens", json={"name": "viewer", "role": "viewer"})
        assert created.status_code == 201, created.text
        yield Stack(
            settings=settings,
            api=api,
            admin_token=admin,
            viewer_token=created.json()["token"],
            http=http,
            processes=others,
            logs=logs,
        )
    finally:
        await http.aclose()
        api.stop()
        for proc in others:
            stop(proc)
            kill_group(proc)
        await _wipe(engine)
        redis = make_redis(settings)
        try:
            async for key in redis.scan_iter(match=settings.redis_prefix + "*", count=1000):
                await redis.delete(key)
        finally:
            await redis.aclose()


@pytest.fixture(scope="module")
async def chrome() -> AsyncIterator[BrowserContext]:
    executable = chromium()  # fails with one line saying how to install it
    profile = tempfile.mkdtemp(prefix="tp-chromium-")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(executable),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 800},
        )
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def sub_path_api(stack: Stack) -> AsyncIterator[Api]:
    """A second api of the same stack served under /ops (TASKPLANE_ROOT_PATH), as behind a
    proxy that forwards the prefix."""
    api = Api({**stack.api.env, "TASKPLANE_ROOT_PATH": "/ops"}, stack.logs / "ops-api.log")
    api.start()
    try:
        await api.wait_healthy("/ops")
        yield api
    finally:
        api.stop()


@pytest.fixture
async def watch(stack: Stack) -> Watch:
    return Watch(origin=stack.api.origin)


@pytest.fixture
async def page(chrome: BrowserContext, watch: Watch) -> AsyncIterator[Page]:
    page = await chrome.new_page()
    watch.attach(page)
    yield page
    await page.close()
    assert watch.problems() == []


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """A chromium whose tests open their own contexts (a time zone, a locale of their own)."""
    executable = chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            await launched.close()


DARWIN = "Australia/Darwin"  # UTC+09:30 all year: a picked local time is never its UTC reading


@contextlib.asynccontextmanager
async def watched_page(
    browser: Browser, stack: Stack, zone: str, locale: str, height: int = 800
) -> AsyncIterator[Page]:
    """A page of a fresh browser context in ``zone`` / ``locale``, every console error,
    failed request and uncaught exception watched: the test fails on any at the end."""
    context = await browser.new_context(
        timezone_id=zone, locale=locale, viewport={"width": 1280, "height": height}
    )
    context.set_default_timeout(10_000)
    watch = Watch(origin=stack.api.origin)
    page = await context.new_page()
    watch.attach(page)
    try:
        yield page
    finally:
        await context.close()
    assert watch.problems() == []


@pytest.fixture
async def darwin_page(browser: Browser, stack: Stack) -> AsyncIterator[Page]:
    """A page whose browser lives in Australia/Darwin, watched like every other page."""
    async with watched_page(browser, stack, DARWIN, "en-US", height=900) as page:
        yield page
