"""B1's peers beside stock taskiq, measured with the same window and accounting: Celery beat
with RedBeat, and APScheduler 4 in its own deployment (PostgreSQL data store, Redis event
broker). Each registers N interval schedules through its own API (timed, capped like the
others), has its first due times spread evenly over one interval from a start ``t0`` a few
seconds after its scheduler process is up, runs for ``fires`` intervals and is stopped one
interval later. Every send is counted by (schedule, due slot): missed = slots of the window
never sent, duplicated = a second send for one slot. A peer that is not installed, or fails
at a size, gets a row saying so (its note has the error)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from bench import procs, stats
from bench.b1_outcome import (
    REGISTER_CAP_SECONDS,
    Outcome,
    count_errors,
    per_minute,
    redis_pid,
    total_per_fire,
)
from bench.env import REDIS_URL, bench_env
from bench.results import Result
from bench.streams import read_all

REDBEAT = "celery beat + RedBeat"
APSCHEDULER = "APScheduler 4"
START_MARGIN_SECONDS = 30  # from the spread's rewrite (RedBeat) to t0: the beat starts meanwhile
APS_START_MARGIN_SECONDS = 30  # from the end of APScheduler's registration to t0

# (schedule, due slot) sends: schedule name -> [(send ms, due ms when the message says it)]
Sends = dict[str, list[tuple[int, int | None]]]


def account(out: Outcome, sends: Sends, firsts: dict[str, int], fires: int, interval: int) -> None:
    """Sent / missed / duplicated / lags of the registered schedules over their first
    ``fires`` due times (``firsts``: each schedule's first due, ms). A send is put in the
    slot its message names (APScheduler's scheduled fire time) or else the nearest one."""
    step = interval * 1000
    out.expected = len(firsts) * fires
    for name, first in firsts.items():
        slots: set[int] = set()
        for sent_ms, due_ms in sorted(sends.get(name, [])):
            k = round(((due_ms if due_ms is not None else sent_ms) - first) / step)
            if not 0 <= k < fires:
                continue
            if k in slots:
                out.duplicated += 1
                continue
            slots.add(k)
            out.lags.append((sent_ms - (first + k * step)) / 1000)
        out.sent += len(slots)
    out.missed = out.expected - out.sent


async def measure_window(
    out: Outcome, proc: procs.Proc, redis: Redis, t0: float, fires: int, interval: int
) -> None:
    """CPU of the peer's process and of Redis over [t0, t0 + window], then one more
    interval for late sends, then the process is stopped."""
    window = fires * interval
    out.window_seconds = window
    if time.time() > t0:
        out.note = _and(out.note, "the scheduler process was up only after the window opened")
    await asyncio.sleep(max(0.0, t0 - time.time()))
    cpu0 = proc.cpu_seconds()
    server = await redis_pid(redis)
    redis0 = procs.cpu_of(server)
    await asyncio.sleep(max(0.0, t0 + window - time.time()))
    out.cpu_per_minute = (proc.cpu_seconds() - cpu0) * 60 / window
    out.redis_cpu_per_minute = per_minute(redis0, procs.cpu_of(server), window)
    await asyncio.sleep(max(0.0, t0 + window + interval - time.time()))
    if not proc.alive():
        raise RuntimeError(f"{out.system} exited during the window:\n{proc.tail()}")
    proc.stop()
    out.peak_rss = proc.peak_rss
    out.errors_in_log = count_errors(proc.tail(1_000_000))


def _and(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more


# --------------------------------------------------------------------------- RedBeat


async def run_redbeat(n: int, *, fires: int, interval: int) -> Outcome:
    out = Outcome(REDBEAT, n)
    try:
        from celery.schedules import schedule
        from redbeat import RedBeatSchedulerEntry
        from redbeat.decoder import RedBeatJSONEncoder, to_timestamp

        from bench import celery_app
    except ImportError as exc:
        out.note = f"not installed (the bench dependency group): {exc}"
        return out
    async with bench_env(f"b1-redbeat-{n}") as env:
        app = celery_app.make_app(REDIS_URL, env.prefix)
        every = schedule(run_every=timedelta(seconds=interval), app=app)

        def register() -> float:
            started = time.monotonic()
            for i in range(n):
                RedBeatSchedulerEntry(
                    f"s{i}", celery_app.ECHO_TASK, every, kwargs={"schedule": f"s{i}"}, app=app
                ).save()
                out.registered = i + 1
                if time.monotonic() - started > REGISTER_CAP_SECONDS:
                    out.note = f"registration stopped at the {REGISTER_CAP_SECONDS} s cap"
                    break
            return time.monotonic() - started

        out.register_seconds = await asyncio.to_thread(register)
        out.note = _and(out.note, "registered with RedBeatSchedulerEntry.save, one at a time")
        redis = env.redis(decode=False)
        try:
            # the spread: each entry's last run one interval before its first due, and its
            # score in RedBeat's due index that due; the beat starts after this
            t0 = time.time() + START_MARGIN_SECONDS + n / 20_000
            step = interval / n
            firsts: dict[str, int] = {}
            schedule_key = app.redbeat_conf.schedule_key
            async with redis.pipeline(transaction=False) as pipe:
                for i in range(out.registered):
                    due = t0 + i * step
                    key = RedBeatSchedulerEntry.generate_key(app, f"s{i}")
                    last = datetime.fromtimestamp(due - interval, UTC)
                    pipe.hset(
                        key, "meta", json.dumps({"last_run_at": last}, cls=RedBeatJSONEncoder)
                    )
                    # RedBeat's own score: whole seconds (its to_timestamp truncates)
                    pipe.zadd(schedule_key, {key: to_timestamp(datetime.fromtimestamp(due, UTC))})
                    firsts[f"s{i}"] = round(due * 1000)
                    if i % 10_000 == 9_999:
                        await pipe.execute()
                await pipe.execute()
            out.note = _and(
                out.note,
                "send time = the beat's clock in a message header set by Celery's "
                "before_task_publish hook, just before kombu's LPUSH to the queue list",
            )
            proc = procs.Proc(
                f"b1-redbeat-{n}-beat",
                procs.python(
                    "-m",
                    "celery",
                    "-A",
                    "bench.celery_app",
                    "beat",
                    "-S",
                    "redbeat.RedBeatScheduler",
                    "--loglevel",
                    "WARNING",
                ),
                {"BENCH_PEER_REDIS_URL": REDIS_URL, "BENCH_PEER_PREFIX": env.prefix},
            ).start()
            try:
                lock = app.redbeat_conf.lock_key
                deadline = time.time() + 120
                while not await redis.exists(lock):
                    if not proc.alive():
                        raise RuntimeError(f"celery beat exited:\n{proc.tail()}")
                    if time.time() > deadline:
                        raise TimeoutError("celery beat took no RedBeat lock within 120 s")
                    await asyncio.sleep(0.05)
                await measure_window(out, proc, redis, t0, fires, interval)
            finally:
                proc.stop()
            sends: Sends = defaultdict(list)
            queue = f"{env.prefix}{celery_app.QUEUE}"
            length = await redis.llen(queue)
            for start in range(0, length, 10_000):
                for raw in await redis.lrange(queue, start, start + 9_999):
                    message: dict[str, Any] = json.loads(raw)
                    _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                    sent = round(float(message["headers"][celery_app.SENT_HEADER]) * 1000)
                    sends[str(kwargs["schedule"])].append((sent, None))
            account(out, sends, firsts, fires, interval)
        finally:
            await redis.aclose()
    return out


# --------------------------------------------------------------------------- APScheduler 4


async def run_apscheduler(n: int, *, fires: int, interval: int) -> Outcome:
    out = Outcome(APSCHEDULER, n)
    try:
        from apscheduler.triggers.interval import IntervalTrigger

        from bench import apscheduler_app
    except ImportError as exc:
        out.note = f"not installed (the bench dependency group): {exc}"
        return out
    async with bench_env(f"b1-aps-{n}", database=True) as env:
        scheduler = apscheduler_app.make_scheduler(REDIS_URL, env.prefix, env.database_url)
        firsts: dict[str, int] = {}
        async with scheduler:
            # t0 must be given at registration (the trigger's start time): a first few
            # schedules far in the future, removed again, tell how long registration takes
            far = datetime.now(UTC) + timedelta(days=1)
            probe = min(n, 20)
            started = time.monotonic()
            for j in range(probe):
                await scheduler.add_schedule(
                    apscheduler_app.record,
                    IntervalTrigger(seconds=interval, start_time=far),
                    id=f"probe-{j}",
                )
            each = (time.monotonic() - started) / probe
            for j in range(probe):
                await scheduler.remove_schedule(f"probe-{j}")
            t0 = time.time() + min(each * n * 1.5, REGISTER_CAP_SECONDS) + APS_START_MARGIN_SECONDS
            step = interval / n
            started = time.monotonic()
            for i in range(n):
                due = t0 + i * step
                await scheduler.add_schedule(
                    apscheduler_app.record,
                    IntervalTrigger(seconds=interval, start_time=datetime.fromtimestamp(due, UTC)),
                    id=f"s{i}",
                )
                firsts[f"s{i}"] = round(due * 1000)
                out.registered = i + 1
                if time.monotonic() - started > REGISTER_CAP_SECONDS:
                    out.note = f"registration stopped at the {REGISTER_CAP_SECONDS} s cap"
                    break
            out.register_seconds = time.monotonic() - started
        out.note = _and(
            out.note,
            "registered with AsyncScheduler.add_schedule, one at a time; the job's XADD is "
            "the send (stream entry id)",
        )
        proc = procs.Proc(
            f"b1-aps-{n}-scheduler",
            procs.python("-m", "bench.apscheduler_app"),
            {
                "BENCH_PEER_REDIS_URL": REDIS_URL,
                "BENCH_PEER_PREFIX": env.prefix,
                "BENCH_PEER_DATABASE_URL": env.database_url,
            },
        ).start()
        redis = env.redis(decode=False)
        try:
            try:
                await measure_window(out, proc, redis, t0, fires, interval)
            finally:
                proc.stop()
            sends: Sends = defaultdict(list)
            async for s in read_all(redis, apscheduler_app.stream_name(env.prefix)):
                due_ms = s.labels.get("due_ms")
                sends[str(s.labels.get("schedule_id"))].append(
                    (s.sent_ms, int(due_ms) if due_ms is not None else None)
                )
            account(out, sends, firsts, fires, interval)
        finally:
            await redis.aclose()
    return out


PeerRun = Callable[..., Awaitable[Outcome]]
PEERS: list[tuple[str, PeerRun]] = [
    (REDBEAT, run_redbeat),
    (APSCHEDULER, run_apscheduler),
]


def goals(result: Result, outcomes: list[Outcome]) -> None:
    """Per peer, at 10,000 and 100,000: taskplane on time where the peer is (p99 lag and
    missed no worse) at a lower scheduler + Redis cost per fire sent."""
    for n in (10_000, 100_000):
        tp = _find(outcomes, "taskplane", n)
        for system, _ in PEERS:
            goal = f"{n:,}: taskplane ahead of {system} (p99 lag, missed, CPU per fire incl. Redis)"
            peer = _find(outcomes, system, n)
            if tp is None or peer is None:
                result.goal(goal, None, "not run")
                continue
            if peer.note.startswith("not installed") or not peer.sent:
                # not installed: not compared; failed or sent nothing: ahead if taskplane sent
                met = None if peer.note.startswith("not installed") else tp.sent > 0
                result.goal(goal, met, f"{system}: {peer.note or 'sent nothing'}")
                continue
            ours, theirs = total_per_fire(tp), total_per_fire(peer)
            p_tp = stats.percentile(tp.lags, 99)
            p_peer = stats.percentile(peer.lags, 99)
            met = (
                ours is not None
                and theirs is not None
                and p_tp is not None
                and p_peer is not None
                and ours < theirs
                and p_tp <= p_peer
                and tp.missed <= peer.missed
            )
            result.goal(
                goal,
                met,
                f"p99 {stats.ms(p_tp)} vs {stats.ms(p_peer)}, missed {tp.missed:,} vs "
                f"{peer.missed:,} of {peer.expected:,}, duplicated {tp.duplicated:,} vs "
                f"{peer.duplicated:,}, "
                f"{_us(ours)} vs {_us(theirs)} per fire",
            )


def _us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:,.0f} µs"


def _find(outcomes: list[Outcome], system: str, n: int) -> Outcome | None:
    return next((o for o in outcomes if o.system == system and o.n == n), None)
