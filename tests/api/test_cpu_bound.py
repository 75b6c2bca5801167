"""Previews' fire-time maths off the event loop, in a child process; 50 rare-cron previews
in parallel all answer in full."""

from __future__ import annotations

import asyncio
import os

import httpx

from taskplane.api.cpu_bound import CpuBound

RARE = {"cron_expression": "0 0 29 2 sun#5"}  # a Feb 29 that is the 5th Sunday: ~28 years


async def test_work_runs_in_another_process_and_close_stops_it() -> None:
    cpu = CpuBound()
    try:
        child = await cpu.run(os.getpid)
        assert child != os.getpid()
        assert await cpu.run(os.getpid) == child  # one child, kept
    finally:
        cpu.close()


async def test_50_rare_cron_previews_in_parallel_all_answer_in_full(
    client: httpx.AsyncClient,
) -> None:
    body = {"scheduler_type": "cron", "schedule_config": RARE, "count": 50}
    answers = await asyncio.gather(
        *(client.post("/schedules/preview", json=body) for _ in range(50))
    )
    assert {a.status_code for a in answers} == {200}
    assert all(len(a.json()["next_runs"]) == 50 for a in answers)
