"""The four benchmarks, in order, and the analysis written under their figures."""

from __future__ import annotations

from types import ModuleType

from bench import b1_scheduler, b2_changes, b3_throughput, b4_api

BENCHMARKS: dict[str, ModuleType] = {
    "b1": b1_scheduler,
    "b2": b2_changes,
    "b3": b3_throughput,
    "b4": b4_api,
}


def descriptions() -> dict[str, str]:
    return {name: module.DESCRIPTION for name, module in BENCHMARKS.items()}


ANALYSIS = """
"""
