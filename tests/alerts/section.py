"""The alert suite's part of docs/reliability.md (a ``Section`` of tests/faults/reliability.py,
stored in tests/faults/stored/alerts.json): each promise and the tests that prove it; how
each test last ended, with its date and commit, comes from the stored entries (the root
conftest keeps the outcome of every cited test, as for the fault tests)."""

from __future__ import annotations

from typing import Any

from tests.faults.promises import ended

LATE = "tests/alerts/test_late.py::"
FAILING = "tests/alerts/test_failing.py::"
HOOKS = "tests/alerts/test_webhooks.py::"
API = "tests/api/test_alerts.py::"

# (promise, the tests that prove it), in the page's order
PROMISES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "A schedule whose due time passed `late_after_seconds` ago with no run started is a "
        "`late` incident when no scheduler runs",
        (LATE + "test_late_opens_when_no_scheduler_runs_and_resolves_once_a_run_starts",),
    ),
    (
        "... when the scheduler fires but no worker serves the queue",
        (LATE + "test_late_when_the_scheduler_fires_but_no_worker_serves_the_queue",),
    ),
    (
        "... when overlap skips pile up (opened once, however many are skipped)",
        (LATE + "test_late_when_overlap_skips_pile_up_opens_once",),
    ),
    (
        "Due times a pause left out are never late",
        (LATE + "test_due_times_a_pause_left_out_are_never_late",),
    ),
    (
        "`failures_in_row` failed runs in a row is a `failing` incident, resolved at the "
        "next success",
        (FAILING + "test_failing_opens_at_n_failures_in_a_row_and_resolves_at_the_next_success",),
    ),
    (
        "Each incident is opened once and resolved once with two alert loops on one Redis, "
        "and with four detectors racing without the lease",
        (
            FAILING + "test_two_alert_loops_open_and_resolve_each_incident_once",
            FAILING + "test_two_detectors_racing_without_a_lease_still_open_each_incident_once",
        ),
    ),
    (
        "The webhook receiver gets the JSON body with a valid HMAC-SHA256 signature, for the "
        "opening and the resolution",
        (HOOKS + "test_the_receiver_gets_a_signed_body_for_the_opening_and_the_resolution",),
    ),
    (
        "A receiver that is down for a while, across a restart of the sender, then answers, "
        "gets the alert exactly once; the failure is logged once",
        (HOOKS + "test_a_receiver_down_for_a_while_then_up_gets_the_alert_exactly_once",),
    ),
    (
        "A webhook still failing after the retry window (10 minutes) is given up",
        (HOOKS + "test_a_webhook_failing_past_the_retry_window_is_given_up",),
    ),
    (
        "`GET /alerts` lists incidents to a viewer; explain names the open incident; "
        "`taskplane_alerts_open{kind}` counts them",
        (API + "test_get_alerts_lists_incidents_for_a_viewer_and_explain_names_the_open_one",),
    ),
)
TESTS = tuple(t for _, tests in PROMISES for t in tests)
CITED = frozenset(TESTS)

INTRO = """
## Alerts

A config with `alerts` raises `late` and `failing` incidents (issue 26; API.md, Alerts):
detected by whichever api or scheduler process holds the alert lease, opened and resolved by
one compare-and-set script each, and POSTed from a Redis outbox to the webhooks of the
settings. The tests run against real Redis and PostgreSQL, the engine and the worker's claim
script in-process on a fake clock shared with the detector (no test waits for a deadline),
and a local aiohttp receiver as the webhook (nothing leaves the machine).

```bash
pytest tests/alerts tests/api/test_alerts.py -p no:randomly
python -m tests.faults.reliability --store <pytest base temp>/fault-figures.json
```
"""


def render(entries: dict[str, dict[str, Any]]) -> list[str]:
    out = [INTRO.strip(), "", "| promise | proved by | last stored run |", "| --- | --- | --- |"]
    for promise, tests in PROMISES:
        proved = ", ".join(f"`{t.split('::')[-1]}`" for t in tests)
        runs = "; ".join(ended(entries.get(t)) for t in tests)
        out.append(f"| {promise} | {proved} | {runs} |")
    return [*out, ""]
