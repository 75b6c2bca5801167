"""The pause timer: a pause with ``until`` ends by itself (API.md, "Pause until").

``Keys.paused_until`` (zset, member = config id, score = the end in epoch ms) indexes the
pauses that end by themselves; the state hash's ``paused_until`` field is the truth. Both
are written by the state's status scripts (``scripts.LUA``'s ``pause_timer`` and
``set_status``): a change to ``paused`` with an ``until`` sets them, every other status
change clears them in the same script, so a resume or stop cancels the timer atomically.

The scheduler reads the due entries (``due``: one ZRANGEBYSCORE ... LIMIT) and resumes each
through the guarded transition (``expect_paused_until``): an entry the hash no longer
matches (stale) changes nothing and is dropped (``drop``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from taskplane.epoch import from_ms, to_ms
from taskplane.state.history import format_instant
from taskplane.state.keys import Keys

# KEYS: 1 the pause timer zset, 2 the config's state hash. ARGV: 1 config id, 2 the timer
# entry's score (epoch ms) as read, 3 the ``paused_until`` that entry stands for, 4 '1' to
# drop it even if the hash still holds that pause (its config is gone).
# Drops the entry only if it is still the one read and the hash no longer holds that pause
# (resumed, stopped or paused again meanwhile): a stale entry does nothing. Returns 1 if
# dropped.
DROP_PAUSE_TIMER = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[4] ~= '1' and redis.call('HGET', KEYS[2], 'paused_until') == ARGV[3] then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""


def pause_args(until: datetime | None) -> tuple[str, int | str]:
    """A pause's end as the state stores it: the fixed-width text of the instant in whole
    milliseconds (the hash's ``paused_until``) and those milliseconds (the timer's score);
    ('', '') for none. Both name the same instant, so the timer's guard compares texts."""
    if until is None:
        return "", ""
    ms = to_ms(until)
    return format_instant(from_ms(ms)), ms


class PauseTimer:
    """The reads of the pause timer (see the module doc)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._drop = redis.register_script(DROP_PAUSE_TIMER)
        self._key = keys.paused_until

    def any_due_command(self, now: datetime) -> tuple[str | int, ...]:
        """The command whose reply is non-empty when a pause is due to end by ``now`` (sent
        by its caller with other commands: the scheduler's tick, ``pause_ends.py``)."""
        return ("ZRANGEBYSCORE", self._key, "-inf", to_ms(now), "LIMIT", 0, 1)

    async def due(self, now: datetime, limit: int = 100) -> list[tuple[int, datetime]]:
        """(config id, until) of the pauses due to end by ``now``, soonest first, at most
        ``limit``. An entry may be stale; the guarded resume ignores it."""
        raw: Any = await self.redis.zrangebyscore(
            self.keys.paused_until, "-inf", to_ms(now), start=0, num=limit, withscores=True
        )
        return [(int(member), from_ms(score)) for member, score in raw]

    async def drop(self, config_id: int, until: datetime, *, is_gone: bool = False) -> bool:
        """Remove a config's entry for ``until`` if its hash no longer holds that pause (or,
        ``is_gone``, its config no longer exists); True if removed."""
        iso, ms = pause_args(until)
        result = await self._drop(
            keys=[self.keys.paused_until, self.keys.schedule(config_id)],
            args=[config_id, ms, iso, "1" if is_gone else "0"],
        )
        return bool(int(result))
