"""Issue 26 on the dashboard, in a real chromium against the real stack: who did each thing
and what an update changed, on every timeline entry; open incidents on the overview and on top
of a config's page; the alert settings in the form; the audit trail for admins only."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.dashboard.browser import Stack, screenshot, sign_in
from tests.support import eventually

# real processes on a shared machine, incidents checked every few seconds: more than the
# default two minutes a test
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


async def open_incidents(stack: Stack, config_id: int) -> list[dict[str, Any]]:
    r = await stack.http.get("/alerts", params={"state": "open", "config_id": config_id})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_every_timeline_entry_names_its_actor_and_an_update_lists_its_changes(
    page: Page, stack: Stack
) -> None:
    config = await stack.create(unique("actor"), parameters={"message": "before"})
    changed = await stack.http.patch(
        f"/configs/{config['id']}",
        json={"max_retries": 3, "parameters": {"message": "after", "fail": False}},
    )
    assert changed.status_code == 200, changed.text
    assert (await stack.http.post(f"/configs/{config['id']}/run")).status_code == 202
    history = (await stack.http.get(f"/schedules/{config['id']}/history")).json()["items"]
    update = next(h for h in history if h["event"] == "updated")
    assert update["actor"] == "admin" and "max_retries" in update["details"]["changes"]

    for token in (stack.admin_token, stack.viewer_token):  # a viewer reads the same timeline
        await sign_in(page, stack, token)
        await page.goto(stack.url + f"#/configs/{config['id']}")
        timeline = page.locator("#timeline")
        for event in ("created", "updated", "run_requested"):
            await expect(timeline.locator(f"li[data-event='{event}'] .actor").first).to_have_text(
                "by admin"
            )
        retries = timeline.locator("li[data-event='updated'] .changes li[data-field='max_retries']")
        await expect(retries.locator(".from")).to_have_text("0")
        await expect(retries.locator(".to")).to_have_text("3")
        parameters = timeline.locator(
            "li[data-event='updated'] .changes li[data-field='parameters']"
        )
        await expect(parameters.locator(".from")).to_contain_text('"before"')
        await expect(parameters.locator(".to")).to_contain_text('"after"')
        await page.click("#sign-out")


async def test_open_incidents_show_on_the_overview_and_on_top_of_the_config_page(
    page: Page, stack: Stack
) -> None:
    quiet = await stack.create(unique("quiet"))
    config = await stack.create(
        unique("alerting"),
        parameters={"message": "db down", "fail": True},
        alerts={"late_after_seconds": None, "failures_in_row": 1},
    )
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + f"#/configs/{config['id']}")
    await expect(page.locator(".kv dt:text-is('alerts') + dd")).to_have_text("on a failure")
    await expect(page.locator("#config-incidents")).to_have_count(0)
    assert (await stack.http.post(f"/configs/{config['id']}/run")).status_code == 202

    async def opened() -> bool:
        return len(await open_incidents(stack, config["id"])) == 1

    await eventually(opened, within=30)
    incident = (await open_incidents(stack, config["id"]))[0]
    banner = page.locator("#config-incidents")  # the page follows without a reload
    await expect(banner).to_be_visible(timeout=15_000)
    await expect(banner.locator("li.incident")).to_have_count(1)
    await expect(banner.locator("li.incident")).to_contain_text("failing")
    if incident.get("detail"):
        await expect(banner).to_contain_text(incident["detail"])
    await expect(page.locator("#timeline li[data-event='alert']").first).to_be_visible()

    await page.goto(stack.url + "#/")
    section = page.locator("#incidents")
    mine = section.locator(f"li.incident:has(a[href='#/configs/{config['id']}'])")
    await expect(mine).to_have_count(1)
    await expect(mine).to_contain_text(config["name"])
    await expect(mine).to_contain_text("failing")
    await expect(section.locator(f"a[href='#/configs/{quiet['id']}']")).to_have_count(0)
    await screenshot(page, "overview-incidents.png")

    # the next success resolves it: it leaves the overview
    fixed = await stack.http.patch(
        f"/configs/{config['id']}", json={"parameters": {"message": "db up", "fail": False}}
    )
    assert fixed.status_code == 200, fixed.text
    assert (await stack.http.post(f"/configs/{config['id']}/run")).status_code == 202

    async def resolved() -> bool:
        return await open_incidents(stack, config["id"]) == []

    await eventually(resolved, within=30)
    await expect(mine).to_have_count(0, timeout=30_000)  # without a reload


async def test_the_form_sets_changes_and_clears_the_alert_settings(
    page: Page, stack: Stack
) -> None:
    name = unique("alert-form")
    await sign_in(page, stack, stack.admin_token)
    await page.goto(stack.url + "#/configs/new")
    form = page.locator("form.config-form")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Task type").select_option("echo")
    await form.locator("[data-field='parameters.message'] input").fill("hi")
    late = form.locator("[data-field='alerts.late_after_seconds'] input")
    failures = form.locator("[data-field='alerts.failures_in_row'] input")
    await late.fill("10")  # below 30: refused beside the field, nothing created
    await page.get_by_role("button", name="Create").click()
    await expect(
        form.locator("[data-field='alerts.late_after_seconds'] .field-error")
    ).to_contain_text("at least 30")
    await expect(late).to_have_attribute("aria-invalid", "true")
    found = (await stack.http.get("/configs", params={"q": name})).json()
    assert found["total"] == 0
    await late.fill("300")
    await failures.fill("3")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    config_id = int(page.url.rsplit("/", 1)[1])
    saved = (await stack.http.get(f"/configs/{config_id}")).json()
    assert saved["alerts"] == {"late_after_seconds": 300, "failures_in_row": 3}
    await expect(page.locator(".kv dt:text-is('alerts') + dd")).to_have_text(
        "late after 5 min; after 3 failures in a row"
    )

    # edit: one setting cleared is sent as null; both cleared, no alerts at all
    await page.get_by_role("link", name="Edit").click()
    await expect(late).to_have_value("300")
    await late.fill("")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    saved = (await stack.http.get(f"/configs/{config_id}")).json()
    assert saved["alerts"] == {"late_after_seconds": None, "failures_in_row": 3}
    await page.get_by_role("link", name="Edit").click()
    await expect(failures).to_have_value("3")
    await failures.fill("")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    assert (await stack.http.get(f"/configs/{config_id}")).json()["alerts"] is None
    await expect(page.locator(".kv dt:text-is('alerts') + dd")).to_have_text("none")


async def test_the_audit_page_filters_by_config_and_actor_pages_on_and_is_for_admins_only(
    page: Page, stack: Stack
) -> None:
    made = await stack.http.post("/tokens", json={"name": unique("ops"), "role": "admin"})
    assert made.status_code == 201, made.text
    ops = made.json()
    ops_http = httpx.AsyncClient(
        base_url=str(stack.http.base_url),
        headers={"Authorization": f"Bearer {ops['token']}"},
        timeout=15,
    )
    async with ops_http:
        first = await stack.create(unique("audited"))
        other = await stack.create(unique("audited-other"))
        for n in range(52):  # more than one page (50) by this actor on one config
            r = await ops_http.patch(f"/configs/{first['id']}", json={"description": f"v{n}"})
            assert r.status_code == 200, r.text
        r = await ops_http.patch(f"/configs/{other['id']}", json={"description": "other"})
        assert r.status_code == 200, r.text

    await sign_in(page, stack, stack.admin_token)
    await page.click("#nav >> text=Audit")
    await expect(page.get_by_role("heading", name="Audit")).to_be_visible()
    rows = page.locator("#audit-table tr.audit-entry")
    await page.fill("#audit-actor", ops["name"])
    await expect(page.locator(".pager .range")).to_have_text("50 of 53 shown")  # filtered
    await expect(rows).to_have_count(50)
    await expect(rows.first).to_contain_text(other["name"])  # newest first
    await expect(rows.first.locator("td[data-label='Actor']")).to_have_text(ops["name"])
    await expect(rows.first.locator("td[data-label='Action']")).to_have_text("updated")
    await expect(rows.first.locator(".changes li[data-field='description'] .to")).to_have_text(
        "other"
    )
    await page.click("#audit-more")  # the next page starts after the last entry shown
    await expect(rows).to_have_count(53)
    await expect(page.locator(".pager .range")).to_have_text("53 of 53 shown")
    await expect(page.locator("#audit-more")).to_be_disabled()
    audit = (await stack.http.get("/audit", params={"actor": ops["name"], "limit": 500})).json()[
        "items"
    ]
    shown = [await row.get_attribute("data-id") for row in await rows.all()]
    assert shown == [str(x["id"]) for x in audit]  # each entry once, in the API's order

    await page.select_option("#audit-config", str(other["id"]))
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(other["name"])
    assert re.search(rf"config_id={other['id']}", page.url)
    await page.fill("#audit-actor", "")  # every actor: its creation and the update
    await expect(rows).to_have_count(2)
    await expect(rows.last.locator("td[data-label='Action']")).to_have_text("created")
    await screenshot(page, "audit.png")
    await page.fill("#audit-actor", "nobody-" + uuid.uuid4().hex[:6])
    await expect(page.locator("#audit-table")).to_contain_text("No entries match")
    await page.fill("#audit-actor", "admin")  # the settings' admin created both configs
    await page.select_option("#audit-config", str(first["id"]))
    await expect(rows.first.locator("td[data-label='Action']")).to_have_text("created")

    await page.click("#sign-out")
    await sign_in(page, stack, stack.viewer_token)
    await expect(page.locator("#nav a[href='#/audit']")).to_have_count(0)
    await page.goto(stack.url + "#/audit")
    await expect(page.locator("#view")).to_contain_text("for admins")
    async with stack.as_viewer() as viewer:
        assert (await viewer.get("/audit")).status_code == 403
