"""Fires: the pre-encoded message template and whole-ms interval planning give exactly what
the per-fire path gave (``messages.compose`` of a TaskiqMessage, ``planning.plan``), and the
fire script's events are the state service's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from taskiq import ScheduledTask
from taskiq.message import TaskiqMessage
from taskiq.serializers import JSONSerializer

from taskplane import messages
from taskplane.enums import Event, SchedulerType, Trigger
from taskplane.epoch import from_ms, to_ms
from taskplane.scheduling import registration_store, specs
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.engine import Engine
from taskplane.scheduling.fires import event, iso_of_ms
from taskplane.scheduling.planning import plan, plan_every
from taskplane.scheduling.templates import Registrations
from taskplane.state.keys import Keys
from tests.scheduling.registrations import Config, interval
from tests.stored_events import stored_event
from tests.stored_registrations import put_text
from tests.support import stream_entries

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class TaskType:
    name: str
    queue: str = "default"
    timeout_seconds: int | None = None


@dataclass(frozen=True)
class QueueRegistry:
    queue: str

    def get(self, name: str) -> TaskType:
        return TaskType(name, queue=self.queue)


def old_body(config_id: int, task: ScheduledTask, fire_at: datetime) -> str:
    """The message as the engine built it per fire before templates (a TaskiqMessage
    through ``messages.compose``), from the registration as built (every label: the stored
    text leaves some out, and the engine must send what this sends)."""
    labels = messages.RunLabels.parse(task.labels, task.task_name)
    run = messages.RunLabels(
        config_id=config_id,
        task_type=labels.task_type,
        trigger=Trigger.SCHEDULED,
        queue=labels.queue or messages.DEFAULT_QUEUE,
        max_retries=labels.max_retries or 0,
        timeout_seconds=labels.timeout_seconds,
        priority=labels.priority,
        due_at=fire_at,
    )
    return messages.compose(run, dict(task.kwargs), f"{config_id}-{to_ms(fire_at)}").body.decode()


SPECS = {
    "interval": interval(10),
    "cron": specs.Spec(kind=SchedulerType.CRON, cron="*/5 * * * *", timezone="Europe/Berlin"),
    "date": specs.Spec(kind=SchedulerType.DATE, run_at=T0 + timedelta(hours=1)),
}

PARAMETERS: list[dict[str, Any]] = [
    {},
    {"message": "hi"},
    {"text": 'quote " backslash \\ slash / newline \n tab \t nul \x00 bell \x07'},
    {"unicode": "héllo wörld ✓ 日本 \U0001f600", "emoji key \U0001f680": [1, 2.5, None]},
    {"nested": {"a": [True, False, {"b": "c"}], "n": -12345678901234567890}},
    {"looks like a hole": "\x01task-id\x01", "due": "0001-02-03T04:05:06.789012+00:00"},
    {"html": "<script>alert('x')</script> & </", "ctrl": "\u2028\u2029\x1f"},
]


@pytest.mark.parametrize("kind", sorted(SPECS))
@pytest.mark.parametrize("parameters", PARAMETERS, ids=range(len(PARAMETERS)))
@pytest.mark.parametrize(
    ("timeout", "queue", "retries", "priority"),
    [(30, "default", 2, 3), (None, "emails", 0, 0)],
)
async def test_the_template_writes_the_message_compose_wrote(
    redis: Redis,
    keys: Keys,
    kind: str,
    parameters: dict[str, Any],
    timeout: int | None,
    queue: str,
    retries: int,
    priority: int,
) -> None:
    core = SchedulerCoreService(redis, keys, QueueRegistry(queue))
    config = Config(
        id=41,
        scheduler_type=str(SPECS[kind].kind),
        parameters=parameters,
        max_retries=retries,
        timeout_seconds=timeout,
        priority=priority,
    )
    await core.add(config, SPECS[kind], due_at=T0, now=T0 - timedelta(seconds=1))
    [raw] = await core.raw_many([41])
    template = Registrations().read(41, raw)
    for fire_at in (T0, T0 + timedelta(milliseconds=7), T0 + timedelta(days=400, seconds=1)):
        ms = to_ms(fire_at)
        body = template.body(f"41-{ms}", from_ms(ms).isoformat())
        assert body == old_body(41, core.build(config, SPECS[kind]), fire_at)
        message = messages.decode(body)
        assert message.kwargs == parameters
        labels = messages.RunLabels.of(message)
        assert (labels.config_id, labels.queue, labels.trigger) == (41, queue, Trigger.SCHEDULED)
        assert (labels.max_retries, labels.priority, labels.due_at) == (retries, priority, fire_at)
        assert labels.timeout_seconds == (float(timeout) if timeout else None)


async def test_registrations_with_equal_labels_share_a_shape_and_write_their_own_message(
    redis: Redis, keys: Keys
) -> None:
    """One shape per set of labels but the id (``templates._Shape``): each config's message is
    still its own (its id, its parameters), byte for byte what compose wrote; a label that
    differs (priority, retries, the spec, the queue) is another shape."""
    core = SchedulerCoreService(redis, keys, QueueRegistry("default"))
    emails = SchedulerCoreService(redis, keys, QueueRegistry("emails"))
    configs = [
        (core, Config(id=cid, parameters=PARAMETERS[cid % len(PARAMETERS)]), SPECS["interval"])
        for cid in range(1, 15)
    ]
    configs += [
        (core, Config(id=20, priority=9), SPECS["interval"]),
        (core, Config(id=21, max_retries=5), SPECS["interval"]),
        (core, Config(id=22), SPECS["cron"]),
        (emails, Config(id=23), SPECS["interval"]),
        (emails, Config(id=24, parameters={"x": 1}), SPECS["interval"]),
    ]
    for owner, config, spec in configs:
        await owner.add(config, spec, due_at=T0, now=T0 - timedelta(seconds=1))
    ids = [config.id for _, config, _ in configs]
    registrations = Registrations()
    built = {config.id: owner.build(config, spec) for owner, config, spec in configs}
    for cid, raw in zip(ids, await core.raw_many(ids), strict=True):
        body = registrations.read(cid, raw).body(f"{cid}-{to_ms(T0)}", T0.isoformat())
        assert body == old_body(cid, built[cid], T0)
    assert len(registrations._shapes) == 5  # the 14, then 20, 21, 22, and 23 with 24


@pytest.mark.parametrize("kind", sorted(SPECS))
async def test_a_registration_of_the_previous_format_fires_the_same_message(
    redis: Redis, keys: Keys, kind: str
) -> None:
    """The versions before stored taskiq's serializer's dump (spaced, every null field),
    then the same written compactly (every label): the engine reads either as the compact
    text, into the same run message."""
    core = SchedulerCoreService(redis, keys, QueueRegistry("default"))
    config = Config(id=42, scheduler_type=str(SPECS[kind].kind), parameters={"message": "hi"})
    await core.add(config, SPECS[kind], due_at=T0, now=T0 - timedelta(seconds=1))
    [raw] = await core.raw_many([42])
    compact = raw.decode() if isinstance(raw, bytes) else str(raw)
    task = core.build(config, SPECS[kind])
    previous = JSONSerializer().dumpb(task.model_dump(mode="json")).decode()
    dumped = task.model_dump(mode="json", exclude_none=True)
    previous_compact = json.dumps(dumped, separators=(",", ":"))
    assert "null" in previous and "null" not in compact and len(compact) < len(previous)
    assert len(compact) < len(previous_compact) - 100
    ms = to_ms(T0)
    bodies = {
        Registrations().read(42, text).body(f"42-{ms}", T0.isoformat())
        for text in (compact, previous_compact, previous)
    }
    assert bodies == {old_body(42, task, T0)}


@dataclass
class FakeClock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at


async def history(redis: Redis, keys: Keys, config_id: int) -> list[Any]:
    return [stored_event(e) for e in await redis.lrange(keys.history(config_id), 0, -1)]


async def history_texts(redis: Redis, keys: Keys, config_id: int) -> list[str]:
    return [str(e) for e in await redis.lrange(keys.history(config_id), 0, -1)]


def event_json(kind: Event, at: datetime, details: dict[str, Any]) -> Any:
    return json.loads(event(kind, at, details))


async def test_the_scripts_events_are_the_state_services(redis: Redis, keys: Keys) -> None:
    """The fire script writes the fired / overlap-skipped events: byte for byte the state
    service's format (``fires.event``), catch-up included."""
    core = SchedulerCoreService(redis, keys, QueueRegistry("default"))
    for cid, spec in ((1, interval(10)), (2, interval(10, overlap="skip"))):
        config = Config(id=cid, parameters={"message": f"hi {cid}"})
        await core.add(config, spec, due_at=T0, now=T0 - timedelta(seconds=1))
    clock = FakeClock(T0 + timedelta(seconds=25, microseconds=250))  # two dues missed
    await redis.sadd(keys.running(2), "x")
    await Engine(redis, keys, clock=clock, history_max=50).tick()
    now, due = clock.at, T0 + timedelta(seconds=20)
    details = {"due_at": due.isoformat(), "trigger": "scheduled", "task_id": f"1-{to_ms(due)}"}
    missed = {"reason": "misfire", "missed": 2, "due_at": T0.isoformat(), "policy": "once"}
    assert await history_texts(redis, keys, 1) == [
        event(Event.FIRED, now, {**details, "catch_up": True}),
        event(Event.SKIPPED, now, missed),
    ]
    details["task_id"] = f"2-{to_ms(due)}"
    assert await history_texts(redis, keys, 2) == [
        event(Event.SKIPPED, now, {**details, "catch_up": True, "reason": "overlap"}),
        event(Event.SKIPPED, now, missed),
    ]
    # on time: no catch-up
    clock.at = due + timedelta(seconds=10, milliseconds=3)
    await redis.delete(keys.running(2))
    await Engine(redis, keys, clock=clock, history_max=50).tick()
    due += timedelta(seconds=10)
    [latest, *_] = await history_texts(redis, keys, 1)
    assert latest == event(
        Event.FIRED,
        clock.at,
        {"due_at": due.isoformat(), "trigger": "scheduled", "task_id": f"1-{to_ms(due)}"},
    )
    assert (await history(redis, keys, 2))[0]["event"] == "fired"


BASE_MS = to_ms(T0)


@settings(max_examples=400, deadline=None)
@given(
    step_s=st.integers(min_value=1, max_value=3 * 86400),
    due_off_ms=st.integers(min_value=-(10**9), max_value=10**9),
    now_off_us=st.integers(min_value=-(10**9), max_value=10**13),
    on_time=st.sampled_from([0.0, 0.5, 2.0, 2.5]),
    misfire=st.sampled_from(["once", "skip"]),
    grace=st.integers(min_value=0, max_value=7200),
)
def test_whole_ms_interval_planning_is_plan(
    step_s: int, due_off_ms: int, now_off_us: int, on_time: float, misfire: str, grace: int
) -> None:
    spec = interval(step_s, misfire=misfire, misfire_grace_seconds=grace)
    due_ms = BASE_MS + due_off_ms
    now = from_ms(due_ms) + timedelta(microseconds=now_off_us)
    now_us = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    expected = plan(spec, from_ms(due_ms), now, on_time_seconds=on_time)
    got = plan_every(
        step_s * 1000,
        due_ms,
        to_ms(now),
        now_us,
        on_time_seconds=on_time,
        misfire_grace_seconds=grace if misfire == "once" else None,
    )
    fire_at = to_ms(expected.fire_at) if expected.fire_at is not None else None
    assert expected.next_due is not None
    assert got == (fire_at, to_ms(expected.next_due), expected.missed)


async def test_a_redis_without_the_script_gets_it_loaded(redis: Redis, keys: Keys) -> None:
    """A Redis that lacks the fire script (restarted, flushed): it is loaded and the batch
    sent, once; the next calls run it by EVALSHA."""
    import uuid

    from taskplane.scheduling.evalsha import RawScript
    from taskplane.scheduling.scripts import FIRE

    core = SchedulerCoreService(redis, keys, QueueRegistry("default"))
    await core.add(Config(id=3), interval(10), due_at=T0, now=T0 - timedelta(seconds=1))
    clock = FakeClock(T0)
    engine = Engine(redis, keys, clock=clock, history_max=50)
    unknown = RawScript(redis, f"{FIRE}\n-- {uuid.uuid4().hex}")  # a script Redis lacks
    assert await redis.script_exists(unknown.sha) == [False]
    engine.fire_script = unknown
    assert (await engine.tick()).sent == 1
    assert await redis.script_exists(unknown.sha) == [True]
    clock.at += timedelta(seconds=10)
    assert (await engine.tick()).sent == 1
    assert await redis.xlen(keys.broker_stream("default")) == 2


@pytest.mark.parametrize(
    "parameters",
    [
        {"inf": float("inf"), "nan": float("nan"), "-inf": float("-inf")},
        {"tuple": (1, 2), "when": T0, "bytes": b"xy", "set": {3}, "none": None},
        {"text": 'a "b" \\ \n ✓ \U0001f600', "n": 2**70, "f": 0.1},
    ],
)
def test_compose_and_body_template_write_the_taskiq_messages_dump(
    parameters: dict[str, Any],
) -> None:
    """The run message is written without the TaskiqMessage model, byte for byte what the
    model's JSON dump gives (what taskiq-redis's broker writes and the worker parses)."""
    labels = messages.RunLabels(
        config_id=3, task_type="echo", trigger=Trigger.MANUAL, timeout_seconds=9, due_at=T0
    )
    model = TaskiqMessage(
        task_id="tid",
        task_name=messages.task_name("echo"),
        labels=labels.to_dict(),
        args=[],
        kwargs=parameters,
    )
    by_model = json.dumps(model.model_dump(mode="json"), separators=(",", ":"))
    assert messages.compose(labels, parameters, "tid").body.decode() == by_model
    template = messages.body_template(labels, parameters)
    assert template.fill(task_id="tid", due_at=T0.isoformat()) == by_model


async def test_a_kept_template_is_not_used_once_the_stored_text_changed(
    redis: Redis, keys: Keys
) -> None:
    """A fire planned from a kept template is sent only while the stored registration is
    the text it was made from (the script checks its stored value): a text changed under the same
    due score is read again and fired from the new text, once."""
    core = SchedulerCoreService(redis, keys, QueueRegistry("default"))
    await core.add(
        Config(id=5, parameters={"v": "old"}), interval(10), due_at=T0, now=T0 - timedelta(1)
    )
    clock = FakeClock(T0)
    engine = Engine(redis, keys, clock=clock, history_max=50)
    assert (await engine.tick()).sent == 1
    [raw] = await core.raw_many([5])
    changed = registration_store.text_of(raw).replace('"old"', '"new"')
    await put_text(redis, keys, 5, changed)  # score left alone
    clock.at += timedelta(seconds=10)
    first = await engine.tick()
    assert (first.sent, first.lost) == (0, 1)  # planned from the kept text: not sent
    assert (await engine.tick()).sent == 1  # read again, fired from the new text
    entries = [
        messages.decode(fields["data"])
        for _, fields in await stream_entries(redis, keys.broker_stream("default"))
    ]
    assert [m.kwargs for m in entries] == [{"v": "old"}, {"v": "new"}]
    assert len({m.task_id for m in entries}) == 2


@settings(max_examples=500)
@given(st.integers(min_value=0, max_value=4_102_444_800_000))  # up to 2100
def test_iso_of_ms_is_the_isoformat_of_the_instant(ms: int) -> None:
    assert iso_of_ms(ms) == from_ms(ms).isoformat()


def test_iso_of_ms_on_whole_seconds_floats_and_past_its_cache() -> None:
    for ms in (0, 999, 1000, 1_765_090_000_000, 1_765_090_000_001, 1_765_090_000_999):
        assert iso_of_ms(ms) == from_ms(ms).isoformat()
    assert iso_of_ms(1_765_090_000_000) == "2025-12-07T06:46:40+00:00"  # no fraction
    assert iso_of_ms(1_765_090_000_120) == "2025-12-07T06:46:40.120000+00:00"
    assert iso_of_ms(1_765_090_000_120.5) == from_ms(1_765_090_000_120.5).isoformat()  # type: ignore[arg-type]
    start = 1_765_090_000_007
    for i in range(5000):  # more seconds than it keeps: cleared, still right
        ms = start + i * 1000
        assert iso_of_ms(ms) == from_ms(ms).isoformat()
