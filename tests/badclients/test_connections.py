"""Clients that abuse the connection itself, against a real api process: a huge header, too
many headers, slow-loris heads, and a stream reader that never reads. Each is cut off, and
/health answers throughout."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket

import pytest
from redis.asyncio import Redis

from taskplane.api.connections import MAX_HEAD_BYTES, MAX_HEADERS
from taskplane.state.keys import Keys
from tests.badclients.conftest import (
    HEALTH,
    STREAMS_PER_TOKEN,
    Api,
    HealthWatch,
    open_streams,
)
from tests.faults.figures import record
from tests.support import eventually

pytestmark = pytest.mark.slow

MIB = 1024 * 1024


async def _head_answer(reader: asyncio.StreamReader) -> bytes:
    with contextlib.suppress(ConnectionError, TimeoutError):
        return await asyncio.wait_for(reader.read(200), 10)
    return b""


async def test_a_64_mib_header_is_refused_without_being_read(
    api: Api, request: pytest.FixtureRequest
) -> None:
    watch = HealthWatch(api)
    sent = 0
    async with watch.during():
        reader, writer = await asyncio.open_connection(api.host, api.port)
        writer.write(f"GET {HEALTH} HTTP/1.1\r\nHost: x\r\nX-Big: ".encode())
        chunk = b"a" * MIB
        try:
            while sent < 64 * MIB:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
            writer.write(b"\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass
        answer = await _head_answer(reader)
        writer.close()
    # unbounded, the api read all 64 MiB (stalling every request meanwhile) and answered 200
    assert sent < 64 * MIB or answer.startswith(b"HTTP/1.1 431"), (sent, answer[:60])
    assert not answer.startswith(b"HTTP/1.1 200")
    assert watch.failures == 0
    record(
        request,
        attack="one 64 MiB header, no token",
        answer=f"431 and reset after the first {MAX_HEAD_BYTES // 1024} KiB of head",
        sent_mib=round(sent / MIB, 1),
        **watch.figures(),
    )


async def _answer_to(api: Api, headers: str) -> bytes:
    reader, writer = await asyncio.open_connection(api.host, api.port)
    writer.write(f"GET {HEALTH} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
    await writer.drain()
    answer = await _head_answer(reader)
    writer.close()
    return answer


async def test_too_many_headers_are_refused_with_431_and_fewer_are_served(api: Api) -> None:
    for count in (MAX_HEADERS + 1, 1000):
        answer = await _answer_to(api, "".join(f"X-H{i}: v\r\n" for i in range(count)))
        assert answer.startswith(b"HTTP/1.1 431"), (count, answer[:60])
    within = "".join(f"X-H{i}: {'v' * 100}\r\n" for i in range(MAX_HEADERS - 1))
    answer = await _answer_to(api, within)
    assert answer.startswith((b"HTTP/1.1 200", b"HTTP/1.1 503")), answer[:60]  # /health


async def test_slow_loris_and_silent_connections_are_closed(
    api: Api, request: pytest.FixtureRequest
) -> None:
    """300 connections each dribble a header line every 0.3 s, never ending the head; 20
    more send nothing at all. The head timeout closes every one of them."""
    watch = HealthWatch(api)
    conns = [await asyncio.open_connection(api.host, api.port) for _ in range(320)]
    closed: set[int] = set()

    async def dribble(index: int, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            if index < 300:
                w.write(f"GET {HEALTH} HTTP/1.1\r\nHost: x\r\n".encode())
                for line in range(1000):
                    w.write(f"X-Slow-{line}: a\r\n".encode())
                    await w.drain()
                    if reader.at_eof():
                        break
                    with contextlib.suppress(TimeoutError):
                        if await asyncio.wait_for(reader.read(1), 0.3) == b"":
                            break
            else:
                await reader.read(1)
        except ConnectionError:
            pass
        closed.add(index)

    async with watch.during():
        tasks = [asyncio.create_task(dribble(i, r, w)) for i, (r, w) in enumerate(conns)]

        async def all_closed() -> bool:
            return len(closed) == len(conns)

        try:
            await eventually(all_closed, within=60)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for _, w in conns:
                w.close()
    assert watch.failures == 0
    record(
        request,
        attack="300 slow-loris heads + 20 silent connections",
        answer="each reset at the head timeout",
        **watch.figures(),
    )


async def test_a_stream_reader_that_never_reads_is_disconnected(
    api: Api, redis: Redis, keys: Keys, request: pytest.FixtureRequest
) -> None:
    """The client opens /events, then reads nothing while fat events fill every buffer: the
    write timeout resets the connection (SO_ERROR is ECONNRESET, nothing was read), which
    frees its stream slot (the per-token cap admits a new stream)."""
    watch = HealthWatch(api)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((api.host, api.port))
    head = f"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.token}\r\n"
    sock.sendall(f"{head}\r\n".encode())
    pad = "x" * 64 * 1024
    fat = f'{{"type":"schedule","config_id":1,"status":"active","event":"e","pad":"{pad}"}}'

    async def reset() -> bool:
        await redis.publish(keys.events, fat)
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNRESET

    async with watch.during():
        try:
            await eventually(reset, within=60)
        finally:
            sock.close()

    async def all_admitted() -> bool:
        async with open_streams(api, [api.token] * STREAMS_PER_TOKEN) as statuses:
            return statuses == [200] * STREAMS_PER_TOKEN

    # the reset stream holds no slot (the server lets it go once its write fails: a moment
    # after the client sees the reset, under load)
    await eventually(all_admitted, within=15)
    assert watch.failures == 0
    record(
        request,
        attack="an /events client that never reads",
        answer="reset at the write timeout; its stream slot freed",
        **watch.figures(),
    )
