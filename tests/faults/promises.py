"""The fault suite's part of docs/reliability.md (tests/faults/reliability.py draws the page):
each promise, the tests that prove it and how their last stored run ended; the figures those
runs recorded; what is not promised; and the promises whose last stored run failed. The
promises and the prose are written here; every outcome, figure, date and commit on the page
comes from the stored entries (tests/faults/stored/faults.json)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STACK = "tests/faults/test_stack_faults.py::"
WORKER = "tests/faults/test_worker_faults.py::"
PROCESS = "tests/faults/test_process_faults.py::"
KILLED_WORKER = WORKER + "test_killed_worker_messages_run_on_a_live_worker_within_seconds"
LONG_RUN = WORKER + "test_a_live_workers_long_run_is_never_taken"
TWO_SCHEDULERS = (
    "tests/scheduling/test_engine_processes.py::"
    "test_two_instances_send_each_fire_once_and_survive_kill_9_of_the_leader"
)
REDIS_STACK = STACK + "test_stack_rides_out_a_redis_restart_and_a_10s_redis_outage"
REDIS_WORKER = WORKER + "test_worker_survives_a_redis_restart_and_a_10s_outage"
REDIS_SCHEDULER = (
    "tests/faults/test_scheduler_faults.py::"
    "test_scheduler_keeps_firing_after_a_redis_restart_and_a_10s_outage"
)
PG_STACK = STACK + "test_stack_rides_out_a_10s_postgresql_outage"
PG_WORKER = (
    "tests/worker/test_outage.py::test_records_survive_a_database_outage_and_a_worker_restart"
)
PG_SHUTTING_DOWN = STACK + "test_api_answers_503_while_postgresql_refuses_sessions_shutting_down"
API_RESTART = PROCESS + "test_api_restart_under_load_gives_no_500_and_a_consistent_state"
SIGTERM_WORKER = PROCESS + "test_sigterm_mid_task_finishes_the_task_and_records_it_once"

INTRO = """
# Reliability

What taskplane promises when a process or a store fails, the test that proves each promise,
and how that test ended and what it measured the last time its run was stored. Every test
here starts real `taskplane` processes (api, scheduler, worker) and, where a store is broken,
its **own** private Redis (`redis-server --appendonly yes --appendfsync always` on a free
port) or PostgreSQL (`initdb` + `pg_ctl` into a temp dir, with a password) — never a shared
one.

```bash
make test ARGS='-m faults'      # the fault suite alone (about 6 minutes on 2 cores)
python -m tests.faults.reliability --store <pytest base temp>/fault-figures.json
```

Each test writes its figures, and each test cited here how it ended, to `fault-figures.json`
in pytest's base temp dir (and prints the figures with `-s`; `tests/faults/figures.py`), with
the time and the commit. The second command keeps them in `tests/faults/stored/` (each entry
replaces its test's last one) and regenerates this page from the stored files alone
(`python -m tests.faults.reliability` without `--store`: only the page;
`tests/faults/reliability.py`). Do not edit this page by hand. "Lost" counts work the
platform accepted and never ran or never recorded; "duplicated" counts a task id run or
recorded more than once. Both are counted from outside the product: the test task type
`fault_ledger` (`tests/faults/ledger_types.py`) appends its task id to a file each time it
starts, and the tests compare that file, the execution records and the schedule's history
(every `fired` and `run_requested` event, every due time on the schedule's grid).
"""


@dataclass(frozen=True)
class Promise:
    number: str
    fault: str
    promise: str
    tests: tuple[str, ...]
    proved_by: str = ""  # said instead of the tests' names


PROMISES = [
    Promise(
        "1",
        "`kill -9` of a worker mid-task",
        "its message is re-delivered to a live worker as soon as the dead worker's heartbeat "
        "is stale (seconds, not the 5 min idle timeout); the execution is recorded once",
        (KILLED_WORKER,),
    ),
    Promise(
        "1b",
        "a long task on a live worker",
        "never taken from it, however long it runs",
        (LONG_RUN,),
    ),
    Promise(
        "2",
        "`kill -9` of the leading scheduler of two",
        "the other takes over within the lease (3 s); no fire sent twice; no due time lost "
        "(those due during the takeover collapse into one catch-up fire, `misfire: once`)",
        (TWO_SCHEDULERS,),
    ),
    Promise(
        "3",
        "Redis restarted (append-only), then unreachable 10 s, under a whole stack",
        "api, scheduler and worker stay up and resume alone; what needs Redis answers `503` "
        "JSON (health `degraded`, schedules, configs, run, pause, delete); execution records "
        "(PostgreSQL only) still answer `200`; a `503`'d pause or delete changed nothing; "
        "nothing lost, nothing run twice",
        (REDIS_STACK,),
    ),
    Promise(
        "3b",
        "the same, bare worker / bare scheduler",
        'each survives, one warning per outage, one "reachable again" line',
        (REDIS_WORKER, REDIS_SCHEDULER),
    ),
    Promise(
        "4",
        "PostgreSQL unreachable 10 s, under a whole stack",
        "fires keep running; their records wait in Redis and are written once when "
        "PostgreSQL is back; what needs the database answers `503` JSON; the schedule state "
        "(Redis) still answers; everything recovers alone",
        (PG_STACK,),
    ),
    Promise(
        "4b",
        "PostgreSQL unreachable, worker `kill -9`ed while records are buffered",
        "a new worker flushes them: every record once",
        (PG_WORKER,),
    ),
    Promise(
        "4c",
        "PostgreSQL shutting down / starting up (refuses sessions, SQLSTATE 57P03)",
        "the api answers `503` JSON, not `500`",
        (PG_SHUTTING_DOWN,),
    ),
    Promise(
        "5",
        "the api SIGTERMed and started again under a client load (reads, run-now, pause/resume)",
        "no `500`; clients see connection errors or `503` only during the gap; every "
        "accepted run runs and is recorded once; the schedule's status is what the last "
        "answered action said, and consistent",
        (API_RESTART,),
    ),
    Promise(
        "6",
        "SIGTERM to a worker mid-task",
        "it takes nothing new, finishes the task, records and acknowledges it once, "
        "withdraws its heartbeat, exits 0",
        (SIGTERM_WORKER,),
    ),
    Promise(
        "7",
        "any of the above",
        "no admin token, `Authorization` header value, API token or DSN password in any line "
        "any process wrote, nor in any answer",
        (REDIS_STACK, PG_STACK),
        "the two whole-stack tests of 3 and 4 (every process's output captured and searched)",
    ),
]
CITED = frozenset(t for p in PROMISES for t in p.tests)

Figures = dict[str, Any]
TIMES = "\N{MULTIPLICATION SIGN}"


def _s(seconds: Any) -> str:
    return f"{seconds:.1f} s" if isinstance(seconds, float) else f"{seconds} s"


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _takeover(f: Figures) -> tuple[str, str]:
    return (
        f"new leader {_s(f['takeover_seconds'])} after the kill",
        f"{_n(f['fires'])} fires; {_n(f['dropped_by_misfire_policy'])} due times collapsed "
        "into catch-ups during the takeover (misfire policy)",
    )


def _redis_stack(f: Figures) -> tuple[str, str]:
    return (
        f"healthy and firing {_s(f['recovery_after_restart_seconds'])} after the restart, "
        f"{_s(f['recovery_after_outage_seconds'])} after the {f['outage_seconds']:g} s outage",
        f"{_n(f['answers_500'])} {TIMES} `500` in {_n(f['answers'])} answers during outages and "
        f"transitions; {_n(f['dropped_by_misfire_policy'])} due times during the outage "
        f"collapsed into one catch-up fire (misfire policy); {_n(f['secret_leaks'])} secrets "
        "in the output",
    )


def _pg_stack(f: Figures) -> tuple[str, str]:
    return (
        f"api healthy {_s(f['recovery_seconds'])} after PostgreSQL is back; every buffered "
        f"record written {_s(f['all_recorded_after_seconds'])} after",
        f"{_n(f['ran_during_outage'])} executions ran during the {f['outage_seconds']:g} s "
        f"outage; {_n(f['answers_500'])} {TIMES} `500` in {_n(f['answers'])} answers; "
        f"{_n(f['secret_leaks'])} secrets in the output",
    )


def _pg_worker(f: Figures) -> tuple[str, str]:
    return (
        "—",
        f"{_n(f['buffered_during_outage'])} records buffered in Redis across a worker "
        f"`kill -9`, {_n(f['records'])} written once",
    )


def _api_restart(f: Figures) -> tuple[str, str]:
    return (
        f"clients served again {_s(f['unavailable_seconds'])} after SIGTERM (restart to "
        f"healthy {_s(f['restart_to_healthy_seconds'])})",
        f"{_n(f['requests'])} requests, {_n(f['answers_500'])} {TIMES} `500`, "
        f"{_n(f['accepted_runs'])} runs accepted, each run and recorded once",
    )


def _sigterm_worker(f: Figures) -> tuple[str, str]:
    return (
        f"worker exited {_s(f['stopped_after_sigterm_seconds'])} after SIGTERM (the task had "
        "3 s left)",
        "—",
    )


# the promises whose tests record figures: number, test, (recovery, other) from its figures
FIGURE_ROWS: list[tuple[str, str, Callable[[Figures], tuple[str, str]]]] = [
    ("2", TWO_SCHEDULERS, _takeover),
    ("3", REDIS_STACK, _redis_stack),
    ("4", PG_STACK, _pg_stack),
    ("4b", PG_WORKER, _pg_worker),
    ("5", API_RESTART, _api_restart),
    ("6", SIGTERM_WORKER, _sigterm_worker),
]

NOT_PROMISED = """
## What is not promised

- **Fires due while no scheduler can reach Redis are not all sent.** They follow the
  schedule's misfire policy: with `misfire: once` (the default) the missed due times collapse
  into one catch-up fire if it is at most `misfire_grace_seconds` (60) late, and a `skipped`
  history event (`reason: misfire`, `missed: N`) records the rest; with `misfire: skip` none is
  sent late. The cadence goes on on the schedule's own grid. The tests count each dropped due
  time and require every due time to be either fired or recorded as dropped.
- **A task killed mid-run runs again.** Delivery is at least once, recording exactly once:
  after `kill -9` the re-delivered message starts the function again (the first, interrupted
  run left no record). Make side effects idempotent; the task id of a scheduled fire is stable
  (`<config id>-<due time in ms>`).
- **Redis durability is Redis's.** The tests restart Redis cleanly with `appendfsync always`.
  `compose.yaml` runs `appendfsync everysec`: a Redis *crash* can lose up to a second of writes
  (fires sent, state changes, buffered records). PostgreSQL outages are bounded by Redis memory
  (records wait in a Redis stream).
"""


def taken(entry: dict[str, Any]) -> str:
    """When and at which commit an entry was taken, or where it was transcribed from."""
    at = str(entry["at"]).replace("T", " ").replace("+00:00", " UTC")
    if entry.get("source"):
        return f"{at}, {entry['source']}"
    return f"{at} at {entry['commit']}"


def ended(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "no stored run"
    how = entry.get("outcome")
    return f"{how if how else 'outcome not recorded'} ({taken(entry)})"


def render(entries: dict[str, dict[str, Any]]) -> list[str]:
    out = [
        "## Promises",
        "",
        "| # | fault | promise | proved by | last stored run |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in PROMISES:
        proved = p.proved_by or ", ".join(f"`{t}`" for t in p.tests)
        last = "; ".join(ended(entries.get(t)) for t in p.tests)
        out.append(f"| {p.number} | {p.fault} | {p.promise} | {proved} | {last} |")
    out += [
        "",
        "## Last figures",
        "",
        "Each row is the last stored run of its promise's test, taken on the development "
        "machine while other test runs shared it, so recovery times are pessimistic.",
        "",
        "| # | lost | duplicated | recovery | other | taken |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for number, test, cells in FIGURE_ROWS:
        entry = entries.get(test)
        if entry is None or "figures" not in entry:
            how = "no stored run" if entry is None else f"none stored: {ended(entry)}"
            out.append(f"| {number} | | | | {how} | |")
            continue
        f = entry["figures"]
        recovery, other = cells(f)
        row = [number, _n(f["lost"]), _n(f["duplicated"]), recovery, other, taken(entry)]
        out.append("| " + " | ".join(row) + " |")
    out += ["", NOT_PROMISED.strip(), ""]
    return [*out, *defects(entries)]


def defects(entries: dict[str, dict[str, Any]]) -> list[str]:
    """The promises a stored run of their tests did not keep."""
    out = ["## Known defects (promises whose last stored run failed)", ""]
    failed = [
        (p, t, entries[t])
        for p in PROMISES
        for t in p.tests
        if t in entries and str(entries[t].get("outcome", "")).startswith(("failed", "error"))
    ]
    if not failed:
        return [*out, "None: no test cited above failed in its last stored run.", ""]
    out += [f"- **{p.number}: {p.fault}** — `{t}`: {ended(e)}." for p, t, e in failed]
    return [*out, ""]
