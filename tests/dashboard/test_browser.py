"""The dashboard in a real browser (Debian's chromium through Playwright) against a real
stack: api, worker and scheduler processes on PostgreSQL and Redis. Each test gets a fresh
page; the `page` fixture fails a test whose page logged a console error, threw, answered 5xx
or sent a request to another origin."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, expect

from tests.dashboard.browser import PREVIEW, Api, Stack, Watch, screenshot
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
    await screenshot(page, "overview.png")


async def test_a_viewer_finds_no_write_control_and_the_api_refuses_its_writes(
    page: Page, stack: Stack
) -> None:
    config = await stack.create(unique("viewer-sees"))
    await sign_in(page, stack.url, stack.viewer_token)
    await expect(page.locator("#role")).to_contain_text("read-only")
    for hash_ in ("#/", "#/configs", f"#/configs/{config['id']}"):
        await page.goto(stack.url + hash_)
        await expect(page.locator("#view h1")).to_be_visible()
        await expect(page.locator("#view")).not_to_contain_text("loading…")
        assert await page.locator(".write, [data-action], [data-bulk]").count() == 0, hash_
        assert await page.get_by_role("button", name=WRITE_LABELS).count() == 0, hash_
        assert await page.get_by_role("link", name=WRITE_LABELS).count() == 0, hash_
        assert await page.locator("#view input[type=checkbox]").count() == 0, hash_
    await expect(page.locator("#verdict-text")).not_to_be_empty()
    await page.goto(stack.url + f"#/configs/{config['id']}/edit")
    await expect(page.locator("#view")).to_contain_text("Viewers cannot edit")
    assert await page.locator("form.config-form").count() == 0

    async with stack.as_viewer() as viewer:  # and none would work
        assert (await viewer.get(f"/configs/{config['id']}")).status_code == 200
        paused = await viewer.post(f"/schedules/{config['id']}/start", json={})
        assert paused.status_code == 403
        run = await viewer.post(f"/configs/{config['id']}/run")
        assert run.status_code == 403
        bulk = await viewer.post("/schedules/bulk/stop", json={"config_ids": [config["id"]]})
        assert bulk.status_code == 403


async def test_the_configs_table_filters_searches_and_pages(page: Page, stack: Stack) -> None:
    tag = unique("tbl")
    for n in range(12):
        await stack.create(f"{tag}-m{n:02d}")
    for n in range(3):
        await stack.create(
            f"{tag}-i{n}",
            scheduler_type="interval",
            schedule_config={"seconds": 3600, "run_immediately": False},
            auto_start=n == 0,
        )
    await sign_in(page, stack.url, stack.admin_token)
    await page.click("#nav >> text=Configs")
    await expect(page.get_by_role("heading", name="Configs")).to_be_visible()
    await page.select_option("#page-size", "10")
    await page.fill("#filter-q", tag)
    rows = page.locator("#configs-table tbody tr[data-id]")
    await expect(page.locator(".pager .range")).to_have_text("1\u201310 of 15")
    await expect(rows).to_have_count(10)
    await page.get_by_role("button", name="Next").click()
    await expect(page.locator(".pager .range")).to_have_text("11\u201315 of 15")
    await expect(rows).to_have_count(5)
    await page.select_option("#filter-scheduler_type", "interval")
    await expect(page.locator(".pager .range")).to_have_text("1\u20133 of 3")
    await expect(rows.first).to_contain_text(re.compile(r"every (1 ?h|3600 ?s)"))
    await page.select_option("#filter-status", "active")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(f"{tag}-i0")
    await expect(rows.first.locator(".badge")).to_have_text("active")
    await page.select_option("#filter-status", "")
    await page.select_option("#filter-scheduler_type", "")
    await page.fill("#filter-q", f"{tag}-m03")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("manual")
    await page.select_option("#filter-task_type", "sleep")
    await expect(page.locator("#configs-table tbody")).to_contain_text("No configs match")
    await page.select_option("#filter-task_type", "")
    await page.fill("#filter-q", tag)
    await expect(page.locator(".pager .range")).to_have_text("1\u201310 of 15")
    await screenshot(page, "configs.png")
    stopped = await stack.http.post(
        "/schedules/bulk/stop",
        json={
            "config_ids": [
                c["id"]
                for c in (await stack.http.get("/configs", params={"q": tag, "limit": 50})).json()[
                    "items"
                ]
            ]
        },
    )
    assert stopped.status_code == 200


async def test_bulk_pause_with_a_note_shows_the_result_of_each_config(
    page: Page, stack: Stack
) -> None:
    tag = unique("bulk")
    active = [
        await stack.create(
            f"{tag}-a{n}",
            scheduler_type="interval",
            schedule_config={"seconds": 3600, "run_immediately": False},
            auto_start=True,
        )
        for n in range(2)
    ]
    idle = await stack.create(f"{tag}-manual")
    await sign_in(page, stack.url, stack.admin_token)
    await page.goto(stack.url + f"#/configs?q={tag}")
    rows = page.locator("#configs-table tbody tr[data-id]")
    await expect(rows).to_have_count(3)
    for config in [*active, idle]:
        await page.check(f"#configs-table tr[data-id='{config['id']}'] input[type=checkbox]")
    await expect(page.locator("#selected-count")).to_have_text("3 selected")
    # each bulk button counts the selected configs it applies to: a manual one is never paused
    await expect(page.locator("[data-bulk='pause']")).to_have_text("Pause (2)")
    await expect(page.locator("[data-bulk='resume']")).to_be_disabled()
    await expect(page.locator("[data-bulk='run']")).to_have_text("Run now (3)")
    await page.fill("#bulk-note", "db maintenance")
    await page.click("[data-bulk='pause']")
    results = page.locator("#bulk-results")
    await expect(results).to_contain_text("2 done, 0 refused")
    for config in active:
        item = results.locator(f"li[data-id='{config['id']}']")
        await expect(item).to_contain_text("paused")
        await expect(item).to_have_class(re.compile(r"\bok\b"))
    await expect(results.locator(f"li[data-id='{idle['id']}']")).to_have_count(0)
    for config in active:
        state = (await stack.http.get(f"/schedules/{config['id']}")).json()
        assert state["status"] == "paused" and state["note"] == "db maintenance"
        await expect(rows.filter(has_text=config["name"]).locator(".badge")).to_have_text("paused")
    await stack.http.post("/schedules/bulk/stop", json={"config_ids": [c["id"] for c in active]})


async def test_an_operator_creates_starts_watches_pauses_and_edits_an_interval_config(
    page: Page, stack: Stack
) -> None:
    name = unique("journey")
    await sign_in(page, stack.url, stack.admin_token)
    await page.click("#nav >> text=New config")
    form = page.locator("form.config-form")
    await expect(form).to_be_visible()
    # the parameters are generated from the task type's JSON Schema
    await page.get_by_label("Task type").select_option("http_request")
    await expect(form.locator("[data-field='parameters.url'] label")).to_contain_text("*")
    await expect(form.locator("[data-field='parameters.headers'] textarea")).to_be_visible()
    await expect(
        form.locator("[data-field='parameters.timeout_seconds'] input[type=number]")
    ).to_be_visible()
    await page.get_by_label("Task type").select_option("echo")
    await expect(
        form.locator("[data-field='parameters.fail'] input[type=checkbox]")
    ).to_be_visible()
    message = form.locator("[data-field='parameters.message'] input")
    await expect(message).to_have_attribute("aria-required", "true")

    # the schedule part previews as you type
    await page.get_by_label("Kind").select_option("interval")
    seconds = form.locator("[data-field='schedule_config.seconds'] input")
    await seconds.fill("45")
    await expect(page.locator("#preview-description")).to_have_text(
        re.compile(r"every 45 ?s"), timeout=PREVIEW
    )
    await expect(page.locator("#preview-runs li")).to_have_count(5, timeout=PREVIEW)
    await seconds.fill("0")
    await expect(
        form.locator("[data-field='schedule_config.seconds'] .field-error")
    ).not_to_be_empty()
    await seconds.fill("3")

    # a field the API rejects is named beside it; the rest of the form is kept
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Start the schedule once created").uncheck()
    await page.get_by_role("button", name="Create").click()
    error = form.locator("[data-field='parameters.message'] .field-error")
    await expect(error).to_contain_text(re.compile("required", re.I))
    await expect(message).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Name")).to_have_value(name)
    await message.fill("hello from the form")
    await screenshot(page, "create-form.png")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    config_id = int(page.url.rsplit("/", 1)[1])
    created = (await stack.http.get(f"/configs/{config_id}")).json()
    assert created["parameters"] == {"message": "hello from the form", "fail": False}
    assert created["schedule_config"]["seconds"] == 3
    assert created["description"] is None  # an empty field is not sent as text
    await expect(page.locator("#verdict-text")).not_to_be_empty()

    # start it: executions appear without a reload
    await page.evaluate("window.__sameDocument = true")
    await page.get_by_role("button", name="Start", exact=True).click()
    await expect(page.locator(".title-row .badge")).to_have_text("active")
    executions = page.locator("#executions-table tr.exec")
    await expect(executions.first).to_be_visible(timeout=15_000)
    await expect(executions.first).to_contain_text("ok")
    await expect(page.locator("#timeline li[data-event='started']").first).to_be_visible()
    await expect(page.locator("#timeline li[data-event='upcoming']").first).to_be_visible()
    await expect(page.locator("#chart svg.chart rect.ok-fill").first).to_be_attached()

    # each execution expands to its result
    first = executions.first
    await first.get_by_role("button").click()
    detail = page.locator("tr.exec-detail:not([hidden])").first
    await expect(detail).to_contain_text("hello from the form")

    # pause with a note: the note and the verdict say why
    await page.fill("#action-note", "waiting for the vendor")
    await page.click("[data-action='pause']")
    await expect(page.locator(".title-row .badge")).to_have_text("paused")
    await expect(page.locator("#status-note")).to_have_text("waiting for the vendor")
    await expect(page.locator("#verdict-text")).to_contain_text("paused")
    await expect(page.locator("#timeline li[data-event='paused']").first).to_contain_text(
        "waiting for the vendor"
    )
    # the server's sentence, its UTC times shown by the page's clock (one <time> each)
    explain = (await stack.http.get(f"/schedules/{config_id}/explain")).json()
    words = re.split(r"(?:\d{4}-\d\d-\d\d )?\d\d:\d\d UTC", explain["verdict"])
    verdict = page.locator("#verdict-text")
    await expect(verdict.locator("time")).to_have_count(len(words) - 1)
    for part in words:
        await expect(verdict).to_contain_text(part)
    await screenshot(page, "config-page.png")
    assert await page.evaluate("window.__sameDocument === true")

    # edit its interval: the preview follows
    await page.get_by_role("link", name="Edit").click()
    seconds = page.locator("[data-field='schedule_config.seconds'] input")
    await expect(seconds).to_have_value("3")
    await expect(page.locator("#preview-description")).to_have_text(
        re.compile(r"every 3 ?s"), timeout=PREVIEW
    )
    await seconds.fill("7200")
    await expect(page.locator("#preview-description")).to_have_text(
        re.compile(r"every (2 ?h|7200 ?s)"), timeout=PREVIEW
    )
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    assert (await stack.http.get(f"/configs/{config_id}")).json()["schedule_config"][
        "seconds"
    ] == 7200
    await stack.http.post(f"/schedules/{config_id}/stop")


async def test_a_new_execution_appears_within_two_seconds_without_a_reload(
    page: Page, stack: Stack
) -> None:
    config = await stack.create(unique("live"), parameters={"message": "live one"})
    await sign_in(page, stack.url, stack.admin_token)
    await page.goto(stack.url + f"#/configs/{config['id']}")
    await expect(page.locator("#executions-table")).to_contain_text("No executions")
    await expect(page.locator("#live")).to_have_text("live")
    await page.evaluate("window.__sameDocument = true")
    run = await stack.http.post(f"/configs/{config['id']}/run")  # not through the page
    assert run.status_code == 202

    async def recorded() -> bool:
        return len(await stack.executions(config["id"])) == 1

    await eventually(recorded, within=20)
    row = page.locator("#executions-table tr.exec")
    await expect(row).to_have_count(1, timeout=2_000)
    await expect(row).to_contain_text("manual")
    assert await page.evaluate("window.__sameDocument === true")


async def test_run_now_on_a_manual_config_records_an_execution(page: Page, stack: Stack) -> None:
    config = await stack.create(unique("manual"), parameters={"message": "by hand"})
    await sign_in(page, stack.url, stack.admin_token)
    await page.goto(stack.url + f"#/configs/{config['id']}")
    await expect(page.locator("#verdict-text")).not_to_be_empty()
    await page.click("[data-action='run']")
    await expect(page.locator("#toast")).to_contain_text("Run requested")
    await expect(page.locator("#executions-table tr.exec")).to_have_count(1, timeout=15_000)
    await expect(page.locator("#timeline li[data-event='run_requested']").first).to_be_visible()
    # a manual config cannot be paused, started, resumed, reloaded or stopped: not offered
    controls = page.locator(".controls button")
    await expect(controls).to_have_text(["Run now"])


async def test_the_main_controls_work_from_the_keyboard(page: Page, stack: Stack) -> None:
    config = await stack.create(unique("keys"), parameters={"message": "kbd"})
    run = await stack.http.post(f"/configs/{config['id']}/run")
    assert run.status_code == 202

    async def recorded() -> bool:
        return len(await stack.executions(config["id"])) == 1

    await eventually(recorded, within=20)
    await page.goto(stack.url)
    await expect(page.locator("#token")).to_be_focused()
    await page.keyboard.type(stack.admin_token)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    async def tab_to(selector: str, limit: int = 60) -> None:
        target = page.locator(selector)
        for _ in range(limit):
            await page.keyboard.press("Tab")
            if await target.evaluate("node => node === document.activeElement"):
                return
        raise AssertionError(f"{selector} is not reachable with Tab")

    await tab_to("#nav a[href='#/configs']")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Configs")).to_be_visible()
    await tab_to("#filter-q")
    await page.keyboard.type(config["name"])
    await expect(page.locator("#configs-table tbody tr[data-id]")).to_have_count(1)
    await tab_to(f"#configs-table a[href='#/configs/{config['id']}']")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=config["name"])).to_be_visible()
    toggle = page.locator("#executions-table tr.exec button").first
    await tab_to("#executions-table tr.exec button")
    await page.keyboard.press("Enter")
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(page.locator("tr.exec-detail:not([hidden])")).to_contain_text("kbd")


async def test_every_page_fits_a_phone_width_screen(page: Page, stack: Stack) -> None:
    config = await stack.create(unique("phone-" + "x" * 40), description="y " * 200)
    await page.set_viewport_size({"width": 375, "height": 740})
    await sign_in(page, stack.url, stack.admin_token)
    for hash_ in ("#/", "#/configs", f"#/configs/{config['id']}", "#/configs/new"):
        await page.goto(stack.url + hash_)
        await expect(page.locator("#view h1")).to_be_visible()
        await expect(page.locator("#view")).not_to_contain_text("loading…")
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (hash_, overflow)
        await expect(page.locator("#sign-out")).to_be_in_viewport()


async def test_the_dashboard_works_under_a_sub_path(
    sub_path_api: Api, page: Page, stack: Stack, watch: Watch
) -> None:
    config = await stack.create(unique("sub-path"), parameters={"message": "under /ops"})
    watch.origin = sub_path_api.origin
    paths: list[str] = []
    page.on("request", lambda request: paths.append(urlsplit(request.url).path))
    await sign_in(page, f"{sub_path_api.origin}/ops/", stack.admin_token)
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await expect(page.locator("#live")).to_have_text("live")
    await page.click("#nav >> text=Configs")
    await page.fill("#filter-q", config["name"])
    await expect(page.locator("#configs-table tbody tr[data-id]")).to_have_count(1)
    await page.click(f"#configs-table a[href='#/configs/{config['id']}']")
    await page.click("[data-action='run']")
    await expect(page.locator("#executions-table tr.exec")).to_have_count(1, timeout=15_000)
    assert paths and all(p.startswith("/ops/") for p in paths), sorted(set(paths))
    assert "/ops/api/v1/events" in paths


async def test_the_page_says_when_it_is_disconnected_and_reconnects_alone(
    sub_path_api: Api, page: Page, stack: Stack, watch: Watch
) -> None:
    watch.origin = sub_path_api.origin
    watch.allow_network_errors = True  # the api goes away on purpose
    config = await stack.create(unique("reconnect"), parameters={"message": "after"})
    await sign_in(page, f"{sub_path_api.origin}/ops/", stack.admin_token)
    await page.goto(f"{sub_path_api.origin}/ops/#/configs/{config['id']}")
    await expect(page.locator("#live")).to_have_text("live")
    await expect(page.locator("#banner")).to_be_hidden()

    sub_path_api.kill()
    await expect(page.locator("#banner")).to_be_visible()
    await expect(page.locator("#banner")).to_contain_text("Disconnected")
    await expect(page.locator("#live")).to_have_text("disconnected")

    sub_path_api.start()  # same port
    await sub_path_api.wait_healthy("/ops")
    await expect(page.locator("#live")).to_have_text("live", timeout=15_000)
    await expect(page.locator("#banner")).to_be_hidden()
    # the new stream delivers: an execution made elsewhere appears without a reload
    assert (await stack.http.post(f"/configs/{config['id']}/run")).status_code == 202

    async def recorded() -> bool:
        return len(await stack.executions(config["id"])) == 1

    await eventually(recorded, within=20)
    await expect(page.locator("#executions-table tr.exec")).to_have_count(1, timeout=5_000)
