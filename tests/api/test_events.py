"""GET /events over a real HTTP server (a stream cannot go through the in-process transport):
status changes and recorded executions arrive within 2 s, a comment line keeps the stream
alive, a viewer may listen, a slow client is dropped without holding anyone up, and the
stream ends when the app shuts down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.api.app import create_app
from taskplane.embedded_redis import free_port
from taskplane.settings import Settings
from taskplane.state import events as live_events
from taskplane.state.keys import Keys
from taskplane.worker.flusher import RecordFlusher
from tests.worker.buffered import buffer_records

ADMIN = {"Authorization": "Bearer admin-test-token"}


@dataclass
class Server:
    app: FastAPI
    base: str
    server: uvicorn.Server
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Server]:
    app = create_app(settings.model_copy(update={"events_keepalive_seconds": 0.3}))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    server.config.timeout_graceful_shutdown = 5
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and not task.done(), "the api did not start"
        await asyncio.sleep(0.05)
    try:
        yield Server(app, f"http://127.0.0.1:{port}/api/v1", server, task)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@dataclass
class Listener:
    """Reads one event stream into ``events`` and ``comments`` until it ends."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    status: int | None = None

    async def read(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        try:
            async with client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                assert response.headers["content-type"].startswith("text/event-stream")
                kind = None
                async for line in response.aiter_lines():
                    if line.startswith(":"):
                        self.comments.append(line)
                        self.connected.set()
                    elif line.startswith("event: "):
                        kind = line[len("event: ") :]
                    elif line.startswith("data: ") and kind is not None:
                        self.events.append((kind, json.loads(line[len("data: ") :])))
                        kind = None
        finally:
            self.connected.set()
            self.ended.set()

    async def wait_for(self, predicate: Any, within: float = 2.0) -> tuple[str, dict[str, Any]]:
        deadline = time.monotonic() + within
        while True:
            for item in self.events:
                if predicate(*item):
                    return item
            if time.monotonic() > deadline:
                raise AssertionError(f"no such event within {within}s: {self.events}")
            await asyncio.sleep(0.02)


async def listen(
    client: httpx.AsyncClient, base: str, headers: dict[str, str]
) -> tuple[Listener, asyncio.Task[None]]:
    listener = Listener()
    task = asyncio.create_task(listener.read(client, f"{base}/events", headers))
    await asyncio.wait_for(listener.connected.wait(), 10)
    return listener, task


async def test_status_changes_and_executions_arrive_within_two_seconds(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    keys: Keys,
) -> None:
    async with serving(settings) as api, httpx.AsyncClient(timeout=30) as http:
        listener, task = await listen(http, api.base, ADMIN)
        created = await http.post(
            f"{api.base}/configs",
            headers=ADMIN,
            json={
                "name": "live",
                "task_type": "echo",
                "scheduler_type": "interval",
                "schedule_config": {"hours": 1},
                "parameters": {"message": "hi"},
            },
        )
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        await listener.wait_for(lambda k, d: k == "schedule" and d == {
            "config_id": cid, "status": "inactive", "event": "created"})  # fmt: skip
        assert (
            await http.post(f"{api.base}/schedules/{cid}/start", headers=ADMIN)
        ).status_code == 200
        await listener.wait_for(lambda k, d: k == "schedule" and d == {
            "config_id": cid, "status": "active", "event": "started"})  # fmt: skip
        assert (
            await http.post(f"{api.base}/schedules/{cid}/pause", headers=ADMIN)
        ).status_code == 200
        await listener.wait_for(lambda k, d: k == "schedule" and d["status"] == "paused")

        # an execution recorded by a worker's flusher
        await buffer_records(redis, keys, settings, [f"{cid}-live"], config_id=cid)
        assert await RecordFlusher(redis, keys, sessions, "w-live").flush_once() == 1
        _, data = await listener.wait_for(lambda k, d: k == "execution")
        rows = (
            await http.get(f"{api.base}/executions", headers=ADMIN, params={"config_id": cid})
        ).json()
        assert data == {
            "config_id": cid,
            "id": rows["items"][0]["id"],
            "is_success": True,
            "trigger": "manual",
        }
        # keep-alive comments while nothing happens (every 0.3 s here, 15 s by default)
        before = len(listener.comments)
        await asyncio.sleep(1.0)
        assert len(listener.comments) >= before + 2
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_viewer_may_listen_and_no_token_may_not(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from taskplane import auth
    from taskplane.enums import Role

    async with sessions() as s, s.begin():
        _, token = await auth.create_token(s, "viewer-events", Role.VIEWER)
    async with serving(settings) as api, httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(f"{api.base}/events")).status_code == 401
        listener, task = await listen(http, api.base, {"Authorization": f"Bearer {token}"})
        assert listener.status == 200
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_stream_ends_when_the_app_shuts_down(settings: Settings) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        async with serving(settings) as api:
            listener, _ = await listen(http, api.base, ADMIN)
            assert not listener.ended.is_set()
        # the server is gone: the stream ended, it did not hang
        await asyncio.wait_for(listener.ended.wait(), 10)


async def drain(sub: live_events.Subscription) -> int:
    """Read a closed subscription to its end; how many events it still had."""
    drained = 0
    while True:
        try:
            event = await sub.get(0.1)
        except StopAsyncIteration:
            return drained
        drained += event is not None


async def test_a_slow_client_is_dropped_and_holds_nobody_up(redis: Redis, keys: Keys) -> None:
    hub = live_events.Hub(redis, keys.events)
    slow, fast = hub.subscribe(), hub.subscribe()
    await hub.ready()
    try:
        payloads = [
            live_events.schedule_event(n, "active", "started")
            for n in range(live_events.QUEUE_SIZE + 10)
        ]
        # the fast one reads as they come; the slow one never reads
        got: list[int] = []

        async def read_fast() -> None:
            while len(got) < len(payloads):
                event = await fast.get(5)
                assert event is not None
                got.append(event.data["config_id"])

        reader = asyncio.create_task(read_fast())
        for chunk in range(0, len(payloads), 100):
            await live_events.publish(redis, keys.events, payloads[chunk : chunk + 100])
            await asyncio.sleep(0.01)
        await asyncio.wait_for(reader, 10)
        assert got == list(range(len(payloads)))
        assert slow not in hub.clients and slow.is_closed  # dropped, not waited for
        drained = await drain(slow)
        assert drained <= live_events.QUEUE_SIZE  # it ends after what it had
    finally:
        await hub.close()
