"""``RawScript``: the one sender of the scheduler's large Lua calls (the engine's fire script,
the bulk path's scripts), by EVALSHA on a connection of the client's pool.

A batch or a chunk is one command of thousands of arguments, which redis-py packs one at a
time in Python (about a microsecond apiece: the largest cost of those paths). Here the whole
command is packed by ``hiredis.pack_command`` in one C call (str, bytes, int and float
arguments; anything else is a TypeError before anything is sent).

Redis without the script (restarted, flushed) answers NOSCRIPT: the script is loaded and
the call sent again, once.

A lost or cancelled call has ONE behaviour: the connection it was on is disconnected (its
reply may still be on its way: a connection is never reused with a half-read reply; the
pool connects it again when it is next used), goes back to the pool, and the error
propagates. The disconnecting is redis-py's ``Connection``'s own (any exception while it
sends or reads a command disconnects it; tests/scheduling/test_evalsha.py pins it); this
sender gives the connection back exactly once, whatever happened. A call Redis answered
with an error (a script error) leaves the connection fine. On a Sentinel pool
(``redis_clients.py``) a ``READONLY`` reply (a demoted primary) is a lost call too: redis-py
disconnects the connection and raises ``ConnectionError``; connected again, it reaches the
primary the Sentinels name (tests/test_redis_clients.py).

``calls`` sends a few plain commands the same way, in ONE write, and reads their replies in
order (the tick's due read and the reads that ride with it, ``core.due_until``): one wake-up
of Redis and of this process instead of one per command. An error reply is raised once the
other replies are read; anything else that fails disconnects the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = str | int | float | bytes
Reply = Callable[[], Awaitable[Any]]
"""The reply of a call sent with ``RawScript.send``: await it once (it gives the connection
back; a caller that gives up on a call still awaits it, or cancels it)."""


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


async def calls(redis: Redis, commands: Sequence[Sequence[Arg]]) -> list[Any]:
    """The replies of ``commands``, sent in one write on one pooled connection (module doc)."""
    packed = b"".join([hiredis.pack_command(tuple(command)) for command in commands])  # type: ignore[arg-type]
    pool = redis.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    replies: list[Any] = []
    error: ResponseError | None = None
    try:
        await write(connection, packed)  # disconnects it on any error
        for _ in commands:
            try:
                replies.append(await connection.read_response())
            except ResponseError as exc:  # an error reply: the others are still read
                error = error or exc
                replies.append(None)
    except BaseException:
        await connection.disconnect()  # a reply may be half read (or unread)
        raise
    finally:
        await pool.release(connection)
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

    async def __call__(self, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        return await (await self.send(keys, args))()

    async def send(self, keys: Sequence[str], args: Sequence[Arg]) -> Reply:
        """Send the call; returns once it is written, with the function that awaits its
        reply (the caller works meanwhile: Redis runs the script)."""
        command: Any = ("EVALSHA", self.sha, len(keys), *keys, *args)  # its stub: 1-tuples
        packed = hiredis.pack_command(command)
        pool = self.redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await write(connection, packed)  # disconnects it on any error
        except BaseException:
            await pool.release(connection)
            raise

        async def reply() -> Any:
            try:
                return await connection.read_response()  # disconnects it on any error
            except NoScriptError:
                pass  # the whole reply was read: the connection is fine
            finally:
                await pool.release(connection)
            await self.redis.script_load(self.text)
            return await self(keys, args)

        return reply
