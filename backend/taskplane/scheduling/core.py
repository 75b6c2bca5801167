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

The stored JSON is ``encode``'s: byte for byte what the ScheduledTask's pydantic dump gives
(``build``), made without building the model (a tenth of the cost; tests hold the two
equal). For a script that changes registrations together with other owners' data (the bulk
path, ``bulk_script.py``), core hands out its keys (``data_key``, ``list_key``,
``removal_lists``, ``due_key``) and its Lua part (``LUA``: the same writes as ``add`` and
``remove``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic_core import to_jsonable_python
from redis.asyncio import Redis
from redis.exceptions import WatchError
from taskiq import ScheduledTask
from taskiq.scheduler.scheduled_task.validators import validate_interval_value
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
_TASK_FIELDS = tuple(ScheduledTask.model_fields)
"""The ScheduledTask's fields in the order its dump writes them (``encode`` follows it)."""
_ID = 7_531_864_209_753_108_642
"""A config id no config has: where ``encode`` cuts a shape's JSON."""
_KWARGS = "\x00kwargs\x00"
_JSON = json.JSONEncoder(allow_nan=False).encode
"""``json.dumps(value, allow_nan=False)`` without making an encoder per call."""

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


# Core's part of a composed script (the bulk path): the writes of ``_queue_write`` and
# ``_queue_removal``, as Lua functions the composing script calls with core's keys.
#   register(data, body, sid, list, old_list or false, due, cid, score, keep_overdue, now_ms)
#   registered(data) -> is a registration stored
#   unregister(data, sid, lists, due, cid)
LUA = """
local function set_due(due, cid, score, keep_overdue, now_ms)
  if keep_overdue == '1' then
    local cur = redis.call('ZSCORE', due, cid)
    if cur and tonumber(cur) <= tonumber(now_ms) then return end
  end
  redis.call('ZADD', due, score, cid)
end
local function register(data, body, sid, list, old_list, due, cid, score, keep_overdue, now_ms)
  redis.call('SET', data, body)
  if old_list then
    redis.call('LREM', old_list, 0, sid)
    if list ~= old_list then redis.call('LREM', list, 0, sid) end
  end
  redis.call('RPUSH', list, sid)
  set_due(due, cid, score, keep_overdue, now_ms)
end
local function registered(data)
  return redis.call('EXISTS', data) == 1
end
local function unregister(data, sid, lists, due, cid)
  redis.call('DEL', data)
  for _, list in ipairs(lists) do redis.call('LREM', list, 0, sid) end
  redis.call('ZREM', due, cid)
end
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


@dataclass(frozen=True, slots=True)
class _Shape:
    """A config of one shape with the id ``_ID`` (what ``encode`` cuts)."""

    id: int
    task_type: str
    max_retries: int
    timeout_seconds: int | None
    priority: int
    scheduler_type: str = ""
    schedule_config: Mapping[str, Any] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(default_factory=dict)


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


READ_REMEMBERED = 4096  # registration texts whose parsed form the read model keeps


@dataclass(frozen=True, slots=True)
class Registered:
    """One config's registration as the read model sees it: ``is_registered`` (a data key
    exists, readable or not), the stored task (None if absent or unreadable), the due time."""

    is_registered: bool
    task: ScheduledTask | None
    next_due: datetime | None
    # the task's spec, when the reader already has it (``registered_many_of``); else the
    # read model parses it from the task's labels
    spec: Spec | None = None


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
        self._cuts: dict[tuple[Any, ...], tuple[list[str], list[str]] | None] = {}
        # registration text -> its task and spec, for the read model (see registered_many_of)
        self._read: dict[str, tuple[ScheduledTask | None, Spec | None]] = {}

    # --- building ---------------------------------------------------------------------

    def task_type(self, config: ConfigLike) -> TaskTypeLike:
        if self.registry is None:
            raise RuntimeError("this SchedulerCoreService has no task types to build with")
        found: TaskTypeLike = self.registry.get(config.task_type)
        return found

    def _fields(self, config: ConfigLike, spec: Spec) -> dict[str, Any]:
        """The ScheduledTask's fields of a config (see ``build``)."""
        if not spec.is_scheduled:
            raise ValueError("a manual schedule is never registered")
        labels = {
            **run_labels(config, self.task_type(config), Trigger.SCHEDULED).to_dict(),
            **specs.to_labels(spec),
        }
        fields: dict[str, Any] = {
            "task_name": messages.task_name(config.task_type),
            "labels": labels,
            "args": [],
            "kwargs": dict(config.parameters),
            "schedule_id": schedule_id(config.id),
        }
        if spec.kind is SchedulerType.CRON:
            fields.update(cron=spec.cron, cron_offset=spec.timezone)
        elif spec.kind is SchedulerType.INTERVAL:
            fields["interval"] = spec.interval_seconds
        else:
            fields["time"] = spec.run_at
        return fields

    def build(self, config: ConfigLike, spec: Spec) -> ScheduledTask:
        """The ScheduledTask of a config: its parameters as kwargs, the message labels
        (trigger ``scheduled``) and the spec's labels. NotFound for an unknown task type."""
        return ScheduledTask(**self._fields(config, spec))

    def encode(self, config: ConfigLike, spec: Spec) -> str:
        """The stored JSON of ``build(config, spec)``: byte for byte its pydantic dump
        through taskiq's JSON serializer, written without building the model. Parameters
        are JSON values (they come from a JSON column): anything else (a NaN, a date)
        takes the model's way, which converts it as it always did.

        Configs of one shape (task type, retries, timeout, priority, spec) differ only by
        id and parameters: the shape's JSON is made once, cut where those go (``_cut``)."""
        key = (config.task_type, config.max_retries, config.timeout_seconds, config.priority, spec)
        cut = self._cuts.get(key)
        if cut is None:
            if len(self._cuts) >= 1024:
                self._cuts.clear()
            cut = self._cuts[key] = self._cut(config, spec)
        try:
            kwargs = _JSON(dict(config.parameters))
        except (TypeError, ValueError):
            return self._dump(config, spec)
        if cut is None:
            return self._dump(config, spec)
        before, after = cut
        cid = str(config.id)
        return cid.join(before) + kwargs + cid.join(after)

    def _cut(self, config: ConfigLike, spec: Spec) -> tuple[list[str], list[str]] | None:
        """The JSON of the config's shape, cut where the id goes (in the labels and the
        schedule id) before and after the parameters; None if it cannot be cut so."""
        shape = _Shape(
            _ID, config.task_type, config.max_retries, config.timeout_seconds, config.priority
        )
        fields = self._fields(shape, spec)
        validate_interval_value(fields.get("interval"))  # the model's one other check
        if fields.get("time") is not None:
            fields["time"] = to_jsonable_python(fields["time"])
        fields["kwargs"] = _KWARGS
        text = json.dumps({name: fields.get(name) for name in _TASK_FIELDS})
        halves = text.split(json.dumps(_KWARGS))
        if len(halves) != 2 or text.count(str(_ID)) != 2:
            return None
        return halves[0].split(str(_ID)), halves[1].split(str(_ID))

    def _dump(self, config: ConfigLike, spec: Spec) -> str:
        return _SERIALIZER.dumpb(self.build(config, spec).model_dump(mode="json")).decode()

    def data_key(self, config_id: int) -> str:
        """The key of a config's stored registration (for a composing script)."""
        return self.keys.source_data(schedule_id(config_id))

    def list_key(self, spec: Spec) -> str:
        """The source list a registration of ``spec`` joins (``_list_key`` of its task)."""
        if spec.kind is SchedulerType.CRON:
            return self.keys.source_cron
        if spec.kind is SchedulerType.INTERVAL:
            return self.keys.source_interval
        if spec.run_at is None:
            raise ValueError("a date schedule needs its time")
        return self._time_list(spec.run_at)

    def _time_list(self, moment: datetime) -> str:
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return self.keys.source_time(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))

    def stored_list(self, raw: Any) -> str | None:
        """The list a stored registration (its JSON, None if absent) is in: None when it is
        absent or unreadable, as ``_queue_write`` reads it."""
        old = self.decode(raw)
        return self._list_key(old) if old is not None else None

    def removal_lists(self, raw: Any) -> list[str]:
        """The lists ``remove`` takes a registration (its JSON, None if absent) out of: its
        own, or both cron and interval when it is absent or unreadable."""
        old = self.decode(raw)
        if old is None:
            return [self.keys.source_cron, self.keys.source_interval]
        found = self._list_key(old)
        return [found] if found is not None else []

    def _list_key(self, task: ScheduledTask) -> str | None:
        if task.cron is not None:
            return self.keys.source_cron
        if task.time is not None:
            return self._time_list(task.time)
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
        sid: str,
        new_list: str,
        body: str,
        old: ScheduledTask | None,
        due: datetime,
        keep_overdue: bool,
        now: datetime,
    ) -> None:
        """Queue one registration's writes on ``pipe`` (inside its MULTI): the data, its
        list entry (moved from the old list), its due score."""
        old_list = self._list_key(old) if old is not None else None
        pipe.set(self.keys.source_data(sid), body)
        if old_list is not None:
            pipe.lrem(old_list, 0, sid)
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
        body = self.encode(config, spec)
        sid = schedule_id(config.id)
        data_key = self.keys.source_data(sid)
        new_list = self.list_key(spec)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(data_key)
                    old = self.decode(await pipe.get(data_key))
                    pipe.multi()  # type: ignore[no-untyped-call]
                    await self._queue_write(
                        pipe, config.id, sid, new_list, body, old, due, keep_overdue, now
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
        prepared: list[tuple[ConfigLike, Spec, datetime, bool, str]] = []
        for config, spec, due_at, keep_overdue in items:
            due = due_at or first_due(spec, now)
            if due is None:
                raise ValueError(f"config {config.id}: the schedule has no fire time to come")
            prepared.append((config, spec, due, keep_overdue, self.encode(config, spec)))
        if not prepared:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for config, *_ in prepared:
                pipe.get(self.data_key(config.id))
            olds = await pipe.execute()
        async with self.redis.pipeline(transaction=True) as pipe:
            for (config, spec, due, keep_overdue, body), raw in zip(prepared, olds, strict=True):
                await self._queue_write(
                    pipe,
                    config.id,
                    schedule_id(config.id),
                    self.list_key(spec),
                    body,
                    self.decode(raw),
                    due,
                    keep_overdue,
                    now,
                )
            await pipe.execute()
        return [
            Registration(config.id, schedule_id(config.id), spec, due)
            for config, spec, due, _, _ in prepared
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

    async def due_until(self, until: datetime, limit: int, offset: int = 0) -> DueBatch:
        """The earliest ``limit`` entries of the due index due at ``until`` or before (after
        the first ``offset`` of them: the engine reads its next batch ahead)."""
        rows: list[Any] = await self.redis.zrangebyscore(
            self.keys.due, "-inf", to_ms(until), start=offset, num=limit, withscores=True
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

    def read_many_into(self, pipe: Any, config_ids: Sequence[int]) -> None:
        """``read_into`` for many configs in two commands (two replies, turned into one
        ``Registered`` per config by ``registered_many_of``): a page of configs costs two
        commands on the read model's pipeline, not two per config."""
        pipe.mget([self.keys.source_data(schedule_id(c)) for c in config_ids])
        pipe.zmscore(self.keys.due, [str(c) for c in config_ids])

    def registered_many_of(self, replies: Sequence[Any]) -> list[Registered]:
        """The replies of ``read_many_into``. A registration's task and spec are parsed once
        while its text is the same (pages are read again and again; at most
        ``READ_REMEMBERED`` texts are kept): the task object is shared, read it only."""
        data, scores = replies
        out = []
        for raw, score in zip(data, scores, strict=True):
            task, spec = self._parsed(raw) if raw is not None else (None, None)
            next_due = from_ms(score) if score is not None else None
            out.append(Registered(raw is not None, task, next_due, spec))
        return out

    def _parsed(self, raw: str) -> tuple[ScheduledTask | None, Spec | None]:
        hit = self._read.get(raw)
        if hit is None:
            task = self.decode(raw)
            spec = None
            if task is not None:
                try:
                    spec = specs.from_labels(task.labels)
                except (KeyError, ValueError):
                    spec = None
            while len(self._read) >= READ_REMEMBERED:
                del self._read[next(iter(self._read))]
            hit = self._read[raw] = (task, spec)
        return hit

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
