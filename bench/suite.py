"""The benchmarks, in order, and the analysis written under their figures."""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from bench import b1_scheduler, b2_changes, b3_throughput, b4_api, b6_growth
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
}


PROFILE_PASS: dict[str, dict[str, Any]] = {
    "b1": {"n": [100_000], "fires": 2, "no_stock": True},
    "b2": {"changes": 40, "no_stock": True},
    "b3": {"n": [10_000], "workers": [1], "no_stock": True},
    "b4": {"duration": 5},
    "b6": {"n": [100_000]},
}
"""Each benchmark's profiled pass (``python -m bench --profile``): the options it runs with
unless the command line set them, shorter than the measured run's and taskplane's side
only; where the measured figures show a cost, the pass runs at that size."""


def descriptions() -> dict[str, str]:
    return {name: module.DESCRIPTION for name, module in BENCHMARKS.items()}


ANALYSIS = """
The shares below come from py-spy profiles of the measured processes (the profiled passes of
the Profiles section above, or trial runs on the same machine and code, taken with
`BENCH_PROFILE=1 python -m bench ...` and summed up by `python -m bench.profile`; start-up
imports left out); they are where the time went, not figures of the runs above.

**Contention first.** Every figure was taken on 2 cores that also ran Redis, PostgreSQL, the
bench itself and, most of the time, other engineers' test suites (see the load averages by
each run). A process that needs a whole core (the scheduler at 100,000, a worker, the API)
gets less than one here, so these are pessimistic; the stock baselines ran under the same
conditions, in the same run.

**B1, scheduler at 100,000 (10,000 fires per second).** At 1,000 and 10,000 schedules every
fire is sent once, on time (see the table). At 100,000 every fire is still sent exactly once,
but seconds late: the engine cannot prepare 10,000 fires a second here, so the backlog, and
with it the lag, grows through each interval (in an earlier, more contended trial it fell far
enough behind that late fires passed the misfire window and were dropped; never doubled). The
engine runs one tick at a time (read due ids, MGET their schedules, prepare, one Lua call)
and is bound by Python CPU in the scheduler process: in a profile at 100,000, 46 % of its
samples are in `Engine._prepare` (re-validating the `ScheduledTask` JSON with pydantic and
`specs.from_labels` for every fire, building a `TaskiqMessage` and JSON-encoding it: 14 %, and
JSON-encoding the `fired` history event: 7 %), 23 % in redis-py packing the script call and
parsing replies (the MGET of 500 schedule documents per batch, the script's arguments carrying
every body and event), 12 % in the script call itself. What would move it: cache the parsed
schedule and a pre-encoded message template per config (invalidated when its data key
changes), so a fire only stamps its task id and `due_at` into bytes; read only the ids and
scores of what is due and fetch documents only for configs not in the cache; overlap the
next batch's read and preparation with the current script; run the per-fire history push in
the script from a short template instead of a full JSON event built in Python. The stock
scheduler at 100,000 does far worse: it starts one send task per schedule at once, on a
blocking connection pool of 100 (redis-py's default when taskiq-redis passes no size) that
makes each send wait at most 20 s; most sends time out waiting for a connection
(`SendTaskError`, one logged error each; in the run above a single message reached the
broker in 70 s) and its memory grows to gigabytes.

**B1, CPU at 10,000.** taskplane's scheduler costs a few times less CPU than the stock one,
not the 10x asked. The stock scheduler burns its CPU checking every schedule every second;
taskplane only touches what is due, but each fire costs over 100 µs of Python (the
per-fire work above: 7.63 s of CPU per minute for 60,000 fires per minute in the run above),
so at 1,000 fires per second it spends over a tenth of a core. The same
caching and templating would cut most of that.

**B1, registration.** `SchedulerService.start` takes a per-config lock (SET NX, then a Lua
unlock), reads the status, registers through core (WATCH, GET, then a MULTI with SET, LREM
twice, RPUSH and the due-index script) and runs the state transition script: about eight round
trips per config, with 64 in flight. Core's `LREM` on the stock source's interval list is
O(list length), so every registration scans all registered interval schedules: registration
slows down as N grows. What would move it: a bulk path (`start_many`: one lock-free status
check for the chunk, one pipeline for the registrations, one script for the transitions),
and skipping the `LREM` when the schedule was not registered before (no old data key).

**B2.** Met. A pause or stop removes the due score in the call's own MULTI, so no fire can be
sent once the call has returned (every pause latency is 0); a start, resume or reload writes
the new due score, which the next tick (every 100 ms) reads. The stock scheduler re-reads its
source once a minute, so a change takes up to a minute to be honoured (uniform over the
refresh interval, p50 around half of it).

**B3.** Met. The worker has its own receive loop (`worker/consumer.py`): a whole XREADGROUP
batch starts in one event-loop turn, the recorder's claim and finish (record + ack + delete)
are one Lua call per batch each, a concurrency slot ends when the task function returns, and
the buffered records reach PostgreSQL as one cached executemany INSERT. Worker CPU per
recorded execution went from about 0.95 ms to about 0.2 ms, so one recording worker now
drains `echo` faster than the stock taskiq worker (whose `Receiver` hands messages over one
at a time) in the same run. With 2 worker processes on 2 cores shared with PostgreSQL, Redis
and the bench, both systems are bound by the machine rather than the worker. An earlier run
of this page measured 10/s for one worker: it ran against a half-committed working tree
while the receive loop was being changed, and is superseded by the table above.

**B4.** Not met: one uvicorn process spends most of a core and answers tens to a few hundred
requests per second. In a profile of the API under this load, composing the Redis state of a
page of configs (`SchedulerService.infos`) is 13 % of the samples, ORM object loading another
10 %, the connection pool's pre-ping (a round trip before every checkout) 4 %, and sync code run
in the thread pool adds thread hand-offs. What would move it: `taskplane api --workers 2` (one
process per core), `pool_pre_ping` off in favour of `pool_recycle`, plain Core selects mapped
straight to the response models for lists, only async dependencies, and reading only the state
fields a list shows.

**B6.** The tick is flat: it reads only what is due (ZRANGEBYSCORE with a limit on the due
index, O(log N + due)), one MGET and one script for those, so with 100 due per tick the
engine's CPU per tick is the same at 1,000 and at 100,000 registered schedules. The config
list's first page now grows little (1.35x from 1,000 to 100,000 in a trial run, near the
1.5x bound), its last page more (2.6x there), and the growth is in PostgreSQL: the API
process's CPU per request stays the same at every N. A page used to ask
for its total as `count(*) over ()`, a window that makes PostgreSQL read every matching row
before it returns the first 50 (on a 100,000-row table: 31 ms, against 0.06 ms for the page
alone, EXPLAIN ANALYZE on this machine; the first page's p50 grew 8x from 1,000 to 100,000 in a
run before the change). `db/pagination` now counts in a scalar subquery, which reads no row's
columns (about 8 ms at 100,000, still O(N)), and the OFFSET of a deep page still walks every
row it skips (another 12 ms at offset 99,950). What would move it: keyset pagination (`WHERE
id > :after ORDER BY id LIMIT 50`, the cursor in the response), so any page reads 50 index
entries whatever N is, and the total only when asked for, or an estimate from
`pg_class.reltuples` for an unfiltered list.
"""
