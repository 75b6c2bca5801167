"""``evalsha.RawScript``: the one sender of the fire and bulk scripts, against a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ResponseError

from taskplane.scheduling import evalsha
from taskplane.scheduling.evalsha import Channel, RawScript, calls
from taskplane.settings import Settings
from taskplane.state.keys import Keys

ECHO = "return {KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]}"
# about 30 ms of Redis time: the reply of a call cancelled while it runs comes after
SLOW = "local n = 0 for i = 1, 3000000 do n = n + i end return 'slow'"


@pytest.fixture
async def one_connection(settings: Settings) -> Any:
    """A client of ONE pooled connection: a call reuses the connection the last one had."""
    pool = ConnectionPool.from_url(
        settings.redis_url.get_secret_value(), decode_responses=True, max_connections=1
    )
    client = Redis(connection_pool=pool)
    yield client
    await client.aclose()
    await pool.disconnect()


async def test_the_command_is_packed_by_hiredis_as_redis_receives_it(
    redis: Redis, keys: Keys
) -> None:
    echo = RawScript(redis, ECHO)
    args: list[str | int | float | bytes] = ["héllo ✓ \r\n $*", -17, 1764600000000, "x" * 7000]
    assert await echo([keys.due], args) == [keys.due, *(str(a) for a in args[:3]), "x" * 7000]
    with pytest.raises(TypeError):
        await echo([keys.due], [True])  # never sent: the pool still has its connection
    assert await echo([keys.due], ["a", "b", "c", "d"]) == [keys.due, "a", "b", "c", "d"]


async def test_a_cancelled_call_discards_its_connection(one_connection: Redis) -> None:
    """A call cancelled while Redis runs it: its connection is disconnected, never read
    again, so the next call on the pool gets its own reply, not the cancelled one's."""
    slow, echo = RawScript(one_connection, SLOW), RawScript(one_connection, ECHO)
    await slow([], [])  # loaded
    waiting = asyncio.ensure_future(slow([], []))
    await asyncio.sleep(0.005)  # it waits for the reply now
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    [connection] = one_connection.connection_pool._available_connections
    assert not connection.is_connected  # released, and disconnected
    assert await echo(["k"], ["1", "2", "3", "4"]) == ["k", "1", "2", "3", "4"]


async def test_a_channel_reads_replies_in_the_order_sent(one_connection: Redis) -> None:
    """Commands queued on a channel run in the order sent, the next one behind the running
    script (no round trip between them), and their replies come back in that order; a
    channel read to the end leaves its connection for the next call."""
    slow, echo = RawScript(one_connection, SLOW), RawScript(one_connection, ECHO)
    await slow([], [])  # loaded
    async with Channel(one_connection) as channel:
        await channel.send(slow.command([], []), ("SET", "evalsha-k", "after-slow"))
        await channel.send(("GET", "evalsha-k"), echo.command(["k"], ["a", "b", "c", "d"]))
        assert channel.unread == 4
        assert await channel.read() == "slow"
        assert await channel.read() == "OK"
        assert await channel.read() == "after-slow"
        assert await channel.read() == ["k", "a", "b", "c", "d"]
    [connection] = one_connection.connection_pool._available_connections
    assert connection.is_connected
    assert await one_connection.delete("evalsha-k") == 1


async def test_a_channel_left_with_replies_unread_drops_its_connection(
    one_connection: Redis,
) -> None:
    """An error between a send and its read (the engine's planning failed): the queued
    replies are never read by anyone, the connection is disconnected and given back."""
    echo = RawScript(one_connection, ECHO)

    async def interrupted() -> None:
        async with Channel(one_connection) as channel:
            await channel.send(("PING",), ("PING",))
            assert await channel.read() == "PONG"
            raise RuntimeError("planning failed")

    with pytest.raises(RuntimeError, match="planning failed"):
        await interrupted()
    [connection] = one_connection.connection_pool._available_connections
    assert not connection.is_connected
    assert await echo(["k"], ["1", "2", "3", "4"]) == ["k", "1", "2", "3", "4"]


async def test_a_script_error_leaves_the_connection_in_use(one_connection: Redis) -> None:
    failing = RawScript(one_connection, "return redis.error_reply('no thanks')")
    await one_connection.ping()
    [connection] = one_connection.connection_pool._available_connections
    with pytest.raises(ResponseError, match="no thanks"):
        await failing([], [])
    assert connection.is_connected
    assert await one_connection.ping()


async def test_noscript_loads_the_script_and_calls_again(redis: Redis) -> None:
    fresh = RawScript(redis, f"return ARGV[1] -- {uuid.uuid4().hex}")
    assert await redis.script_exists(fresh.sha) == [False]
    assert await fresh([], ["once"]) == "once"
    assert await redis.script_exists(fresh.sha) == [True]


async def test_calls_send_commands_in_one_write_and_read_each_reply(
    one_connection: Redis, keys: Keys
) -> None:
    await one_connection.zadd(keys.due, {"7": 1000, "8": 2000, "x": 3000})
    zrange = ("ZRANGEBYSCORE", keys.due, "-inf", 2500, "WITHSCORES", "LIMIT", 0, 10)
    replies = await calls(one_connection, [zrange, ("ECHO", "héllo"), ("ZCARD", keys.due)])
    pairs = [(m, float(s)) for m, s in evalsha.score_pairs(replies[0])]  # RESP2 or 3
    assert [pairs, replies[1:]] == [[("7", 1000.0), ("8", 2000.0)], ["héllo", 3]]
    await one_connection.delete(keys.due)


def test_score_pairs_reads_resp2_and_resp3_replies() -> None:
    assert evalsha.score_pairs(["7", "1000", "8", "2e3"]) == [("7", "1000"), ("8", "2e3")]
    assert evalsha.score_pairs([["7", 1000.0], ["8", 2000.0]]) == [("7", 1000.0), ("8", 2000.0)]
    assert evalsha.score_pairs([]) == []


async def test_calls_read_every_reply_before_raising_an_error_reply(one_connection: Redis) -> None:
    """An error reply in the middle: the replies after it are read too, so the connection
    (kept: it is in a clean state) gives the next call its own reply."""
    with pytest.raises(ResponseError):
        await calls(one_connection, [("ECHO", "a"), ("INCR", "no number", "extra"), ("ECHO", "b")])
    [connection] = one_connection.connection_pool._available_connections
    assert connection.is_connected
    assert await calls(one_connection, [("ECHO", "c")]) == ["c"]


async def test_calls_cancelled_discard_their_connection(one_connection: Redis) -> None:
    slow = RawScript(one_connection, SLOW)
    await slow([], [])  # loaded
    waiting = asyncio.ensure_future(calls(one_connection, [("EVALSHA", slow.sha, 0)] * 2))
    await asyncio.sleep(0.005)  # it waits for the replies now
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    [connection] = one_connection.connection_pool._available_connections
    assert not connection.is_connected  # released, and disconnected: never read again
    assert await calls(one_connection, [("ECHO", "d")]) == ["d"]


async def test_a_connected_connection_is_written_to_at_once_else_redis_py_sends(
    one_connection: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``write``: a connected connection whose health check is not due gets the bytes from
    its transport (redis-py's send, a task per write, is not used; a payload larger than the
    socket takes is drained); a disconnected one, or one due a health check, through
    redis-py's send (it connects, or PINGs first)."""
    await one_connection.ping()
    [connection] = one_connection.connection_pool._available_connections
    sent: list[int] = []
    send = type(connection).send_packed_command

    async def counted(self: Any, command: Any, check_health: bool = True) -> None:
        sent.append(1)
        await send(self, command, check_health)

    monkeypatch.setattr(type(connection), "send_packed_command", counted)
    big = "x" * 8_000_000  # more than a socket buffer takes at once
    assert await calls(one_connection, [("ECHO", big), ("ECHO", "small")]) == [big, "small"]
    assert sent == []
    connection.next_health_check = 0  # due a health check (health_check_interval > 0)
    connection.health_check_interval = 30
    assert await calls(one_connection, [("ECHO", "checked")]) == ["checked"]
    assert sent  # the PING and the command
    sent.clear()
    await connection.disconnect()
    assert await RawScript(one_connection, ECHO)(["k"], [1, 2, 3, 4]) == ["k", "1", "2", "3", "4"]
    assert sent
    sent.clear()
    assert await calls(one_connection, [("ECHO", "again")]) == ["again"]
    assert sent == []  # connected again, not yet due a health check
