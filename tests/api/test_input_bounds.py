"""Every string a request carries is bounded, and an oversized one is refused naming its
field before any costly check reads it (an 800 KB cron expression used to take seconds of
CPU inside the request, stalling every other request)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from taskplane.scheduling import specs
from tests.api.configs import config, create

HUGE = "1," * 400_000 + "1"  # ~800 KB, under the 1 MiB body limit


@pytest.fixture
def cron_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every expression croniter is asked about (the costly check)."""
    seen: list[str] = []
    real = specs._cron_ok

    def spy(expr: str) -> bool:
        seen.append(expr)
        return real(expr)

    monkeypatch.setattr(specs, "_cron_ok", spy)
    return seen


OVERSIZED: list[tuple[dict[str, Any], list[str]]] = [
    (
        config(schedule_config={"cron_expression": f"0 0 1 1 {HUGE}"}),
        ["body", "schedule_config", "cron_expression"],
    ),
    (config(schedule_config={"minute": HUGE}), ["body", "schedule_config", "minute"]),
    (
        config(schedule_config={"cron_expression": "0 9 * * *", "timezone": "A/" * 400_000}),
        ["body", "schedule_config", "timezone"],
    ),
    (
        config(scheduler_type="date", schedule_config={"run_date": "2099-01-01" + " " * 400_000}),
        ["body", "schedule_config", "run_date"],
    ),
    (config(name="n" * 129), ["body", "name"]),
    (config(description="d" * 2001), ["body", "description"]),
    (config(task_type="t" * 129), ["body", "task_type"]),
]


@pytest.mark.parametrize(("body", "loc"), OVERSIZED)
async def test_an_oversized_string_in_a_config_is_422_naming_it_unread(
    client: httpx.AsyncClient, cron_checks: list[str], body: dict[str, Any], loc: list[str]
) -> None:
    response = await client.post("/configs", json=body)
    assert response.status_code == 422, response.text[:300]
    detail = response.json()["detail"]
    assert loc in [e["loc"] for e in detail], detail
    assert cron_checks == []  # croniter never saw it
    assert len(response.content) < 10_000  # and the error does not echo it


async def test_an_oversized_cron_in_a_patch_is_422_unread(
    client: httpx.AsyncClient, cron_checks: list[str]
) -> None:
    cid = (await create(client, name="bounded"))["id"]
    cron_checks.clear()
    response = await client.patch(
        f"/configs/{cid}", json={"schedule_config": {"cron_expression": f"* * * * {HUGE}"}}
    )
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [
        ["body", "schedule_config", "cron_expression"]
    ]
    assert cron_checks == []


async def test_the_bounds_leave_real_values_alone(
    client: httpx.AsyncClient, cron_checks: list[str]
) -> None:
    longest_zone = "America/Argentina/ComodRivadavia"
    await create(
        client,
        name="x" * 128,
        description="d" * 2000,
        schedule_config={"cron_expression": "0,15,30,45 9-17 * * 1-5", "timezone": longest_zone},
    )
    assert cron_checks  # an ordinary expression is still checked


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "loc"),
    [
        ("GET", "/configs", {"params": {"q": "q" * 201}}, ["query", "q"]),
        ("GET", "/configs", {"params": {"task_type": "t" * 201}}, ["query", "task_type"]),
        ("POST", "/tokens", {"json": {"name": "n" * 129, "role": "viewer"}}, ["body", "name"]),
    ],
)
async def test_other_strings_are_bounded(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any], loc: list[str]
) -> None:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == 422
    assert loc in [e["loc"] for e in response.json()["detail"]]


async def test_a_note_is_bounded(client: httpx.AsyncClient) -> None:
    cid = (await create(client, name="noted"))["id"]
    response = await client.post(f"/schedules/{cid}/start", json={"note": "n" * 2001})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "note"]]
    assert (await client.get(f"/schedules/{cid}")).json()["status"] == "inactive"
