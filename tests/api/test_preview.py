"""POST /schedules/preview: the schedule in words and its first fires, validated as on
create, changing nothing, open to viewers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.state.keys import Keys
from tests.api.configs import rows


async def test_a_cron_preview_says_it_in_words_and_lists_the_next_fires(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/schedules/preview",
        json={
            "scheduler_type": "cron",
            "schedule_config": {"cron_expression": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
            "count": 7,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["description"] == "at 09:00, Monday through Friday (Europe/Berlin)"
    runs = [datetime.fromisoformat(t) for t in body["next_runs"]]
    assert len(runs) == 7
    assert runs == sorted(runs) and runs[0] > datetime.now(UTC)
    berlin = [t.astimezone(ZoneInfo("Europe/Berlin")) for t in runs]
    assert all(t.hour == 9 and t.minute == 0 and t.weekday() < 5 for t in berlin)


async def test_an_interval_preview_starts_now_as_a_start_would(client: httpx.AsyncClient) -> None:
    before = datetime.now(UTC)
    body = (
        await client.post(
            "/schedules/preview",
            json={"scheduler_type": "interval", "schedule_config": {"seconds": 30}},
        )
    ).json()
    assert body["description"] == "every 30 s"
    runs = [datetime.fromisoformat(t) for t in body["next_runs"]]
    assert len(runs) == 5  # the default count
    assert before - timedelta(seconds=1) <= runs[0] <= datetime.now(UTC) + timedelta(seconds=1)
    assert all(b - a == timedelta(seconds=30) for a, b in itertools.pairwise(runs))


async def test_a_manual_preview_has_no_fires(client: httpx.AsyncClient) -> None:
    body = (await client.post("/schedules/preview", json={"scheduler_type": "manual"})).json()
    assert body == {"description": "manual", "next_runs": []}


async def test_a_bad_schedule_is_the_422_create_gives_and_nothing_changes(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
) -> None:
    before_rows = await rows(sessions)
    bad = {"scheduler_type": "cron", "schedule_config": {"cron_expression": "61 * * * *"}}
    preview = await client.post("/schedules/preview", json=bad)
    create = await client.post(
        "/configs",
        json={"name": "x", "task_type": "echo", "parameters": {"message": "m"}, **bad},
    )
    assert preview.status_code == create.status_code == 422
    assert preview.json()["detail"] == create.json()["detail"]
    assert preview.json()["detail"][0]["loc"] == ["body", "schedule_config", "cron_expression"]
    assert await rows(sessions) == before_rows
    for payload, loc in [
        ({"scheduler_type": "cron", "schedule_config": {}, "count": 51}, ["body", "count"]),
        ({"scheduler_type": "weekly", "schedule_config": {}}, ["body", "scheduler_type"]),
        (
            {"scheduler_type": "interval", "schedule_config": {"seconds": 0}},
            ["body", "schedule_config", "seconds"],
        ),
    ]:
        response = await client.post("/schedules/preview", json=payload)
        assert response.status_code == 422, payload
        assert response.json()["detail"][0]["loc"] == loc


async def test_a_viewer_may_preview_but_not_control(viewer: httpx.AsyncClient) -> None:
    response = await viewer.post(
        "/schedules/preview",
        json={"scheduler_type": "interval", "schedule_config": {"minutes": 5}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["description"] == "every 5 minutes"
    assert (await viewer.post("/schedules/1/pause")).status_code == 403


async def test_a_preview_leaves_out_holidays_and_names_a_bad_code(
    client: httpx.AsyncClient,
) -> None:
    rules = {"dates": ["2099-12-28"], "holidays": {"country": "DE", "subdivision": "BY"}}
    body = (
        await client.post(
            "/schedules/preview",
            json={
                "scheduler_type": "cron",
                "count": 5,
                "schedule_config": {
                    "cron_expression": "0 9 24-31 12 *",
                    "timezone": "Europe/Berlin",
                    "exclude": rules,
                },
            },
        )
    ).json()
    assert body["description"].endswith("except public holidays in DE-BY and 2099-12-28")
    days = [datetime.fromisoformat(t).day for t in body["next_runs"]]
    assert 25 not in days and 26 not in days and 24 in days
    bad = await client.post(
        "/schedules/preview",
        json={
            "scheduler_type": "interval",
            "schedule_config": {"hours": 1, "exclude": {"holidays": {"country": "XX"}}},
        },
    )
    assert bad.status_code == 422
    assert [e["loc"] for e in bad.json()["detail"]] == [
        ["body", "schedule_config", "exclude", "holidays", "country"]
    ]
