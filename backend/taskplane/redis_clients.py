"""Redis connection pools: the one place they are built, for every process (api, scheduler,
worker and its broker, CLI, and the benches and tests through ``make_redis``).

Two ways to find Redis, chosen by the settings:

- ``TASKPLANE_REDIS_URL`` alone: a ``BlockingConnectionPool`` on that address.
- ``TASKPLANE_REDIS_SENTINELS`` (``host:port,...``) and ``TASKPLANE_REDIS_SENTINEL_MASTER``:
  a pool of the same kind whose every new connection first asks the Sentinels where the
  primary is (redis-py's ``SentinelConnectionPool``, made blocking here). The URL then gives
  only what the data connections carry: user, password, database number, TLS (``rediss://``);
  its host and port are not used. ``TASKPLANE_REDIS_SENTINEL_PASSWORD`` is the Sentinels' own.

How a failover is followed, with no restart: the Sentinels promote a replica and name it.
A connection to the old primary fails (its socket reset when the primary died; a ``READONLY``
reply once it is demoted, which redis-py's ``SentinelManagedConnection`` turns into a
``ConnectionError`` after disconnecting): to its caller that is a Redis outage like any other
(``outage.py`` backs off and retries; the api answers 503; ``scheduling/evalsha.py`` gives
the connection back disconnected). A disconnected connection connects again through the
Sentinels, so it reaches the new primary; when they name a new address, the pool drops its
idle connections at once. Until the Sentinels agree the primary is down, they still name it
(connecting is refused: still an outage); while it is down and not yet replaced, they name
none (``MasterNotFoundError``, a ``ConnectionError``: the same path). The pub/sub listener
(``state/events.py``) resubscribes the same way, and the broker's reads resume (``listen``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from taskplane.logs import redact
from taskplane.settings import Settings

SENTINEL_CONNECT_TIMEOUT_SECONDS = 1.0
SENTINEL_TIMEOUT_SECONDS = 2.0
"""A Sentinel that does not answer within these is skipped for the next one (its address is
asked on every new connection: a dead Sentinel must not hold one up for long)."""


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """A ``SentinelConnectionPool`` that waits for a free connection (with a timeout) like
    ``BlockingConnectionPool`` instead of failing with "Too many connections"; disconnecting
    it also closes its connections to the Sentinels."""

    def __init__(self, service_name: str, sentinels: Sentinel, **kwargs: Any) -> None:
        super().__init__(service_name, sentinels, **kwargs)  # type: ignore[no-untyped-call]

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        sentinels: Sentinel = self.sentinel_manager
        await asyncio.gather(
            *(s.connection_pool.disconnect() for s in sentinels.sentinels),
            return_exceptions=True,
        )


def sentinel_connection_options(settings: Settings) -> dict[str, Any]:
    """What the data connections take from ``redis_url`` under Sentinel: credentials,
    database number, TLS and query options; never its host and port."""
    options: dict[str, Any] = dict(parse_url(settings.redis_url.get_secret_value()))
    options.pop("host", None)
    options.pop("port", None)
    if options.pop("connection_class", None) is not None:  # rediss://
        options["ssl"] = True
    return options


def connection_pool(
    settings: Settings, *, max_connections: int, timeout: float, **options: Any
) -> BlockingConnectionPool:
    """A blocking pool of at most ``max_connections`` (a caller waits up to ``timeout`` s for
    a free one), on the primary as the settings find it; ``options`` are redis-py connection
    options (timeouts, ``decode_responses`` ...)."""
    if not settings.is_sentinel:
        return BlockingConnectionPool.from_url(
            settings.redis_url.get_secret_value(),
            max_connections=max_connections,
            timeout=timeout,
            **options,
        )
    password = settings.redis_sentinel_password
    sentinel_options: dict[str, Any] = {
        "socket_connect_timeout": SENTINEL_CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": SENTINEL_TIMEOUT_SECONDS,
        "decode_responses": True,
    }
    if password is not None:
        sentinel_options["password"] = password.get_secret_value()
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        settings.redis_sentinels, sentinel_kwargs=sentinel_options
    )
    return BlockingSentinelPool(
        settings.redis_sentinel_master,
        sentinel,
        is_master=True,
        max_connections=max_connections,
        timeout=timeout,
        **sentinel_connection_options(settings),
        **options,
    )


def make_redis(settings: Settings, *, pool_size: int | None = None) -> Redis:
    """A client on a blocking pool: waiters queue for a connection (with a timeout) instead
    of failing with "No connection available" under load. Replies are decoded (str)."""
    pool = connection_pool(
        settings,
        max_connections=pool_size or settings.redis_pool_size,
        timeout=10,
        socket_timeout=30,
        socket_connect_timeout=5,
        health_check_interval=30,
        decode_responses=True,
    )
    return Redis(connection_pool=pool)


def describe(settings: Settings) -> str:
    """Where Redis is found, for a log line or the CLI (never a password)."""
    if not settings.is_sentinel:
        return redact(settings.redis_url.get_secret_value())
    nodes = ",".join(f"{host}:{port}" for host, port in settings.redis_sentinels)
    return f"primary {settings.redis_sentinel_master!r} through the Sentinels {nodes}"
