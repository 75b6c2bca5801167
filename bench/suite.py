"""The benchmarks, in order, and the options of their profiled passes."""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from bench import (
    b1_scheduler,
    b2_changes,
    b3_throughput,
    b4_api,
    b6_growth,
    b7_bad_clients,
    b8_dashboard,
    b9_alerts,
    b10_calendars,
    b11_million,
)
from bench.results import Result


class Benchmark(Protocol):
    """What the runner reads of a benchmark module: its title, the text under its heading in
    docs/benchmarks.md, and ``run``, which fills a result's tables, goals and notes."""

    @property
    def TITLE(self) -> str: ...

    @property
    def DESCRIPTION(self) -> str: ...

    async def run(self, result: Result, args: argparse.Namespace) -> None: ...


BENCHMARKS: dict[str, Benchmark] = {
    "b1": b1_scheduler,
    "b2": b2_changes,
    "b3": b3_throughput,
    "b4": b4_api,
    "b6": b6_growth,
    "b7": b7_bad_clients,
    "b8": b8_dashboard,
    "b9": b9_alerts,
    "b10": b10_calendars,
    "b11": b11_million,
}


PROFILE_PASS: dict[str, dict[str, Any]] = {
    "b1": {"n": [100_000], "fires": 2, "no_stock": True},
    "b2": {"changes": 40, "no_stock": True},
    "b3": {"n": [10_000], "workers": [1], "no_stock": True},
    "b4": {"duration": 5},
    "b6": {"n": [100_000]},
    "b7": {"duration": 3},  # the api's stacks under each attack
    "b8": {"n": [1_000_000], "duration": 5},  # the api's stacks at the largest size
    "b9": {"n": [100_000]},
    "b10": {"n": [100_000]},
    "b11": {"n": [1_000_000], "fires": 1},  # the scheduler's stacks at a million
}
"""Each benchmark's profiled pass (``python -m bench --profile``): the options it runs with
unless the command line set them, shorter than the measured run's and taskplane's side
only; where the measured figures show a cost, the pass runs at that size."""
