"""SchedulerCoreService: a config becomes a TaskIQ ``ScheduledTask`` in Redis.

Layout (the taskiq-redis ``ListRedisScheduleSource`` layout with the JSON serializer, under
``Keys.schedule_source_prefix``, so the stock source can read it):
    '{p}source:data:{schedule_id}'   JSON ScheduledTask
    '{p}source:cron' / ':interval'    lists of schedule ids
    '{p}source:time:{YYYY-MM-DDTHH:MM}'  list of date schedule ids of that minute
plus the due index ``Keys.due`` (zset, member = config id, score = next due epoch ms) that
the engine reads. One deterministic schedule id per config: ``taskplane-config-{id}``.

Duties: add / replace / remove write the data key, the list membership and the due score in
ONE MULTI (WATCH on the data key, so the old list entry removed is the one stored), so a
replace has no moment in which the schedule is absent or doubled. Core knows nothing of
status: that is the state service's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import WatchError
from taskiq import ScheduledTask
from taskiq.serializers import JSONSerializer

from taskplane import messages
from taskplane.enums import SchedulerType, Trigger
from taskplane.epoch import from_ms, to_ms
from taskplane.scheduling import specs
from taskplane.scheduling.specs import Spec
from taskplane.state.keys import Keys

log = logging.getLogger(__name__)

SCHEDULE_ID_PREFIX = "taskplane-config-"
_SERIALIZER = JSONSerializer()

# KEYS: 1 due zset. ARGV: 1 config id, 2 new score, 3 keep overdue ('1'/'0'), 4 now ms.
# Sets the due score, except that with keep-overdue an existing score that is already due
# (an unclaimed fire) is kept, so a replace never drops a fire the engine has not sent yet.
_SET_DUE = """
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ARGV[3] == '1' and cur and tonumber(cur) <= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""


def schedule_id(config_id: int) -> str:
    return f"{SCHEDULE_ID_PREFIX}{config_id}"


def config_id_of(schedule_id_: str) -> int | None:
    if not schedule_id_.startswith(SCHEDULE_ID_PREFIX):
        return None
    rest = schedule_id_[len(SCHEDULE_ID_PREFIX) :]
    return int(rest) if rest.isdigit() else None


class ConfigLike(Protocol):
    """What core reads of a config (``db.models.TaskConfig`` has it)."""

    @property
    def id(self) -> int: ...
    @property
    def task_type(self) -> str: ...
    @property
    def scheduler_type(self) -> SchedulerType | str: ...
    @property
    def schedule_config(self) -> Mapping[str, Any]: ...
    @property
    def parameters(self) -> Mapping[str, Any]: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def timeout_seconds(self) -> int | None: ...
    @property
    def priority(self) -> int: ...


class TaskTypeLike(Protocol):
    """What core reads of a task type (``tasks.registry.TaskType`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def timeout_seconds(self) -> int | None: ...


class TaskTypeLookup(Protocol):
    """``tasks.registry.TaskRegistry``: ``get`` raises NotFound for an unknown name."""

    def get(self, name: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class DueBatch:
    """Entries of the due index read at once: ``read`` counts every member read (a
    non-numeric one is logged and left out of ``entries``: (config id, score))."""

    read: int
    entries: list[tuple[int, float]]


@dataclass(frozen=True, slots=True)
class Registered:
    """One config's registration as the read model sees it: ``is_registered`` (a data key
    exists, readable or not), the stored task (None if absent or unreadable), the due time."""

    is_registered: bool
    task: ScheduledTask | None
    next_due: datetime | None


@dataclass(frozen=True, slots=True)
class Registration:
    config_id: int
    schedule_id: str
    spec: Spec
    first_due: datetime


def first_due(spec: Spec, now: datetime) -> datetime | None:
    """When a schedule registered at ``now`` is first due: the next cron time, now +
    interval (an immediate run, if any, is sent by the service), or the date itself."""
    if spec.kind is SchedulerType.DATE:
        return spec.run_at if spec.run_at is not None and spec.run_at > now else None
    return specs.next_after(spec, now)


def run_labels(
    config: ConfigLike, task_type: TaskTypeLike, trigger: Trigger, due_at: datetime | None = None
) -> messages.RunLabels:
    """The broker message labels of a run of a config (``messages.RunLabels``)."""
    return messages.RunLabels(
        config_id=config.id,
        task_type=config.task_type,
        trigger=trigger,
        queue=task_type.queue,
        max_retries=config.max_retries,
        timeout_seconds=config.timeout_seconds or task_type.timeout_seconds,
        priority=config.priority,
        due_at=due_at,
    )


class SchedulerCoreService:
    """Registered schedules: build, add, replace, remove, and "is it registered"."""

    def __init__(self, redis: Redis, keys: Keys, registry: TaskTypeLookup | None = None) -> None:
        """Without ``registry`` it only reads and removes registrations (the engine,
        inspection); building one from a config needs the task types."""
        self.redis = redis
        self.keys = keys
        self.registry = registry
        self._set_due = redis.register_script(_SET_DUE)

    # --- building ---------------------------------------------------------------------

    def task_type(self, config: ConfigLike) -> TaskTypeLike:
        if self.registry is None:
            raise RuntimeError("this SchedulerCoreService has no task types to build with")
        found: TaskTypeLike = self.registry.get(config.task_type)
        return found

    def build(self, config: ConfigLike, spec: Spec) -> ScheduledTask:
        """The ScheduledTask of a config: its parameters as kwargs, the message labels
        (trigger ``scheduled``) and the spec's labels. NotFound for an unknown task type."""
        if not spec.is_scheduled:
            raise ValueError("a manual schedule is never registered")
        labels = {
            **run_labels(config, self.task_type(config), Trigger.SCHEDULED).to_dict(),
            **specs.to_labels(spec),
        }
        timing: dict[str, Any] = {}
        if spec.kind is SchedulerType.CRON:
            timing = {"cron": spec.cron, "cron_offset": spec.timezone}
        elif spec.kind is SchedulerType.INTERVAL:
            timing = {"interval": spec.interval_seconds}
        else:
            timing = {"time": spec.run_at}
        return ScheduledTask(
            task_name=messages.task_name(config.task_type),
            labels=labels,
            args=[],
            kwargs=dict(config.parameters),
            schedule_id=schedule_id(config.id),
            **timing,
        )

    def _list_key(self, task: ScheduledTask) -> str | None:
        if task.cron is not None:
            return self.keys.source_cron
        if task.time is not None:
            moment = task.time if task.time.tzinfo else task.time.replace(tzinfo=UTC)
            return self.keys.source_time(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))
        if task.interval:
            return self.keys.source_interval
        return None

    @staticmethod
    def decode(raw: Any) -> ScheduledTask | None:
        if raw is None:
            return None
        try:
            return ScheduledTask.model_validate(json.loads(raw))
        except ValueError:
            return None

    # --- writes -----------------------------------------------------------------------

    async def _queue_write(
        self,
        pipe: Any,
        config_id: int,
        task: ScheduledTask,
        body: bytes,
        old: ScheduledTask | None,
        due: datetime,
        keep_overdue: bool,
        now: datetime,
    ) -> None:
        """Queue one registration's writes on ``pipe`` (inside its MULTI): the data, its
        list entry (moved from the old list), its due score."""
        sid = task.schedule_id
        old_list = self._list_key(old) if old is not None else None
        new_list = self._list_key(task)
        pipe.set(self.keys.source_data(sid), body)
        if old_list is not None:
            pipe.lrem(old_list, 0, sid)
        if new_list is not None:
            # LREM is O(length of the list): only when a registration existed (a first
            # registration has no entry; remove() clears strays).
            if old is not None and new_list != old_list:
                pipe.lrem(new_list, 0, sid)
            pipe.rpush(new_list, sid)
        await self._set_due(
            keys=[self.keys.due],
            args=[config_id, to_ms(due), "1" if keep_overdue else "0", to_ms(now)],
            client=pipe,
        )

    def _queue_removal(
        self, pipe: Any, config_id: int, sid: str, old: ScheduledTask | None
    ) -> None:
        """Queue one registration's removal on ``pipe``: data, list entry, due score."""
        pipe.delete(self.keys.source_data(sid))
        lists = (
            [self._list_key(old)]
            if old is not None
            else [self.keys.source_cron, self.keys.source_interval]
        )
        for key in lists:
            if key is not None:
                pipe.lrem(key, 0, sid)
        pipe.zrem(self.keys.due, config_id)

    async def add(
        self,
        config: ConfigLike,
        spec: Spec,
        *,
        due_at: datetime | None = None,
        now: datetime | None = None,
        keep_overdue: bool = False,
    ) -> Registration:
        """Register (or replace) the config's schedule in one MULTI.

        ``due_at`` defaults to ``first_due(spec, now)``; ValueError if nothing is due (a
        date in the past). ``keep_overdue``: keep an existing due score that is already due
        (used by replace, so an unsent fire is not dropped)."""
        now = now or datetime.now(UTC)
        due = due_at or first_due(spec, now)
        if due is None:
            raise ValueError("the schedule has no fire time to come")
        task = self.build(config, spec)
        body = _SERIALIZER.dumpb(task.model_dump(mode="json"))
        sid = task.schedule_id
        data_key = self.keys.source_data(sid)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(data_key)
                    old = self.decode(await pipe.get(data_key))
                    pipe.multi()  # type: ignore[no-untyped-call]
                    await self._queue_write(
                        pipe, config.id, task, body, old, due, keep_overdue, now
                    )
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        return Registration(config.id, sid, spec, due)

    async def add_many(
        self,
        items: Sequence[tuple[ConfigLike, Spec, datetime | None, bool]],
        *,
        now: datetime | None = None,
    ) -> list[Registration]:
        """``add`` for many configs (``(config, spec, due_at, keep_overdue)`` each) in two
        round trips: one read of their registrations, one MULTI writing them all.

        The caller holds every config's lock, so nobody else writes these registrations
        meanwhile (no WATCH needed). Every item is built before anything is written: a
        ValueError (nothing due) or NotFound (unknown task type) writes nothing."""
        now = now or datetime.now(UTC)
        prepared: list[tuple[ConfigLike, Spec, datetime, bool, ScheduledTask, bytes]] = []
        for config, spec, due_at, keep_overdue in items:
            due = due_at or first_due(spec, now)
            if due is None:
                raise ValueError(f"config {config.id}: the schedule has no fire time to come")
            task = self.build(config, spec)
            body = _SERIALIZER.dumpb(task.model_dump(mode="json"))
            prepared.append((config, spec, due, keep_overdue, task, body))
        if not prepared:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for *_, task, _ in prepared:
                pipe.get(self.keys.source_data(task.schedule_id))
            olds = await pipe.execute()
        async with self.redis.pipeline(transaction=True) as pipe:
            for (config, _, due, keep_overdue, task, body), raw in zip(prepared, olds, strict=True):
                old = self.decode(raw)
                await self._queue_write(pipe, config.id, task, body, old, due, keep_overdue, now)
            await pipe.execute()
        return [
            Registration(config.id, task.schedule_id, spec, due)
            for config, spec, due, _, task, _ in prepared
        ]

    async def remove_many(self, config_ids: Iterable[int]) -> None:
        """``remove`` for many configs in two round trips (the caller holds their locks)."""
        ids = list(dict.fromkeys(config_ids))
        if not ids:
            return
        sids = [schedule_id(cid) for cid in ids]
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.get(self.keys.source_data(sid))
            olds = await pipe.execute()
        async with self.redis.pipeline(transaction=True) as pipe:
            for cid, sid, raw in zip(ids, sids, olds, strict=True):
                self._queue_removal(pipe, cid, sid, self.decode(raw))
            await pipe.execute()

    async def replace(
        self,
        config: ConfigLike,
        spec: Spec,
        *,
        due_at: datetime | None = None,
        now: datetime | None = None,
    ) -> Registration:
        """Swap the registered schedule for the config's current one in one MULTI; a fire
        already due and not yet sent keeps its due time."""
        return await self.add(config, spec, due_at=due_at, now=now, keep_overdue=due_at is None)

    async def remove(self, config_id: int) -> bool:
        """Unregister (data key, list entry, due score) in one MULTI; False if absent."""
        sid = schedule_id(config_id)
        data_key = self.keys.source_data(sid)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(data_key)
                    raw = await pipe.get(data_key)
                    old = self.decode(raw)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    self._queue_removal(pipe, config_id, sid, old)
                    results = await pipe.execute()
                    break
                except WatchError:
                    continue
        return bool(raw is not None or results[-1])

    async def take_due(self, config_id: int) -> float | None:
        """Remove the config's due score (it fires no more) and return it, in one MULTI;
        ``restore_due`` puts it back. The rest of the registration stays as it was."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zscore(self.keys.due, config_id)
            pipe.zrem(self.keys.due, config_id)
            score, _ = await pipe.execute()
        return float(score) if score is not None else None

    async def restore_due(self, config_id: int, score: float) -> None:
        """Undo ``take_due``: the schedule fires again from its old due time (a fire that
        fell due meanwhile is sent by the next tick, under its misfire policy)."""
        await self.redis.zadd(self.keys.due, {str(config_id): score})

    # --- reads ------------------------------------------------------------------------

    @property
    def due_key(self) -> str:
        """The due index, for the engine's fire script (its compare-and-set advances or
        removes a score: the one writer of ``due`` besides this service)."""
        return self.keys.due

    async def due_until(self, until: datetime, limit: int) -> DueBatch:
        """The earliest ``limit`` entries of the due index due at ``until`` or before."""
        rows: list[Any] = await self.redis.zrangebyscore(
            self.keys.due, "-inf", to_ms(until), start=0, num=limit, withscores=True
        )
        entries: list[tuple[int, float]] = []
        for member, score in rows:
            try:
                entries.append((int(member), float(score)))
            except ValueError:
                log.warning("ignoring a non-numeric member of the due index", extra={"m": member})
        return DueBatch(len(rows), entries)

    async def next_dues(self, limit: int) -> list[tuple[int, datetime]]:
        """The ``limit`` soonest due times (config id, due), soonest first (dashboard)."""
        rows: list[Any] = await self.redis.zrange(self.keys.due, 0, limit - 1, withscores=True)
        return [(int(m), from_ms(float(s))) for m, s in rows if str(m).isdigit()]

    async def raw_many(self, config_ids: Sequence[int]) -> list[Any]:
        """The stored registrations (JSON text, None if absent) of many configs: one MGET."""
        if not config_ids:
            return []
        return list(
            await self.redis.mget([self.keys.source_data(schedule_id(c)) for c in config_ids])
        )

    async def get_raw(self, config_id: int) -> Any:
        """The stored registration of a config as text (None if absent): inspection."""
        return await self.redis.get(self.keys.source_data(schedule_id(config_id)))

    def read_into(self, pipe: Any, config_id: int) -> None:
        """Queue the reads of one config's registration on ``pipe`` (two replies, turned
        into a ``Registered`` by ``registered_of``): the read model asks several owners in
        one round trip."""
        pipe.get(self.keys.source_data(schedule_id(config_id)))
        pipe.zscore(self.keys.due, config_id)

    def registered_of(self, replies: Sequence[Any]) -> Registered:
        data, score = replies
        return Registered(
            is_registered=data is not None,
            task=self.decode(data) if data is not None else None,
            next_due=from_ms(score) if score is not None else None,
        )

    async def get(self, config_id: int) -> ScheduledTask | None:
        return self.decode(await self.redis.get(self.keys.source_data(schedule_id(config_id))))

    async def get_spec(self, config_id: int) -> Spec | None:
        task = await self.get(config_id)
        if task is None:
            return None
        try:
            return specs.from_labels(task.labels)
        except (KeyError, ValueError):
            return None

    async def is_registered(self, config_id: int) -> bool:
        return bool(await self.redis.exists(self.keys.source_data(schedule_id(config_id))))

    async def registered_many(self, config_ids: Iterable[int]) -> dict[int, bool]:
        """Which configs have a registered schedule, in one pipeline."""
        ids = list(dict.fromkeys(config_ids))
        if not ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.exists(self.keys.source_data(schedule_id(cid)))
            found = await pipe.execute()
        return {cid: bool(f) for cid, f in zip(ids, found, strict=True)}

    async def next_due(self, config_id: int) -> datetime | None:
        score = await self.redis.zscore(self.keys.due, config_id)
        return from_ms(score) if score is not None else None

    async def next_due_many(self, config_ids: Iterable[int]) -> dict[int, datetime | None]:
        ids = list(dict.fromkeys(config_ids))
        if not ids:
            return {}
        scores = await self.redis.zmscore(self.keys.due, [str(c) for c in ids])
        return {
            cid: from_ms(s) if s is not None else None for cid, s in zip(ids, scores, strict=True)
        }

    async def registered_ids(self) -> set[int]:
        """Every config id with a registered schedule or a due score (for reconcile: the
        due index and the cron / interval lists; date schedules are all in the due index
        until they fire)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(self.keys.due, 0, -1)
            pipe.lrange(self.keys.source_cron, 0, -1)
            pipe.lrange(self.keys.source_interval, 0, -1)
            due, crons, intervals = await pipe.execute()
        ids = {int(m) for m in due if str(m).isdigit()}
        for sid in [*crons, *intervals]:
            cid = config_id_of(str(sid))
            if cid is not None:
                ids.add(cid)
        return ids
