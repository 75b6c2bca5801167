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

**B1, scheduler at 100,000 (10,000 fires per second).** Met in the run above: every fire
sent once, p99 265 ms (in an earlier run this session, at a load of 3 to 4 from other test
suites, p99 was 677 ms). The engine parses each registration once
into a template (`scheduling/fires.py`): its spec, its keys and the run message pre-encoded
with two holes, task id and `due_at`, so a fire costs no pydantic and no JSON encoding; the
fire script checks the stored text's SHA1 against the template's (a changed registration is
re-read on the next tick), builds the `fired` event itself, and the EVALSHA is packed by hand
(redis-py packed it argument by argument, about 24 µs per fire; now about 2.5 µs). The next
batch is read and planned while Redis runs the current script. In the profiled pass at
100,000 (Profiles above) the shares are about: 25 % building the first round's 100,000
templates in the first 10 s, 15 % packing the script call (13 arguments per fire), 14 %
planning, 8 % JSON encoding while building templates, 8 % socket writes. Under load the
scheduler waits for the CPU rather than using it (py-spy counted more time runnable than it got
CPU), and one batch in flight waits for each 500-fire script in the shared Redis. What would
move it further: build templates ahead of the first round (at
start, or for what is due in the next seconds), pre-pack each template's fixed arguments
(6 of 13), keep two batches in flight when there is a backlog, and fold the due-index read
into the fire script's reply. The stock scheduler at 100,000 does far worse: it starts one
send task per schedule at once, on a blocking connection pool of 100 (redis-py's default when
taskiq-redis passes no size) that makes each send wait at most 20 s; most sends time out
waiting for a connection (`SendTaskError`, one logged error each; in the run above a single
message reached the broker in 70 s) and its memory grows to gigabytes.

**B1, CPU at 10,000.** Met: about 40 µs of scheduler CPU per fire (it was about 100 µs), so
the scheduler costs over ten times less CPU than the stock one, which checks every schedule
every second. Most of what is left is fixed per tick, not per fire: socket sends are 30 % of
the samples (each round trip that wakes Redis costs 0.3 to 0.7 ms of CPU on this VM, two per
tick at 10 ticks a second, plus the lease), the loop with nothing due costs about 0.6 CPU-s
per minute, planning 17 % (half of it the one-time parse of each registration). Redis CPU per
fire is printed next to it: the redis-server's CPU over the window (the machine's one Redis,
quiet but for the bench in the run above; in a run beside other test suites it read 131 µs,
so treat it as an upper bound). In the run above Redis spent 33 µs per fire for taskplane and
24 µs for stock: taskplane's fire script does more per fire (lease fencing, the CAS on the due
score, the overlap check, the `fired` event), about 9 µs more of Redis for about 420 µs less of
scheduler; scheduler and Redis together cost about 72 µs per fire against stock's 482 µs. An
in-process measurement against a private redis-server (10,000 schedules, 100 fires per tick)
gave 17 to 27 µs per fire, as before this round (24 to 29 µs): the scheduler's cost was cut,
not moved into Redis.

**B1, registration.** `SchedulerService.start_many` (the path of `POST /schedules/bulk/start`,
`POST /runs` and reconcile) runs one Lua script per chunk of 500 configs for the common case
(unheld, unregistered, start or resume): per config it checks the lock is free and the status
allows the action, and writes the registration, the due score, the status change, the event,
the metadata and the live event, atomically; the rest goes through two scripts under the
configs' locks with the same state machine (`actions.decide`). The registration JSON is built
without pydantic (byte for byte what pydantic wrote, tested), commands are packed with
hiredis, and two chunks are in flight. CPU per config fell from about 260 µs to about 50 µs
(18 µs in the service, 31 µs in Redis over 16 commands: about 7 µs the registration, 6 µs the
status sets, 5 µs the history, 2 µs the live event, all part of the data model). At 100,000
Redis does most of the work (about 2.3 s of its CPU and 1.3 s of the service's, overlapped):
the run above took 3.6 s; an earlier run this session, at a load above 3 from other test
suites, took 5.5 s. What would move it further: fewer writes per config (one history push
per chunk, the live events of a chunk in one message) or Redis on its own core. Reconcile
reads statuses, registrations and due scores per chunk of 1,000 and compares registrations
as text first: 21 to 27 µs of CPU per config (was 111 to 146 µs).

**B2.** Met. A pause or stop removes the due score in the call's own MULTI, so no fire can be
sent once the call has returned (every pause latency is 0); a start, resume or reload writes
the new due score, which the next tick (every 100 ms) reads. The stock scheduler re-reads its
source once a minute, so a change takes up to a minute to be honoured (uniform over the
refresh interval, p50 around half of it).

**B3.** Met: one recording worker keeps pace with a plain taskiq worker in the same run.
The worker has its own receive loop (`worker/consumer.py`): a whole XREADGROUP
batch starts in one event-loop turn, the recorder's claim and finish (record + ack + delete)
are one Lua call per batch each, a concurrency slot ends when the task function returns, and
the buffered records reach PostgreSQL as one cached executemany INSERT. With 2 worker
processes on 2 cores shared with PostgreSQL, Redis and the bench, both systems are bound by
the machine rather than the worker.

**B4.** Not met, though this round cut the API's CPU per request about 3.5x (`GET
/configs/{id}` from 4.15 to about 1.2 ms, `GET /configs?limit=50` from 16.4 to about 4 ms;
the bare endpoint costs 0.17 ms). What changed: every dependency is `async def` (they ran in
the thread pool), the pool's pre-ping is gone (three round trips per checkout: BEGIN, ping,
ROLLBACK; a dead connection is dropped at checkout without a round trip), config reads use a
connection without the ORM or a transaction (one PostgreSQL round trip), the two hot routes
build plain values and encode them with `pydantic_core.to_json` (identical JSON, tested
field for field), a page's Redis state comes from one read-only script in one reply instead
of one HGETALL per config, registrations and decoded states are parsed once per distinct
text, the total is a scalar-subquery count, and a stored token's lookup is remembered for at
most 10 s under a token generation in Redis that every revocation replaces (so revocation
still holds from the next request on, on every replica; tested with two api processes).
What limits it now, from cProfile of the app called in-process: on `GET /configs/{id}`
FastAPI's routing and dependency resolution 25 %, SQLAlchemy 16 %, the event loop 10 %,
redis-py 10 %, socket sends 6 %, taskplane's own code 7 %; on the list, building the items
15 %, socket sends 14 %, SQLAlchemy (rows and JSONB decoding) 14 %, FastAPI 13 %, redis-py
9 % (its pure-Python packer, about 150 arguments). A request that must read live state from
PostgreSQL and Redis and check its token makes two or three network round trips, each about
0.3 to 0.5 ms of CPU through Python's async drivers here, so the 2x bound (0.34 ms) is below
the cost of the round trips alone. With `--workers 2` the bare endpoint reaches 9,500 req/s,
but a config read is held back by PostgreSQL, Redis and wrk on the same 2 cores, and the
connections were not spread evenly: for `GET /configs/{id}` the two workers together used
one core (one accepted most of wrk's 32 keep-alive connections; the shared listening socket
leaves that to whichever worker wakes first). What would move it: raw asyncpg for the two hot
queries on PostgreSQL (SQLite keeps the SQLAlchemy path), hiredis packing of the read
pipeline (as the scheduler's fire script does), remembered list items per (row, state,
registration) text, a socket per worker with `SO_REUSEPORT` so the kernel spreads
connections, and cores that PostgreSQL and Redis do not share with the api.

**B6.** The tick is flat: it reads only what is due (ZRANGEBYSCORE with a limit on the due
index, O(log N + due)) and one script for those (a registration is read only when the
engine holds no template of its text), so with 100 due per tick the
engine's CPU per tick is the same at 1,000 and at 100,000 registered schedules. The config
list's pages are not flat: from 1,000 to 100,000 configs the first page's p50 doubles and
the last page's grows over 3x (see the table), and the growth is in PostgreSQL: the API
process's CPU per request stays about the same at every N. A page used to ask
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
