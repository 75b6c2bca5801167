"""The api process settles its heap once started (taskplane.heap); an app made by
``create_app`` (what the tests use) does not.

Checked in a child process: the collector's settings are process-wide, and this test
process must keep its own."""

from __future__ import annotations

import json
import subprocess
import sys

from taskplane import heap
from taskplane.settings import Settings
from tests.e2e.processes import settings_env

PROBE = """
import asyncio, gc, json, sys
from taskplane.api.process import app_from_environment
from taskplane.api.app import create_app
from taskplane.settings import load_settings

async def probe(app):
    before = {"threshold": gc.get_threshold()[0], "frozen": gc.get_freeze_count()}
    async with app.router.lifespan_context(app):
        after = {"threshold": gc.get_threshold()[0], "frozen": gc.get_freeze_count()}
    return {"before": before, "after": after}

app = app_from_environment() if sys.argv[1] == "process" else create_app(load_settings())
print(json.dumps(asyncio.run(probe(app))))
"""


def _probe(settings: Settings, how: str) -> dict[str, dict[str, int]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, how],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, dict[str, int]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_api_process_freezes_its_start_up_objects_and_raises_the_threshold(
    settings: Settings,
) -> None:
    seen = _probe(settings, "process")
    assert seen["before"] == {"threshold": 700, "frozen": 0}
    assert seen["after"]["threshold"] == heap.YOUNG_THRESHOLD
    assert seen["after"]["frozen"] > 10_000  # the app's modules, routes and models


def test_an_app_made_directly_keeps_the_default_collector(settings: Settings) -> None:
    seen = _probe(settings, "create_app")
    assert seen["after"] == {"threshold": 700, "frozen": 0}
