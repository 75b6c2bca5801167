"""The cyclic garbage collector's settings for a long-running server process, applied once
its start-up is done (``settle``).

CPython runs a young collection every 700 net allocations of tracked objects and a full one
every 100 young ones; a full one walks every tracked object. An api process holds about
150,000 objects from start-up (FastAPI's routes and models, SQLAlchemy's tables, pydantic's
validators), and a request allocates thousands: at about 700 requests/s it ran a full
collection every few seconds, 100 ms or more each on the benchmark machine, and every request
in flight waited for it. That was B4's tail: p99 227 ms against a p50 of 38 ms
(docs/benchmarks.md). ``settle``:

- collects once, then freezes what survived (``gc.freeze``): start-up objects live as long as
  the process, so no later collection walks them again;
- raises the young threshold to ``YOUNG_THRESHOLD``: a request's garbage is nearly all freed
  by reference counting, so collecting every 700 allocations found little and cost much.
  Cycles are still collected, in batches; memory stays bounded by the same rule.

Measured with B4's `GET /configs/{id}` on one process: p99 227 ms -> 42-57 ms and CPU per
request 1.47 ms -> 1.04-1.13 ms (several runs each). The scheduler and worker processes
settle too, once started (``serve_scheduler``, ``serve_worker``): the scheduler holds a
template per registered schedule, 100,000 and more, which every full collection walked.
Tests do not call it: a test process starts many apps and services, and freezing each one's
survivors would keep them for the whole run.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
OLDER_THRESHOLD = 20  # collections of the generation below before one of this one


def settle() -> None:
    """Collect, freeze the survivors and raise the thresholds (see the module's docstring)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
