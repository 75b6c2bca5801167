"""The read model's reads: what ``info.py`` composes a ``ScheduleInfo`` from, for a page of
configs in ONE round trip (``queue`` the commands on one pipeline, ``decode`` its replies).

Per page, two commands:
- one read-only Lua script (``TEXT``, run by EVALSHA) returning every config's state hash
  (``Keys.schedule``; its field ``r`` is the registration's value) and, asked for, its
  history's newest events (``Keys.history``), then the shape of each registration
  (``Keys.registration_shapes``: ``registration_store``) in ONE reply: 50 HGETALLs would
  cost 50 commands to pack and 50 replies to parse one by one (the read model's largest
  cost); one nested reply is parsed by hiredis at once. Redis without the script
  (restarted, flushed) answers NOSCRIPT: ``load_script``, read again;
- one ZMSCORE of the due index (``Keys.due``);
- asked for the fire times (``with_skips``): one HMGET of the jittered scores' due times
  (``Keys.jittered_dues``) and each config's requested skips (``Keys.skips``, HGETALL).

Reading only: every write of these keys stays with its owner (``state/schedule_state.py``,
``scheduling/core.py``); their layouts are documented there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from taskiq import ScheduledTask

from taskplane.epoch import from_ms
from taskplane.scheduling import registration, registration_store
from taskplane.scheduling.specs import Spec
from taskplane.state.history import HistoryEvent, read_events
from taskplane.state.keys import Keys
from taskplane.state.schedule_records import ScheduleState, remembered_state

# KEYS: each config's state hash, each followed by its history list when ARGV[1] (the
# number of newest events wanted) is above 0, then the registration shapes hash. Reply: per
# key but the last, HGETALL's flat field / value list or LRANGE's events, in KEYS order;
# then the list of each state hash's registration shape (nil: none).
TEXT = """
local n = tonumber(ARGV[1])
local shapes = KEYS[#KEYS]
local out, found = {}, {}
for i = 1, #KEYS - 1 do
  local key = KEYS[i]
  if n > 0 and i % 2 == 0 then
    out[i] = redis.call('LRANGE', key, 0, n - 1)
  else
    out[i] = redis.call('HGETALL', key)
    local value = redis.call('HGET', key, 'FIELD')
    found[#found + 1] = value and redis.call('HGET', shapes, string.sub(value, 1, WIDTH))
  end
end
out[#KEYS] = found
return out
""".replace("FIELD", registration_store.FIELD).replace(
    "WIDTH", str(registration_store.SHAPE_ID_LEN)
)

SHA = hashlib.sha1(TEXT.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA1


@dataclass(frozen=True, slots=True)
class Registered:
    """One config's registration as the read model sees it: ``is_registered`` (a value is
    stored, readable or not), the stored task (None if absent or unreadable), the due time."""

    is_registered: bool
    task: ScheduledTask | None
    next_due: datetime | None
    # the task's spec, when the reader already has it (``decode``); else the read model
    # parses it from the task's labels
    spec: Spec | None = None
    # the due ms recorded for a jittered score (``fire_times.due_of``), when read
    recorded_due_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Read:
    """One config as read: its state (None without one), newest events, registration."""

    state: ScheduleState | None
    events: list[HistoryEvent]
    registered: Registered
    skips: dict[int, str] = field(default_factory=dict)  # {due ms: note}, when read


def queue(
    pipe: Any, keys: Keys, config_ids: Sequence[int], *, history: int = 0, with_skips: bool = False
) -> None:
    """Queue a page's reads on ``pipe`` (two commands, two replies for ``decode``; with
    ``with_skips`` one more, and one per config)."""
    state_keys: list[str] = []
    for config_id in config_ids:
        state_keys.append(keys.schedule(config_id))
        if history > 0:
            state_keys.append(keys.history(config_id))
    # the module's SHA at call time (a test stands in a text Redis never saw)
    state_keys.append(keys.registration_shapes)
    pipe.evalsha(SHA, len(state_keys), *state_keys, max(history, 0))
    pipe.zmscore(keys.due, [str(c) for c in config_ids])
    if with_skips:
        pipe.hmget(keys.jittered_dues, [str(c) for c in config_ids])
        for config_id in config_ids:
            pipe.hgetall(keys.skips(config_id))


def _registration(config_id: int, flat: Sequence[Any], shape: Any) -> str | None:
    """The read form of a config's registration (``registration_store.read_form``): its
    value from the state hash's fields, with its shape (None: not registered)."""
    for at in range(0, len(flat) - 1, 2):
        if flat[at] == registration_store.FIELD:
            return registration_store.read_form(config_id, flat[at + 1], shape)
    return None


def _skips(found: Any) -> dict[int, str]:
    return {
        int(due): note.decode() if isinstance(note, bytes) else str(note)
        for due, note in found.items()
    }


def decode(config_ids: Sequence[int], replies: Sequence[Any], *, history: int = 0) -> list[Read]:
    """The replies of ``queue``, one ``Read`` per config, in order (a state decoded once
    while its hash reads the same: ``remembered_state``; a registration parsed once per
    text: ``registration.parsed``, whose task object is shared: read it only)."""
    states, scores = replies[:2]
    recorded: Sequence[Any] = replies[2] if len(replies) > 2 else [None] * len(config_ids)
    skips = replies[3:] if len(replies) > 2 else [{}] * len(config_ids)
    width = 2 if history > 0 else 1
    shapes = states[-1]
    out = []
    for i, (config_id, score) in enumerate(zip(config_ids, scores, strict=True)):
        raw = _registration(config_id, states[width * i], shapes[i])
        task, spec = registration.parsed(raw) if raw is not None else (None, None)
        due = from_ms(score) if score is not None else None
        jittered = recorded[i]
        out.append(
            Read(
                remembered_state(config_id, tuple(states[width * i])),
                read_events(states[width * i + 1])[:history] if history > 0 else [],
                Registered(
                    raw is not None,
                    task,
                    due,
                    spec,
                    int(jittered) if jittered is not None else None,
                ),
                _skips(skips[i]),
            )
        )
    return out


async def load_script(redis: Redis) -> None:
    """Load the state script (after Redis answered NOSCRIPT)."""
    await redis.script_load(TEXT)
