"""CPU-heavy pure work of a request (a schedule preview's next-fire maths: a rare cron such
as ``0 0 29 2 sun#5`` walks decades of calendar, 0.1-0.5 s for 50 fires) runs in a child
process, never on the event loop: a thread would still hold the interpreter lock while it
computes, and the loop would wait for it at every turn.

One child per api process, started on first use (``spawn``: nothing of the api's state, open
sockets or threads is copied into it; niceness +10: the api's own work comes first when the
cores are busy) and stopped by ``close`` at shutdown; at most
``MAX_QUEUED`` calls wait for it at once, further ones wait their turn here, on the loop, at
no cost to other requests. ``fn`` and its arguments must pickle (module-level functions, plain
values and frozen dataclasses do).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

MAX_QUEUED = 4
CHILD_NICENESS = 10

T = TypeVar("T")


class CpuBound:
    """One per app (``app.state.cpu``): ``await cpu.run(fn, *args)``; ``close()`` at exit."""

    def __init__(self, max_queued: int = MAX_QUEUED) -> None:
        self._slots = asyncio.Semaphore(max_queued)
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._slots:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=os.nice,  # the api's own requests come first for the CPU
                    initargs=(CHILD_NICENESS,),
                )
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
