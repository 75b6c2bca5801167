"""redis_clients.py: the settings choose the pool (an address, or the primary the Sentinels
name); a client on a Sentinel pool follows a failover by itself, and so do the raw EVALSHA
sender and the events hub's subscription (real servers: a primary, a replica and three
Sentinels of the test's own; Sentinel's manual ``FAILOVER``, or ``kill -9`` of the primary)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.sentinel import MasterNotFoundError
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError

from taskplane.redis_clients import (
    BlockingSentinelPool,
    connection_pool,
    describe,
    make_redis,
    sentinel_connection_options,
)
from taskplane.scheduling.evalsha import RawScript
from taskplane.settings import Settings, SettingsError, load_settings
from taskplane.state import events
from tests.faults.sentinels import MASTER, ReplicatedRedis, replicated_redis
from tests.support import eventually


def sentinel_settings(**values: Any) -> Settings:
    return Settings(
        _env_file=None,
        redis_sentinels="10.0.0.1:26379, sentinel-2:26380",
        redis_sentinel_master="tp",
        **values,
    )


def test_sentinels_are_read_as_host_port_pairs() -> None:
    settings = sentinel_settings()
    assert settings.redis_sentinels == [("10.0.0.1", 26379), ("sentinel-2", 26380)]
    assert settings.is_sentinel
    assert not Settings(_env_file=None).is_sentinel


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"redis_sentinels": "sentinel-1"}, "TASKPLANE_REDIS_SENTINELS"),
        ({"redis_sentinels": "sentinel-1:port"}, "TASKPLANE_REDIS_SENTINELS"),
        ({"redis_sentinels": "sentinel-1:70000"}, "TASKPLANE_REDIS_SENTINELS"),
        ({"redis_sentinels": ":26379"}, "TASKPLANE_REDIS_SENTINELS"),
        ({"redis_sentinels": "s:26379"}, "TASKPLANE_REDIS_SENTINEL_MASTER"),
        (
            {
                "redis_sentinels": "s:26379",
                "redis_sentinel_master": "tp",
                "redis_url": "unix:///tmp/redis.sock",
            },
            "TASKPLANE_REDIS_URL",
        ),
    ],
)
def test_a_bad_sentinel_setting_stops_the_process_naming_it(
    values: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(_env_file=None, **values)


def test_an_address_gives_a_plain_blocking_pool() -> None:
    settings = Settings(_env_file=None, redis_url="redis://:pw@10.1.2.3:6380/4")
    pool = connection_pool(settings, max_connections=3, timeout=1)
    assert type(pool) is BlockingConnectionPool
    assert pool.connection_kwargs["host"] == "10.1.2.3"
    assert pool.connection_kwargs["port"] == 6380
    assert describe(settings) == "redis://:***@10.1.2.3:6380/4"


def test_under_sentinel_the_url_gives_credentials_db_and_tls_never_its_address() -> None:
    settings = sentinel_settings(
        redis_url="rediss://app:data-pw@unused.example:6390/3",
        redis_sentinel_password="sentinel-pw",
    )
    assert sentinel_connection_options(settings) == {
        "username": "app",
        "password": "data-pw",
        "db": 3,
        "ssl": True,
    }
    pool = connection_pool(settings, max_connections=3, timeout=1)
    assert isinstance(pool, BlockingSentinelPool) and isinstance(pool, BlockingConnectionPool)
    assert pool.service_name == "tp" and pool.is_master
    assert "host" not in pool.connection_kwargs
    assert pool.connection_kwargs["password"] == "data-pw"
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [26379, 26380]
    assert {s.connection_pool.connection_kwargs["password"] for s in sentinels} == {"sentinel-pw"}
    text = describe(settings)
    assert "'tp'" in text and "10.0.0.1:26379" in text and "pw" not in text


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[ReplicatedRedis]:
    with replicated_redis(tmp_path) as servers:
        yield servers


def on(port: int, password: str | None = None) -> redis.Redis:
    return redis.Redis(port=port, password=password, socket_timeout=2, decode_responses=True)


@pytest.mark.slow
async def test_a_client_on_sentinel_follows_a_failover_without_being_rebuilt(
    replicated: ReplicatedRedis,
) -> None:
    settings = Settings(
        _env_file=None,
        redis_url="redis://127.0.0.1:9/0",  # nothing listens: only the Sentinels lead to Redis
        redis_sentinels=replicated.sentinels,
        redis_sentinel_master=MASTER,
    )
    client = make_redis(settings, pool_size=4)
    script = RawScript(client, "return redis.call('SET', KEYS[1], ARGV[1])")
    try:
        assert await client.set("before", "1")
        assert await script(["raw-before"], ["1"]) == "OK"
        assert on(replicated.primary.port).get("raw-before") == "1"

        old = ("127.0.0.1", replicated.primary.port)
        on(replicated.watchers[0].port).execute_command(  # type: ignore[no-untyped-call]
            "SENTINEL", "FAILOVER", MASTER
        )

        async def promoted() -> bool:
            address = replicated.master_address()
            return address is not None and address != old

        await eventually(promoted, within=30)
        new_port = replicated.replica.port
        assert replicated.master_address() == ("127.0.0.1", new_port)

        async def writes_land_on_the_new_primary() -> bool:
            try:
                await client.set("after", "2")
                await script(["raw-after"], ["2"])
            except RedisConnectionError:  # one call on a connection to the old primary
                return False
            return on(new_port).get("after") == "2" and on(new_port).get("raw-after") == "2"

        await eventually(writes_land_on_the_new_primary, within=30)
        assert await client.get("before") == "1"  # replicated before the failover
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr("counter")
            pipe.incr("counter")
            assert await pipe.execute() == [1, 2]
        assert on(new_port).get("counter") == "2"
    finally:
        await client.aclose()
        await client.connection_pool.disconnect()


@pytest.mark.slow
async def test_the_events_hub_listens_on_the_new_primary_after_a_kill_9(
    replicated: ReplicatedRedis,
) -> None:
    settings = Settings(
        _env_file=None,
        redis_url="redis://127.0.0.1:9/0",
        redis_sentinels=replicated.sentinels,
        redis_sentinel_master=MASTER,
    )
    client = make_redis(settings, pool_size=4)
    hub = events.Hub(client, "tp-test:events")
    sub = hub.subscribe()
    try:
        await hub.ready(within=10)
        await events.publish(client, hub.channel, [events.schedule_event(1, "active", "before")])
        got = await sub.get(5)
        assert got is not None and got.data["event"] == "before"

        old = ("127.0.0.1", replicated.primary.port)
        replicated.primary.kill()

        async def promoted() -> bool:
            address = replicated.master_address()
            return address is not None and address != old

        await eventually(promoted, within=30)

        async def delivered() -> bool:  # published through the Sentinels, heard by the hub
            await events.publish(client, hub.channel, [events.schedule_event(2, "paused", "after")])
            got = await sub.get(0.5)
            return got is not None and got.data["event"] == "after"

        await eventually(delivered, within=30)
    finally:
        await hub.close()
        await client.aclose()
        await client.connection_pool.disconnect()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicatedRedis]:
    with replicated_redis(
        tmp_path_factory.mktemp("guarded"), data_password="data-pw", sentinel_password="sentinel-pw"
    ) as servers:
        yield servers


@pytest.mark.slow
@pytest.mark.parametrize(
    ("url", "sentinel_password", "refused_by"),
    [
        ("redis://:data-pw@127.0.0.1:9/0", "sentinel-pw", None),
        ("redis://:wrong@127.0.0.1:9/0", "sentinel-pw", AuthenticationError),
        ("redis://:data-pw@127.0.0.1:9/0", "wrong", MasterNotFoundError),
        ("redis://:data-pw@127.0.0.1:9/0", None, MasterNotFoundError),
    ],
)
async def test_the_data_password_is_the_urls_and_the_sentinels_their_own(
    guarded: ReplicatedRedis,
    url: str,
    sentinel_password: str | None,
    refused_by: type[Exception] | None,
) -> None:
    settings = Settings(
        _env_file=None,
        redis_url=url,
        redis_sentinels=guarded.sentinels,
        redis_sentinel_master=MASTER,
        redis_sentinel_password=sentinel_password,
    )
    client = make_redis(settings, pool_size=2)
    key = f"guarded:{url}:{sentinel_password}"  # the servers serve every case
    try:
        if refused_by is None:
            assert await client.set(key, "yes")
            assert on(guarded.primary.port, "data-pw").get(key) == "yes"
        else:
            with pytest.raises(refused_by):
                await client.set(key, "no")
            assert on(guarded.primary.port, "data-pw").get(key) is None
    finally:
        await client.aclose()
        await client.connection_pool.disconnect()
