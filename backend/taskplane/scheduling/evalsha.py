"""``RawScript`` and ``Channel``: how the scheduler sends its large Lua calls (the engine's
fire script, the bulk path's scripts), by EVALSHA on a connection of the client's pool.

A batch or a chunk is one command of thousands of arguments, which redis-py packs one at a
time in Python (about a microsecond apiece: the largest cost of those paths). Here the whole
command is packed by ``hiredis.pack_command`` in one C call (str, bytes, int and float
arguments; anything else is a TypeError before anything is sent).

A ``Channel`` holds one connection for commands sent back to back, their replies read in
the order sent: Redis runs one connection's commands in that order, so the engine queues its
next fire script (and the read of the batch after it) behind the one Redis runs, and Redis
never waits for a round trip between two batches (``tick.py``). ``RawScript`` is one call on a
channel of its own; ``calls`` a few plain commands in one write (the tick's due read and the
reads that ride with it, ``core.due_until``): one wake-up of Redis and of this process
instead of one per command, an error reply raised once the other replies are read. A
channel writes to a connected connection's transport at once (``write``: redis-py's send
makes a task per write for its socket timeout).

Redis without the script (restarted, flushed) answers NOSCRIPT: ``RawScript`` loads the script
and sends the call again, once (the engine's tick does the same for its batches).

A lost or cancelled call has ONE behaviour: a channel left with replies unread (an error, a
cancel, a reply half read) disconnects its connection (a connection is never reused with a
reply still to come; the pool connects it again when it is next used), gives it back to the
pool, and the error propagates. redis-py's ``Connection`` also disconnects on any error while
it sends or reads (tests/scheduling/test_evalsha.py pins both); a channel gives the connection
back exactly once, whatever happened. A call Redis answered with an error (a script error,
NOSCRIPT) was read whole and leaves the connection fine. On a Sentinel pool
(``redis_clients.py``) a ``READONLY`` reply (a demoted primary) is a lost call too: redis-py
disconnects the connection and raises ``ConnectionError``; connected again, it reaches the
primary the Sentinels name (tests/test_redis_clients.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = str | int | float | bytes
Command = Sequence[Arg]


class Channel:
    """One connection of a client's pool, held for commands sent back to back; ``read``
    returns their replies in the order sent (``async with Channel(redis) as channel``)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._connection: Any = None
        self.unread = 0
        """Replies sent for and not read whole: the connection is dropped at the end if any."""

    async def __aenter__(self) -> Channel:
        self._connection = await self.redis.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        return self

    async def __aexit__(self, *exc: object) -> None:
        connection, self._connection = self._connection, None
        try:
            if self.unread:
                await connection.disconnect()  # a reply may still come: never reuse it
        finally:
            await self.redis.connection_pool.release(connection)

    async def send(self, *commands: Command) -> None:
        """Write the commands at once (packed first: a TypeError sends nothing)."""
        packed = b"".join(hiredis.pack_command(tuple(c)) for c in commands)  # type: ignore[arg-type]
        self.unread += len(commands)
        await write(self._connection, packed)  # disconnects it on any error

    async def read(self) -> Any:
        """The reply of the oldest command not yet read (an error reply raises, read whole)."""
        try:
            reply = await self._connection.read_response()  # disconnects it on any error
        except ResponseError:
            self.unread -= 1  # Redis's answer, read whole: the connection is fine
            raise
        self.unread -= 1
        return reply


async def write(connection: Any, packed: bytes) -> None:
    """``connection.send_packed_command(packed)`` without its task: redis-py wraps every
    write in ``asyncio.wait_for`` for the socket timeout (a task and two more turns of the
    event loop on Python 3.11, twice a tick), which only a socket that takes less than it
    is given can need. A connected connection whose health check is not due (else redis-py
    sends: it connects or PINGs) hands the bytes to its transport at once; whatever the
    socket did not take is drained under the socket timeout. Any failure disconnects it."""
    writer = connection._writer if connection.is_connected else None
    if writer is None or (
        connection.health_check_interval
        and (asyncio.get_running_loop().time() > connection.next_health_check)
    ):
        await connection.send_packed_command(packed)  # disconnects it on any error
        return
    try:
        writer.write(packed)
        if writer.transport.get_write_buffer_size():  # the socket did not take it all
            await asyncio.wait_for(writer.drain(), connection.socket_timeout)
    except BaseException as exc:
        await connection.disconnect(nowait=True)
        if isinstance(exc, asyncio.TimeoutError):  # as redis-py says it
            raise RedisTimeoutError("Timeout writing to socket") from None
        raise


async def calls(redis: Redis, commands: Sequence[Command]) -> list[Any]:
    """The replies of ``commands``, sent in one write on one channel (module doc)."""
    replies: list[Any] = []
    error: ResponseError | None = None
    async with Channel(redis) as channel:
        await channel.send(*commands)
        for _ in commands:
            try:
                replies.append(await channel.read())
            except ResponseError as exc:  # an error reply: the others are still read
                error = error or exc
                replies.append(None)
    if error is not None:
        raise error
    return replies


def score_pairs(rows: list[Any]) -> list[tuple[Any, Any]]:
    """(member, score) of a raw WITHSCORES reply: flat under RESP2, pairs under RESP3."""
    if rows and isinstance(rows[0], list):
        return [(pair[0], pair[1]) for pair in rows]
    return list(zip(rows[::2], rows[1::2], strict=True))


class RawScript:
    """A Lua script of one client, called by EVALSHA packed by hiredis."""

    def __init__(self, redis: Redis, text: str) -> None:
        self.redis = redis
        self.text = text
        self.sha: str = redis.register_script(text).sha

    def command(self, keys: Sequence[str], args: Sequence[Arg]) -> Command:
        """The EVALSHA of a call (to send on a ``Channel``)."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    async def load(self) -> None:
        """Load the script into Redis (after a NOSCRIPT answer)."""
        await self.redis.script_load(self.text)

    async def __call__(self, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        command = self.command(keys, args)
        async with Channel(self.redis) as channel:
            await channel.send(command)
            try:
                return await channel.read()
            except NoScriptError:
                pass  # the whole reply was read: the connection is fine
        await self.load()
        return await self(keys, args)
