"""Pauses that end by themselves (API.md, "Pause until"): the leading scheduler's part.

Each tick of the leader pokes ``PauseEnds`` (``loop.run``, one call). Whether any pause is
due is read with the tick's due read, in the same write (``PauseEnds`` is the loop's
``core.RIDER``: a ZRANGEBYSCORE ... LIMIT 1 on the timer zset), so a tick with none due
costs no round trip of its own; when one is, the poke reads the pauses due to end
(``state.pause_timer.PauseTimer.due``: one ZRANGEBYSCORE ... LIMIT on the timer zset)
and resumes each through ``SchedulerService.end_pause``, off the tick (a resume takes the
config's lock and reads its row, which must not hold up the fires of other schedules), one
job at a time.

Exactly once, however many schedulers run: the resume runs under the config's lock and is
the state's compare-and-set transition paused -> active guarded by the stored
``paused_until`` (``expect_paused_until``), so a second scheduler, a stale timer entry (the
config was resumed, stopped or paused again meanwhile) or a replayed one changes nothing; a
stale entry is then dropped. A resume or stop before the time clears the timer in the
script of its own status change. The ``resumed`` event's details say
``{"paused_until", "reason": "pause ended"}``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db import configs
from taskplane.scheduling.planning import Clock, SystemClock
from taskplane.state.pause_timer import PauseTimer

if TYPE_CHECKING:
    from taskplane.scheduling.service import SchedulerService

log = logging.getLogger(__name__)

BATCH = 100
"""Pauses ended per job; a full batch is followed by the next job at the next tick."""


class PauseEnds:
    """Ends the pauses whose ``until`` has come (see the module doc)."""

    def __init__(
        self,
        scheduler: SchedulerService,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock | None = None,
        batch: int = BATCH,
    ) -> None:
        self.scheduler = scheduler
        self.sessions = sessions
        self.clock: Clock = clock or SystemClock()
        self.batch = batch
        self.timer = PauseTimer(scheduler.redis, scheduler.keys)
        self._job: asyncio.Task[int] | None = None
        self._is_due: bool | None = None  # what the last ride read; None: not read since

    def command(self) -> tuple[str | int, ...]:
        """The ride on the tick's due read (``core.Rider``): is any pause due to end now?"""
        return self.timer.any_due_command(self.clock.now())

    def answer(self, reply: Any) -> None:
        self._is_due = bool(reply)

    def poke(self) -> None:
        """Start a job ending the due pauses, unless one is still running or the ride of
        this tick's due read found none due (the loop's one call per tick)."""
        is_due, self._is_due = self._is_due, None
        if is_due is False:
            return
        if self._job is None or self._job.done():
            self._job = asyncio.create_task(self._guarded(), name="pause-ends")

    async def drain(self) -> None:
        """Wait for the running job, if any."""
        if self._job is not None:
            await asyncio.gather(self._job, return_exceptions=True)

    async def _guarded(self) -> int:
        try:
            return await self.end_due()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lost store: the next tick tries again
            log.warning("ending due pauses failed", extra={"error": type(exc).__name__})
            return 0

    async def end_due(self) -> int:
        """End every pause due by now (up to ``batch``); returns how many were resumed."""
        due = await self.timer.due(self.clock.now(), self.batch)
        if not due:
            return 0
        async with self.sessions() as session:
            rows = await configs.get_many(session, {cid for cid, _ in due})
        ended = 0
        for config_id, until in due:
            row = rows.get(config_id)
            result = None if row is None else await self.scheduler.end_pause(row, until)
            if result is None:  # stale, or the config is gone: drop the entry
                await self.timer.drop(config_id, until, is_gone=row is None)
                continue
            ended += 1
            log.info(
                "pause ended",
                extra={"config_id": config_id, "status": str(result.status)},
            )
        return ended
