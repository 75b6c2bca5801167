"""Bulk calls name each config once: 1,000 copies of one id are one action (the probe's
1,000 reloads of one schedule), and the answer lists the repeated ids."""

from __future__ import annotations

import httpx

from tests.api.configs import create


async def test_bulk_action_on_1000_copies_of_one_id_acts_once_and_reports_it(
    client: httpx.AsyncClient,
) -> None:
    one = await create(client, name="one", scheduler_type="interval", schedule_config={"hours": 1})
    other = await create(
        client, name="other", scheduler_type="interval", schedule_config={"hours": 2}
    )
    ids = [one["id"]] * 998 + [other["id"], other["id"]]
    response = await client.post("/schedules/bulk/start", json={"config_ids": ids})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["config_id"] for r in body["results"]] == [one["id"], other["id"]]
    assert body["errors"] == []
    assert body["duplicates"] == [one["id"], other["id"]]
    history = await client.get(f"/schedules/{one['id']}/history")
    assert history.status_code == 200
    starts = [e for e in history.json()["items"] if e["event"] == "started"]
    assert len(starts) == 1


async def test_batch_run_of_repeated_ids_dispatches_each_once(client: httpx.AsyncClient) -> None:
    one = await create(client, name="one", scheduler_type="manual", schedule_config={})
    response = await client.post("/runs", json={"config_ids": [one["id"]] * 5 + [999_999]})
    assert response.status_code == 202, response.text
    body = response.json()
    assert [d["config_id"] for d in body["dispatched"]] == [one["id"]]
    assert [e["config_id"] for e in body["errors"]] == [999_999]
    assert body["duplicates"] == [one["id"]]


async def test_ids_given_once_report_no_duplicates(client: httpx.AsyncClient) -> None:
    one = await create(client, name="one", scheduler_type="manual", schedule_config={})
    response = await client.post("/runs", json={"config_ids": [one["id"]]})
    assert response.json()["duplicates"] == []
