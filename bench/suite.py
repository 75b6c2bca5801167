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
sent once, p99 157 ms (265 ms in the previous round's last run, before the scheduler settled
its heap: `taskplane.heap`, see B4; 677 ms in a run at a load of 3 to 4 from other test
suites). The engine parses each registration once
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
the scheduler costs ten times less CPU than the stock one, which checks every schedule every
second (10.2x in the run above, 11.8x in the previous round's: the ratio moves with the
machine's noise by about as much as its margin over 10x). Most of what is left is fixed per
tick, not per fire: socket sends are 30 % of
the samples (each round trip that wakes Redis costs 0.3 to 0.7 ms of CPU on this VM, two per
tick at 10 ticks a second, plus the lease), the loop with nothing due costs about 0.6 CPU-s
per minute, planning 17 % (half of it the one-time parse of each registration). Redis CPU per
fire is printed next to it: the redis-server's CPU over the window (the machine's one Redis,
quiet but for the bench in the run above; in a run beside other test suites it read 131 µs,
so treat it as an upper bound). In the run above Redis spent 33 µs per fire for taskplane and
23 µs for stock: taskplane's fire script does more per fire (lease fencing, the CAS on the due
score, the overlap check, the `fired` event), about 9 µs more of Redis for about 420 µs less of
scheduler; scheduler and Redis together cost about 75 µs per fire against stock's 446 µs. An
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
the run above took 3.3 s (3.6 s in the previous round's; 5.5 s in a run at a load above 3
from other test suites). What would move it further: fewer writes per config (one history push
per chunk, the live events of a chunk in one message) or Redis on its own core. Reconcile
reads statuses, registrations and due scores per chunk of 1,000 and compares registrations
as text first: 21 to 27 µs of CPU per config (was 111 to 146 µs).

**B2.** Met. A pause or stop removes the due score in the call's own MULTI, so no fire can be
sent once the call has returned (every pause latency is 0); a start, resume or reload writes
the new due score, which the next tick (every 100 ms) reads. The stock scheduler re-reads its
source once a minute, so a change takes up to a minute to be honoured (uniform over the
refresh interval, p50 around half of it).

**B3.** Met: one recording worker keeps pace with a plain taskiq worker in the same run
(3,342/s against 2,505/s in the run above; 3,078/s against 3,165/s in the previous round's:
plain taskiq's own figure moves by a quarter from run to run on this machine).
The worker has its own receive loop (`worker/consumer.py`): a whole XREADGROUP
batch starts in one event-loop turn, the recorder's claim and finish (record + ack + delete)
are one Lua call per batch each, a concurrency slot ends when the task function returns, and
the buffered records reach PostgreSQL as one cached executemany INSERT. With 2 worker
processes on 2 cores shared with PostgreSQL, Redis and the bench, both systems are bound by
the machine rather than the worker.

**B4.** Not met, but half of the throughput goal is: with `--workers 2`, `GET
/configs/{id}` answers 1,820 req/s at p99 35 ms (goal: 1,000 at 50 ms; it was p99 161 ms at
the start of this round), while a page of 50 answers 552 req/s at p99 102 ms. On one
process, `GET /configs/{id}` costs 0.73 ms of API CPU per request, 4.6x the bare endpoint's
0.16 ms in the same run (3.6x against 0.21 ms in the run before: the bare figure moves by a
quarter between runs; the config read was 6.9x at the start of this round and 20x before
the previous one), and a page of 50 costs 2.58 ms (16.1x; it was 23.7x). The earlier round
made every dependency async, removed the pool's pre-ping, read configs on a plain
connection, encoded responses with `pydantic_core.to_json`, read a page's states in one
script and remembered token lookups under a token generation (revocation still holds from
the next request on).
This round, from profiles and A/B runs of the api on the same seeded data:
- **The tail was the garbage collector.** An api process holds about 150,000 objects from
  start-up and a request allocates thousands, so a full collection (100 ms and more here)
  came every few seconds, and every request in flight waited for it. `taskplane.heap`
  settles each server process once it has started: one collection, `gc.freeze()` of the
  survivors, and a young threshold of 20,000. Trial runs of `GET /configs/{id}` on one
  process: p99 227 ms -> 42 to 57 ms, CPU per request 1.47 -> 1.04 to 1.13 ms. The scheduler
  and the worker settle too.
- **The pool's overflow.** With 32 requests in flight and a pool of 10, each checkout past
  the pool opened a PostgreSQL connection and closed it on return: asyncpg's connect was 8 %
  of the api's CPU, and each was a new PostgreSQL backend. `db_max_overflow` now defaults
  to 0: a burst waits for a pooled connection (10 s at most, then 503).
- **The config reads go to asyncpg directly** (`db/rows.py`): SQLAlchemy's statements,
  each shape compiled once (kept by SQLAlchemy's cache key), run on a small asyncpg pool of
  the api's own, each parameter and value through its column type's processing (the rows
  are SQLAlchemy's, tested value for value and type for type). One read after another
  in-process a config row costs 73 µs of CPU against 218 µs through SQLAlchemy's async
  connection; under wrk's 32 connections the saving was larger (trial runs of the config
  read: 0.9 to 1.2 -> 0.63 to 0.69 ms per request; the list: 3.49 -> 2.58 ms in the runs
  above), the greenlet hops and pool waits of the async layer growing with concurrency.
- **The list** takes its unfiltered total from a counter row (see B6) and reads a row's
  fields by key.
- **Warm-up.** Each read endpoint, the bare one too, now gets 3 s of the same load before
  it is measured (the steady state; the first connections and statement preparations used
  to fall into the p99).
What limits it now: on `GET /configs/{id}`, measured by elimination before the asyncpg read
(each part replaced by a remembered answer, same run), the Redis read model cost about
0.24 ms and the token generation's GET nothing measurable; with the database, Redis and the
token read all gone a request still cost 0.65 ms then, 3.3x the bare endpoint: FastAPI's
dependency resolution (about 10 % of the samples), the event-loop turns of a request that
awaits, the detail's 20 history events. The list's 2.6 ms is its 50 items: 50 states and
registrations from Redis (redis-py's pure-Python packing of about 150 arguments), composing
each item's read model, encoding the page, and the rows' JSON columns. What would move it:
a remembered JSON fragment per (row version, state) for list items, hiredis packing of the
read pipeline, fewer dependencies on the hot routes. With `--workers 2` the rest of the gap
is the 2 cores that the two api processes share with PostgreSQL, Redis and wrk. The 2x bound
is below what a request that reads PostgreSQL and Redis and checks its token costs in
CPython on this machine.

**B6.** The tick is flat: it reads only what is due (ZRANGEBYSCORE with a limit on the due
index, O(log N + due)) and one script for those (a registration is read only when the
engine holds no template of its text), so with 100 due per tick the engine's CPU per tick is
the same at 1,000 and at 100,000 registered schedules. The config list is flat for the first
page and for any page reached by the keyset cursor, not for a deep page reached by offset:
- **The total.** The unfiltered list's total is read from `task_config_count`, one row that
  triggers keep exact in the transaction of each insert, delete and truncate (migration
  0002; PostgreSQL: one update per statement through transition tables; SQLite: row
  triggers). The first page at 100,000 configs costs no more than at 1,000 (p50 0.77x in
  the run above, 1.19x in the one before; it was 1.97x, when PostgreSQL's exact `count(*)`
  read the whole index, about 8 ms at 100,000). A filtered list (status, task type, text)
  still counts its matches exactly. Concurrent config creates queue on the counter row
  until they commit (one short UPDATE).
- **Deep pages.** `?after=<id>` (the last item's id) pages by keyset: `id < after` on the
  primary key's index, so the last page of 100,000 costs what the first does (0.85x).
  OFFSET still walks every row it skips (19 ms at offset 99,950, 2.4x); it stays, as
  API.md's contract, and deep pages should use `after`.
"""
