"""Percentiles and formatting of figures: every cell is a string, printed and written alike."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(values_s: Sequence[float]) -> dict[str, str]:
    """p50 / p99 / max of durations in seconds, formatted in milliseconds."""
    return {
        "p50": ms(percentile(values_s, 50)),
        "p99": ms(percentile(values_s, 99)),
        "max": ms(max(values_s) if values_s else None),
    }


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    value = seconds * 1000
    if abs(value) >= 100:
        return f"{value:,.0f} ms"
    return f"{value:.1f} ms"


def secs(seconds: float | None, digits: int = 1) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:,.{digits}f} s"


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def rate(value: float | None, unit: str = "/s") -> str:
    return "-" if value is None else f"{value:,.0f}{unit}"


def mib(value_bytes: int | None) -> str:
    return "-" if value_bytes is None else f"{value_bytes / 2**20:,.0f} MiB"
