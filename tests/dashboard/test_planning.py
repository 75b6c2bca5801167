"""Issue 27 on the dashboard, in a real chromium against the real stack: pause until a time
picked in the browser's zone (sent as UTC), skip and unskip from the next fires, exclusions and
jitter in the form with the live preview, the sending times of a jittered schedule, and a
backfill dialog that shows its dry run before anything is sent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from tests.dashboard.browser import PREVIEW, Stack, screenshot, sign_in
from tests.dashboard.conftest import DARWIN
from tests.support import eventually

# real processes on a shared machine, incidents checked every few seconds: more than the
# default two minutes a test
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

BERLIN = ZoneInfo("Europe/Berlin")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def shown(at: datetime, zone: str) -> str:
    """How the page's clock writes an instant in a zone: "Dec 7, 2026, 02:30:00 Europe/Berlin"."""
    local = at.astimezone(ZoneInfo(zone))
    return f"{local:%b} {local.day}, {local.year}, {local:%H:%M:%S} {zone}"


async def hourly(stack: Stack, **extra: Any) -> dict[str, Any]:
    return await stack.create(
        unique("plan"),
        scheduler_type="interval",
        schedule_config={"seconds": 3600, "run_immediately": False, **extra},
        auto_start=True,
    )


async def schedule(stack: Stack, config_id: int) -> dict[str, Any]:
    r = await stack.http.get(f"/schedules/{config_id}")
    assert r.status_code == 200, r.text
    state: dict[str, Any] = r.json()
    return state


async def test_pause_until_sends_the_picked_local_time_as_utc_and_says_when_it_resumes(
    darwin_page: Page, stack: Stack
) -> None:
    page = darwin_page
    config = await hourly(stack)
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + f"#/configs/{config['id']}")
    picker = page.locator("#pause-until")
    hint = page.locator("#pause-until-hint")
    await expect(hint).to_contain_text(DARWIN)

    # a time in the past is refused beside the picker, and nothing changes
    past = datetime.now(UTC) - timedelta(hours=2)
    await picker.fill(past.astimezone(ZoneInfo(DARWIN)).strftime("%Y-%m-%dT%H:%M"))
    await page.click("[data-action='pause']")
    await expect(page.locator("#pause-until-error")).not_to_be_empty()
    await expect(picker).to_have_attribute("aria-invalid", "true")
    assert (await schedule(stack, config["id"]))["status"] == "active"
    await expect(page.locator(".title-row .badge")).to_have_text("active")

    # 14:30 in Darwin is 05:00 UTC: the hint says what will be sent, the API gets that instant
    until = (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=5, minute=0, second=0, microsecond=0
    )
    await picker.fill(until.astimezone(ZoneInfo(DARWIN)).strftime("%Y-%m-%dT%H:%M"))
    await expect(hint).to_contain_text(shown(until, "UTC"))
    await page.fill("#action-note", "release freeze")
    await page.click("[data-action='pause']")
    await expect(page.locator(".title-row .badge")).to_have_text("paused")
    state = await schedule(stack, config["id"])
    assert state["status"] == "paused" and state["note"] == "release freeze"
    assert instant(state["paused_until"]) == until
    resumes = page.locator("#paused-until")
    await expect(resumes).to_contain_text(shown(until, DARWIN))  # the browser's zone
    await expect(resumes).to_contain_text("resumes by itself")
    await expect(picker).to_be_hidden()  # nothing to pause any more

    # a resume before then cancels it: the page says nothing of an end any more
    await page.click("[data-action='resume']")
    await expect(page.locator(".title-row .badge")).to_have_text("active")
    await expect(resumes).to_have_count(0)
    assert (await schedule(stack, config["id"]))["paused_until"] is None
    await stack.http.post(f"/schedules/{config['id']}/stop")


async def test_a_fire_is_skipped_and_restored_from_the_list_of_next_fires(
    page: Page, stack: Stack
) -> None:
    config = await hourly(stack)
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + f"#/configs/{config['id']}")
    upcoming = page.locator("#timeline li[data-event='upcoming']")
    await expect(upcoming).to_have_count(5)
    first = await upcoming.last.get_attribute("data-due")  # latest first: the soonest is last
    assert first
    await page.fill("#action-note", "release day")
    await upcoming.last.locator("[data-skip]").click()

    skipped = page.locator("#timeline li[data-event='skipped-run']")
    await expect(skipped).to_have_count(1)
    await expect(skipped).to_contain_text("release day")
    await expect(skipped).to_have_attribute("data-due", first)
    await expect(upcoming).to_have_count(5)  # the next five that will fire
    state = await schedule(stack, config["id"])
    listed = [instant(s if isinstance(s, str) else s["due_at"]) for s in state["skipped_runs"]]
    assert listed == [instant(first)]
    assert instant(first) not in [instant(t) for t in state["next_runs"]]
    await screenshot(page, "config-page-skips.png")

    await skipped.locator("[data-unskip]").click()
    await expect(skipped).to_have_count(0)
    await expect(upcoming.last).to_have_attribute("data-due", first)
    assert (await schedule(stack, config["id"]))["skipped_runs"] == []
    await stack.http.post(f"/schedules/{config['id']}/stop")


async def test_a_viewer_is_offered_no_skip_no_pause_until_and_no_backfill(
    page: Page, stack: Stack
) -> None:
    config = await hourly(stack)
    await sign_in(page, stack, stack.viewer_token)
    await page.goto(stack.url + f"#/configs/{config['id']}")
    await expect(page.locator("#timeline li[data-event='upcoming']")).to_have_count(5)
    for selector in ("[data-skip]", "#pause-until", "#backfill-open", "#backfill-dialog"):
        assert await page.locator(selector).count() == 0, selector
    await stack.http.post(f"/schedules/{config['id']}/stop")


async def test_exclusions_and_jitter_in_the_form_follow_the_live_preview_and_are_saved(
    page: Page, stack: Stack
) -> None:
    cron = {"cron_expression": "0 9 * * *", "timezone": "Europe/Berlin"}
    preview = await stack.http.post(
        "/schedules/preview", json={"scheduler_type": "cron", "schedule_config": cron, "count": 3}
    )
    assert preview.status_code == 200, preview.text
    runs = [instant(t) for t in preview.json()["next_runs"]]
    skipped_dates = [f"{t.astimezone(BERLIN):%Y-%m-%d}" for t in runs[:2]]

    name = unique("calendar")
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + "#/configs/new")
    form = page.locator("form.config-form")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Task type").select_option("echo")
    await form.locator("[data-field='parameters.message'] input").fill("planned")
    await page.get_by_label("Kind").select_option("cron")
    await form.locator("[data-field='schedule_config.cron_expression'] input").fill("0 9 * * *")
    await form.locator("[data-field='schedule_config.timezone'] input").fill("Europe/Berlin")
    first_run = page.locator("#preview-runs li").first
    await expect(first_run).to_contain_text(shown(runs[0], "Europe/Berlin"), timeout=PREVIEW)

    await form.locator("details.exclusions summary").click()
    await form.locator("[data-field='schedule_config.exclude.dates'] textarea").fill(
        "\n".join(skipped_dates)
    )
    await expect(first_run).to_contain_text(shown(runs[2], "Europe/Berlin"), timeout=PREVIEW)
    country = form.locator("[data-field='schedule_config.exclude.holidays.country'] input")
    await country.fill("XX")  # not a country the holidays package knows: named at once
    await expect(
        form.locator("[data-field='schedule_config.exclude.holidays.country'] .field-error")
    ).not_to_be_empty(timeout=PREVIEW)
    await expect(page.locator("#preview-description")).to_have_text(
        "This schedule is not valid yet."
    )
    await country.fill("DE")
    await form.locator("[data-field='schedule_config.exclude.holidays.subdivision'] input").fill(
        "BY"
    )
    await expect(page.locator("#preview-description")).to_contain_text("DE-BY", timeout=PREVIEW)
    await form.locator("[data-field='schedule_config.jitter_seconds'] input").fill("120")
    await expect(page.locator("#preview-description")).to_contain_text("DE-BY", timeout=PREVIEW)
    await screenshot(page, "create-form-exclusions.png")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    config_id = int(page.url.rsplit("/", 1)[1])
    saved = (await stack.http.get(f"/configs/{config_id}")).json()["schedule_config"]
    assert saved["exclude"]["dates"] == skipped_dates
    assert saved["exclude"]["holidays"]["country"] == "DE"
    assert saved["exclude"]["holidays"]["subdivision"] == "BY"
    assert saved["jitter_seconds"] == 120

    # edit: the exclusions come back filled in; removing them sends the schedule without them
    await page.get_by_role("link", name="Edit").click()
    dates = form.locator("[data-field='schedule_config.exclude.dates'] textarea")
    await expect(dates).to_have_value("\n".join(skipped_dates))
    await dates.fill("")
    await expect(first_run).to_be_visible()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    saved = (await stack.http.get(f"/configs/{config_id}")).json()["schedule_config"]
    assert not saved["exclude"].get("dates")
    assert saved["exclude"]["holidays"]["country"] == "DE"


async def test_next_fires_show_the_due_and_the_jittered_sending_time(
    page: Page, stack: Stack
) -> None:
    config = await stack.create(
        unique("jitter"),
        scheduler_type="cron",
        schedule_config={"cron_expression": "0 * * * *", "jitter_seconds": 1800},
        auto_start=True,
    )
    state = await schedule(stack, config["id"])
    sends = [instant(t) for t in state["next_runs"]]
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + f"#/configs/{config['id']}")
    upcoming = page.locator("#timeline li[data-event='upcoming']")
    await expect(upcoming).to_have_count(len(sends))
    items = list(reversed(await upcoming.all()))  # soonest first, as next_runs
    jittered = 0
    for n, (item, send) in enumerate(zip(items, sends, strict=True)):
        due_text = await item.get_attribute("data-due")
        if not due_text:
            # a fire already due but not yet sent (its due time is past, so not in a preview):
            # only the soonest, shown by its sending time alone, and not skippable
            assert n == 0 and send > datetime.now(UTC) - timedelta(seconds=5)
            await expect(item).to_contain_text("sent at")
            assert await item.locator("[data-skip]").count() == 0
            continue
        due = instant(due_text)
        # each due time is a full hour; its sending time lies in [due, due + 1800 s)
        assert due.minute == 0 and due.second == 0, due
        assert due <= send < due + timedelta(seconds=1800), (due, send)
        await expect(item.locator("time").first).to_have_attribute("datetime", due_text)
        if send != due:
            jittered += 1
            sending = item.locator(".sending time")
            assert instant(await sending.get_attribute("datetime") or "") == send
        else:
            assert await item.locator(".sending").count() == 0
    assert jittered, "no fire was jittered: the check proves nothing"
    await stack.http.post(f"/schedules/{config['id']}/stop")


async def test_the_backfill_dialog_shows_the_dry_run_before_it_sends(
    darwin_page: Page, stack: Stack
) -> None:
    page = darwin_page
    config = await stack.create(
        unique("backfill"),
        scheduler_type="cron",
        schedule_config={"cron_expression": "0 * * * *"},
        parameters={"message": "filled in"},
    )
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(minutes=30)
    if end > datetime.now(UTC):
        end -= timedelta(hours=1)
    start = end - timedelta(hours=3)  # [start, end): three hourly due times
    local = ZoneInfo(DARWIN)
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + f"#/configs/{config['id']}")
    await page.click("#backfill-open")
    dialog = page.locator("#backfill-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text(DARWIN)
    await page.fill("#backfill-start", start.astimezone(local).strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#backfill-end", end.astimezone(local).strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#backfill-note", "outage on the 6th")
    send = page.locator("#backfill-send")
    await expect(send).to_be_disabled()  # nothing is sent before the list was seen
    await page.click("#backfill-check")
    items = page.locator("#backfill-list li")
    await expect(items).to_have_count(3, timeout=30_000)  # the api computes them apart
    await expect(page.locator("#backfill-summary")).to_contain_text("3 would be sent, 0 already")
    wanted = [start + timedelta(minutes=30 + 60 * n) for n in range(3)]
    listed = [instant(await i.get_attribute("data-due") or "") for i in await items.all()]
    assert sorted(listed) == wanted
    await expect(items.first).to_contain_text(DARWIN)
    assert await stack.executions(config["id"]) == []  # the dry run sent nothing
    await screenshot(page, "backfill.png")

    # changing the range asks for a new look before sending
    await page.fill(
        "#backfill-start", (start - timedelta(hours=1)).astimezone(local).strftime("%Y-%m-%dT%H:%M")
    )
    await expect(send).to_be_disabled()
    await page.fill("#backfill-start", start.astimezone(local).strftime("%Y-%m-%dT%H:%M"))
    await page.click("#backfill-check")
    await expect(send).to_have_text("Send 3 runs")
    await send.click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#toast")).to_contain_text("3 runs sent")

    async def ran() -> bool:
        done = await stack.executions(config["id"])
        return len(done) == 3 and all(x["trigger"] == "backfill" for x in done)

    await eventually(ran, within=30)
    # the same range again: all three already ran, nothing to send
    await page.click("#backfill-open")
    await page.click("#backfill-check")
    await expect(page.locator("#backfill-summary")).to_contain_text(
        "0 would be sent, 3 already ran"
    )
    await expect(page.locator("#backfill-list li[data-ran='yes']")).to_have_count(3)
    await expect(send).to_be_disabled()
    await expect(send).to_have_text("Nothing to send")

    # an end in the future is refused beside the field
    future = datetime.now(UTC) + timedelta(hours=2)
    await page.fill("#backfill-end", future.astimezone(local).strftime("%Y-%m-%dT%H:%M"))
    await page.click("#backfill-check")
    await expect(dialog.locator(".field-error[data-for='end']")).not_to_be_empty()
    await expect(page.locator("#backfill-end")).to_have_attribute("aria-invalid", "true")
