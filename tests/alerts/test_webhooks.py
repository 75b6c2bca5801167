"""Webhooks against a local HTTP receiver (aiohttp on a free loopback port; nothing leaves
the machine): the body and its HMAC signature checked by the receiver, a receiver that is
down for a while then answers gets each alert exactly once, the outbox survives a restart
of the sending process, and a failing webhook is logged once."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from taskplane.embedded_redis import free_port
from taskplane.services import Services
from tests.alerts.conftest import Clock, alert_loop, create
from tests.alerts.test_failing import FAILING, runs

SECRET = "s3cret-for-tests"


class Receiver:
    """A webhook receiver: keeps each body it got and whether its signature was right."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[dict[str, Any], bool]] = []
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        given = request.headers.get("X-Taskplane-Signature", "")
        self.received.append((json.loads(body), hmac.compare_digest(given, expected)))
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(free_port())
    yield r
    await r.stop()


async def test_the_receiver_gets_a_signed_body_for_the_opening_and_the_resolution(
    stack: Services, clock: Clock, receiver: Receiver
) -> None:
    await receiver.start()
    row = await create(stack, "nightly-report", alerts=FAILING, start=False)
    loop = alert_loop(stack, clock, [receiver.url], SECRET)
    try:
        await runs(stack, row.id, clock, False, False)
        await loop.step()
        assert await loop.flush() == 0  # the step's own send already delivered it
        await runs(stack, row.id, clock, True)
        await loop.step()
        await loop.flush()
    finally:
        await loop.close()
    assert [signed for _, signed in receiver.received] == [True, True]
    opened, resolved = (body for body, _ in receiver.received)
    print("WEBHOOK BODIES", json.dumps([opened, resolved], indent=2))  # README's example
    assert set(opened) == {
        "kind", "state", "config_id", "name", "opened_at", "resolved_at", "detail", "text"
    }  # fmt: skip
    assert (opened["kind"], opened["state"], opened["config_id"]) == ("failing", "open", row.id)
    assert opened["resolved_at"] is None
    assert opened["text"] == (
        f'Failing: schedule "nightly-report" (id {row.id}): the last 2 runs failed.'
    )
    assert (resolved["state"], resolved["opened_at"]) == ("resolved", opened["opened_at"])
    assert resolved["resolved_at"] is not None
    assert await stack.alerts.outbox_size() == 0


async def test_a_receiver_down_for_a_while_then_up_gets_the_alert_exactly_once(
    stack: Services, clock: Clock, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    row = await create(stack, "down-for-a-while", alerts=FAILING, start=False)
    loop = alert_loop(stack, clock, [receiver.url], SECRET, backoff_seconds=2)
    caplog.set_level(logging.INFO, logger="taskplane.alerts.webhooks")
    try:
        await runs(stack, row.id, clock, False, False)
        await loop.step()
        for _ in range(4):  # refused again and again, each after its back-off
            await loop.flush()
            clock.advance(20)
        assert receiver.received == []
        assert await stack.alerts.outbox_size() == 1  # kept, waiting for its next try
    finally:
        await loop.close()

    # the sending process restarts: the outbox is in Redis, nothing is lost
    await receiver.start()
    restarted = alert_loop(stack, clock, [receiver.url], SECRET, backoff_seconds=2)
    try:
        clock.advance(60)
        assert await restarted.flush() == 1
        for _ in range(3):
            clock.advance(60)
            assert await restarted.flush() == 0
    finally:
        await restarted.close()
    assert [(body["state"], signed) for body, signed in receiver.received] == [("open", True)]
    failing = [r for r in caplog.records if r.getMessage().startswith("alert webhook failing")]
    assert len(failing) == 1  # logged once for the incident, not once per try
    assert failing[0].__dict__["host"] == "127.0.0.1"  # the host only: a URL may hold a token


async def test_a_webhook_failing_past_the_retry_window_is_given_up(
    stack: Services, clock: Clock, receiver: Receiver
) -> None:
    row = await create(stack, "gone-for-good", alerts=FAILING, start=False)
    loop = alert_loop(stack, clock, [receiver.url], None, give_up_seconds=600)
    try:
        await runs(stack, row.id, clock, False, False)
        await loop.step()
        await loop.flush()
        for _ in range(15):  # 15 minutes of refusals
            clock.advance(60)
            await loop.flush()
    finally:
        await loop.close()
    assert await stack.alerts.outbox_size() == 0
