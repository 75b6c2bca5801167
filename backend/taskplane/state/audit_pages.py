"""Reading the audit trail (``GET /audit``): a page of ``state/audit.py``'s streams.

Newest first, by XREVRANGE with COUNT over an id range: ``after`` is an exclusive upper id,
``since`` / ``until`` are id bounds (an entry's time is its id's milliseconds), so no page
scans what it does not show. The stream read is the main one, or with ``config_id`` the
config's index, or with ``actor`` the actor's index; with both, the config's index is read in
chunks and its entries of that actor kept (bounded by that index's cap). An index page's
entries are then read from the main stream in one pipeline (an id the main stream has
trimmed ends the page: it trims oldest first).

``total`` counts what the filters select: unfiltered it is XLEN; with a filter or a time
bound it is counted by reading that stream's ids in the range, in chunks of ``CHUNK`` (at
most the stream's cap: a filtered total costs what its index holds).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from taskplane.epoch import from_ms
from taskplane.state.keys import Keys

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_SEQ = 2**64 - 1
CHUNK = 1000
"""Ids read per round trip when a filtered page or total reads an index."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An entry read back: its id, its time (the id's milliseconds) and what it says."""

    id: str
    at: datetime
    actor: str
    action: str
    config_id: int | None
    config_name: str | None
    note: str | None
    details: dict[str, Any]

    @classmethod
    def decode(cls, entry_id: str, raw: str) -> AuditRecord:
        data = json.loads(raw)
        ms = int(entry_id.split("-", 1)[0])
        details = data.get("details")
        cid = data.get("config_id")
        return cls(
            id=entry_id,
            at=from_ms(ms),
            actor=str(data.get("actor") or ""),
            action=str(data.get("action") or ""),
            config_id=cid if isinstance(cid, int) else None,
            config_name=data.get("config_name"),
            note=data.get("note"),
            details=details if isinstance(details, dict) else {},
        )


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A page request: filters (None: any), id cursor ``after`` (exclusive), time bounds."""

    config_id: int | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditRecord]
    total: int


async def read(redis: Redis, keys: Keys, query: AuditQuery, *, oldest_ms: int) -> AuditPage:
    """A page of entries, newest first, and how many match the filters (the cursor
    ``after`` and ``offset`` leave ``total`` alone); entries older than ``oldest_ms`` (the
    retention) are left out, though no write has trimmed them yet."""
    stream, actor_filter = _source(keys, query)
    first: Any = await redis.xrange(keys.audit, count=1)
    if not first:
        return AuditPage([], 0)
    oldest = f"{max(oldest_ms, 0)}-0"
    is_stale = _order(first[0][0]) < _order(oldest)
    low = max(first[0][0], oldest, key=_order)
    if query.since is not None:
        low = max(low, f"{max(_ceil_ms(query.since), 0)}-0", key=_order)
    if query.until is not None and _floor_ms(query.until) < 0:
        return AuditPage([], 0)  # before the epoch: no stream id is that old
    top = "+" if query.until is None else f"{_floor_ms(query.until)}-{MAX_SEQ}"
    if top != "+" and _order(top) < _order(low):
        return AuditPage([], 0)
    if stream == keys.audit and top == "+" and query.since is None and not is_stale:
        total = int(await redis.xlen(stream))
    else:
        total = await _count(redis, stream, actor_filter, low, top)
    high = top
    if query.after is not None and (top == "+" or _order(query.after) <= _order(top)):
        if _order(query.after) <= _order(low):
            return AuditPage([], total)
        high = f"({query.after}"
    wanted = query.offset + query.limit
    found: list[tuple[str, dict[str, str]]] = []
    cursor = high
    while len(found) < wanted:
        count = CHUNK if actor_filter is not None else wanted - len(found)
        chunk: Any = await redis.xrevrange(stream, max=cursor, min=low, count=count)
        found += [(i, f) for i, f in chunk if actor_filter in (None, f.get("a"))]
        if len(chunk) < count:
            break
        cursor = f"({chunk[-1][0]}"
    found = found[query.offset : wanted]
    if stream == keys.audit:
        raws = [(i, f.get("e", "{}")) for i, f in found]
    else:
        raws = await _entries(redis, keys, [i for i, _ in found])
    return AuditPage([AuditRecord.decode(i, raw) for i, raw in raws], total)


def _source(keys: Keys, query: AuditQuery) -> tuple[str, str | None]:
    """The stream a page reads and the actor its entries must have (both filters)."""
    if query.config_id is not None:
        return keys.audit_by_config(query.config_id), query.actor
    if query.actor is not None:
        return keys.audit_by_actor(query.actor), None
    return keys.audit, None


async def _count(
    redis: Redis, stream: str, actor_filter: str | None, low: str, high: str = "+"
) -> int:
    """Entries of ``stream`` in [low, high] (with the actor, if given): read in chunks
    of ids, at most the stream's cap."""
    count = 0
    cursor = low
    while True:
        chunk: Any = await redis.xrange(stream, min=cursor, max=high, count=CHUNK)
        count += sum(1 for _, f in chunk if actor_filter in (None, f.get("a")))
        if len(chunk) < CHUNK:
            return count
        cursor = f"({chunk[-1][0]}"


async def _entries(redis: Redis, keys: Keys, ids: Sequence[str]) -> list[tuple[str, str]]:
    """The entries of index ids, in order, up to the first the main stream no longer
    keeps (it trims oldest first)."""
    if not ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for entry_id in ids:
            pipe.xrange(keys.audit, min=entry_id, max=entry_id, count=1)
        replies = await pipe.execute()
    out: list[tuple[str, str]] = []
    for entry_id, reply in zip(ids, replies, strict=True):
        if not reply:
            break
        out.append((entry_id, reply[0][1].get("e", "{}")))
    return out


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _floor_ms(moment: datetime) -> int:
    return _micros(moment) // 1000


def _ceil_ms(moment: datetime) -> int:
    return -(-_micros(moment) // 1000)
