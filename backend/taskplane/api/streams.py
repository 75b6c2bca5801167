"""The open ``GET /events`` streams of one api process: bounded and revocable.

A stream is admitted only under two caps (``events_streams_per_token`` for its token, the
settings' admin token counting as one token, and ``events_streams_total`` for the process);
past either the request is refused with 429 before anything streams. Each stream is one hub
``Subscription``: ending it (``Hub.unsubscribe``) ends the stream at once.

Revocation: ``DELETE /tokens/{id}`` ends the token's streams in the process that serves it
(``end_token``); every process also watches the token generation (``token_cache``), which
each revocation replaces, every ``REVOCATION_CHECK_SECONDS``, and when it changed ends the
streams of the tokens that are no longer active (one query for all of them). So a token
revoked through another replica or ``taskplane token revoke`` loses its streams within
seconds. The watch costs one Redis GET per interval, and only while stored tokens stream.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.api.token_cache import TokenCache
from taskplane.auth import Principal
from taskplane.db import tokens
from taskplane.state.events import Hub, Subscription

log = logging.getLogger(__name__)

REVOCATION_CHECK_SECONDS = 2.0
SETTINGS_ADMIN = "settings-admin"


class StreamRefused(Exception):
    """A cap is reached; the message names it."""


@dataclass(frozen=True, slots=True)
class _Owner:
    key: str
    token_id: int | None


def _owner(principal: Principal) -> _Owner:
    if principal.token_id is None:
        return _Owner(SETTINGS_ADMIN, None)
    return _Owner(f"token:{principal.token_id}", principal.token_id)


class OpenStreams:
    """Admits, counts and ends one process's event streams (see the module docstring)."""

    def __init__(self, hub: Hub, *, per_token: int, total: int) -> None:
        self.hub = hub
        self.per_token = per_token
        self.total = total
        self._by_owner: dict[_Owner, set[Subscription]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def open(self, principal: Principal) -> Subscription:
        """A new subscription for ``principal``; StreamRefused past a cap."""
        owner = _owner(principal)
        held = self._by_owner.get(owner, set())
        if len(held) >= self.per_token:
            raise StreamRefused(
                f"this token has {len(held)} open event streams (events_streams_per_token)"
            )
        if self._count >= self.total:
            raise StreamRefused(
                f"the api holds {self._count} open event streams (events_streams_total)"
            )
        sub = self.hub.subscribe()
        self._by_owner.setdefault(owner, set()).add(sub)
        self._count += 1
        return sub

    def close(self, principal: Principal, sub: Subscription) -> None:
        """Release a stream (its end, whatever the reason); idempotent."""
        owner = _owner(principal)
        held = self._by_owner.get(owner)
        if held is not None and sub in held:
            held.discard(sub)
            self._count -= 1
            if not held:
                del self._by_owner[owner]
        self.hub.unsubscribe(sub)

    def end_token(self, token_id: int) -> int:
        """End every stream of a stored token; how many were open."""
        owner = _Owner(f"token:{token_id}", token_id)
        held = list(self._by_owner.get(owner, ()))
        for sub in held:
            self.hub.unsubscribe(sub)  # the stream's end releases it (``close``)
        if held:
            log.info("event streams of a revoked token ended", extra={"token_id": token_id})
        return len(held)

    def token_ids(self) -> set[int]:
        return {o.token_id for o in self._by_owner if o.token_id is not None}

    async def watch_revocations(
        self,
        cache: TokenCache,
        sessions: async_sessionmaker[AsyncSession],
        interval_seconds: float = REVOCATION_CHECK_SECONDS,
    ) -> None:
        """Run until cancelled: end the streams of tokens revoked anywhere."""
        seen: str | None = None
        while True:
            await asyncio.sleep(interval_seconds)
            streaming = self.token_ids()
            if not streaming:
                continue
            try:
                generation = await cache.generation()
                if generation is not None and generation == seen:
                    continue
                async with sessions() as session:
                    active = await tokens.active_ids(session, streaming)
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("revocation check skipped", extra={"error": type(exc).__name__})
                continue
            seen = generation
            for token_id in streaming - active:
                self.end_token(token_id)
