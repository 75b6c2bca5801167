"""Pause until through the API (API.md, "Pause until"): `until` on the single and the bulk
pause, shown by GET /schedules/{id} and explain; the 422s name `until` and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.configs import create


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def active(client: httpx.AsyncClient, name: str) -> int:
    made = await create(client, name, scheduler_type="interval", schedule_config={"hours": 1})
    assert (await client.post(f"/schedules/{made['id']}/start")).status_code == 200
    return int(made["id"])


def parsed(value: Any) -> datetime:
    return datetime.fromisoformat(value)


async def test_pause_with_until_is_shown_by_detail_and_explain(client: httpx.AsyncClient) -> None:
    cid = await active(client, "frozen")
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    response = await client.post(
        f"/schedules/{cid}/pause", json={"note": "release freeze", "until": iso(until)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "paused"
    assert response.json()["message"].startswith("paused until ")
    detail = (await client.get(f"/schedules/{cid}")).json()
    assert parsed(detail["paused_until"]) == until
    assert detail["recent_history"][0]["details"]["paused_until"]
    explained = (await client.get(f"/schedules/{cid}/explain")).json()
    assert parsed(explained["paused_until"]) == until
    assert "resumes by itself at" in explained["verdict"]
    [audited] = (await client.get("/audit", params={"config_id": cid, "limit": 1})).json()["items"]
    assert (audited["action"], audited["actor"]) == ("paused", "admin")
    assert parsed(audited["details"]["paused_until"]) == until

    assert (await client.post(f"/schedules/{cid}/resume")).status_code == 200
    assert (await client.get(f"/schedules/{cid}")).json()["paused_until"] is None
    assert (await client.get(f"/schedules/{cid}/explain")).json()["paused_until"] is None


async def test_a_naive_until_is_utc(client: httpx.AsyncClient) -> None:
    cid = await active(client, "naive")
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0, tzinfo=None)
    response = await client.post(f"/schedules/{cid}/pause", json={"until": until.isoformat()})
    assert response.status_code == 200, response.text
    shown = parsed((await client.get(f"/schedules/{cid}")).json()["paused_until"])
    assert shown == until.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("until", "msg"),
    [
        (timedelta(minutes=-5), "must be in the future"),
        (timedelta(days=400), "must be at most a year ahead"),
        ("not a time", None),
    ],
)
async def test_a_bad_until_is_422_naming_it_and_changes_nothing(
    client: httpx.AsyncClient, until: Any, msg: str | None
) -> None:
    cid = await active(client, f"bad-{msg}")
    value = iso(datetime.now(UTC) + until) if isinstance(until, timedelta) else until
    for url, body in (
        (f"/schedules/{cid}/pause", {"until": value}),
        ("/schedules/bulk/pause", {"config_ids": [cid], "until": value}),
    ):
        response = await client.post(url, json=body)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "until"]
        if msg is not None:
            assert error["msg"] == msg
    detail = (await client.get(f"/schedules/{cid}")).json()
    assert (detail["status"], detail["paused_until"]) == ("active", None)


async def test_until_on_another_action_is_422(client: httpx.AsyncClient) -> None:
    cid = await active(client, "other")
    until = iso(datetime.now(UTC) + timedelta(hours=1))
    response = await client.post(f"/schedules/{cid}/stop", json={"until": until})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "until"]
    assert (await client.get(f"/schedules/{cid}")).json()["status"] == "active"


async def test_bulk_pause_with_until(client: httpx.AsyncClient) -> None:
    ids = [await active(client, f"bulk-{n}") for n in range(3)]
    until = (datetime.now(UTC) + timedelta(hours=5)).replace(microsecond=0)
    response = await client.post(
        "/schedules/bulk/pause", json={"config_ids": ids, "until": iso(until), "note": "freeze"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["paused"] * 3
    assert body["errors"] == []
    for cid in ids:
        detail = (await client.get(f"/schedules/{cid}")).json()
        assert parsed(detail["paused_until"]) == until
        assert detail["note"] == "freeze"
        audit = (await client.get("/audit", params={"config_id": cid, "limit": 1})).json()
        [entry] = audit["items"]  # one per id
        assert entry["action"] == "paused"
        assert parsed(entry["details"]["paused_until"]) == until
