"""The engine's exclusions, requested skips and jitter against real Redis on a fake clock,
and the property that what it sends over a simulated year is what ``next_runs`` promised."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from taskplane.epoch import from_ms, to_ms
from taskplane.resources import make_redis
from taskplane.scheduling import calendar, fire_times, specs
from taskplane.scheduling.engine import Engine
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.skips import SkipStore
from tests.conftest import delete_prefix
from tests.scheduling.registrations import register
from tests.scheduling.test_engine import FakeClock, history, sent
from tests.stored_events import stored_event

BERLIN = {"cron_expression": "0 9 * * *", "timezone": "Europe/Berlin"}


async def skip(
    redis: Redis, keys: Keys, cid: int, dues: dict[datetime, str], now: datetime
) -> None:
    await SkipStore(redis, keys).change(
        cid,
        {to_ms(d): note for d, note in dues.items()},
        is_skip=True,
        now_ms=to_ms(now),
        history=keys.history(cid),
        event="",
        history_max=50,
        history_ttl_seconds=3600,
    )


async def run_until(
    engine: Engine, redis: Redis, keys: Keys, clock: FakeClock, end: datetime
) -> None:
    """Tick at each score of the due index (exactly at it) until ``end``."""
    while True:
        head = await redis.zrange(keys.due, 0, 0, withscores=True)
        if not head or from_ms(float(head[0][1])) > end:
            return
        clock.at = max(clock.at, from_ms(float(head[0][1])))
        await engine.tick()


async def test_holidays_and_dates_do_not_fire_and_are_recorded_as_excluded(
    redis: Redis, keys: Keys
) -> None:
    spec = specs.parse(
        "cron",
        {
            **BERLIN,
            "exclude": {
                "dates": ["2026-12-28"],
                "holidays": {"country": "DE", "subdivision": "BY"},
            },
        },
    )
    first = datetime(2026, 12, 24, 8, tzinfo=UTC)
    clock = FakeClock(first)
    engine = Engine(redis, keys, clock=clock, history_max=50)
    await register(redis, keys, 5, spec, first)
    await run_until(engine, redis, keys, clock, datetime(2026, 12, 29, 12, tzinfo=UTC))
    dues = [m["labels"]["due_at"][:10] for m in await sent(redis, keys)]
    assert dues == ["2026-12-24", "2026-12-27", "2026-12-29"]
    skipped = [
        e["details"] for e in reversed(await history(redis, keys, 5)) if e["event"] == "skipped"
    ]
    assert skipped == [
        {"reason": "excluded", "due_at": "2026-12-25T08:00:00+00:00", "holiday": "Christmas Day"},
        {
            "reason": "excluded",
            "due_at": "2026-12-26T08:00:00+00:00",
            "holiday": "Second Day of Christmas",
        },
        {"reason": "excluded", "due_at": "2026-12-28T08:00:00+00:00"},
    ]


async def test_a_requested_skip_is_recorded_with_its_note_and_pruned(
    redis: Redis, keys: Keys
) -> None:
    t0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
    spec = specs.parse("interval", {"minutes": 1})
    await register(redis, keys, 8, spec, t0)
    await skip(redis, keys, 8, {t0 + timedelta(minutes=1): "release"}, t0)
    clock = FakeClock(t0)
    engine = Engine(redis, keys, clock=clock, history_max=50)
    await run_until(engine, redis, keys, clock, t0 + timedelta(minutes=2))
    dues = [m["labels"]["due_at"] for m in await sent(redis, keys)]
    assert dues == [t0.isoformat(), (t0 + timedelta(minutes=2)).isoformat()]
    [skipped] = [e for e in await history(redis, keys, 8) if e["event"] == "skipped"]
    assert skipped["details"] == {
        "reason": "requested",
        "due_at": (t0 + timedelta(minutes=1)).isoformat(),
        "note": "release",
    }
    assert await redis.exists(keys.skips(8)) == 0
    assert await redis.sismember(keys.skipping, "8") == 0


async def test_a_skip_made_after_the_engine_read_its_copy_still_holds(
    redis: Redis, keys: Keys
) -> None:
    t0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
    await register(redis, keys, 9, specs.parse("interval", {"minutes": 1}), t0)
    clock = FakeClock(t0)
    engine = Engine(redis, keys, clock=clock, history_max=50)
    assert (await engine.tick()).sent == 1  # the engine has its copy of the skips now
    await skip(redis, keys, 9, {t0 + timedelta(minutes=1): ""}, t0)
    clock.at = t0 + timedelta(minutes=1)
    refused = await engine.tick()  # planned from the old copy: the fire script refuses it
    assert refused.sent == 0
    await engine.tick()
    assert len(await sent(redis, keys)) == 1
    assert (await history(redis, keys, 9))[0]["details"]["reason"] == "requested"


async def test_jitter_sends_late_keeping_the_due_time(redis: Redis, keys: Keys) -> None:
    t0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
    spec = specs.parse("interval", {"minutes": 1, "jitter_seconds": 30})
    await register(redis, keys, 11, spec, t0)
    offset = timedelta(milliseconds=calendar.jitter_ms(11, to_ms(t0), 30))
    clock = FakeClock(t0)
    engine = Engine(redis, keys, clock=clock, history_max=50)
    assert (await engine.tick()).sent == 0  # moved to its send time
    assert await redis.zscore(keys.due, "11") == to_ms(t0 + offset)
    assert await redis.hget(keys.jittered_dues, "11") == str(to_ms(t0))
    clock.at = t0 + offset - timedelta(milliseconds=1)
    assert (await engine.tick()).sent == 0
    clock.at = t0 + offset
    assert (await engine.tick()).sent == 1
    [msg] = await sent(redis, keys)
    assert msg["task_id"] == f"11-{to_ms(t0)}" and msg["labels"]["due_at"] == t0.isoformat()
    [fired] = await history(redis, keys, 11)
    assert fired["details"]["due_at"] == t0.isoformat()
    assert fired["details"]["sent_at"] == fired["timestamp"]
    nxt = t0 + timedelta(minutes=1)
    later = nxt + timedelta(milliseconds=calendar.jitter_ms(11, to_ms(nxt), 30))
    assert await redis.zscore(keys.due, "11") == to_ms(later)
    assert await redis.hget(keys.jittered_dues, "11") == str(to_ms(nxt))


# --- the property ------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"]
schedules = st.one_of(
    st.builds(
        lambda m, h, dow, tz: {"cron_expression": f"{m} {h} * * {dow}", "timezone": tz},
        st.sampled_from([0, 15, 30]),
        st.integers(0, 4),  # the small hours: where DST changes fall
        st.sampled_from(["*", "1-5", "0,6"]),
        st.sampled_from(ZONES),
    ),
    st.builds(lambda h: {"hours": h, "run_immediately": False}, st.integers(6, 60)),
)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    schedule=schedules,
    holidays=st.sampled_from([None, {"country": "DE", "subdivision": "BY"}, {"country": "US"}]),
    dates=st.lists(
        st.dates(datetime(2026, 1, 1).date(), datetime(2026, 12, 31).date()), max_size=20
    ),
    jitter=st.sampled_from([0, 7, 300, 3600]),
    skip_every=st.integers(3, 40),
)
def test_what_the_engine_sends_over_a_year_is_what_next_runs_promised(
    settings: Settings,
    schedule: dict[str, Any],
    holidays: dict[str, str] | None,
    dates: list[Any],
    jitter: int,
    skip_every: int,
) -> None:
    config = dict(schedule)
    exclude: dict[str, Any] = {"dates": sorted({d.isoformat() for d in dates})}
    if holidays is not None:
        exclude["holidays"] = holidays
    config["exclude"] = exclude
    if "hours" not in config or jitter < config["hours"] * 3600:
        config["jitter_seconds"] = jitter
    kind = "interval" if "hours" in config else "cron"
    asyncio.run(_simulate_a_year(settings, specs.parse(kind, config), skip_every))


_examples = itertools.count()


async def _simulate_a_year(settings: Settings, spec: specs.Spec, skip_every: int) -> None:
    keys = Keys(f"{settings.redis_prefix}year{next(_examples)}:")
    redis = make_redis(settings)
    try:
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        end = datetime(2027, 1, 1, tzinfo=UTC)
        cid = 21
        first = fire_times.next_after(spec, t0)
        assert first is not None
        # skips chosen among the fire times, as the API allows
        candidates = [o.due_at for o in fire_times.upcoming(spec, 400, first=first, config_id=cid)]
        skips = {d: f"skip {i}" for i, d in enumerate(candidates[1::skip_every])}
        await skip(redis, keys, cid, skips, t0)
        walk = fire_times.occurrences(
            spec, first=first, config_id=cid, skips={to_ms(d): n for d, n in skips.items()}
        )
        promised = list(itertools.takewhile(lambda o: o.send_at <= end, walk))
        await register(redis, keys, cid, spec, first)
        clock = FakeClock(t0)
        engine = Engine(redis, keys, clock=clock, history_max=5000)
        await run_until(engine, redis, keys, clock, end)
        events = [stored_event(e) for e in await redis.lrange(keys.history(cid), 0, -1)][::-1]
        fired = [(e["details"]["due_at"], e["timestamp"]) for e in events if e["event"] == "fired"]
        assert fired == [
            (o.due_at.isoformat(), o.send_at.isoformat(timespec="microseconds"))
            for o in promised
            if o.fires
        ]
        skipped = [
            (e["details"]["due_at"], e["details"]["reason"])
            for e in events
            if e["event"] == "skipped"
        ]
        assert skipped == [(o.due_at.isoformat(), o.skipped) for o in promised if not o.fires]
        messages = [m["labels"]["due_at"] for m in await sent(redis, keys)]
        assert messages == [d for d, _ in fired]
    finally:
        await delete_prefix(redis, keys.prefix)
        await redis.aclose()
