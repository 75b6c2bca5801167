"""The bad-client suite's part of docs/reliability.md (a ``Section`` of
tests/faults/reliability.py, stored in tests/faults/stored/badclients.json): the prose is
written here; every figure, outcome, date and commit comes from the stored entries, which the
tests write through tests/faults/figures.py's ``record`` like the fault tests."""

from __future__ import annotations

from typing import Any

from tests.faults.promises import ended, taken

CONNECTIONS = "tests/badclients/test_connections.py::"
PREVIEWS = "tests/badclients/test_previews.py::"
STREAMS = "tests/badclients/test_streams.py::"

# in the page's order
TESTS = (
    CONNECTIONS + "test_a_64_mib_header_is_refused_without_being_read",
    CONNECTIONS + "test_a_stream_reader_that_never_reads_is_disconnected",
    CONNECTIONS + "test_slow_loris_and_silent_connections_are_closed",
    PREVIEWS + "test_50_rare_previews_in_parallel_answer_and_health_answers",
    STREAMS + "test_one_viewer_opening_1000_streams_gets_its_cap_and_429s",
    CONNECTIONS + "test_too_many_headers_are_refused_with_431_and_fewer_are_served",
    STREAMS + "test_streams_past_the_process_cap_are_429",
    STREAMS + "test_revoking_a_token_here_ends_its_streams",
    STREAMS + "test_revoking_a_token_elsewhere_ends_its_streams_within_seconds",
)
CITED = frozenset(TESTS)

INTRO = """
## Bad clients

One client must not stall the api, hold its connections or read what it may not (issue 24).
Each attack runs against a real `taskplane api` process (`tests/badclients/`, marked `slow`;
short timeouts from its environment: head 1.5 s, write 2 s, 3 streams per token, 10 per
process) while `bench/health_probe.py`, a process of its own, calls `/health` over one
keep-alive connection; the test fails if the api does not cut the attack off, or if `/health`
fails once. The tests record their figures and outcome like the fault tests
(`fault-figures.json`; the same `--store` keeps them in `tests/faults/stored/badclients.json`).
Latencies are recorded, never asserted; they were taken on the shared 2-core development
machine, so the maxima are that machine's. `/health` under each attack with production
settings is benchmark B7 (docs/benchmarks.md).

```bash
pytest tests/badclients -p no:randomly
python -m tests.faults.reliability --store <pytest base temp>/fault-figures.json
```
"""

BOUNDS = """
What bounds each attack: `api/connections.py` (a request head over 64 KiB or 100 headers is
431 and closed; a head not complete within `api_head_timeout_seconds`, 10 s, and a response
the client reads nothing of for `api_write_timeout_seconds`, 30 s, reset the connection),
`api/streams.py` (`events_streams_per_token`, 5, and `events_streams_total`, 200, open
`/events` streams, else 429; a revoked token's streams end within seconds), `api/cpu_bound.py`
(preview maths in a child process). A trailing slash is a 404, never a redirect built from
`Host`; bulk ids are acted on once.
"""

COLUMNS = (
    ("attack", "attack"),
    ("answer", "what the api does"),
    ("health_calls", "/health calls"),
    ("health_failures", "failed"),
    ("health_p50_ms", "/health p50 (ms)"),
    ("health_max_ms", "/health max (ms)"),
)


def _cell(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def render(entries: dict[str, dict[str, Any]]) -> list[str]:
    """The intro, a row per stored test with figures (and how it ended), then the cited tests
    without figures and how they ended."""
    out = [INTRO.strip(), ""]
    out += [
        "| " + " | ".join(title for _, title in COLUMNS) + " | last stored run |",
        "| " + " | ".join("---" for _ in (*COLUMNS, 1)) + " |",
    ]
    plain: list[str] = []
    for test in TESTS:
        entry = entries.get(test)
        if entry is None or "figures" not in entry:
            plain.append(f"- `{test}`: {ended(entry)}")
            continue
        f = entry["figures"]
        cells = [_cell(f.get(key, "")) for key, _ in COLUMNS]
        how = entry.get("outcome", "outcome not recorded")
        out.append("| " + " | ".join([*cells, f"{how} ({taken(entry)})"]) + " |")
    if plain:
        out += ["", "The other bad-client tests, by their last stored run:", "", *plain]
    return [*out, "", BOUNDS.strip(), ""]
