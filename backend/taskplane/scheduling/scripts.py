"""Lua scripts of the scheduler engine (registered once per client by the engine).

``FIRE`` composes the state service's ``PUSH_EVENT`` (the one way an event joins a history
list), so claiming a fire, sending it and recording it stay one atomic step. It builds the
``fired`` (or overlap ``skipped``) event itself: the engine passes the events' heads once per
batch (``fires.event_head``: the state service's format up to the details) and, per fire,
the due time; the details are ``{due_at, trigger, task_id[, catch_up][, reason]}``, the task id
``{config_id}-{due_ms}`` (tests compare the script's events with ``fires.event``).

``PackedScript`` calls it: a batch is one EVALSHA of ~11 arguments per fire, which redis-py
packs one argument at a time (about half of a fire's CPU); it is packed here in one join.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from taskplane.enums import Trigger
from taskplane.state.scripts import PUSH_EVENT

BATCH_ARGS = 5
ARGS_PER_FIRE = 9
KEYS_PER_FIRE = 4

# KEYS: due, leader lease, then per fire: broker stream, history list, running set, the
#   stored registration.
# ARGV: instance id ('' = no fencing), history_max, history_ttl_seconds, the head of a
#   `fired` event, the head of a `skipped` event, then per fire: config id, expected score,
#   next score ('' = remove), body ('' = send nothing), due ms, due ISO, flags ('o' = overlap
#   check, 'c' = catch-up), one more event recorded first ('' = none), the SHA1 of the
#   registration's text the fire was planned from ('' = no check: read just now).
# Returns per fire: 0 = score changed (not ours any more), 1 = sent, 2 = skipped by overlap,
# 3 = nothing to send (misfire skip, dropped), 4 = the registration's text is not the one
# planned from (nothing done: plan it again). {-1} alone: this instance does not lead.
FIRE = (
    PUSH_EVENT
    + """
local due = KEYS[1]
local me = ARGV[1]
if me ~= '' and redis.call('GET', KEYS[2]) ~= me then
  return {-1}
end
local hmax = ARGV[2]
local ttl = ARGV[3]
local fired_head = ARGV[4]
local skipped_head = ARGV[5]
local out = {}
local n = (#ARGV - 5) / 9
for i = 0, n - 1 do
  local a = 5 + i * 9
  local k = 2 + i * 4
  local cid = ARGV[a + 1]
  local cur = redis.call('ZSCORE', due, cid)
  if (not cur) or tonumber(cur) ~= tonumber(ARGV[a + 2]) then
    out[#out + 1] = 0
  elseif ARGV[a + 9] ~= ''
      and redis.sha1hex(redis.call('GET', KEYS[k + 4]) or '') ~= ARGV[a + 9] then
    out[#out + 1] = 4
  else
    if ARGV[a + 3] == '' then
      redis.call('ZREM', due, cid)
    else
      redis.call('ZADD', due, ARGV[a + 3], cid)
    end
    push_event(KEYS[k + 2], ARGV[a + 8], hmax, ttl)
    local status = 3
    if ARGV[a + 4] ~= '' then
      local flags = ARGV[a + 7]
      local details = '{"due_at":"' .. ARGV[a + 6] .. '","trigger":"TRIGGER","task_id":"'
        .. cid .. '-' .. ARGV[a + 5] .. '"'
      if flags ~= '' and string.find(flags, 'c', 1, true) then
        details = details .. ',"catch_up":true'
      end
      if flags ~= '' and string.find(flags, 'o', 1, true)
          and redis.call('SCARD', KEYS[k + 3]) > 0 then
        push_event(KEYS[k + 2], skipped_head .. details .. ',"reason":"overlap"}}', hmax, ttl)
        status = 2
      else
        redis.call('XADD', KEYS[k + 1], '*', 'data', ARGV[a + 4])
        push_event(KEYS[k + 2], fired_head .. details .. '}}', hmax, ttl)
        status = 1
      end
    end
    out[#out + 1] = status
  end
end
return out
""".replace("TRIGGER", str(Trigger.SCHEDULED))
)


def pack(args: Sequence[str | int | bytes]) -> bytes:
    """A command in the Redis protocol (RESP): what redis-py's ``pack_command`` writes for
    str / int / bytes arguments, in one join."""
    out = [b"*%d\r\n" % len(args)]
    add = out.append
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        else:
            raise TypeError(f"cannot send {type(arg).__name__} to Redis")
        add(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


Reply = Callable[[], Awaitable[Any]]
"""The reply of a call sent with ``PackedScript.send``: await it once (it releases the
connection; an exception while the call is out must still await it)."""


class PackedScript:
    """A Lua script run by EVALSHA with its command packed by ``pack``, on a connection of
    the client's pool. Redis without the script (restarted, flushed): it is loaded (through
    redis-py's ``Script``) and run once that way; the next calls are EVALSHA again."""

    def __init__(self, redis: Redis, text: str) -> None:
        self.redis = redis
        self._script = redis.register_script(text)
        self.sha: str = self._script.sha

    async def __call__(self, keys: Sequence[str], args: Sequence[str | int | bytes]) -> Any:
        return await (await self.send(keys, args))()

    async def send(self, keys: Sequence[str], args: Sequence[str | int | bytes]) -> Reply:
        """Send the call; returns once it is written, with the function that awaits its
        reply (the caller works meanwhile: Redis runs the script)."""
        packed = pack(["EVALSHA", self.sha, len(keys), *keys, *args])
        pool = self.redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(packed)
        except BaseException:
            await self._drop(connection)
            await pool.release(connection)
            raise

        async def reply() -> Any:
            try:
                return await connection.read_response()
            except NoScriptError:
                pass  # the whole reply was read: the connection is fine
            except ResponseError:
                raise
            except BaseException:
                await self._drop(connection)
                raise
            finally:
                await pool.release(connection)
            return await self._script(keys=list(keys), args=list(args))

        return reply

    @staticmethod
    async def _drop(connection: Any) -> None:
        """Lost or cancelled mid-command: its reply may still come, never reuse it."""
        with contextlib.suppress(Exception):
            await connection.disconnect(nowait=True)
