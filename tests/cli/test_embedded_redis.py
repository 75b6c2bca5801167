"""The embedded Redis of `taskplane dev`: a real TCP server that behaves like Redis where
taskplane relies on it (Lua scripts, error replies on a live connection, streams)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from taskplane.embedded_redis import EmbeddedRedis


async def test_error_replies_keep_the_connection_and_scripts_fall_back_to_eval() -> None:
    with EmbeddedRedis() as server:
        client = aioredis.Redis.from_url(server.url, decode_responses=True)
        try:
            # EVALSHA -> NOSCRIPT -> EVAL happens on one connection
            script = client.register_script("return redis.call('SET', KEYS[1], ARGV[1])")
            assert await script(keys=["k"], args=["v"]) == "OK"
            with pytest.raises(ResponseError, match="WRONGTYPE"):
                await client.hget("k", "field")
            assert await client.get("k") == "v"
            await client.xadd("stream", {"a": "1"})
            await client.xgroup_create("stream", "taskplane", id="0")
            read = await client.xreadgroup("taskplane", "c1", {"stream": ">"}, count=1)
            assert read[0][1][0][1] == {"a": "1"}
        finally:
            await client.aclose()


def test_stop_frees_the_port() -> None:
    server = EmbeddedRedis().start()
    port = server.port
    server.stop()
    again = EmbeddedRedis(port=port).start()  # the same port binds again at once
    again.stop()
