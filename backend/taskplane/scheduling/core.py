"""SchedulerCoreService: a config's registration (``registration.py`` builds and encodes it)
stored in Redis, and the due index the engine reads.

Layout (``registration_store``): a registration is field ``r`` of its config's state hash
(``Keys.schedule``; the other fields are the state service's) and a shape in the shapes
hash (``Keys.registration_shapes``, counted in ``Keys.registration_refs``), plus the due
index ``Keys.due`` (zset, member = config id, score = next due epoch ms) that the engine
reads.

One writer per key family: every write of a registration (value, shape, due score) is
core's Lua (``registration_lua``), run by its ``WRITE`` / ``UNWRITE`` scripts and composed
into the bulk path's (``bulk/lua.py``); the engine's fire script only advances or removes a
due score. A replace writes all in one script: it has no moment in which the schedule is
absent. Core knows nothing of status: that is the state service's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from redis.asyncio import Redis
from taskiq import ScheduledTask

from taskplane.db.configs import ConfigRow
from taskplane.epoch import from_ms, to_ms
from taskplane.scheduling import evalsha, registration, registration_store
from taskplane.scheduling.registration import (
    Registration,
    TaskTypeLike,
    first_due,
    schedule_id,
)
from taskplane.scheduling.registration_lua import MOVE, READ, UNWRITE, WRITE
from taskplane.scheduling.specs import Spec
from taskplane.state.keys import Keys

log = logging.getLogger(__name__)

LAYOUT = "3"
"""The key layout ``drop_legacy`` brings Redis to (``Keys.layout``): registrations in the
state hashes (2: a key each, 1: with the taskiq-redis source lists)."""
SHAPES_KEPT = 65_536
"""Shape texts a core keeps read (content-addressed: a kept one is never stale)."""


class TaskTypeLookup(Protocol):
    """``tasks.registry.TaskRegistry``: ``get`` raises NotFound for an unknown name."""

    def get(self, name: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class DueBatch:
    """Entries of the due index read at once: ``read`` counts every member read (a
    non-numeric one is logged and left out of ``entries``: (config id, score))."""

    read: int
    entries: list[tuple[int, float]]


def _due_batch(rows: Sequence[tuple[Any, Any]]) -> DueBatch:
    entries: list[tuple[int, float]] = []
    for member, score in rows:
        try:
            entries.append((int(member), float(score)))
        except ValueError:
            log.warning("ignoring a non-numeric member of the due index", extra={"m": member})
    return DueBatch(len(rows), entries)


class Rider(Protocol):
    """A read sent with the tick's due read (``RIDER``): one write, one wake-up for both."""

    def command(self) -> Sequence[evalsha.Arg]:
        """The command (read at the time of the due read)."""

    def answer(self, reply: Any) -> None:
        """Its reply, as Redis gave it."""


RIDER: ContextVar[Rider | None] = ContextVar("due_read_rider", default=None)
"""The rider of the due reads of the current task (``loop.run`` sets the pause ends')."""


class SchedulerCoreService:
    """Registered schedules: build, add, replace, remove, and "is it registered"."""

    def __init__(self, redis: Redis, keys: Keys, registry: TaskTypeLookup | None = None) -> None:
        """Without ``registry`` it only reads and removes registrations (the engine,
        inspection); building one from a config needs the task types."""
        self.redis = redis
        self.keys = keys
        self.registry = registry
        self._write = redis.register_script(WRITE)
        self._unwrite = redis.register_script(UNWRITE)
        self._read = redis.register_script(READ)
        self._move = redis.register_script(MOVE)
        self._shapes: dict[str, str] = {}

    # --- building (registration.py) ---------------------------------------------------

    def task_type(self, config: ConfigRow) -> TaskTypeLike:
        if self.registry is None:
            raise RuntimeError("this SchedulerCoreService has no task types to build with")
        found: TaskTypeLike = self.registry.get(config.task_type)
        return found

    def build(self, config: ConfigRow, spec: Spec) -> ScheduledTask:
        """``registration.build`` with the config's task type (NotFound if unknown)."""
        return registration.build(config, spec, self.task_type(config))

    def encode(self, config: ConfigRow, spec: Spec) -> str:
        """``registration.encode`` with the config's task type (NotFound if unknown)."""
        return registration.encode(config, spec, self.task_type(config))

    def stored(self, config: ConfigRow, spec: Spec) -> registration_store.Stored:
        """What ``encode``'s text is stored as (``registration.stored``; NotFound if the
        task type is unknown)."""
        return registration.stored(config, spec, self.task_type(config))

    decode = staticmethod(registration.decode)

    # --- keys -------------------------------------------------------------------------

    def data_key(self, config_id: int) -> str:
        """The key that holds a config's registration (its state hash, field ``r``), for a
        composing script: the fire script's check, the bulk path's writes."""
        return self.keys.schedule(config_id)

    @property
    def shape_keys(self) -> tuple[str, str]:
        """The shapes hash and its reference counts, for a composing script."""
        return (self.keys.registration_shapes, self.keys.registration_refs)

    # --- writes (core's Lua: WRITE, UNWRITE) -------------------------------------------

    async def add(
        self,
        config: ConfigRow,
        spec: Spec,
        *,
        due_at: datetime | None = None,
        now: datetime | None = None,
        keep_overdue: bool = False,
    ) -> Registration:
        """Register (or replace) the config's schedule: data and due score in one script.

        ``due_at`` defaults to ``first_due(spec, now)``; ValueError if nothing is due (a
        date in the past). ``keep_overdue``: keep an existing due score that is already due
        (used by replace, so an unsent fire is not dropped)."""
        [done] = await self.add_many([(config, spec, due_at, keep_overdue)], now=now)
        return done

    async def add_many(
        self,
        items: Sequence[tuple[ConfigRow, Spec, datetime | None, bool]],
        *,
        now: datetime | None = None,
    ) -> list[Registration]:
        """``add`` for many configs (``(config, spec, due_at, keep_overdue)`` each): one
        ``WRITE``. Every item is built before anything is written: a ValueError (nothing
        due) or NotFound (unknown task type) writes nothing."""
        now = now or datetime.now(UTC)
        made: list[Registration] = []
        keys = [self.keys.due, *self.shape_keys]
        args: list[Any] = [to_ms(now)]
        for config, spec, due_at, keep_overdue in items:
            due = due_at or first_due(spec, now)
            if due is None:
                raise ValueError(f"config {config.id}: the schedule has no fire time to come")
            stored = self.stored(config, spec)
            made.append(Registration(config.id, schedule_id(config.id), spec, due))
            keys.append(self.data_key(config.id))
            args += (config.id, *stored, to_ms(due), "1" if keep_overdue else "0")
        if made:
            await self._write(keys=keys, args=args)
        return made

    async def replace(
        self,
        config: ConfigRow,
        spec: Spec,
        *,
        due_at: datetime | None = None,
        now: datetime | None = None,
    ) -> Registration:
        """Swap the registered schedule for the config's current one in one script; a fire
        already due and not yet sent keeps its due time."""
        return await self.add(config, spec, due_at=due_at, now=now, keep_overdue=due_at is None)

    async def remove(self, config_id: int) -> bool:
        """Unregister (value, shape reference, due score) in one script; False if absent."""
        return (await self._remove([config_id]))[0]

    async def remove_many(self, config_ids: Iterable[int]) -> None:
        """``remove`` for many configs: one ``UNWRITE``."""
        await self._remove(list(dict.fromkeys(config_ids)))

    async def _remove(self, ids: list[int]) -> list[bool]:
        """Per config: had it a registration or a due score."""
        if not ids:
            return []
        keys = [self.keys.due, *self.shape_keys, *map(self.data_key, ids)]
        removed = await self._unwrite(keys=keys, args=ids)
        # a stale entry is ignored anyway (see ``Keys.jittered_dues``); tidy up
        await self.redis.hdel(self.keys.jittered_dues, *map(str, ids))
        return [bool(code) for code in removed]

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

    @property
    def jittered_key(self) -> str:
        """The due times of jittered scores (``Keys.jittered_dues``), for the fire script:
        it records the due of each jittered score it writes."""
        return self.keys.jittered_dues

    async def jittered_many(self, config_ids: Sequence[int]) -> dict[int, int]:
        """The recorded due ms of jittered scores (``fire_times.due_of`` checks them)."""
        if not config_ids:
            return {}
        found = await self.redis.hmget(self.keys.jittered_dues, [str(c) for c in config_ids])
        return {c: int(v) for c, v in zip(config_ids, found, strict=True) if v is not None}

    async def due_until(self, until: datetime, limit: int, offset: int = 0) -> DueBatch:
        """The earliest ``limit`` entries of the due index due at ``until`` or before (after
        the first ``offset`` of them: the engine reads its next batch ahead). The read of
        the task's ``RIDER`` (if any) is sent with a read at offset 0, in the same write."""
        command = self.due_command(until, limit, offset)
        rider = RIDER.get() if offset == 0 else None
        if rider is None:
            [rows] = await evalsha.calls(self.redis, (command,))
        else:
            rows, ridden = await evalsha.calls(self.redis, (command, rider.command()))
            rider.answer(ridden)
        return self.due_reply(rows)

    def due_command(self, until: datetime, limit: int, offset: int) -> tuple[evalsha.Arg, ...]:
        """``due_until``'s read as a command (its raw reply to ``due_reply``): the engine
        queues it on its ``evalsha.Channel`` behind a fire script."""
        due, until_ms = self.keys.due, to_ms(until)
        return ("ZRANGEBYSCORE", due, "-inf", until_ms, "WITHSCORES", "LIMIT", offset, limit)

    @staticmethod
    def due_reply(rows: list[Any]) -> DueBatch:
        """The entries of ``due_command``'s raw reply (RESP2 or RESP3)."""
        return _due_batch(evalsha.score_pairs(rows))

    async def next_dues(self, limit: int) -> list[tuple[int, datetime]]:
        """The ``limit`` soonest due times (config id, due), soonest first (dashboard)."""
        rows: list[Any] = await self.redis.zrange(self.keys.due, 0, limit - 1, withscores=True)
        return [(int(m), from_ms(float(s))) for m, s in rows if str(m).isdigit()]

    async def raw_many(self, config_ids: Sequence[int]) -> list[Any]:
        """The stored registrations of many configs, each in ``registration_store``'s read
        form (None if absent): one script reads the values, one HMGET the shapes not kept."""
        if not config_ids:
            return []
        values = await self._read(keys=[self.data_key(c) for c in config_ids])
        return await self._read_forms(config_ids, values)

    async def _read_forms(self, config_ids: Sequence[int], values: Sequence[Any]) -> list[Any]:
        found = [v.decode() if isinstance(v, bytes) else v for v in values]
        kept = self._shapes
        width = registration_store.SHAPE_ID_LEN
        needed = {v[:width] for v in found if v}
        wanted = [sid for sid in needed if sid not in kept]
        if wanted:
            if len(kept) + len(wanted) > SHAPES_KEPT:
                kept.clear()  # rare: more shapes than kept; this read's are read again
                wanted = list(needed)
            shapes = await self.redis.hmget(self.keys.registration_shapes, wanted)
            for sid, shape in zip(wanted, shapes, strict=True):
                if shape is not None:
                    kept[sid] = shape.decode() if isinstance(shape, bytes) else shape
        out: list[Any] = []
        for cid, value in zip(config_ids, found, strict=True):
            shape = kept.get(value[:width]) if value else None
            if value and shape is None:
                log.warning("a registration's shape is missing", extra={"config_id": cid})
            out.append(registration_store.read_form(cid, value, shape) if value else None)
        return out

    async def get_raw(self, config_id: int) -> Any:
        """The stored registration of a config in its read form (None if absent)."""
        [raw] = await self.raw_many([config_id])
        return raw

    async def get(self, config_id: int) -> ScheduledTask | None:
        return self.decode(await self.get_raw(config_id))

    async def get_spec(self, config_id: int) -> Spec | None:
        raw = await self.get_raw(config_id)
        return registration.parsed(raw)[1] if raw is not None else None

    async def is_registered(self, config_id: int) -> bool:
        return bool(await self.redis.hexists(self.data_key(config_id), registration_store.FIELD))

    async def registered_many(self, config_ids: Iterable[int]) -> dict[int, bool]:
        """Which configs have a registered schedule, in one script."""
        ids = list(dict.fromkeys(config_ids))
        if not ids:
            return {}
        values = await self._read(keys=[self.data_key(c) for c in ids])
        return {cid: bool(v) for cid, v in zip(ids, values, strict=True)}

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
        """Every config id with a due score (for reconcile's orphans). A registration always
        has one, but for a date schedule that has fired: its config is then active, with
        state (its registration is in it), and reconcile finds it by its state
        (``schedules:all``)."""
        due: list[Any] = await self.redis.zrange(self.keys.due, 0, -1)
        return {int(m) for m in due if str(m).isdigit()}

    async def drop_legacy(self) -> int:
        """Delete the keys of earlier layouts: a registration key each
        (``source:data:{schedule_id}``: its text is moved to this layout first, for a config
        that has no registration here yet) and the taskiq-redis source lists
        (``source:cron``, ``:interval``, ``:time:{minute}``). Looked for (one SCAN of the key
        space) only while ``Keys.layout`` is not ``LAYOUT``, which is written after.
        Returns the number of keys deleted. Reconcile runs it at start."""
        if await self.redis.get(self.keys.layout) in (LAYOUT, LAYOUT.encode()):
            return 0
        dropped = 0
        pattern = f"{self.keys.schedule_source_prefix}:*"
        batch: list[str] = []
        async for key in self.redis.scan_iter(match=pattern, count=10_000):
            batch.append(key.decode() if isinstance(key, bytes) else key)
            if len(batch) >= 1_000:
                dropped += await self._drop(batch)
                batch = []
        if batch:
            dropped += await self._drop(batch)
        await self.redis.set(self.keys.layout, LAYOUT)
        return dropped

    async def _drop(self, legacy: list[str]) -> int:
        """Move the registrations among ``legacy`` keys, then delete them all."""
        marker = self.keys.source_data("")
        data = [k for k in legacy if k.startswith(marker)]
        if data:
            keys, args = list(self.shape_keys), list[str]()
            for key, text in zip(data, await self.redis.mget(data), strict=True):
                cid = registration.config_id_of(key[len(marker) :])
                if isinstance(text, bytes):
                    text = text.decode()
                try:
                    stored = registration_store.store(text) if text is not None else None
                except ValueError:  # unreadable: reconcile registers the config again
                    stored = None
                if cid is not None and stored is not None:
                    keys.append(self.data_key(cid))
                    args += stored
            if args:
                await self._move(keys=keys, args=args)
        return int(await self.redis.unlink(*legacy))
