"""The scheduler engine: due schedules -> broker, once each, on time, from any instance.

Why not the stock ``taskiq scheduler`` loop: it re-reads every schedule every minute, checks
every schedule every second, keeps interval bookkeeping in memory and sends every fire once
per instance. Here the state that decides a fire lives in Redis:

- ``Keys.due`` (zset, member = config id, score = next due epoch ms) is the index written by
  ``SchedulerCoreService`` on add / replace / remove. A tick reads only what is due
  (``core.due_until``), loads the ``ScheduledTask``s it has no template for with one MGET
  (``core.raw_many``; each is parsed once into a ``templates.Prepared``) and prepares each fire
  with pure planning (``fires.Preparer``, ``planning``). A tick costs O(due), never
  O(registered): the source's ``get_schedules`` is not called here.
- One Lua script per batch (``scripts.FIRE``) does, for each fire, a compare-and-set on the
  due score (unchanged since it was read: not paused, removed or replaced meanwhile),
  advances or removes the score, XADDs the message and pushes the history event (the state
  service's ``PUSH_EVENT`` fragment). Claim and send are one atomic step: a crash never loses
  or doubles a fire, and the next due time survives restarts, so a restart neither bursts
  nor drifts.
- Leadership: only the lease holder ticks (``loop.run``, ``state/heartbeats.SchedulerPresence``),
  and the fire script re-checks the lease (fencing), so a deposed leader that still believes
  it leads cannot send. With the CAS on the score even two leaders could not send a fire twice.
- A pause / stop / update is seen by the next tick (``scheduler_tick_ms``): it removes or
  rewrites the due score, which fails the CAS of a fire planned from the old one. A fire
  planned from a kept template is sent only while the stored registration has the value the
  template was made from (checked in the script); else it is read again by the next tick.

Exclusions, requested skips and jitter: ``calendar_fires`` plans (and reads) for the
schedules that have them; the others' fires cost what they did.

History: one ``fired`` event per sent fire (and one ``skipped`` event per overlap skip or
run of misfires), written inside the fire script, so it costs no extra round trip; the
history list is capped (``history_max``) with a TTL.

Traces (``tracing``, given only when they are on): the templates carry the fire span's
``traceparent`` (``templates.Registrations``), and once a batch's script has answered, a span
per fire sent or skipped for overlap (``_trace``): one check per batch when off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from taskplane import messages, metrics
from taskplane.epoch import to_us
from taskplane.outage import Outages
from taskplane.scheduling import loop, scripts, tick
from taskplane.scheduling.calendar_fires import CalendarFires
from taskplane.scheduling.completions import Completer, Completions
from taskplane.scheduling.core import DueBatch, SchedulerCoreService
from taskplane.scheduling.evalsha import Command, RawScript
from taskplane.scheduling.fires import (
    FLAG_CATCH_UP,
    KEPT,
    Fire,
    Now,
    Preparer,
)
from taskplane.scheduling.planning import ON_TIME_SECONDS, Clock, SystemClock
from taskplane.scheduling.standby import Standby
from taskplane.scheduling.templates import FireKeys, Registrations
from taskplane.scheduling.tick import Batch, TickResult
from taskplane.settings import Settings
from taskplane.state import heartbeats, running
from taskplane.state.heartbeats import SchedulerPresence
from taskplane.state.history import format_instant
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import ScheduleStateService
from taskplane.state.skips import SkipStore

if TYPE_CHECKING:
    from taskplane.scheduling.pause_ends import PauseEnds
    from taskplane.tracing.provider import Tracing

log = logging.getLogger(__name__)

BATCH_SIZE = 500
"""Schedules planned and fired per Lua call; a full batch is followed at once by the next."""

SENT, OVERLAP_SKIPPED, NOTHING_SENT, LOST, CHANGED = 1, 2, 3, 0, 4
NOT_LEADING, SKIPS_CHANGED = [-1], [-2]


Loaded = tuple[list[Any], dict[int, int]]
"""A batch's registrations (``fires.KEPT`` for kept ones) and its jittered dues."""


class Engine:
    """Fires due schedules. ``tick()`` does one pass (used by tests with a fake clock);
    ``run(stop)`` keeps the lease and heartbeat and ticks until ``stop`` is set."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        presence: SchedulerPresence | None = None,
        completer: Completer | None = None,
        clock: Clock | None = None,
        tick_ms: int = 100,
        heartbeat_interval_seconds: float = 2.0,
        history_max: int = 200,
        history_ttl_seconds: int = 30 * 86400,
        batch_size: int = BATCH_SIZE,
        on_time_seconds: float = ON_TIME_SECONDS,
        outages: Outages | None = None,
        state: ScheduleStateService | None = None,
        core: SchedulerCoreService | None = None,
        tracing: Tracing | None = None,
        templates_max: int = 2_000_000,
    ) -> None:
        self.redis = redis
        self.outages = outages or Outages()
        self.keys = keys
        self.presence = presence
        self.completer = completer
        self.clock: Clock = clock or SystemClock()
        self.tick_ms = tick_ms
        self.heartbeat_interval_seconds = heartbeat_interval_seconds
        # the process's own (taskplane/services.py) when given
        self.state = state or ScheduleStateService(
            redis, keys, history_max=history_max, history_ttl_seconds=history_ttl_seconds
        )
        self.core = core or SchedulerCoreService(redis, keys)
        self.batch_size = batch_size
        self.on_time_seconds = on_time_seconds
        self.fire_script = RawScript(redis, scripts.FIRE)
        self._lease_key = heartbeats.lease_key(keys)
        self.tracing = tracing
        self._streams: dict[str, str] = {}
        self.registrations = Registrations(self._keys_of, templates_max, tracing=tracing)
        self.standby = Standby(redis, self.core, self.registrations)
        self.skips = SkipStore(redis, keys)
        self.calendar = CalendarFires(on_time_seconds, self.skips, self.core, self.registrations)
        keys_ = (self.core.due_key, self._lease_key, self.skips.version_key, self.core.jittered_key)
        self._batch_keys = keys_  # scripts.BATCH_KEYS
        self._preparer = Preparer(
            self.registrations, on_time_seconds=on_time_seconds, calendar=self.calendar
        )
        self._completions = Completions(completer)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        redis: Redis,
        *,
        completer: Completer | None = None,
        clock: Clock | None = None,
        instance_id: str | None = None,
        outages: Outages | None = None,
        state: ScheduleStateService | None = None,
        core: SchedulerCoreService | None = None,
        tracing: Tracing | None = None,
    ) -> Engine:
        keys = Keys(settings.redis_prefix)
        presence = SchedulerPresence(
            redis,
            keys,
            instance_id=instance_id,
            lease_ms=settings.scheduler_lease_ms,
            stale_seconds=settings.heartbeat_stale_seconds,
        )
        return cls(
            redis,
            keys,
            presence=presence,
            completer=completer,
            clock=clock,
            tick_ms=settings.scheduler_tick_ms,
            heartbeat_interval_seconds=settings.heartbeat_interval_seconds,
            history_max=settings.history_max,
            history_ttl_seconds=settings.history_ttl_seconds,
            outages=outages,
            state=state,
            core=core,
            tracing=tracing,
            templates_max=settings.scheduler_templates_max,
        )

    # --- one pass ------------------------------------------------------------------------

    async def tick(self) -> TickResult:
        """Fire everything due now, batch by batch; returns the totals. Under a backlog the
        next batch is planned and queued while Redis fires one (``tick.py``)."""
        return await tick.tick(self)

    async def load(self, due: DueBatch) -> Loaded:
        """The registrations of a batch's entries: one MGET of those without a kept
        template (``fires.KEPT`` for the others: the fire script checks their text), and
        the recorded dues of its jittered schedules (one HMGET, when it has any)."""
        kept = self.registrations.get
        unread = [cid for cid, _ in due.entries if kept(cid) is None]
        if not unread:
            return [KEPT] * len(due.entries), await self.calendar.read_dues(due.entries, {})
        read = dict(zip(unread, await self.core.raw_many(unread), strict=True))
        dues = await self.calendar.read_dues(due.entries, read)
        return [read.get(cid, KEPT) for cid, _ in due.entries], dues

    def plan(self, due: DueBatch, loaded: Loaded, now: Now) -> Batch:
        raws, self.calendar.dues = loaded
        prepare = self._preparer.prepare
        fires = [
            prepare(cid, score, raw, now)
            for (cid, score), raw in zip(due.entries, raws, strict=True)
        ]
        return Batch(due.read, now, fires)

    def command(self, batch: Batch) -> Command | None:
        """The fire script's call for a batch (None: nothing to send)."""
        items = batch.fires
        if not items:
            return None
        keys: list[str] = [*self._batch_keys]
        args: list[str | int] = [
            self.presence.id if self.presence is not None else "",
            self.state.history_max,
            self.state.history_ttl_seconds,
            format_instant(batch.now.at),
            self.calendar.skips_version or "",
            to_us(batch.now.at),
        ]
        assert len(keys) == scripts.BATCH_KEYS and len(args) == scripts.BATCH_ARGS
        for it in items:
            keys += it.keys
            args += (
                it.config_id,
                it.score,
                it.next_score,
                it.body,
                it.fire_ms,
                it.due_iso,
                it.flags,
                it.event,
                it.sha,
            )
        return self.fire_script.command(keys, args)

    async def finish(self, batch: Batch, statuses: list[int]) -> TickResult:
        """Account for what the fire script did with a batch (its reply: ``statuses``)."""
        if not batch.fires:
            return TickResult(read=batch.read)
        items = batch.fires
        if statuses == SKIPS_CHANGED:
            await self.calendar.read_skips()
            log.debug("the skips changed; batch planned again")
            return TickResult(read=batch.read, is_refused=True)
        if statuses == NOT_LEADING:
            self.calendar.passed.clear()  # not recorded here
            if self.presence is not None:
                self.presence.is_leader = False
                metrics.SCHEDULER_IS_LEADER.set(0)
            log.warning("lost the scheduler lease; batch not sent")
            return TickResult(read=batch.read, is_leader=False)
        sent_us = Now.of(self.clock.now()).us
        sent = lost = missed = overlapped = 0
        finished: list[int] = []
        lags: list[float] = []
        if self.calendar.passed:
            await self.calendar.settle([it.config_id for it in items], statuses, NOTHING_SENT)
        for it, status in zip(items, statuses, strict=True):
            if status == LOST:
                lost += 1
                continue
            if status == CHANGED:
                self.registrations.forget(it.config_id)  # read again by the next tick
                lost += 1
                continue
            missed += it.missed
            if status == SENT:
                sent += 1
                lags.append(max(0.0, (sent_us - it.fire_ms * 1000) / 1_000_000))
            elif status == OVERLAP_SKIPPED:
                overlapped += 1
            if it.is_finished:
                finished.append(it.config_id)
        if self.tracing is not None:
            self._trace(self.tracing, items, statuses, sent_us)
        metrics.scheduled_fires_sent(lags)  # their count, and the lag of each
        if missed:
            metrics.FIRES_SKIPPED.labels(reason="misfire").inc(missed)
        if overlapped:
            metrics.FIRES_SKIPPED.labels(reason="overlap").inc(overlapped)
        log.debug("fired", extra={"sent": sent, "read": batch.read})
        self._completions.start(finished)  # off the tick (completions.py)
        return TickResult(read=batch.read, sent=sent, skipped=missed + overlapped, lost=lost)

    @staticmethod
    def _trace(tracing: Tracing, fires: list[Fire], statuses: list[int], sent_us: int) -> None:
        """A span per fire sent or skipped for overlap, with the ids its message carries."""
        for it, status in zip(fires, statuses, strict=True):
            if status in (SENT, OVERLAP_SKIPPED):
                tracing.fire_span(
                    messages.scheduled_task_id(it.config_id, it.fire_ms),
                    config_id=it.config_id,
                    due_at=it.due_iso,
                    due_ns=it.fire_ms * 1_000_000,
                    sent_ns=sent_us * 1000,
                    is_sent=status == SENT,
                    is_catch_up=FLAG_CATCH_UP in it.flags,
                )

    def _keys_of(self, config_id: int, queue: str) -> FireKeys:
        """A config's fire keys from their owners, per fire (``templates.Prepared`` has none)."""
        stream = self._streams.get(queue)
        if stream is None:
            stream = self._streams.setdefault(queue, messages.stream(self.keys, queue))
        return FireKeys(
            stream,
            self.state.event_log(config_id),
            running.key(self.keys, config_id),
            self.core.data_key(config_id),
        )

    async def drain(self) -> None:
        """Wait for the date completions started by earlier ticks."""
        await self._completions.drain()

    # --- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, pause_ends: PauseEnds | None = None) -> None:
        """Hold the lease (or wait for it), beat, and tick while leading, until ``stop``
        (``loop.run``; ``pause_ends``: the pauses that end by themselves)."""
        await loop.run(self, stop, pause_ends)
