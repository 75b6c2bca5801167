"""How a registration is kept (``registration_store``): a value in the config's state hash
and a shape shared by the configs of one kind. Every text comes back as the object it was,
the value stays short enough for the hash to stay a listpack, it names the whole text, and a
shape lives exactly as long as a registration holds it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from taskplane.actors import CLI
from taskplane.db.configs import ConfigRow
from taskplane.enums import Action, SchedulerType
from taskplane.scheduling import registration, registration_store, specs
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.registration_store import INLINE_MAX, SHAPE_ID_LEN
from taskplane.scheduling.service import SchedulerService
from taskplane.state.keys import Keys
from taskplane.tasks.registry import TaskRegistry
from tests.scheduling.registrations import Config

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
SCHEDULES: list[tuple[SchedulerType, dict[str, Any]]] = [
    (SchedulerType.INTERVAL, {"seconds": 10}),
    (SchedulerType.INTERVAL, {"hours": 2, "run_immediately": False, "jitter_seconds": 5}),
    (SchedulerType.CRON, {"cron_expression": "*/5 * * * *", "timezone": "America/New_York"}),
    (SchedulerType.CRON, {"cron_expression": "0 3 * * *", "exclude": {"dates": ["2030-01-02"]}}),
    (SchedulerType.DATE, {"run_date": "2031-06-01T08:30:00Z"}),
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


class EchoType:
    name = "echo"
    queue = "default"
    timeout_seconds: int | None = 60


def every_10s(config_id: int, **fields: Any) -> ConfigRow:
    return Config(config_id, schedule_config={"seconds": 10}, **fields)


def text_of(config: ConfigRow) -> str:
    spec = specs.parse(config.scheduler_type, config.schedule_config, now=NOW)
    return registration.encode(config, spec, EchoType())


@settings(max_examples=300, deadline=None)
@given(
    config_id=st.integers(min_value=1, max_value=2**53),
    parameters=st.dictionaries(st.text(max_size=12), JSON, max_size=5),
    schedule=st.sampled_from(SCHEDULES),
)
def test_every_text_comes_back_and_its_value_stays_short(
    config_id: int, parameters: dict[str, Any], schedule: tuple[SchedulerType, dict[str, Any]]
) -> None:
    kind, schedule_config = schedule
    config = Config(
        config_id, scheduler_type=kind, schedule_config=schedule_config, parameters=parameters
    )
    text = text_of(config)
    value, sid, shape = registration_store.store(text)
    # the writers' way, without writing and parsing the text, stores exactly the same
    spec = specs.parse(config.scheduler_type, config.schedule_config, now=NOW)
    assert registration.stored(config, spec, EchoType()) == (value, sid, shape)
    assert registration.Encoder(lambda c: EchoType()).stored(config, spec) == (value, sid, shape)
    assert len(value.encode()) <= INLINE_MAX and value.startswith(sid)
    assert len(sid) == SHAPE_ID_LEN and sid == registration_store.shape_id(shape)
    assert "config_id" not in json.loads(shape)["labels"]  # the config's own: in its key
    joined = registration_store.join(config_id, value, shape)
    assert json.loads(joined) == json.loads(text)
    raw = registration_store.read_form(config_id, value, shape)
    assert registration_store.text_of(raw) == joined
    assert registration_store.check_of(raw) == value
    assert registration.decode(raw) == registration.decode(text)


def test_configs_of_one_kind_share_their_shape_and_differ_by_value() -> None:
    one, two = (
        registration_store.store(text_of(every_10s(i, parameters={"message": f"hi {i}"})))
        for i in (1, 2)
    )
    assert one.shape == two.shape and one.shape_id == two.shape_id
    assert one.value != two.value  # the parameters are in the value
    other = registration_store.store(
        text_of(every_10s(1, parameters={"message": "hi 1"}, priority=9))
    )
    assert other.shape_id != one.shape_id  # another run setting: another shape


def test_parameters_json_cannot_write_take_the_model_way_and_store_alike() -> None:
    config = every_10s(4, parameters={"x": float("nan"), "when": datetime(2030, 1, 1)})
    spec = specs.parse(config.scheduler_type, config.schedule_config, now=NOW)
    made = registration.stored(config, spec, EchoType())
    assert made == registration_store.store(registration.encode(config, spec, EchoType()))
    assert registration_store.with_parameters(made, config.parameters) is None


def test_long_parameters_stay_in_a_shape_of_their_own() -> None:
    long = {"body": "x" * INLINE_MAX}
    stored = registration_store.store(text_of(every_10s(3, parameters=long)))
    assert stored.value == stored.shape_id  # the id alone: the hash stays a listpack
    assert json.loads(stored.shape)["kwargs"] == long
    back = registration_store.join(3, stored.value, stored.shape)
    assert json.loads(back) == json.loads(text_of(every_10s(3, parameters=long)))


def test_what_is_no_registration_is_refused_and_reads_as_unreadable() -> None:
    for bad in ("{not json", "[]", '{"labels": 1}'):
        with pytest.raises(ValueError):
            registration_store.store(bad)
    unreadable = registration_store.read_form(1, "abcdefghijkl", None)
    assert registration_store.text_of(unreadable) == ""
    assert registration.decode(unreadable) is None
    assert registration_store.text_of("plain") == "plain"  # a plain text reads as itself
    assert registration_store.check_of("plain") == ""


@pytest.fixture
def core(redis: Redis, keys: Keys, registry: TaskRegistry) -> SchedulerCoreService:
    return SchedulerCoreService(redis, keys, registry)


def _spec(config: ConfigRow) -> specs.Spec:
    return specs.parse(config.scheduler_type, config.schedule_config, now=NOW)


async def test_a_shape_lives_as_long_as_a_registration_holds_it(
    core: SchedulerCoreService, redis: Redis, keys: Keys
) -> None:
    configs = [every_10s(i, parameters={"n": i}) for i in range(1, 6)]
    await core.add_many([(c, _spec(c), None, False) for c in configs], now=NOW)
    [sid] = await redis.hkeys(keys.registration_shapes)
    assert await redis.hget(keys.registration_refs, sid) == "5"
    for config in configs:  # the hash with its status fields and the value: a listpack
        await redis.hset(keys.schedule(config.id), mapping={"status": "active", "note": ""})
        assert await redis.object("encoding", keys.schedule(config.id)) == "listpack"
    long = configs[0]._replace(parameters={"body": "y" * 200})
    await core.replace(long, _spec(long), now=NOW)  # a shape of its own, still a listpack
    assert await redis.object("encoding", keys.schedule(1)) == "listpack"
    assert await redis.hget(keys.registration_refs, sid) == "4"
    assert (await core.get(1)) is not None and (await core.get(1)).kwargs == long.parameters  # type: ignore[union-attr]
    await core.replace(long, _spec(long), now=NOW)  # the same again: counted once
    assert sorted((await redis.hgetall(keys.registration_refs)).values()) == ["1", "4"]
    await core.remove_many([c.id for c in configs])
    assert await redis.exists(keys.registration_shapes, keys.registration_refs) == 0
    assert [await redis.hkeys(keys.schedule(c.id)) for c in configs[:1]] == [["status", "note"]]


async def test_bulk_starts_and_stops_count_shapes_as_the_single_path_does(
    core: SchedulerCoreService, redis: Redis, keys: Keys, registry: TaskRegistry
) -> None:
    """Through the service's bulk path (``APPLY``'s A, F, D and U ops) a shape is counted
    once per registration and goes with the last."""
    svc = SchedulerService(redis, keys, registry)
    configs = [every_10s(i, parameters={"n": i}) for i in range(1, 9)]
    await svc.on_created_many(configs, actor=CLI)
    first = await svc.start_many(configs[:3], actor=CLI)  # F ops: nobody holds them
    rest = await svc.start_many(configs, actor=CLI)  # the first three: already active
    assert not first.errors and not rest.errors
    [sid] = await redis.hkeys(keys.registration_shapes)
    assert await redis.hget(keys.registration_refs, sid) == "8"
    assert await core.get(3) is not None
    by_id = {c.id: c for c in configs}
    reload = await svc.act_many(Action.RELOAD, list(by_id), by_id, actor=CLI)  # A ops
    assert not reload.errors
    assert await redis.hget(keys.registration_refs, sid) == "8"
    await svc.act_many(Action.STOP, list(by_id), by_id, actor=CLI)  # D ops
    assert await redis.exists(keys.registration_shapes, keys.registration_refs) == 0
    assert not any((await core.registered_many([c.id for c in configs])).values())


async def test_reads_past_the_kept_shapes_read_every_registration(
    core: SchedulerCoreService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A core keeps a bounded number of shape texts: a read that passes the bound starts
    afresh and still reads every registration of the batch."""
    from taskplane.scheduling import core as core_module

    monkeypatch.setattr(core_module, "SHAPES_KEPT", 2)
    configs = [every_10s(i, priority=i) for i in range(1, 5)]  # four shapes
    await core.add_many([(c, _spec(c), None, False) for c in configs], now=NOW)
    assert all(await core.raw_many([1, 2]))
    raws = await core.raw_many([c.id for c in configs])
    assert [registration.decode(r).labels["priority"] for r in raws] == [1, 2, 3, 4]  # type: ignore[union-attr]


def test_labels_equal_in_python_but_not_in_json_make_two_shapes() -> None:
    """``True == 1`` in Python: the shapes ``store`` keeps are told apart by type too."""
    base = (
        '{"task_name":"taskplane:echo","labels":{"config_id":1,"x":VALUE},'
        '"kwargs":{},"interval":10}'
    )
    one, true = (registration_store.store(base.replace("VALUE", v)) for v in ("1", "true"))
    assert one.shape_id != true.shape_id
    assert json.loads(true.shape)["labels"]["x"] is True
