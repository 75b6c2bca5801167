"""The alert API: the config field (create / PATCH / GET, 422 naming the field), GET /alerts
(viewer may read; filters), explain naming an open incident, the open-incidents metric."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from taskplane.alerts.detector import Detector
from taskplane.services import Services
from tests.alerts.conftest import Clock

BODY = {
    "name": "api-alerts",
    "task_type": "echo",
    "scheduler_type": "interval",
    "schedule_config": {"seconds": 60, "run_immediately": False},
    "parameters": {"message": "hi"},
}


@pytest.fixture
def app_services(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def detector_of(services: Services) -> Detector:
    return Detector(services.alerts, services.state, services.core, webhook_count=0)


@pytest.mark.parametrize(
    ("alerts", "field"),
    [
        ({"late_after_seconds": 29}, "late_after_seconds"),
        ({"late_after_seconds": 86401}, "late_after_seconds"),
        ({"failures_in_row": 0}, "failures_in_row"),
        ({"failures_in_row": 101}, "failures_in_row"),
        ({"failures_in_row": "many"}, "failures_in_row"),
        ({"late_after": 60}, "late_after"),
    ],
)
async def test_bad_alerts_are_422_naming_the_field_and_create_nothing(
    client: httpx.AsyncClient, alerts: dict[str, object], field: str
) -> None:
    response = await client.post("/configs", json={**BODY, "alerts": alerts})
    assert response.status_code == 422
    assert ["body", "alerts", field] in [e["loc"] for e in response.json()["detail"]]
    assert (await client.get("/configs")).json()["total"] == 0


async def test_alerts_default_null_and_follow_create_patch_and_get(
    client: httpx.AsyncClient,
) -> None:
    created = (await client.post("/configs", json=BODY)).json()
    assert created["alerts"] is None
    cid = created["id"]
    patched = await client.patch(f"/configs/{cid}", json={"alerts": {"failures_in_row": 3}})
    assert patched.status_code == 200
    expected = {"late_after_seconds": None, "failures_in_row": 3}
    assert patched.json()["alerts"] == expected
    assert (await client.get(f"/configs/{cid}")).json()["alerts"] == expected
    bad = await client.patch(f"/configs/{cid}", json={"alerts": {"late_after_seconds": 5}})
    assert bad.status_code == 422
    assert (await client.get(f"/configs/{cid}")).json()["alerts"] == expected  # unchanged
    cleared = await client.patch(f"/configs/{cid}", json={"alerts": None})
    assert cleared.json()["alerts"] is None


async def test_get_alerts_lists_incidents_for_a_viewer_and_explain_names_the_open_one(
    client: httpx.AsyncClient, viewer: httpx.AsyncClient, app_services: Services
) -> None:
    body = {**BODY, "alerts": {"late_after_seconds": 30}}
    cid = (await client.post("/configs", params={"auto_start": True}, json=body)).json()["id"]
    other = {**BODY, "name": "other", "alerts": {"late_after_seconds": 30}}
    other_id = (await client.post("/configs", params={"auto_start": True}, json=other)).json()["id"]
    due = await app_services.core.next_due(cid)
    assert due is not None
    clock = Clock(due + timedelta(seconds=45))
    assert len((await detector_of(app_services).check(clock.at)).opened) == 2

    page = (await viewer.get("/alerts", params={"config_id": cid})).json()
    assert page["total"] == 1
    [item] = page["items"]
    assert set(item) == {
        "id", "config_id", "name", "kind", "state", "opened_at", "resolved_at", "detail"
    }  # fmt: skip
    assert (item["config_id"], item["kind"], item["state"]) == (cid, "late", "open")
    newest_first = (await viewer.get("/alerts", params={"state": "open"})).json()["items"]
    assert [i["config_id"] for i in newest_first] == [other_id, cid]
    assert (await viewer.get("/alerts", params={"state": "resolved"})).json()["total"] == 0
    assert (await viewer.get("/alerts", params={"state": "gone"})).status_code == 422

    verdict = (await viewer.get(f"/schedules/{cid}/explain")).json()["verdict"]
    assert "open alert: late since" in verdict

    scrape = await client.get("http://testserver/metrics")
    assert 'taskplane_alerts_open{kind="late"} 2.0' in scrape.text
