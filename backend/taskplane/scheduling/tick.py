"""One tick of the engine: every schedule due now fired, batch by batch, with Redis kept busy.

Under a backlog (a full batch is followed at once by the next) the scheduler and Redis work
at the same time: while Redis runs the fire script of batch k, the scheduler plans batch
k+1 and queues its script behind it, then accounts for batch k. The scripts and the reads of
the due index go down one connection (``evalsha.Channel``), whose commands Redis runs in the
order sent, so a queued script starts the moment the one before it ends, never a round trip
later. On that connection::

    (read 0, read 1 on the pool) | fire 0, read 2 | fire 1 | read 3 | fire 2 | read 4 | ...

``read k+2`` is queued right behind ``fire k``: it runs when batch k has fired and batch k+1
has not, so the entries of batch k+2 are those behind batch k+1's at the head of the index
(``offset`` = what batch k+1 read). It is sent once batch k+1's entries are known, and its
reply comes back with batch k's, before batch k+2 is planned. An index changed meanwhile can
make a read skip an entry (the next tick reads it) or repeat one of the batch before (dropped
here; were it not, its compare-and-set would fail): the fire script's compare-and-set on the
due score keeps every fire to one send, whatever is read twice.

A batch refused (the lease lost, the skips changed) ends the tick after the batch queued
behind it has answered too. A Redis without the fire script answers NOSCRIPT: the script is
loaded and the tick starts again, once (what the refused batches read is still due).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from taskplane.scheduling.core import DueBatch
from taskplane.scheduling.evalsha import Channel
from taskplane.scheduling.fires import Fire, Now

if TYPE_CHECKING:
    from taskplane.scheduling.engine import Engine


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one tick did: ``read`` due entries, ``sent`` fires, ``skipped`` by policy."""

    read: int = 0
    sent: int = 0
    skipped: int = 0
    lost: int = 0
    is_leader: bool = True
    is_refused: bool = False  # the skips changed since the copy the batch was planned with

    def __add__(self, later: TickResult) -> TickResult:
        """Two batches' totals (leadership and refusal as the later one says)."""
        return TickResult(
            read=self.read + later.read,
            sent=self.sent + later.sent,
            skipped=self.skipped + later.skipped,
            lost=self.lost + later.lost,
            is_leader=later.is_leader,
            is_refused=later.is_refused,
        )

    @property
    def is_stopped(self) -> bool:
        """The batch was refused: nothing more is sent in this tick."""
        return not self.is_leader or self.is_refused


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch of due entries (``read`` of them) as planned at ``now``."""

    read: int
    now: Now
    fires: list[Fire]


@dataclass(frozen=True, slots=True)
class Ahead:
    """The entries of a batch not yet planned, read at ``now``."""

    due: DueBatch
    now: Now


async def tick(engine: Engine) -> TickResult:
    """Fire everything due now (``Engine.tick``)."""
    try:
        return await _tick(engine)
    except NoScriptError:
        await engine.fire_script.load()  # Redis restarted or flushed: the batch did nothing
        return await _tick(engine)


async def _tick(engine: Engine) -> TickResult:
    total = TickResult()
    if engine.calendar.skips_version is None:
        await engine.calendar.read_skips()
    size = engine.batch_size
    now = Now.of(engine.clock.now())
    due = await engine.core.due_until(now.at, size)
    if not due.read:
        return total
    batch = await _plan(engine, Ahead(due, now))
    upcoming: Ahead | None = None
    if due.read >= size:  # a full batch: the next one is read before this one is sent
        at = Now.of(engine.clock.now())
        upcoming = Ahead(_after(due, await engine.core.due_until(at.at, size, offset=due.read)), at)
    async with Channel(engine.redis) as channel:
        command = engine.command(batch)
        if command is None:
            return total + await engine.finish(batch, [])
        reading = _read_behind(engine, upcoming)
        await channel.send(command, *([reading.command] if reading else []))
        while True:
            queued: Batch | None = None
            if upcoming is not None and upcoming.due.entries:
                queued = await _plan(engine, upcoming)  # meanwhile, Redis fires `batch`
                if (queued_command := engine.command(queued)) is not None:
                    await channel.send(queued_command)
                else:
                    queued = None
            statuses = await channel.read()
            following: Ahead | None = None
            if reading is not None and upcoming is not None:
                following = Ahead(
                    _after(upcoming.due, engine.core.due_reply(await channel.read())), reading.now
                )
            total += await engine.finish(batch, statuses)
            if queued is None:
                return total
            if total.is_stopped:  # the batch queued behind is refused too, or fired: see
                return total + await engine.finish(queued, await channel.read())
            batch, upcoming = queued, following
            reading = _read_behind(engine, upcoming)
            if reading is not None:
                await channel.send(reading.command)


@dataclass(frozen=True, slots=True)
class _Reading:
    command: tuple[Any, ...]
    now: Now


def _read_behind(engine: Engine, upcoming: Ahead | None) -> _Reading | None:
    """The read of the batch behind ``upcoming`` (None: ``upcoming`` is the last one)."""
    if upcoming is None or upcoming.due.read < engine.batch_size:
        return None
    now = Now.of(engine.clock.now())
    return _Reading(engine.core.due_command(now.at, engine.batch_size, upcoming.due.read), now)


async def _plan(engine: Engine, ahead: Ahead) -> Batch:
    return engine.plan(ahead.due, await engine.load(ahead.due), ahead.now)


def _after(before: DueBatch, ahead: DueBatch) -> DueBatch:
    """``ahead`` without the entries of ``before`` (read twice: the index changed)."""
    current = {cid for cid, _ in before.entries}
    return DueBatch(ahead.read, [entry for entry in ahead.entries if entry[0] not in current])
