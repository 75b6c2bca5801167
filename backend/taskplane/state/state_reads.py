"""The reads of the schedule state (``ScheduleStateService``'s base): states, statuses,
history pages and summary counts, each one round trip (a pipeline or one script), no scan."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio import Redis

from taskplane.enums import ScheduleStatus
from taskplane.state.history import HistoryEvent, read_events
from taskplane.state.keys import Keys
from taskplane.state.schedule_records import ScheduleState, Summary, decode_state
from taskplane.state.scripts import STATUS_ORDER, Scripts


class StateReads:
    """What the state service reads (``redis``, ``keys`` and ``scripts`` are its own)."""

    redis: Redis
    keys: Keys
    scripts: Scripts

    async def get(self, config_id: int) -> ScheduleState | None:
        raw: Any = await self.redis.hgetall(self.keys.schedule(config_id))
        return decode_state(config_id, raw)

    async def get_many(self, config_ids: Iterable[int]) -> dict[int, ScheduleState]:
        """States of many configs in one pipeline; configs without state are left out."""
        ids = list(dict.fromkeys(config_ids))
        if not ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hgetall(self.keys.schedule(cid))
            raws = await pipe.execute()
        out: dict[int, ScheduleState] = {}
        for cid, raw in zip(ids, raws, strict=True):
            state = decode_state(cid, raw)
            if state is not None:
                out[cid] = state
        return out

    async def status(self, config_id: int) -> ScheduleStatus | None:
        raw: Any = await self.redis.hget(self.keys.schedule(config_id), "status")
        return ScheduleStatus.stored(raw) if raw else None

    async def failure_counts(self, config_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """``(consecutive_failures, successes)`` of each config with state: one script call,
        no hash decoded (the alert detector reads them for every failing alert each pass)."""
        if not config_ids:
            return {}
        found: list[list[int]] = await self.scripts.failure_counts(
            keys=[self.keys.schedule(c) for c in config_ids]
        )
        return {
            cid: (int(row[0]), int(row[1]))
            for cid, row in zip(config_ids, found, strict=True)
            if int(row[0]) >= 0
        }

    async def statuses(self, config_ids: Sequence[int]) -> list[ScheduleStatus | None]:
        """The status of each config (None without state; an unknown one reads as
        ``error``, as in ``get``), in order: one script call, no hash decoded."""
        if not config_ids:
            return []
        raws: list[Any] = await self.scripts.statuses(
            keys=[self.keys.schedule(c) for c in config_ids]
        )
        return [None if r is None else ScheduleStatus.stored(r) for r in raws]

    async def history(
        self, config_id: int, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[HistoryEvent], int]:
        """A page of events, newest first, and how many are kept in all."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(self.keys.history(config_id), offset, offset + max(limit, 1) - 1)
            pipe.llen(self.keys.history(config_id))
            raws, total = await pipe.execute()
        return read_events(raws) if limit > 0 else [], int(total)

    async def summary(self) -> Summary:
        """Counts by status from the index sets (SCARD each; no scan)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.scard(self.keys.all_schedules)
            for status in STATUS_ORDER:
                pipe.scard(self.keys.by_status(status))
            total, active, paused, inactive, error = await pipe.execute()
        return Summary(int(total), int(active), int(paused), int(inactive), int(error))

    async def ids_with_status(self, status: ScheduleStatus) -> set[int]:
        return {int(m) for m in await self.redis.smembers(self.keys.by_status(status))}

    async def all_ids(self) -> set[int]:
        return {int(m) for m in await self.redis.smembers(self.keys.all_schedules)}
