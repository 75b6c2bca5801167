"""Hypothesis strategies for schedules: cron expressions that fire every year."""

from __future__ import annotations

from hypothesis import strategies as st


def cron_field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    single = value.map(str)
    step = st.integers(1, high - low + 1).map(lambda s: f"*/{s}")
    span = st.tuples(value, value).map(lambda p: f"{min(p)}-{max(p)}")
    ranged_step = st.tuples(value, value, st.integers(1, 5)).map(
        lambda p: f"{min(p[0], p[1])}-{max(p[0], p[1])}/{p[2]}"
    )
    listed = st.lists(value, min_size=2, max_size=3, unique=True).map(
        lambda xs: ",".join(map(str, sorted(xs)))
    )
    return st.sampled_from(["*"]) | single | step | span | ranged_step | listed


cron_expressions = st.tuples(
    cron_field(0, 59),
    cron_field(0, 23),
    st.sampled_from(["*"]) | cron_field(1, 28),  # days every month has: fires every year
    st.sampled_from(["*"]) | cron_field(1, 12),
    st.sampled_from(["*"]) | cron_field(0, 6),
).map(" ".join)
