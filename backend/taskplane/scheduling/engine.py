"""The scheduler engine: due schedules -> broker, once each, on time, from any instance.

Why not the stock ``taskiq scheduler`` loop: it re-reads every schedule every minute, checks
every schedule every second, keeps interval bookkeeping in memory and sends every fire once
per instance. Here the state that decides a fire lives in Redis:

- ``Keys.due`` (zset, member = config id, score = next due epoch ms) is the index written by
  ``SchedulerCoreService`` on add / replace / remove. A tick reads only what is due
  (``ZRANGEBYSCORE -inf now LIMIT``), loads those ``ScheduledTask``s with one MGET and plans
  each fire with pure functions (``plan``). A tick costs O(due), never O(registered): the
  source's ``get_schedules`` is not called here.
- One Lua script per batch (``_FIRE``) does, for each planned fire, a compare-and-set on the
  due score (unchanged since it was read: not paused, removed or replaced meanwhile),
  advances or removes the score, XADDs the message (built with ``messages.build``, task id
  ``{config_id}-{due_ms}``) and LPUSHes the history event. Claim and send are one atomic
  step: a crash never loses or doubles a fire, and the next due time survives restarts, so
  a restart neither bursts nor drifts.
- Leadership: only the lease holder ticks (``state/heartbeats.SchedulerPresence``), and the
  fire script re-checks the lease (fencing), so a deposed leader that still believes it
  leads cannot send. With the CAS on the score even two leaders could not send a fire twice.
- A pause / stop / update is seen by the next tick (``scheduler_tick_ms``): it removes or
  rewrites the due score, which fails the CAS of a fire planned from the old one.

History: one ``fired`` event per sent fire (and one ``skipped`` event per overlap skip or
run of misfires). It is written inside the fire script, so it costs no extra round trip,
and the history list is capped (``history_max``) with a TTL, so per-fire events are cheap
enough even at 100,000 schedules.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError
from redis.asyncio import Redis
from taskiq import ScheduledTask

from taskplane import metrics
from taskplane.enums import Event, SchedulerType, Trigger
from taskplane.epoch import from_ms, to_ms
from taskplane.outage import REDIS, Outages
from taskplane.scheduling import specs
from taskplane.scheduling.core import schedule_id
from taskplane.settings import Settings
from taskplane.state.heartbeats import SchedulerPresence
from taskplane.state.keys import Keys
from taskplane.state.schedule_state import HistoryEvent
from taskplane.worker import messages

log = logging.getLogger(__name__)

ON_TIME_SECONDS = 2.0
"""A fire sent at most this late is on time, whatever the misfire policy; later is a miss."""
BATCH_SIZE = 500
"""Schedules planned and fired per Lua call; a full batch is followed at once by the next."""
_MAX_CATCH_UP_STEPS = 10_000


class Clock(Protocol):
    """Where the engine reads the time: the system clock, or a fake one in tests."""

    def now(self) -> datetime:
        """The current instant, aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Completer(Protocol):
    """Told when a date schedule has had its one fire (sent or skipped as a misfire)."""

    async def complete(self, config_id: int) -> Any: ...


# --- planning (pure) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with one due schedule at ``now``.

    ``fire_at``: the due instant to send now (None: send nothing). ``missed``: how many due
    instants are dropped by the misfire policy (``first_missed_at`` the earliest of them).
    ``next_due``: the score to store (None: the schedule is finished; remove it).
    """

    fire_at: datetime | None
    next_due: datetime | None
    missed: int = 0
    first_missed_at: datetime | None = None


@functools.lru_cache(maxsize=4096)
def _next_cron(spec: specs.Spec, after: datetime) -> datetime | None:
    # Cron maths costs ~0.4 ms a call; schedules sharing an expression and a due time (all
    # the "every minute" ones) share one computation per tick.
    return specs.next_after(spec, after)


def next_after(spec: specs.Spec, after: datetime) -> datetime | None:
    """``specs.next_after``, memoized for cron."""
    if spec.kind is SchedulerType.CRON:
        return _next_cron(spec, after)
    return specs.next_after(spec, after)


def next_due_after(spec: specs.Spec, at: datetime) -> datetime | None:
    """The next fire strictly after ``at`` at the due index's resolution (whole ms).

    A fire time inside the same millisecond is not a new fire: a date whose ``run_at`` had
    sub-millisecond digits is stored rounded down, so ``next_after`` of its stored due time
    is the ``run_at`` itself. Storing that as the next score would leave the score unchanged,
    the fire script's compare-and-set would pass again on every tick, and the one fire would
    be sent forever (seen in dev mode with a ``run_date`` carrying microseconds).
    """
    nxt = next_after(spec, at)
    while nxt is not None and to_ms(nxt) <= to_ms(at):
        nxt = next_after(spec, nxt)
    return nxt


def latest_due(spec: specs.Spec, due_at: datetime, now: datetime) -> tuple[datetime, int]:
    """The last due instant <= ``now`` from ``due_at`` on (``due_at`` itself if later), and
    how many due instants come before it. Intervals are O(1); cron walks its fire times,
    jumping close to ``now`` after a long outage."""
    if now <= due_at:
        return due_at, 0
    if spec.kind is SchedulerType.INTERVAL:
        assert spec.interval_seconds is not None
        step_ms = spec.interval_seconds * 1000
        k = (to_ms(now) - to_ms(due_at)) // step_ms
        return from_ms(to_ms(due_at) + k * step_ms), int(k)
    if spec.kind is not SchedulerType.CRON:
        return due_at, 0
    latest, before = due_at, 0
    for _ in range(_MAX_CATCH_UP_STEPS):
        nxt = next_after(spec, latest)
        if nxt is None or nxt > now:
            return latest, before
        latest, before = nxt, before + 1
    # An outage of more than _MAX_CATCH_UP_STEPS fires: find the last fire before now
    # from a window that holds every fire a misfire policy could still send.
    window = timedelta(seconds=max(spec.misfire_grace_seconds, ON_TIME_SECONDS) + 1)
    probe = next_after(spec, now - window)
    while probe is not None and probe <= now:
        latest, before = probe, before + 1
        probe = next_after(spec, probe)
    return latest, before


def plan(
    spec: specs.Spec,
    due_at: datetime,
    now: datetime,
    *,
    on_time_seconds: float = ON_TIME_SECONDS,
) -> Plan:
    """Apply the misfire policy to a schedule whose stored due time is ``due_at``.

    Fires that fell due while no scheduler ran collapse to the latest one (never a burst).
    It is sent if it is at most ``on_time_seconds`` late; if later, it is sent as the one
    catch-up fire under ``misfire: once`` when within ``misfire_grace_seconds``, and dropped
    otherwise (and always under ``misfire: skip``). The next due time is anchored on the
    schedule's own cadence, so the cadence goes on after any outage.
    """
    latest, before = latest_due(spec, due_at, now)
    next_due = next_due_after(spec, latest)
    lateness = (now - latest).total_seconds()
    on_time = lateness <= on_time_seconds
    catch_up = spec.misfire == "once" and lateness <= spec.misfire_grace_seconds
    if on_time or catch_up:
        return Plan(
            fire_at=latest,
            next_due=next_due,
            missed=before,
            first_missed_at=due_at if before else None,
        )
    return Plan(fire_at=None, next_due=next_due, missed=before + 1, first_missed_at=due_at)


# --- the fire script ---------------------------------------------------------------------

_GROUP = 7  # ARGV per item
_KEYS_PER_ITEM = 3  # stream, history, running

# KEYS: due, leader, then per item: stream, history, running.
# ARGV: instance id ('' = no fencing), history_max, history_ttl_seconds, then per item:
#   config id, expected score, next score ('' = remove), body ('' = send nothing),
#   fired event, overlap event ('' = no overlap check), misfire event ('' = none).
# Returns per item: 0 = score changed (not ours any more), 1 = sent, 2 = skipped by overlap,
# 3 = nothing to send (misfire skip, dropped). {-1} alone: this instance does not lead.
_FIRE = """
local due = KEYS[1]
local me = ARGV[1]
if me ~= '' and redis.call('GET', KEYS[2]) ~= me then
  return {-1}
end
local hmax = tonumber(ARGV[2])
local ttl = ARGV[3]
local out = {}
local n = (#ARGV - 3) / 7
local function push(key, event)
  redis.call('LPUSH', key, event)
  redis.call('LTRIM', key, 0, hmax - 1)
  redis.call('EXPIRE', key, ttl)
end
for i = 0, n - 1 do
  local a = 3 + i * 7
  local k = 2 + i * 3
  local cid = ARGV[a + 1]
  local cur = redis.call('ZSCORE', due, cid)
  if (not cur) or tonumber(cur) ~= tonumber(ARGV[a + 2]) then
    out[#out + 1] = 0
  else
    if ARGV[a + 3] == '' then
      redis.call('ZREM', due, cid)
    else
      redis.call('ZADD', due, ARGV[a + 3], cid)
    end
    if ARGV[a + 7] ~= '' then
      push(KEYS[k + 2], ARGV[a + 7])
    end
    local status = 3
    if ARGV[a + 4] ~= '' then
      if ARGV[a + 6] ~= '' and redis.call('SCARD', KEYS[k + 3]) > 0 then
        push(KEYS[k + 2], ARGV[a + 6])
        status = 2
      else
        redis.call('XADD', KEYS[k + 1], '*', 'data', ARGV[a + 4])
        push(KEYS[k + 2], ARGV[a + 5])
        status = 1
      end
    end
    out[#out + 1] = status
  end
end
return out
"""

SENT, OVERLAP_SKIPPED, NOTHING_SENT, LOST = 1, 2, 3, 0


def _event(kind: Event, at: datetime, details: dict[str, Any]) -> str:
    """A history event in the state service's format (docs/internals.md)."""
    return HistoryEvent(event=str(kind), timestamp=at, note=None, details=details).to_json()


@dataclass(frozen=True, slots=True)
class _Item:
    config_id: int
    score: str
    next_score: str
    body: str
    queue: str
    fired_event: str
    overlap_event: str
    misfire_event: str
    plan: Plan
    is_date: bool


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one tick did: ``read`` due entries, ``sent`` fires, ``skipped`` by policy."""

    read: int = 0
    sent: int = 0
    skipped: int = 0
    lost: int = 0
    is_leader: bool = True


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
    ) -> None:
        self.redis = redis
        self.outages = outages or Outages()
        self.keys = keys
        self.presence = presence
        self.completer = completer
        self.clock: Clock = clock or SystemClock()
        self.tick_ms = tick_ms
        self.heartbeat_interval_seconds = heartbeat_interval_seconds
        self.history_max = history_max
        self.history_ttl_seconds = history_ttl_seconds
        self.batch_size = batch_size
        self.on_time_seconds = on_time_seconds
        self._fire = redis.register_script(_FIRE)
        self._completions: set[asyncio.Task[None]] = set()

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
        )

    # --- one pass ------------------------------------------------------------------------

    async def tick(self) -> TickResult:
        """Fire everything due now, batch by batch; returns the totals."""
        total = TickResult()
        while True:
            result = await self._tick_batch()
            total = TickResult(
                read=total.read + result.read,
                sent=total.sent + result.sent,
                skipped=total.skipped + result.skipped,
                lost=total.lost + result.lost,
                is_leader=result.is_leader,
            )
            if not result.is_leader or result.read < self.batch_size:
                return total

    async def _tick_batch(self) -> TickResult:
        now = self.clock.now()
        rows: list[Any] = await self.redis.zrangebyscore(
            self.keys.due, "-inf", to_ms(now), start=0, num=self.batch_size, withscores=True
        )
        if not rows:
            return TickResult()
        ids: list[tuple[int, str, float]] = []
        for member, score in rows:
            try:
                ids.append((int(member), str(member), score))
            except ValueError:
                log.warning("ignoring a non-numeric member of the due index", extra={"m": member})
        raws = await self.redis.mget([self.keys.source_data(schedule_id(c)) for c, _, _ in ids])
        items = [
            item
            for (cid, member, score), raw in zip(ids, raws, strict=True)
            if (item := self._prepare(cid, member, score, raw, now)) is not None
        ]
        if not items:
            return TickResult(read=len(rows))
        return await self._send(items, read=len(rows))

    def _prepare(
        self, cid: int, member: str, score: float, raw: Any, now: datetime
    ) -> _Item | None:
        score_text = _score_text(score)
        due_at = from_ms(score)
        if raw is None:
            # Removed between our two reads (its score is gone too, so the CAS fails), or an
            # index entry without data: drop it, once, through the same CAS.
            return _Item(cid, score_text, "", "", "", "", "", "", Plan(None, None), False)
        try:
            task = ScheduledTask.model_validate_json(raw)
            spec = specs.from_labels(task.labels)
            labels = task.labels
            the_plan = plan(spec, due_at, now, on_time_seconds=self.on_time_seconds)
        except (ValidationError, ValueError, KeyError, TypeError):
            log.exception(
                "unreadable registered schedule; dropped from the due index",
                extra={"config_id": cid},
            )
            error = _event(Event.ERROR, now, {"reason": "unreadable schedule"})
            return _Item(cid, score_text, "", "", "", "", "", error, Plan(None, None), False)
        body = queue = fired = overlap = ""
        if the_plan.fire_at is not None:
            fire_at = the_plan.fire_at
            task_id = f"{cid}-{to_ms(fire_at)}"
            queue = str(labels.get("queue") or "default")
            timeout = labels.get("timeout_seconds")
            out = messages.build(
                config_id=cid,
                task_type=str(labels["task_type"]),
                queue=queue,
                parameters=task.kwargs,
                trigger=Trigger.SCHEDULED,
                max_retries=int(labels.get("max_retries") or 0),
                timeout_seconds=int(timeout) if timeout is not None else None,
                priority=int(labels.get("priority") or 0),
                due_at=fire_at,
                task_id=task_id,
            )
            body = out.body.decode()
            details: dict[str, Any] = {
                "due_at": fire_at.isoformat(),
                "trigger": str(Trigger.SCHEDULED),
                "task_id": task_id,
            }
            if the_plan.missed:
                details["catch_up"] = True
            fired = _event(Event.FIRED, now, details)
            if spec.overlap == "skip":
                overlap = _event(Event.SKIPPED, now, {**details, "reason": "overlap"})
        misfire = ""
        if the_plan.missed:
            assert the_plan.first_missed_at is not None
            misfire = _event(
                Event.SKIPPED,
                now,
                {
                    "reason": "misfire",
                    "missed": the_plan.missed,
                    "due_at": the_plan.first_missed_at.isoformat(),
                    "policy": spec.misfire,
                },
            )
        next_score = str(to_ms(the_plan.next_due)) if the_plan.next_due is not None else ""
        return _Item(
            cid,
            score_text,
            next_score,
            body,
            queue,
            fired,
            overlap,
            misfire,
            the_plan,
            spec.kind is SchedulerType.DATE,
        )

    async def _send(self, items: Sequence[_Item], *, read: int) -> TickResult:
        keys: list[str] = [self.keys.due, self.keys.scheduler_leader]
        args: list[str | int] = [
            self.presence.id if self.presence is not None else "",
            self.history_max,
            self.history_ttl_seconds,
        ]
        for it in items:
            keys += [
                self.keys.broker_stream(it.queue or "default"),
                self.keys.history(it.config_id),
                self.keys.running(it.config_id),
            ]
            args += [
                it.config_id,
                it.score,
                it.next_score,
                it.body,
                it.fired_event,
                it.overlap_event,
                it.misfire_event,
            ]
        statuses: list[int] = await self._fire(keys=keys, args=args)
        sent_at = self.clock.now()
        if statuses == [-1]:
            if self.presence is not None:
                self.presence.is_leader = False
                metrics.SCHEDULER_IS_LEADER.set(0)
            log.warning("lost the scheduler lease; batch not sent")
            return TickResult(read=read, is_leader=False)
        sent = skipped = lost = 0
        finished: list[int] = []
        for it, status in zip(items, statuses, strict=True):
            if status == LOST:
                lost += 1
                continue
            if it.plan.missed:
                skipped += it.plan.missed
                metrics.FIRES_SKIPPED.labels(reason="misfire").inc(it.plan.missed)
            if status == SENT:
                sent += 1
                metrics.FIRES_SENT.labels(trigger=str(Trigger.SCHEDULED)).inc()
                assert it.plan.fire_at is not None
                metrics.DISPATCH_LAG.observe(max(0.0, (sent_at - it.plan.fire_at).total_seconds()))
                log.debug("fired", extra={"config_id": it.config_id})
            elif status == OVERLAP_SKIPPED:
                skipped += 1
                metrics.FIRES_SKIPPED.labels(reason="overlap").inc()
            if it.is_date and not it.next_score:
                finished.append(it.config_id)
        if finished and self.completer is not None:
            # Off the tick: completing takes the service's per-config lock, which must not
            # hold up the fires of other schedules.
            job = asyncio.create_task(self._complete_all(finished), name="complete-dates")
            self._completions.add(job)
            job.add_done_callback(self._completions.discard)
        return TickResult(read=read, sent=sent, skipped=skipped, lost=lost)

    async def drain(self) -> None:
        """Wait for the date completions started by earlier ticks."""
        while self._completions:
            await asyncio.gather(*list(self._completions), return_exceptions=True)

    async def _complete_all(self, config_ids: Sequence[int]) -> None:
        await asyncio.gather(*(self._complete(cid) for cid in config_ids))

    async def _complete(self, config_id: int) -> None:
        if self.completer is None:
            return
        try:
            await self.completer.complete(config_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("completing a date schedule failed", extra={"config_id": config_id})

    # --- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Hold the lease (or wait for it), beat, and tick while leading, until ``stop``."""
        presence = self.presence
        if presence is None:
            raise RuntimeError("Engine.run needs a SchedulerPresence")
        keeper = asyncio.create_task(self._keep_presence(presence, stop), name="scheduler-lease")
        guard = self.outages.backoff("scheduler-tick", REDIS)
        try:
            while not stop.is_set():
                if presence.is_leader:
                    try:
                        result = await self.tick()
                    except Exception as exc:
                        await guard.failed(exc, stop)  # one warning per outage (outage.py)
                        continue
                    guard.ok()
                    if result.is_leader and result.read >= self.batch_size:
                        continue  # a backlog: no pause between full batches
                await _wait(stop, self.tick_ms / 1000)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.drain(), timeout=10)
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(Exception):
                await presence.leave()
            metrics.SCHEDULER_IS_LEADER.set(0)
            log.info("scheduler stopped", extra={"instance": presence.id})

    async def _keep_presence(self, presence: SchedulerPresence, stop: asyncio.Event) -> None:
        # Renew several times per lease, so a slow round trip never lets it lapse; a
        # follower polls as often, so it takes over soon after a dead leader's lease ends.
        lease_period = presence.lease_ms / 1000 / 5
        loop = asyncio.get_running_loop()
        next_beat = 0.0
        guard = self.outages.backoff("scheduler-lease", REDIS)
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
                if loop.time() >= next_beat:
                    await presence.beat()
                    next_beat = loop.time() + self.heartbeat_interval_seconds
            except Exception as exc:
                # the lease may run out meanwhile: fire nothing until it is held again
                presence.is_leader = False
                metrics.SCHEDULER_IS_LEADER.set(0)
                await guard.failed(exc, stop)
                continue
            guard.ok()
            await _wait(stop, min(lease_period, self.heartbeat_interval_seconds))


def _score_text(score: float) -> str:
    return str(int(score)) if math.isfinite(score) and score == int(score) else repr(score)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
