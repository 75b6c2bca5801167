"""The scheduler and worker processes settle their heap once started (taskplane.heap); run
in-process (tests, embedding) they leave the collector alone.

Checked in child processes: the collector's settings are process-wide."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from taskplane import heap
from taskplane.settings import Settings
from tests.e2e.processes import settings_env

PROBE = """
import asyncio, gc, json, sys
from taskplane.settings import load_settings
from taskplane.scheduling import process as scheduler
from taskplane.worker import process as worker

which, how = sys.argv[1], sys.argv[2]
settings = load_settings()

async def run(settle):
    stop = asyncio.Event()
    seen = {}

    async def watch():
        # settling: until it happened (15 s at most); not settling: 3 s of a started process
        for _ in range(300 if settle else 60):
            if gc.get_freeze_count() > 0:
                break
            await asyncio.sleep(0.05)
        seen.update(threshold=gc.get_threshold()[0], frozen=gc.get_freeze_count())
        stop.set()

    watcher = asyncio.create_task(watch())
    if which == "scheduler":
        await scheduler.run_scheduler(settings, stop=stop, settle_heap=settle)
    else:
        await worker.run_worker(settings, stop=stop, settle_heap=settle)
    await watcher
    return seen

if how == "serve":  # the process entry: what it asks run_* for
    asked = {}

    async def fake(*args, **kwargs):
        asked.update(kwargs)

    if which == "scheduler":
        scheduler.run_scheduler = fake
        scheduler.serve_scheduler(settings, metrics_port=0)
    else:
        worker.run_worker = fake
        worker.serve_worker(settings, metrics_port=0)
    print(json.dumps({"settle_heap": asked.get("settle_heap")}))
else:
    print(json.dumps(asyncio.run(run(how == "settle"))))
"""


def _probe(settings: Settings, which: str, how: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, which, how],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("which", ["scheduler", "worker"])
def test_a_started_process_freezes_its_start_up_objects(settings: Settings, which: str) -> None:
    seen = _probe(settings, which, "settle")
    assert seen["threshold"] == heap.YOUNG_THRESHOLD
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 10_000


@pytest.mark.parametrize("which", ["scheduler", "worker"])
def test_run_in_process_it_leaves_the_collector_alone(settings: Settings, which: str) -> None:
    assert _probe(settings, which, "plain") == {"threshold": 700, "frozen": 0}


@pytest.mark.parametrize("which", ["scheduler", "worker"])
def test_the_process_entry_asks_for_it(settings: Settings, which: str) -> None:
    assert _probe(settings, which, "serve") == {"settle_heap": True}
