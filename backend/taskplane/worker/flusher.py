"""The record flusher: buffered execution records into the database, in batches.

``RecordFlusher`` (a loop in every worker; one flushes at a time, under a lease)
    Reads the oldest buffered records (XRANGE), inserts them with
    ``executions.insert_many`` in one transaction (ON CONFLICT DO NOTHING on (task_id,
    attempt)), then reports them to the schedule state (counters and history) and deletes
    them from the buffer (XDEL: idempotent, unlike LTRIM). While PostgreSQL is unreachable
    the records wait in Redis and executions go on; a restarted worker flushes what was
    buffered before it died.

A record of a config deleted meanwhile (a late record) is dropped with one log line by
``executions.insert_new_with_ids``; neither it nor its counter update reaches another
config (ids are never reused, migration 0003).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import metrics
from taskplane.db import executions
from taskplane.db.executions import ExecutionRecord
from taskplane.outage import DATABASE, MAX_DELAY_SECONDS, REDIS, Outages
from taskplane.state import events as live_events
from taskplane.state import leases
from taskplane.state.keys import Keys
from taskplane.worker.recorder import buffered, decode_record

log = logging.getLogger(__name__)

FLUSH_BATCH = 500

OnRecorded = Callable[[Sequence[ExecutionRecord]], Awaitable[Any]]


class RecordFlusher:
    """Moves buffered records to PostgreSQL in batches (see the module doc)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        sessions: async_sessionmaker[AsyncSession],
        worker_id: str,
        *,
        on_recorded: OnRecorded | None = None,
        batch_size: int = FLUSH_BATCH,
        lease_ms: int = 10_000,
        idle_seconds: float = 0.5,
        max_backoff_seconds: float = MAX_DELAY_SECONDS,
        outages: Outages | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.sessions = sessions
        self.worker_id = worker_id
        self.on_recorded = on_recorded
        self.batch_size = batch_size
        self.lease_ms = lease_ms
        self.idle_seconds = idle_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.outages = outages or Outages()
        self._acquire = redis.register_script(leases.ACQUIRE_OR_RENEW)
        self._release = redis.register_script(leases.RELEASE)

    async def depth(self) -> int:
        n = await buffered(self.redis, self.keys)
        metrics.RECORDER_BUFFER_DEPTH.set(n)
        return n

    async def flush_once(self) -> int:
        """Write one batch; returns how many records it took off the buffer (0: none, or
        another worker holds the lease). Raises when PostgreSQL fails (records stay)."""
        held = await self._acquire(
            keys=[self.keys.recorder_flush_lock], args=[self.worker_id, self.lease_ms]
        )
        if not held:
            return 0
        entries: Any = await self.redis.xrange(self.keys.recorder_buffer, count=self.batch_size)
        if not entries:
            return 0
        ids = [entry_id for entry_id, _ in entries]
        records = []
        for entry_id, entry in entries:
            try:
                records.append(decode_record(entry["r"]))
            except (KeyError, ValueError, TypeError):
                log.exception("unreadable buffered record dropped", extra={"entry": entry_id})
        # well inside the lease: a flusher that hangs must not still be writing when the
        # lease passes to another worker
        async with asyncio.timeout(self.lease_ms / 2000):
            async with self.sessions() as session, session.begin():
                inserted = await executions.insert_new_with_ids(session, records)
        # report each attempt once: only the rows this flush inserted, so neither a copy
        # within the batch nor one a previous flush wrote but could not delete from the
        # buffer (a crash between commit and XDEL) counts twice
        fresh: dict[tuple[str, int], ExecutionRecord] = {}
        for r in records:
            fresh.setdefault((r.task_id, r.attempt), r)
        new_records = [r for k, r in fresh.items() if k in inserted]
        if self.on_recorded is not None and new_records:
            try:
                await self.on_recorded(new_records)
            except Exception:
                log.warning("schedule counters not updated for a batch", exc_info=True)
        await live_events.publish(
            self.redis,
            self.keys.events,
            [
                live_events.execution_event(
                    r.config_id, inserted[(r.task_id, r.attempt)], r.is_success, str(r.trigger)
                )
                for r in new_records
            ],
        )
        await self.redis.xdel(self.keys.recorder_buffer, *ids)
        return len(entries)

    async def drain(self, within_seconds: float = 10.0) -> int:
        """Flush until the buffer is empty (shutdown); what is left stays buffered."""
        total = 0
        try:
            async with asyncio.timeout(within_seconds):
                while n := await self.flush_once():
                    total += n
        except Exception:
            log.warning("buffer not drained; records stay in Redis", exc_info=True)
        return total

    async def release(self) -> None:
        await self._release(keys=[self.keys.recorder_flush_lock], args=[self.worker_id])

    async def run(self) -> None:
        """Flush for ever; while Redis or PostgreSQL is down the records wait in the buffer
        and the loop backs off (``outage.py``: one warning per outage)."""
        guard = self.outages.backoff(
            "record-flusher", REDIS, DATABASE, max_delay_seconds=self.max_backoff_seconds
        )
        while True:
            try:
                n = await self.flush_once()
            except Exception as exc:
                with contextlib.suppress(Exception):  # Redis may be down too
                    await self.depth()
                await guard.failed(exc)
                continue
            # only a flush that wrote rows proves PostgreSQL is back
            if n:
                guard.ok(REDIS, DATABASE)
            else:
                guard.ok(REDIS)
            if n < self.batch_size:
                await asyncio.sleep(self.idle_seconds)
