"""The dashboard operators trust (issue 25), in a real chromium, as operators in two time zones
and locales would use it: no `null` on any page, one labelled clock with a zone toggle, only
the actions a status allows, an overview from one aggregate refreshed in place, live updates
that keep the operator's place, a config page built for diagnosis, an executions page, forms
that start empty and send only what changed, and cards on a phone."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Dialog, Page, Request, expect

from tests.dashboard.browser import PREVIEW, Stack, screenshot, sign_in
from tests.dashboard.conftest import watched_page
from tests.support import eventually

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# (browser time zone, browser locale): the page must read the same in both, in its own
# language, with every time labelled
PLACES = [("America/Los_Angeles", "en-US"), ("Europe/Berlin", "de-DE")]
NULLISH = re.compile(r"\b(null|undefined|NaN)\b")
RAW_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d|\d\d:\d\d:\d\d\.\d{3,}")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(params=PLACES, ids=[zone for zone, _ in PLACES])
async def place(request: pytest.FixtureRequest) -> tuple[str, str]:
    zone, locale = request.param
    return zone, locale


@pytest.fixture
async def page(browser: Browser, stack: Stack, place: tuple[str, str]) -> AsyncIterator[Page]:
    zone, locale = place
    async with watched_page(browser, stack, zone, locale) as page:
        yield page


async def visible_text(page: Page) -> str:
    text: str = await page.evaluate("document.body.innerText")
    return text


async def runs(stack: Stack, config_id: int, count: int) -> None:
    """`count` more runs of the config, recorded."""
    wanted = len(await stack.executions(config_id)) + count
    for _ in range(count):
        assert (await stack.http.post(f"/configs/{config_id}/run")).status_code == 202

    async def recorded() -> bool:
        return len(await stack.executions(config_id)) >= wanted

    await eventually(recorded, within=30)


async def berlin_cron(stack: Stack) -> dict[str, Any]:
    return await stack.create(
        unique("berlin"),
        scheduler_type="cron",
        schedule_config={"cron_expression": "30 2 * * *", "timezone": "Europe/Berlin"},
        auto_start=True,
    )


async def test_no_view_prints_null_undefined_or_a_raw_time_for_admin_or_viewer(
    page: Page, stack: Stack
) -> None:
    cron = await berlin_cron(stack)
    bare = await stack.create(unique("bare"))  # no description, never ran
    failing = await stack.create(unique("failing"), parameters={"message": "x", "fail": True})
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    date = await stack.create(
        unique("date"), scheduler_type="date", schedule_config={"run_date": later}
    )
    await runs(stack, failing["id"], 2)
    await stack.http.patch(f"/configs/{bare['id']}", json={"description": "now described"})
    pages = ["#/", "#/configs", "#/executions", "#/executions?is_success=false"]
    pages += [f"#/configs/{c['id']}" for c in (cron, bare, failing, date)]
    for token, extra in [
        (stack.admin_token, ["#/configs/new", f"#/configs/{date['id']}/edit"]),
        (stack.viewer_token, []),
    ]:
        await sign_in(page, stack, token)
        for hash_ in pages + extra:
            await page.goto(stack.url + hash_)
            await expect(page.locator("#view h1")).to_be_visible()
            await expect(page.locator("#view [role=status]", has_text="loading")).to_have_count(0)
            if hash_.endswith(("/new", "/edit")):  # the preview comes a moment later
                await expect(page.locator("#preview-description")).not_to_be_empty(timeout=PREVIEW)
            text = await visible_text(page)
            assert not NULLISH.search(text), (hash_, NULLISH.search(text), text[:2000])
            assert not RAW_ISO.search(text), (hash_, RAW_ISO.search(text), text[:2000])
        await page.click("#sign-out")
    await stack.http.post(f"/schedules/{cron['id']}/stop")


async def test_times_carry_their_zone_and_the_header_switches_schedule_browser_and_utc(
    page: Page, stack: Stack, place: tuple[str, str]
) -> None:
    browser_zone, _ = place
    cron = await berlin_cron(stack)
    next_run = datetime.fromisoformat(
        (await stack.http.get(f"/configs/{cron['id']}")).json()["next_run_at"]
    )
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + f"#/configs/{cron['id']}")
    next_cell = page.locator(".kv dt:text-is('next run') + dd")

    def shown(zone: str) -> str:
        local = next_run.astimezone(ZoneInfo(zone))
        # the page's language (English) whatever the browser's locale: "Dec 7, 2026, 02:30:00"
        return f"{local:%b} {local.day}, {local.year}, {local:%H:%M:%S} {zone}"

    # a cron with a timezone shows its fires in that zone by default, with "in N h" beside
    await expect(next_cell).to_contain_text(shown("Europe/Berlin"))
    await expect(next_cell).to_contain_text(re.compile(r"\(in \d+ (h|d|min)\)"))
    await expect(next_cell.locator("time")).to_have_attribute("datetime", re.compile("T"))
    await expect(page.locator("#timeline li[data-event='upcoming']").first).to_contain_text(
        "02:30:00 Europe/Berlin"
    )
    await page.select_option("#zone", "utc")
    await expect(next_cell).to_contain_text(shown("UTC"))
    await page.select_option("#zone", "browser")
    await expect(next_cell).to_contain_text(shown(browser_zone))
    # the choice holds on other pages: the configs table shows the browser's zone too
    await page.goto(stack.url + "#/configs?q=" + cron["name"])
    row = page.locator(f"#configs-table tr[data-id='{cron['id']}']")
    await expect(row).to_contain_text(shown(browser_zone))
    await page.select_option("#zone", "schedule")
    await expect(row).to_contain_text(shown("Europe/Berlin"))
    # the form's preview lists fires in the zone typed in the form
    await page.goto(stack.url + f"#/configs/{cron['id']}/edit")
    await expect(page.locator("#preview-runs li").first).to_contain_text(
        "02:30:00 Europe/Berlin", timeout=PREVIEW
    )
    await stack.http.post(f"/schedules/{cron['id']}/stop")


async def test_only_the_allowed_actions_show_stop_and_delete_confirm_and_toasts_stay_home(
    page: Page, stack: Stack
) -> None:
    manual = await stack.create(unique("manual"))
    active = await stack.create(
        unique("active"),
        scheduler_type="interval",
        schedule_config={"seconds": 3600, "run_immediately": False},
        auto_start=True,
    )
    await sign_in(page, stack, stack.admin_token)
    controls = page.locator(".controls button")
    await page.goto(stack.url + f"#/configs/{manual['id']}")
    await expect(controls).to_have_text(["Run now"])
    await page.goto(stack.url + f"#/configs/{active['id']}")
    await expect(controls).to_have_text(["Pause", "Reload", "Stop", "Run now"])

    answers: list[bool] = []

    async def answer(dialog: Dialog) -> None:
        if answers.pop(0):
            await dialog.accept()
        else:
            await dialog.dismiss()

    page.on("dialog", answer)
    answers.append(False)  # Stop, then "cancel": nothing happens
    await page.click("[data-action='stop']")
    await expect(page.locator(".title-row .badge")).to_have_text("active")
    assert (await stack.http.get(f"/schedules/{active['id']}")).json()["status"] == "active"
    await page.click("[data-action='pause']")  # no question for a pause
    await expect(page.locator(".title-row .badge")).to_have_text("paused")
    await expect(controls).to_have_text(["Resume", "Stop", "Run now"])
    await expect(page.locator("#toast")).to_contain_text(active["name"])
    # the toast was about this config: it does not follow the operator to another page
    await page.goto(stack.url + f"#/configs/{manual['id']}")
    await expect(page.get_by_role("heading", name=manual["name"])).to_be_visible()
    await expect(page.locator("#toast")).to_have_text("")
    await page.go_back()
    answers.append(True)
    await page.click("[data-action='stop']")
    await expect(page.locator(".title-row .badge")).to_have_text("inactive")
    await expect(controls).to_have_text(["Start", "Run now"])

    answers.extend([False, True])  # Delete: cancelled once, then confirmed
    await page.click("[data-action='delete']")
    await expect(page.get_by_role("heading", name=active["name"])).to_be_visible()
    await page.click("[data-action='delete']")
    await expect(page.get_by_role("heading", name="Configs")).to_be_visible()
    await expect(page.locator("#toast")).to_contain_text(f"Deleted {active['name']}")
    assert (await stack.http.get(f"/configs/{active['id']}")).status_code == 404


async def test_the_overview_reads_one_aggregate_and_refreshes_in_place_at_most_once_a_second(
    page: Page, stack: Stack
) -> None:
    config = await stack.create(unique("overview"), parameters={"message": "x", "fail": True})
    await runs(stack, config["id"], 3)
    calls: list[str] = []

    def seen(request: Request) -> None:
        if "/api/v1/" in request.url:
            calls.append(request.url.split("/api/v1", 1)[1])

    page.on("request", seen)
    await sign_in(page, stack, stack.admin_token)
    await expect(page.locator("svg.chart g.bar")).to_have_count(24)
    histogram = (await stack.http.get("/executions/histogram")).json()
    tile = page.locator("[data-tile='executions'] .tile-value")
    await expect(tile).to_have_text(str(histogram["total"]))
    await expect(page.locator("[data-tile='failed'] .tile-value")).to_have_text(
        str(histogram["failed"])
    )
    shown = 0
    for bar in await page.locator("svg.chart g.bar").all():
        shown += int(await bar.get_attribute("data-ok") or 0)
        shown += int(await bar.get_attribute("data-failed") or 0)
    assert shown == histogram["total"]  # the chart and the tile agree
    # the failures name their config, and lead to the executions page
    await expect(page.locator("#recent-failures")).to_contain_text(config["name"])
    await page.focus("#all-failures")
    before = len([c for c in calls if c.startswith("/executions/histogram")])
    started = time.monotonic()
    await runs(stack, config["id"], 5)  # live events: the overview refreshes itself

    async def refreshed() -> bool:
        return len([c for c in calls if c.startswith("/executions/histogram")]) > before

    await eventually(refreshed, within=10)
    await expect(tile).to_have_text(str(histogram["total"] + 5))
    elapsed = time.monotonic() - started
    assert await page.evaluate("document.activeElement.id") == "all-failures"
    # never the execution records themselves, and at most one refresh a second (plus the
    # one under way) however many events arrived
    assert not [c for c in calls if re.match(r"/executions\?", c)], calls
    refreshes = len([c for c in calls if c.startswith("/executions/histogram")]) - before
    assert refreshes <= elapsed + 1, (refreshes, elapsed)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Executions")).to_be_visible()
    await expect(page.locator("#x-outcome")).to_have_value("false")
    rows = page.locator("#all-executions tr.exec")
    await expect(rows.first).to_contain_text(config["name"])
    await expect(rows.first).to_contain_text("failed")
    await page.select_option("#x-config", str(config["id"]))
    await expect(page.locator("#all-executions tr.exec")).to_have_count(8)
    await screenshot(page, "executions.png")


async def test_live_updates_keep_open_panels_focus_text_and_selection(
    page: Page, stack: Stack
) -> None:
    config = await stack.create(unique("keep"), parameters={"message": "kept"})
    other = await stack.create(unique("keep-other"))
    await runs(stack, config["id"], 1)
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + f"#/configs/{config['id']}")
    await expect(page.locator("#executions-table tr.exec")).to_have_count(1)
    await page.locator("#executions-table tr.exec button").first.click()
    await page.locator("details[data-keep='parameters'] summary").click()
    await page.fill("#action-note", "typing a note")
    await page.focus("#action-note")
    await page.evaluate("document.getElementById('action-note').setSelectionRange(2, 6)")
    await runs(stack, config["id"], 2)  # three in all now, each a live event
    await expect(page.locator("#executions-table tr.exec")).to_have_count(3)
    await expect(page.locator("tr.exec-detail:not([hidden])")).to_have_count(1)
    await expect(page.locator("tr.exec-detail:not([hidden])")).to_contain_text("kept")
    await expect(page.locator("details[data-keep='parameters']")).to_have_attribute("open", "")
    await expect(page.locator("#action-note")).to_be_focused()
    await expect(page.locator("#action-note")).to_have_value("typing a note")
    assert await page.evaluate(
        "[document.activeElement.selectionStart, document.activeElement.selectionEnd]"
    ) == [2, 6]

    tag = config["name"].rsplit("-", 1)[1]
    await page.goto(stack.url + f"#/configs?q={tag}")
    box = page.locator(f"#configs-table tr[data-id='{config['id']}'] input[type=checkbox]")
    await box.check()
    await box.focus()
    await runs(stack, other["id"], 1)  # an event about another config on the page
    await runs(stack, config["id"], 3)
    row = page.locator(f"#configs-table tr[data-id='{config['id']}']")
    await expect(row).to_contain_text("ok")
    await expect(box).to_be_checked()
    await expect(page.locator("#selected-count")).to_have_text("1 selected")


async def test_the_config_page_says_the_failure_streak_and_folds_fires_into_ticks(
    page: Page, stack: Stack
) -> None:
    config = await stack.create(
        unique("flaky"),
        scheduler_type="interval",
        schedule_config={"seconds": 1},
        parameters={"message": "ConnectionRefused: db:5432", "fail": True},
        auto_start=True,
    )

    async def failed_thrice() -> bool:
        return len(await stack.executions(config["id"])) >= 3

    await eventually(failed_thrice, within=30)
    await stack.http.post(f"/schedules/{config['id']}/pause", json={"note": "vendor outage"})
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + f"#/configs/{config['id']}")
    streak = page.locator("#failure-streak")
    await expect(streak).to_have_text(
        re.compile(r"^Failed the last \d+ runs: EchoFailure: ConnectionRefused: db:5432$")
    )
    shown = int((await streak.text_content() or "").split()[3])
    assert shown >= 3 and shown <= len(await stack.executions(config["id"]))
    await expect(page.locator("#last-execution")).to_contain_text("failed")
    strip = page.locator("#timeline li[data-event='strip']").first
    await expect(strip).to_be_visible()
    assert await strip.locator(".tick-failed").count() >= 3
    await expect(page.locator("#timeline li[data-event='fired']")).to_have_count(0)
    await expect(page.locator("#timeline li[data-event='paused']")).to_contain_text("vendor outage")
    await expect(page.locator(".crumbs")).to_contain_text(config["name"])
    await screenshot(page, "config-page.png")
    # Clone: the form opens with its settings under a new name
    await page.click("text=Clone")
    await expect(page.get_by_label("Name")).to_have_value(f"{config['name']} (copy)")
    await expect(page.get_by_label("Task type")).to_have_value("echo")
    await stack.http.post(f"/schedules/{config['id']}/stop")


async def test_forms_start_empty_send_only_changes_and_say_errors_plainly(
    page: Page, stack: Stack
) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    fired = await stack.create(
        unique("once"), scheduler_type="date", schedule_config={"run_date": soon}, auto_start=True
    )

    async def done() -> bool:
        state = (await stack.http.get(f"/schedules/{fired['id']}")).json()
        return bool(state["status"] == "inactive" and await stack.executions(fired["id"]))

    await eventually(done, within=30)
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + "#/configs/new")
    await expect(page.get_by_label("Task type")).to_have_value("")
    await expect(page.get_by_label("Start the schedule once created")).not_to_be_checked()
    await page.get_by_label("Kind").select_option("interval")
    await page.locator("[data-field='schedule_config.seconds'] input").fill("0")
    error = page.locator("[data-field='schedule_config.seconds'] .field-error")
    await expect(error).to_have_text(re.compile("must be at least 1"))
    await page.get_by_label("Kind").select_option("date")
    await expect(
        page.locator("[data-field='schedule_config.run_date'] input[type='datetime-local']")
    ).to_be_visible()

    bodies: list[Any] = []
    page.on(
        "request",
        lambda r: bodies.append(json.loads(r.post_data or "{}")) if r.method == "PATCH" else None,
    )
    await page.goto(stack.url + f"#/configs/{fired['id']}/edit")
    renamed = unique("renamed")
    await page.get_by_label("Name").fill(renamed)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", name=renamed, exact=True)).to_be_visible()
    assert bodies == [{"name": renamed}]
    await screenshot(page, "create-form.png")


async def test_on_a_phone_the_configs_are_cards_with_status_and_next_run_in_view(
    page: Page, stack: Stack
) -> None:
    cron = await berlin_cron(stack)
    await page.set_viewport_size({"width": 390, "height": 800})
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + f"#/configs?q={cron['name']}")
    row = page.locator(f"#configs-table tr[data-id='{cron['id']}']")
    await expect(row).to_be_visible()
    for label in ("Status", "Next run", "Last outcome"):
        cell = row.locator(f"td[data-label='{label}']")
        box = await cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (label, box)
    await expect(row.locator("td[data-label='Status']")).to_contain_text("active")
    await expect(row.locator("td[data-label='Next run']")).to_contain_text("Europe/Berlin")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await screenshot(page, "configs-phone.png")
    await stack.http.post(f"/schedules/{cron['id']}/stop")


async def test_a_running_execution_shows_as_running_above_the_finished_ones(
    page: Page, stack: Stack
) -> None:
    done = await stack.create(unique("done"))
    await runs(stack, done["id"], 1)
    slow = await stack.create(unique("slow"), task_type="sleep", parameters={"seconds": 8})
    other = await stack.create(unique("other"), task_type="sleep", parameters={"seconds": 8})
    await sign_in(page, stack, stack.viewer_token)
    await page.goto(stack.url + "#/executions")
    await expect(page.locator("#all-executions tr.exec").first).to_be_visible()
    for config in (slow, other):
        assert (await stack.http.post(f"/configs/{config['id']}/run")).status_code == 202
    running = page.locator("#all-executions tr.exec.running")
    # no live event tells of a start: the page looks again by itself
    await expect(running).to_have_count(2, timeout=20_000)
    # above every finished row, with how long it has run, ticking
    assert await page.locator("#all-executions tbody tr").first.get_attribute("class") == (
        "exec running"
    )
    row = running.filter(has_text=slow["name"])
    await expect(row.locator("td[data-label='Outcome']")).to_have_text("running")
    await expect(row.locator("td[data-label='Trigger']")).to_have_text("manual")
    elapsed = row.locator("td[data-label='Duration']")
    await expect(elapsed).to_contain_text(re.compile(r"running \d+ s"))
    first = await elapsed.inner_text()
    await expect(elapsed).not_to_have_text(first, timeout=5_000)
    await expect(row.locator("td[data-label='Started'] time")).to_be_visible()
    # the config filter holds for the running ones too
    await page.select_option("#x-config", str(slow["id"]))
    await expect(running).to_have_count(1)
    await expect(running).to_contain_text(slow["name"])
    # finished: recorded (a live event), it leaves the running rows for the finished ones
    await expect(running).to_have_count(0, timeout=30_000)
    finished = page.locator("#all-executions tr.exec:not(.running)")
    await expect(finished).to_have_count(1)
    await expect(finished).to_contain_text("ok")


async def test_the_verdict_shows_its_times_by_the_same_clock_no_utc_for_a_berlin_cron(
    page: Page, stack: Stack, place: tuple[str, str]
) -> None:
    browser_zone, _ = place
    cron = await berlin_cron(stack)
    explain = (await stack.http.get(f"/schedules/{cron['id']}/explain")).json()
    assert re.search(r"\d\d:\d\d UTC", explain["verdict"]), explain["verdict"]
    next_fire = datetime.fromisoformat(explain["next_runs"][0])

    def shown(zone: str) -> str:
        local = next_fire.astimezone(ZoneInfo(zone))
        return f"{local:%b} {local.day}, {local.year}, {local:%H:%M:%S} {zone}"

    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + f"#/configs/{cron['id']}")
    verdict = page.locator("#verdict-text")
    # the switch says "each schedule's zone": the sentence's fire time is Berlin's, and no
    # time on the page is shown in UTC
    await expect(verdict).to_contain_text("next fire " + shown("Europe/Berlin"))
    await expect(page.locator("#timeline li[data-event='upcoming']").first).to_be_visible()
    text = await visible_text(page)
    assert not re.search(r"\d\d:\d\d(:\d\d)? UTC", text), text
    # and it follows the switch like every other time
    await page.select_option("#zone", "utc")
    await expect(verdict).to_contain_text("next fire " + shown("UTC"))
    await page.select_option("#zone", "browser")
    await expect(verdict).to_contain_text("next fire " + shown(browser_zone))
    await page.select_option("#zone", "schedule")
    await stack.http.post(f"/schedules/{cron['id']}/stop")
