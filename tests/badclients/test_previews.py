"""50 rare-cron previews at once from one viewer, against a real api process: each answers
in full while /health keeps answering (the maths runs off the event loop)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import auth
from taskplane.enums import Role
from tests.badclients.conftest import Api, HealthWatch
from tests.faults.figures import record

pytestmark = pytest.mark.slow

RARE = {"scheduler_type": "cron", "schedule_config": {"cron_expression": "0 0 29 2 sun#5"}}


async def test_50_rare_previews_in_parallel_answer_and_health_answers(
    api: Api, sessions: async_sessionmaker[AsyncSession], request: pytest.FixtureRequest
) -> None:
    async with sessions() as s, s.begin():
        _, viewer = await auth.create_token(s, "viewer", Role.VIEWER)
    watch = HealthWatch(api)
    headers = {"Authorization": f"Bearer {viewer}"}
    async with (
        watch.during(),
        httpx.AsyncClient(base_url=api.base, headers=headers, timeout=120) as client,
    ):
        for _ in range(3):  # three waves of 50
            answers = await asyncio.gather(
                *(
                    client.post("/api/v1/schedules/preview", json={**RARE, "count": 50})
                    for _ in range(50)
                )
            )
            assert {a.status_code for a in answers} == {200}
            assert all(len(a.json()["next_runs"]) == 50 for a in answers)
    assert watch.failures == 0
    record(
        request,
        attack="3 waves of 50 rare-cron previews (count 50) of one viewer",
        answer="each computed in the api's child process",
        **watch.figures(),
    )
