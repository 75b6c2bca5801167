"""The dashboard in a real browser (Debian's chromium through Playwright) against a real
stack: api, worker and scheduler processes on PostgreSQL and Redis. Each test gets a fresh
page; the `page` fixture fails a test whose page logged a console error, threw, answered 5xx
or sent a request to another origin."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Page, expect

from tests.dashboard.browser import Stack, ensure_screenshots_dir
from tests.support import eventually

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WRITE_LABELS = re.compile(r"^(Start|Stop|Pause|Resume|Reload|Run now|Create|Save|Edit|New config)$")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def sign_in(page: Page, url: str, token: str) -> None:
    await page.goto(url)
    await page.fill("#token", token)
    await page.click("#sign-in button[type=submit]")
    await expect(page.locator("#nav")).to_be_visible()


async def test_sign_in_keeps_the_token_for_the_tab_and_sign_out_forgets_it(
    page: Page, stack: Stack
) -> None:
    response = await page.goto(stack.url)
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    await expect(page.locator("#sign-in")).to_be_visible()
    await page.fill("#token", "not-a-token")
    await page.click("#sign-in button[type=submit]")
    await expect(page.locator("#sign-in-error")).to_contain_text("not valid")
    await expect(page.locator("#nav")).to_be_hidden()

    await page.fill("#token", stack.admin_token)
    await page.keyboard.press("Enter")
    await expect(page.locator("#nav")).to_be_visible()
    await expect(page.locator("#role")).to_have_text("admin")
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    stored = await page.evaluate("sessionStorage.getItem('taskplane-token')")
    assert stored == stack.admin_token
    assert await page.evaluate("localStorage.length") == 0

    await page.reload()  # the tab keeps it
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    await page.click("#sign-out")
    await expect(page.locator("#sign-in")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('taskplane-token')") is None
    await page.reload()
    await expect(page.locator("#sign-in")).to_be_visible()


async def _tile(page: Page, key: str) -> str:
    return (await page.locator(f"[data-tile='{key}'] .tile-value").text_content()) or ""


async def test_overview_numbers_match_the_api_and_health_names_every_component(
    page: Page, stack: Stack
) -> None:
    await stack.create(unique("overview-manual"))
    await sign_in(page, stack.url, stack.admin_token)

    async def same_as_api() -> bool:
        await page.reload()
        await expect(page.locator("[data-tile='total']")).to_be_visible()
        board = (await stack.http.get("/system/dashboard")).json()
        shown = {
            k: await _tile(page, k)
            for k in ("total", "active", "paused", "inactive", "error", "executions", "failed")
        }
        wanted = {
            **{k: str(v) for k, v in board["schedules"].items()},
            "executions": str(board["executions_24h"]["total"]),
            "failed": str(board["executions_24h"]["failed"]),
        }
        return shown == wanted

    await eventually(same_as_api, within=20)
    status = (await stack.http.get("/system/status")).json()
    health = page.locator(".health-list")
    for name in ("database", "redis", "scheduler", "workers"):
        await expect(health.locator(f"[data-component='{name}']")).to_contain_text("up")
    await expect(health.locator("[data-component='scheduler']")).to_contain_text(
        status["scheduler"]["leader"]
    )
    await expect(health.locator("[data-component='workers']")).to_contain_text("default")
    await expect(page.locator("svg.chart g.bar")).to_have_count(24)
    await page.screenshot(path=str(ensure_screenshots_dir() / "overview.png"), full_page=True)
