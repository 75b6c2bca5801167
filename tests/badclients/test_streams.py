"""Event streams against a real api process: one token's 1,000 streams, the process cap,
and revocation (through this api, and through another replica) ending a token's streams."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import auth
from taskplane.api import token_cache
from taskplane.db import tokens
from taskplane.enums import Role
from taskplane.state.keys import Keys
from tests.badclients.conftest import (
    STREAMS_PER_TOKEN,
    STREAMS_TOTAL,
    Api,
    HealthWatch,
    open_streams,
)
from tests.faults.figures import record

pytestmark = pytest.mark.slow

# one test client opening 1,000 connections at once is slower to send each head than the
# short head timeout of the other bad-client tests
API_ENV = {"TASKPLANE_API_HEAD_TIMEOUT_SECONDS": "60"}


async def _viewer(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, str]:
    async with sessions() as s, s.begin():
        row, plaintext = await auth.create_token(s, "viewer", Role.VIEWER)
    return row.id, plaintext


async def test_one_viewer_opening_1000_streams_gets_its_cap_and_429s(
    api: Api, sessions: async_sessionmaker[AsyncSession], request: pytest.FixtureRequest
) -> None:
    _, viewer = await _viewer(sessions)
    watch = HealthWatch(api)
    async with watch.during(), open_streams(api, [viewer] * 1000) as statuses:
        assert statuses.count(200) == STREAMS_PER_TOKEN
        assert statuses.count(429) == 1000 - STREAMS_PER_TOKEN
    assert watch.failures == 0
    record(
        request,
        attack="1,000 /events streams of one viewer",
        answer=f"{STREAMS_PER_TOKEN} streams, then 429 (per-token cap)",
        **watch.figures(),
    )


async def test_streams_past_the_process_cap_are_429(
    api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    viewers = [(await _viewer(sessions))[1] for _ in range(STREAMS_TOTAL // STREAMS_PER_TOKEN + 1)]
    wanted = [v for v in viewers for _ in range(STREAMS_PER_TOKEN)]
    assert len(wanted) > STREAMS_TOTAL
    async with open_streams(api, wanted) as statuses:
        assert statuses.count(200) == STREAMS_TOTAL
        assert statuses.count(429) == len(wanted) - STREAMS_TOTAL


async def _ends(api: Api, token: str, revoke: object) -> None:
    """Open a stream, run ``revoke``, and wait (bounded) for the stream to end."""
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
        async with client.stream(
            "GET", "/api/v1/events", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith("retry:")
            await revoke()  # type: ignore[operator]

            async def drain() -> None:
                async for _ in lines:
                    pass

            # keep-alive comments come every 0.5 s: only the revocation ends the stream
            await asyncio.wait_for(drain(), 15)


async def test_revoking_a_token_here_ends_its_streams(
    api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    token_id, viewer = await _viewer(sessions)

    async def revoke() -> None:
        async with httpx.AsyncClient(base_url=api.base) as admin:
            response = await admin.delete(
                f"/api/v1/tokens/{token_id}", headers={"Authorization": f"Bearer {api.token}"}
            )
            assert response.status_code == 204

    await _ends(api, viewer, revoke)


async def test_revoking_a_token_elsewhere_ends_its_streams_within_seconds(
    api: Api, sessions: async_sessionmaker[AsyncSession], redis: Redis, keys: Keys
) -> None:
    """As another replica or ``taskplane token revoke`` does: commit, new token generation."""
    token_id, viewer = await _viewer(sessions)

    async def revoke() -> None:
        async def commit() -> None:
            async with sessions() as s, s.begin():
                await tokens.revoke(s, token_id)

        await token_cache.revoked(redis, keys, commit)

    await _ends(api, viewer, revoke)
