"""Outages of the stores a long-running loop needs (Redis, PostgreSQL), and how a loop
waits one out.

One ``Outages`` per process, shared by all its loops (receive, claim timer, heartbeat,
record flusher, retry pump, the scheduler's tick and lease loops). The first loop that
fails on a store opens its outage and logs ONE warning; the first success on that store
afterwards closes it and logs ONE info line with how long it lasted. In between, each loop
backs off on its own ``Backoff`` (0.1 s doubling to 5 s, "equal jitter": uniform in
[d/2, d]) and logs nothing. A failure that is no lost store (a bug, a bad reply) is logged
once per run of failures of that loop, with its traceback; the loop goes on all the same.

    outages = Outages()                            # one per process
    guard = outages.backoff("heartbeat", REDIS)    # one per loop
    while True:
        try:
            await beat()
        except Exception as exc:                   # CancelledError is no Exception
            await guard.failed(exc, stop)          # logs once per outage; sleeps its delay
            continue
        guard.ok()                                 # closes its stores' outages; delay reset
        await asyncio.sleep(interval_seconds)

A success closes an outage only if the attempt began after the outage did (a reply that
was already on its way when the store went down proves nothing). Every pooled connection
to a restarted Redis fails once when next used: so an outage that opens drops the idle
connections of the pools registered with ``on_down`` (they reconnect on next use), and a
failure within ``FLAP_SECONDS`` of a recovery reopens the same outage silently (it warns
only if the store is still lost ``FLAP_SECONDS`` later). One outage
is one warning and one info line, not one per loop, per connection or per flap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from redis import exceptions as redis_errors
from sqlalchemy import exc as sa_errors

from taskplane.errors import BackendUnavailable

log = logging.getLogger(__name__)

REDIS = "redis"
DATABASE = "database"

FIRST_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 5.0
FLAP_SECONDS = 2.0
_RNG = random.Random()


_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53")
"""SQLSTATEs of a database that cannot serve now: connection exceptions (class 08), an
admin or crash shutdown, "the database system is starting up / shutting down" (57P03),
insufficient resources (class 53: too many connections, out of memory, disk full). asyncpg
raises them as plain errors, not as connection losses. A cancelled statement (57014) is no
outage."""


_ASYNCPG_LOST = (
    asyncpg.InterfaceError,  # the connection is closed, or was never made
    # a connection PostgreSQL ended while the next query was being sent: the client
    # protocol's state is broken (the pool replaces the connection on release)
    asyncpg.exceptions.InternalClientError,
)


def database_refuses(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL refusing to serve right now (not a bad statement)."""
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return isinstance(state, str) and state.startswith(_UNAVAILABLE_SQLSTATES)


def redis_refuses(exc: BaseException) -> bool:
    """Whether ``exc`` is a Redis that cannot take writes right now (not a bad command): a
    primary refusing them for want of replicas (``NOREPLICAS``: ``min-replicas-to-write``),
    a replica reached as if it were the primary (``READONLY``: a failover address not yet
    moved), a primary that lost its link (``MASTERDOWN``)."""
    if isinstance(exc, redis_errors.ReadOnlyError | redis_errors.MasterDownError):
        return True
    return isinstance(exc, redis_errors.ResponseError) and str(exc).startswith("NOREPLICAS")


def store_of(exc: BaseException, stores: tuple[str, ...] = ()) -> str | None:
    """The store whose loss ``exc`` shows, or None (not a lost store: a bug or a refusal).
    The one answer to "is a store down?": the loops' back-off and the api's 503 ask it, and
    it reads the errors of asyncpg used directly (the row reader) too.

    redis-py wraps its socket errors in its own ``ConnectionError`` / ``TimeoutError`` (a
    Redis still loading its append-only file answers ``BusyLoadingError``, one of them);
    SQLAlchemy wraps the driver's (``DBAPIError``), asyncpg used directly raises its own (a
    broken protocol state, or a SQLSTATE of a database that cannot serve now); a bare
    ``OSError`` / ``TimeoutError`` comes from the database driver or a timeout around a
    transaction, so it counts against the database when the caller uses one (``stores``:
    the stores it uses, the database first if any). An error raised from a lost connection
    (its ``__cause__`` an ``OSError``) counts as that loss.
    """
    if isinstance(exc, BackendUnavailable):
        return DATABASE if exc.component == "PostgreSQL" else REDIS
    if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
        return REDIS
    if redis_refuses(exc):
        return REDIS
    if isinstance(exc, sa_errors.DBAPIError):
        if (
            exc.connection_invalidated
            or isinstance(exc, sa_errors.OperationalError | sa_errors.InterfaceError)
            or database_refuses(exc)
        ):
            return DATABASE
        return None
    if isinstance(exc, sa_errors.TimeoutError):  # no pooled connection came free
        return DATABASE
    if isinstance(exc, _ASYNCPG_LOST) or database_refuses(exc):
        return DATABASE
    if isinstance(exc, OSError | TimeoutError):
        if DATABASE in stores:
            return DATABASE
        return stores[0] if stores else None
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and cause is not exc:
        return store_of(cause, stores)
    return None


def describe(exc: BaseException) -> str:
    """One short line for a log field: never a statement's parameters (task data) or a
    traceback; a database error shows the driver's message only."""
    cause = exc.orig if isinstance(exc, sa_errors.DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def delay_seconds(
    failures: int,
    *,
    first: float = FIRST_DELAY_SECONDS,
    cap: float = MAX_DELAY_SECONDS,
    rng: random.Random | None = None,
) -> float:
    """The pause after ``failures`` failures in a row (1 = the first): ``first`` doubling up
    to ``cap``, with equal jitter so loops (and workers) that failed together spread out."""
    ceiling = min(cap, first * math.pow(2, max(0, failures - 1)))
    return ceiling / 2 + (rng or _RNG).uniform(0, ceiling / 2)


@dataclass(slots=True)
class _Open:
    started: float  # monotonic
    loop: str
    is_silent: bool = False  # a flap right after a recovery: the same outage, logged once


class Outages:
    """The outages one process sees, per store (see the module doc)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._open: dict[str, _Open] = {}
        self._ended: dict[str, float] = {}  # store -> when its last outage ended
        self._hooks: dict[str, list[Callable[[], Awaitable[object]]]] = {}

    def on_down(self, store: str, hook: Callable[[], Awaitable[object]]) -> None:
        """Run ``hook`` when an outage of ``store`` opens (drop a pool's idle connections)."""
        self._hooks.setdefault(store, []).append(hook)

    async def run_hooks(self, store: str) -> None:
        for hook in self._hooks.get(store, []):
            with contextlib.suppress(Exception):
                await hook()

    def backoff(
        self,
        loop: str,
        *stores: str,
        first_delay_seconds: float = FIRST_DELAY_SECONDS,
        max_delay_seconds: float = MAX_DELAY_SECONDS,
    ) -> Backoff:
        """The back-off of one loop that needs ``stores``."""
        return Backoff(
            self, loop, stores, first_delay_seconds=first_delay_seconds, cap=max_delay_seconds
        )

    def is_down(self, store: str) -> bool:
        return store in self._open

    def quiet_seconds(self, store: str) -> float:
        """Seconds since this process last saw ``store`` come back (0 while it is down,
        infinite if it never saw it go)."""
        if store in self._open:
            return 0.0
        ended = self._ended.get(store)
        return math.inf if ended is None else self.clock() - ended

    def down(self, store: str, exc: BaseException, loop: str) -> bool:
        """``loop`` failed on ``store``: open its outage (one warning) unless open; returns
        whether this call opened it."""
        now = self.clock()
        current = self._open.get(store)
        if current is not None:
            if current.is_silent and now - current.started >= FLAP_SECONDS:
                current.is_silent = False  # no flap: a new outage after all
                self._warn(store, exc, loop)
            return False
        ended = self._ended.get(store)
        is_flap = ended is not None and now - ended < FLAP_SECONDS
        self._open[store] = _Open(started=now, loop=loop, is_silent=is_flap)
        if not is_flap:
            self._warn(store, exc, loop)
        return True

    def _warn(self, store: str, exc: BaseException, loop: str) -> None:
        log.warning(
            "store unreachable; every loop backs off until it answers",
            extra={"store": store, "loop": loop, "error": describe(exc)},
        )

    def up(self, store: str, attempt_started: float | None = None) -> None:
        """A request to ``store`` that began at ``attempt_started`` (monotonic; None: now)
        succeeded: close its outage if it was open before that (one info line)."""
        current = self._open.get(store)
        if current is None:
            return
        if attempt_started is not None and attempt_started < current.started:
            return
        del self._open[store]
        now = self.clock()
        self._ended[store] = now
        if current.is_silent:
            return
        log.info(
            "store reachable again",
            extra={"store": store, "outage_seconds": round(now - current.started, 1)},
        )


class Backoff:
    """One loop's failures in a row, its next delay, and its reports to ``Outages``."""

    def __init__(
        self,
        outages: Outages,
        loop: str,
        stores: tuple[str, ...],
        *,
        first_delay_seconds: float = FIRST_DELAY_SECONDS,
        cap: float = MAX_DELAY_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        self.outages = outages
        self.loop = loop
        self.stores = stores
        self.first_delay_seconds = first_delay_seconds
        self.cap = cap
        self.rng = rng
        self.failures = 0
        self._is_erring = False  # failing for a reason that is no lost store
        self._opened: str | None = None  # the store whose outage the last failure opened
        self._mark = outages.clock()  # end of the previous attempt ~ start of this one

    def note(self, exc: BaseException) -> float:
        """Record a failure (logs at most once per outage or run of errors); returns the
        delay to wait before the next attempt."""
        self._mark = self.outages.clock()
        self.failures += 1
        store = store_of(exc, self.stores)
        self._opened = None
        if store is not None:
            if self.outages.down(store, exc, self.loop):
                self._opened = store
        elif not self._is_erring:
            self._is_erring = True
            log.warning(
                "loop failing; retrying with back-off",
                extra={"loop": self.loop, "error": describe(exc)},
                exc_info=exc,
            )
        return delay_seconds(
            self.failures, first=self.first_delay_seconds, cap=self.cap, rng=self.rng
        )

    async def failed(self, exc: BaseException, stop: asyncio.Event | None = None) -> None:
        """``note`` the failure, then wait its delay (less if ``stop`` is set meanwhile)."""
        delay = self.note(exc)
        if self._opened is not None:
            await self.outages.run_hooks(self._opened)
        if stop is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)

    def ok(self, *stores: str) -> None:
        """The attempt succeeded on ``stores`` (default: every store of the loop)."""
        started, self._mark = self._mark, self.outages.clock()
        self.failures = 0
        for store in stores or self.stores:
            self.outages.up(store, started)
        if self._is_erring:
            self._is_erring = False
            log.info("loop recovered", extra={"loop": self.loop})
