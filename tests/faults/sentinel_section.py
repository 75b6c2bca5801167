"""The Sentinel failover's part of docs/reliability.md (a ``Section`` of
tests/faults/reliability.py, stored in tests/faults/stored/sentinel.json): the prose is
written here; every figure, outcome, date and commit comes from the stored entry, which
tests/faults/test_sentinel_failover.py writes through tests/faults/figures.py's ``record``."""

from __future__ import annotations

from typing import Any

from tests.faults.promises import ended

TEST = "tests/faults/test_sentinel_failover.py::test_stack_follows_a_sentinel_failover_under_load"
CITED = frozenset({TEST})

INTRO = """
## Redis Sentinel failover

With `TASKPLANE_REDIS_SENTINELS` and `TASKPLANE_REDIS_SENTINEL_MASTER` set, every process
(api, scheduler, worker, CLI) finds the Redis primary through the Sentinels and follows a
failover without a restart (`backend/taskplane/redis_clients.py`: a connection that fails is
connected again to the primary the Sentinels name by then). The test starts its own primary,
one replica and three Sentinels (`redis-server --sentinel`, quorum 2, on free ports:
`tests/faults/sentinels.py`), a whole stack on them (every process's `TASKPLANE_REDIS_URL`
points where nothing listens: only the Sentinels lead to Redis), 100 interval schedules every
2 s, a client calling run now ten times a second and pausing a schedule every second; then it
`kill -9`s the primary. It asserts the properties and measures the times (never asserted):

- every process keeps running and resumes alone; no answer is a `500` or a trace (a clean
  `503` JSON, or a cut connection, while no primary is known);
- no execution is recorded twice (`task_execution` is unique on task id and attempt);
- nothing is lost silently from what the new primary knows: every due time of every
  schedule is either fired or dropped by the misfire policy (`skipped`, `misfire` in the
  history), and every fire and run it holds runs and is recorded;
- what `taskplane reconcile` runs (`cli/services.reconcile_all`, through the Sentinels)
  leaves every schedule consistent.

```bash
pytest tests/faults/test_sentinel_failover.py -p no:randomly
python -m tests.faults.reliability --store <pytest base temp>/fault-figures.json
```
"""

CANNOT = """
**What cannot be promised: Redis replicates asynchronously.** The primary answers a write
before its replica has it. `kill -9` loses what the replica had not received (the backlog
above, read a moment before the kill: writes go on until it); the new primary is the old
one as it was a moment earlier, consistent (each script and transaction replicates whole)
but without the last writes. What the old primary acknowledged in that moment is then gone,
and taskplane cannot tell:

- a run now or a pause answered `202` / `200` just before the kill may never have happened
  (counted above; the client was told otherwise). Reconcile cannot bring a pause back: the
  status lives only in Redis (PostgreSQL has no status column), so the schedule is active
  again and fires;
- a message a worker read just before the kill is delivered again by the new primary (it
  never saw the delivery), or its fire is sent again (it never saw the fire: the due time is
  still due there), with the same task id: the task **runs twice** ("runs repeated": in the
  stored run, messages read in the last milliseconds before the kill, run again a few seconds
  later); it is still recorded once. An acknowledgement or record that was lost is made good
  by re-delivery (the broker's idle timeout, `TASKPLANE_BROKER_IDLE_TIMEOUT_MS`: 8 s in this
  test, 5 min by default), so a record can arrive that late;
- counters and history may miss or repeat the events of that moment (a record flushed to
  PostgreSQL whose removal from the buffer was lost is flushed again: the row is kept once,
  its counters counted again).

**How `WAIT` and `min-replicas-to-write` change it.** `WAIT 1 <ms>` after a write blocks
until one replica has it; a write acknowledged after `WAIT` answered 1 survives a failover to
that replica (Sentinel promotes the most up-to-date replica). taskplane does not call `WAIT`
today: each acknowledged action would cost a round trip to the replica. On the server,
`min-replicas-to-write 1` with `min-replicas-max-lag 10` makes the primary refuse writes
(taskplane answers `503`) when no replica has confirmed within 10 s: it bounds how much a
primary cut off from its replica can acknowledge and lose (the split brain), not the last
moment before a crash. Neither makes replication synchronous: a write the primary applied and
could not confirm is not rolled back.
"""

ROWS = (
    ("promoted_seconds", "new primary named by the Sentinels", "s"),
    ("api_answers_seconds", "api answers a Redis read again", "s"),
    ("fires_flow_seconds", "a fire due after the kill has run", "s"),
    ("replication_backlog_bytes", "replication backlog a moment before the kill (bytes)", ""),
    ("fires", "scheduled fires run in the test", ""),
    ("lost", "lost (due times neither fired nor dropped; requests never run or recorded)", ""),
    ("duplicated", "executions recorded twice", ""),
    ("dropped_by_misfire_policy", "due times collapsed by the misfire policy", ""),
    ("runs_repeated", "runs repeated (a delivery or fire the new primary never had)", ""),
    ("run_now_acknowledged", "run-now calls answered 202", ""),
    ("run_now_acknowledged_never_ran", "of those, never ran (lost with the old primary)", ""),
    ("pauses_acknowledged", "pauses answered 200", ""),
    ("pauses_acknowledged_lost", "of those, not held by the new primary", ""),
    ("refused_during_failover", "calls refused (503 / cut) during the failover", ""),
    ("reconcile_repairs", "repairs made by `taskplane reconcile` after it", ""),
    ("test_seconds", "the test's run time (from the first config)", "s"),
)


def _cell(value: Any, unit: str) -> str:
    if unit == "s":
        return f"{value:.1f} s" if isinstance(value, float) else f"{value} s"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render(entries: dict[str, dict[str, Any]]) -> list[str]:
    """The intro, the last stored run's figures (and how it ended), what cannot be
    promised."""
    out = [INTRO.strip(), ""]
    entry = entries.get(TEST)
    if entry is None or "figures" not in entry:
        how = "no stored run" if entry is None else f"no figures stored: {ended(entry)}"
        out += [f"Last stored run: {how}.", ""]
    else:
        f = entry["figures"]
        out += [
            f"Last stored run: {ended(entry)}; `down-after-milliseconds` "
            f"{f['down_after_ms']:,}, `failover-timeout` {f['failover_timeout_ms']:,}, "
            f"{f['schedules']} schedules every {f['every_seconds']} s; taken on the shared "
            "2-core development machine while other test runs shared it, so the times are "
            "pessimistic (the goal for the first three is 10 s).",
            "",
            "| after the `kill -9` of the primary | figure |",
            "| --- | --- |",
        ]
        out += [f"| {title} | {_cell(f[key], unit)} |" for key, title, unit in ROWS if key in f]
        out.append("")
    return [*out, CANNOT.strip(), ""]
