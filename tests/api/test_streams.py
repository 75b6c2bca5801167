"""OpenStreams: the per-token and the process caps, release on close (idempotent), and
ending one token's streams only."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from taskplane.api.streams import OpenStreams, StreamRefused
from taskplane.auth import ADMIN, Principal
from taskplane.enums import Role
from taskplane.state.events import Hub
from taskplane.state.keys import Keys


def viewer(token_id: int) -> Principal:
    return Principal(f"v{token_id}", Role.VIEWER, token_id)


async def test_caps_release_and_ending_a_tokens_streams(redis: Redis, keys: Keys) -> None:
    hub = Hub(redis, keys.events)
    streams = OpenStreams(hub, per_token=2, total=5)
    try:
        one = [streams.open(viewer(1)) for _ in range(2)]
        with pytest.raises(StreamRefused, match="events_streams_per_token"):
            streams.open(viewer(1))
        admin = [streams.open(ADMIN) for _ in range(2)]  # the settings' token: one token
        with pytest.raises(StreamRefused, match="events_streams_per_token"):
            streams.open(ADMIN)
        two = streams.open(viewer(2))
        with pytest.raises(StreamRefused, match="events_streams_total"):
            streams.open(viewer(3))
        assert len(streams) == 5 and streams.token_ids() == {1, 2}

        assert streams.end_token(1) == 2
        assert all(sub.is_closed for sub in one) and not two.is_closed
        assert not any(sub.is_closed for sub in admin)
        for sub in one:  # each stream's end releases it, once
            streams.close(viewer(1), sub)
            streams.close(viewer(1), sub)
        assert len(streams) == 3 and streams.token_ids() == {2}
        streams.open(viewer(3))
    finally:
        await hub.close()
