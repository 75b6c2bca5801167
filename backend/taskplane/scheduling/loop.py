"""The tick loop of a scheduler instance: hold the lease (or wait for it), beat, and tick
while leading, until stopped.

A standby (not leading) warms: it parses the registrations it would fire from
(``standby.Standby``), so a take-over does not start with a parse of every schedule.
The lease (``scheduler_lease_ms``) is renewed / polled every lease/5; a clean stop releases
it (hand-over at once), a crash lets it expire. A lost Redis never ends the loop: the tick
and the lease back off through the process's ``outage.Outages`` (one warning per outage),
and nothing is fired without the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from taskplane import metrics
from taskplane.outage import REDIS
from taskplane.scheduling import core
from taskplane.state.heartbeats import SchedulerPresence

if TYPE_CHECKING:
    from taskplane.scheduling.engine import Engine
    from taskplane.scheduling.pause_ends import PauseEnds

log = logging.getLogger(__name__)


async def run(engine: Engine, stop: asyncio.Event, pause_ends: PauseEnds | None = None) -> None:
    """Tick ``engine`` while this instance leads, until ``stop`` is set; each tick also
    pokes ``pause_ends`` (pauses that end by themselves, ``pause_ends.py``), whose read
    rides with the tick's due read (``core.RIDER``)."""
    presence = engine.presence
    if presence is None:
        raise RuntimeError("Engine.run needs a SchedulerPresence")
    sleep = Sleeper(stop)
    keeper = asyncio.create_task(keep_presence(engine, presence, sleep), name="scheduler-lease")
    guard = engine.outages.backoff("scheduler-tick", REDIS)
    ride = core.RIDER.set(pause_ends)  # whether a pause is due: read with each due read
    try:
        while not stop.is_set():
            if presence.is_leader:
                try:
                    result = await engine.tick()
                except Exception as exc:
                    await guard.failed(exc, stop)  # one warning per outage (outage.py)
                    continue
                guard.ok()
                if pause_ends is not None and result.is_leader:
                    pause_ends.poke()
                if result.is_leader and result.read >= engine.batch_size:
                    continue  # a backlog: no pause between full batches
            else:
                try:
                    await engine.standby.turn()  # a standby builds the templates it will fire from
                except Exception as exc:
                    await guard.failed(exc, stop)
                    continue
                guard.ok()
            await sleep(engine.tick_ms / 1000)
    finally:
        core.RIDER.reset(ride)
        stop.set()
        sleep.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(engine.drain(), timeout=10)
        if pause_ends is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pause_ends.drain(), timeout=10)
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        with contextlib.suppress(Exception):
            await presence.leave()
        metrics.SCHEDULER_IS_LEADER.set(0)
        log.info("scheduler stopped", extra={"instance": presence.id})


async def keep_presence(engine: Engine, presence: SchedulerPresence, sleep: Sleeper) -> None:
    """Renew (or try to take) the lease and beat the heartbeat until ``sleep.stop``."""
    stop = sleep.stop
    # Renew several times per lease, so a slow round trip never lets it lapse; a
    # follower polls as often, so it takes over soon after a dead leader's lease ends.
    lease_period = presence.lease_ms / 1000 / 5
    event_loop = asyncio.get_running_loop()
    next_beat = 0.0
    guard = engine.outages.backoff("scheduler-lease", REDIS)
    while not stop.is_set():
        was_leader = presence.is_leader
        try:
            is_leader = await presence.hold_lease()
            if is_leader != was_leader:
                metrics.SCHEDULER_IS_LEADER.set(1 if is_leader else 0)
                log.info(
                    "scheduler leadership acquired" if is_leader else "leadership lost",
                    extra={"instance": presence.id},
                )
            if event_loop.time() >= next_beat:
                await presence.beat()
                next_beat = event_loop.time() + engine.heartbeat_interval_seconds
        except Exception as exc:
            # the lease may run out meanwhile: fire nothing until it is held again
            presence.is_leader = False
            metrics.SCHEDULER_IS_LEADER.set(0)
            await guard.failed(exc, stop)
            continue
        guard.ok()
        await sleep(min(lease_period, engine.heartbeat_interval_seconds))


class Sleeper:
    """The loop's pauses, each ended early by ``stop``: a sleep is one future and one timer,
    and the stop is watched by one task for the loop's life (``asyncio.wait_for`` makes a
    task per wait on Python 3.11, and the loop pauses ten times a second)."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self._watch: asyncio.Task[bool] | None = None

    async def __call__(self, seconds: float) -> None:
        """Until ``seconds`` have passed or ``stop`` is set (at once if it is)."""
        if self.stop.is_set():
            return
        if self._watch is None:
            self._watch = asyncio.ensure_future(self.stop.wait())
        woken = asyncio.get_running_loop().create_future()

        def wake(_: object = None) -> None:
            if not woken.done():
                woken.set_result(None)

        timer = woken.get_loop().call_later(seconds, wake)
        self._watch.add_done_callback(wake)
        try:
            await woken
        finally:
            timer.cancel()
            self._watch.remove_done_callback(wake)

    def close(self) -> None:
        """Stop watching (the loop has ended)."""
        if self._watch is not None:
            self._watch.cancel()
