"""The audit trail: one entry per change made through the API or the CLI (``GET /audit``).

Kept in Redis, the state package's key family ``Keys.audit*`` (docs/redis.md):

- ``Keys.audit`` (stream): field ``e`` = JSON ``{actor, action, config_id, config_name,
  note, details}``; the stream entry id is the audit id (Redis makes it from its clock,
  strictly increasing: never reused) and its milliseconds are the entry's ``at``. Capped by
  count (``XADD MAXLEN audit_max_entries``, exact: a write removes about one) and
  by age (``XTRIM MINID`` now less ``audit_retention_days``) at every write; reads leave
  out what aged past the retention since the last write.
- ``Keys.audit_by_config(cid)`` / ``Keys.audit_by_actor(name)`` (streams): indexes, the same
  ids, field ``a`` (the actor) / ``c`` (the config id, '' none), trimmed alike and expiring
  ``audit_retention_days`` after their last write. A filtered page reads its index, then
  the entries (one XRANGE each, one pipeline); an index entry whose entry the main stream
  has trimmed ends the page (the main stream trims oldest first). Entries outlive their
  config: a delete removes state and history, never the audit keys.

Writes: ``LUA``'s ``audit`` function, composed into the state service's scripts, so an
entry is written atomically with the change it records (create, transition, metadata,
event). What is not such a script (a config's deletion, a bulk chunk's changes, tokens)
calls ``AuditLog.record`` / ``record_many`` right after the change (the same function in
the ``RECORD`` script): the change is committed first, so a lost Redis at that moment loses
the entry, never the change.

Reads (``AuditLog.page``): ``audit_pages.read``, newest first, without scanning what a
page does not show (its module doc says what a filtered page and its ``total`` cost).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from taskplane.actors import Actor
from taskplane.epoch import to_ms
from taskplane.state import audit_pages
from taskplane.state.audit_pages import AuditPage, AuditQuery
from taskplane.state.keys import Keys

if TYPE_CHECKING:
    from taskplane.settings import Settings

AUDITED_EVENTS = frozenset(
    {
        "created",
        "updated",
        "started",
        "stopped",
        "paused",
        "resumed",
        "reloaded",
        "run_requested",
        "skipped_runs",
        "backfill",
        "applied",
    }
)
"""The history events that, caused through the API or the CLI, are also audit entries."""
DELETED, TOKEN_CREATED, TOKEN_REVOKED = "deleted", "token_created", "token_revoked"
"""Audit actions that are no history event."""

KEYS_PER_ENTRY = 3
"""An entry's KEYS in a script: the stream, its config index, its actor index."""
ARGS_PER_ENTRY = 6
"""An entry's ARGV: entry JSON ('' = none), actor, config id ('' = none), max entries, min
id, the indexes' TTL ms."""

LUA = """
local function audit(keys, k, args, a)
  local entry = args[a]
  if entry == nil or entry == '' then return false end
  local maxlen, minid, ttl = args[a + 3], args[a + 4], args[a + 5]
  local id = redis.call('XADD', keys[k], 'MAXLEN', maxlen, '*', 'e', entry)
  redis.call('XTRIM', keys[k], 'MINID', minid)
  local function index(key, name, value)
    redis.call('XADD', key, 'MAXLEN', maxlen, id, name, value)
    redis.call('XTRIM', key, 'MINID', minid)
    redis.call('PEXPIRE', key, ttl)
  end
  if args[a + 2] ~= '' then index(keys[k + 1], 'a', args[a + 1]) end
  index(keys[k + 2], 'c', args[a + 2])
  return id
end
"""
"""The one way an entry joins the trail (with its indexes, caps and TTL): a Lua function
every script that records an audited change composes. ``keys[k..k+2]`` and
``args[a..a+5]`` as ``KEYS_PER_ENTRY`` / ``ARGS_PER_ENTRY`` say; entry '' records nothing.
Returns the entry's id (false for none)."""

# KEYS: per entry KEYS_PER_ENTRY; ARGV: per entry ARGS_PER_ENTRY. Returns the ids.
RECORD = (
    LUA
    + f"""
local out = {{}}
for i = 0, #KEYS / {KEYS_PER_ENTRY} - 1 do
  out[#out + 1] = audit(KEYS, i * {KEYS_PER_ENTRY} + 1, ARGV, i * {ARGS_PER_ENTRY} + 1)
end
return out
"""
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change, as the trail records it (``id`` and ``at`` are the stream's)."""

    actor: str
    action: str
    config_id: int | None
    config_name: str | None
    note: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "actor": self.actor,
                "action": self.action,
                "config_id": self.config_id,
                "config_name": self.config_name,
                "note": self.note,
                "details": self.details,
            },
            separators=(",", ":"),
            default=str,
        )


class AuditLog:
    """Writes and reads of the audit trail (see the module doc)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        max_entries: int = 100_000,
        retention_days: int = 90,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.max_entries = max_entries
        self.retention_ms = retention_days * 86_400_000
        self.clock = clock or (lambda: datetime.now(UTC))
        self._record = redis.register_script(RECORD)

    @classmethod
    def from_settings(cls, redis: Redis, keys: Keys, settings: Settings) -> AuditLog:
        return cls(
            redis,
            keys,
            max_entries=settings.audit_max_entries,
            retention_days=settings.audit_retention_days,
        )

    # --- for the scripts that write an entry with their change -------------------------

    def script_keys(self, actor: Actor, config_id: int | None) -> list[str]:
        """The KEYS of one entry (``LUA``'s ``audit``)."""
        return [
            self.keys.audit,
            self.keys.audit_by_config(config_id) if config_id is not None else self.keys.audit,
            self.keys.audit_by_actor(actor.name),
        ]

    def script_args(self, actor: Actor, entry: AuditEntry | None) -> list[Any]:
        """The ARGV of one entry (``LUA``'s ``audit``); ``entry`` None (or an actor that is
        not audited) records nothing."""
        now_ms = to_ms(self.clock())
        audited = entry is not None and actor.is_audited
        return [
            entry.to_json() if audited and entry is not None else "",
            actor.name,
            "" if entry is None or entry.config_id is None else entry.config_id,
            self.max_entries,
            f"{max(now_ms - self.retention_ms, 0)}-0",
            self.retention_ms,
        ]

    def entry_of(
        self,
        actor: Actor,
        action: str,
        config_id: int | None,
        config_name: str | None,
        note: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry | None:
        """The entry of a history event ``action``, if it is one the trail keeps and the
        actor is audited; else None."""
        if not actor.is_audited or action not in AUDITED_EVENTS:
            return None
        return AuditEntry(actor.name, action, config_id, config_name, note, dict(details or {}))

    # --- writes of their own -----------------------------------------------------------

    async def record(
        self,
        actor: Actor,
        action: str,
        config_id: int | None,
        config_name: str | None,
        note: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Write one entry (None, nothing written, for an actor that is not audited)."""
        entry = AuditEntry(actor.name, action, config_id, config_name, note, dict(details or {}))
        ids = await self.record_many(actor, [entry])
        return ids[0] if ids else None

    async def record_many(self, actor: Actor, entries: Sequence[AuditEntry]) -> list[str]:
        """Write entries in order, in one script call; their ids (none for an actor that
        is not audited)."""
        if not actor.is_audited or not entries:
            return []
        keys: list[str] = []
        args: list[Any] = []
        for entry in entries:
            keys += self.script_keys(actor, entry.config_id)
            args += self.script_args(actor, entry)
        ids: list[Any] = await self._record(keys=keys, args=args)
        return [str(i) for i in ids]

    async def forget_config(self, config_id: int) -> None:
        """Remove a config's entries (the undo of a create that failed: its id is never
        given again, so its index holds exactly what that request wrote)."""
        index = self.keys.audit_by_config(config_id)
        found: Any = await self.redis.xrange(index)
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry_id, fields in found:
                pipe.xdel(self.keys.audit, entry_id)
                pipe.xdel(self.keys.audit_by_actor(fields.get("a", "")), entry_id)
            pipe.delete(index)
            await pipe.execute()

    # --- reads ----------------------------------------------------------------------------

    async def page(self, query: AuditQuery) -> AuditPage:
        """A page of entries, newest first, and how many match the filters (the cursor
        ``after`` and ``offset`` leave ``total`` alone; ``audit_pages.read``)."""
        return await audit_pages.read(
            self.redis, self.keys, query, oldest_ms=to_ms(self.clock()) - self.retention_ms
        )
