"""B1 — scheduler precision and scale.

N interval schedules (every 10 s) run for a window of 6 intervals, on taskplane's scheduler and
on the stock ``taskiq scheduler`` with ``ListRedisScheduleSource`` (JSON, default settings).
Nothing consumes the broker during the window: the stream is read afterwards, and each entry's
id (Redis's own clock at XADD) is the send time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime

from redis.asyncio import Redis

from bench import b1_peers, procs, stack, stats, stock_app
from bench.b1_outcome import (
    FIRES,
    INTERVAL_SECONDS,
    REGISTER_CAP_SECONDS,
    Outcome,
    command_delta,
    command_times,
    count_errors,
    per_fire_us,
    per_minute,
    redis_pid,
    total_per_fire,
    used_memory,
)
from bench.env import REDIS_URL, BenchEnv, bench_env
from bench.results import Result, Table
from bench.streams import first_entry_ms, read_all

DESCRIPTION = f"""
N interval schedules of the `echo` task, every {INTERVAL_SECONDS} s, for N = 1,000, 10,000 and
100,000. Each scheduler runs for a window of {FIRES} intervals, so every schedule is due
{FIRES} times; it is stopped one interval after the window (a fire not sent by then is
missed). No consumer runs during the window: the broker stream is read afterwards, and the send
time of each message is its stream entry id (Redis's clock at XADD, in ms).

- **taskplane**: the configs are objects with the fields the service reads (the scheduler never
  reads PostgreSQL), registered through the service layer (`SchedulerService.start`, timed:
  "register"; a bulk path is used when the service has one), with `run_immediately: false`,
  while `python -m taskplane.scheduling` is already running as a follower (the bench holds the
  leader lease meanwhile, so nothing fires during registration). The first due times are then
  spread evenly over one interval by rewriting their scores in the due index (the load is
  steady, not one burst), and the bench lets go of the lease. Each message carries its
  `due_at`: lag = send - due_at; missed = (config, due) pairs of the window never sent;
  duplicated = pairs sent twice. Registration is capped at {REGISTER_CAP_SECONDS} s; past
  it the rest is loaded by the bench itself (core's keys, pipelined; the note says so), so
  the scheduler still runs at full size.
- **stock**: `ListRedisScheduleSource(serializer=JSONSerializer())` filled one schedule at a time
  with `add_schedule` (timed, same cap), and the stock CLI
  `taskiq scheduler bench.stock_app:make_scheduler` on a `RedisStreamBroker` (JSON), default
  settings except `--log-level WARNING` (its default INFO logs one line per send, which would
  only cost it more). A stock interval schedule has no start time: all N fire at its first tick
  and every {INTERVAL_SECONDS} s after. The first tick is taken as the second of the earliest
  send; each send is matched to the nearest due time (first tick + k intervals), so a stock
  fire that comes early (it fires when the rounded seconds since its last send reach 10, so
  anywhere from 9.5 s) has a negative lag, and a second send for one due time is duplicated.
- **Celery beat + RedBeat** (`celery beat -S redbeat.RedBeatScheduler`, Redis broker, default
  settings but `--loglevel WARNING`): N entries saved one at a time with
  `RedBeatSchedulerEntry.save` (timed, same cap), each an interval `schedule` of the `echo`
  task; then each entry's last run is set one interval before its first due and its score in
  RedBeat's due index to that due, in whole seconds as RedBeat writes it (the same even spread
  over one interval), and the beat is started; t0 is 30 s on, after its start-up. Nothing
  consumes the queue (a Redis list): the send time is the beat's own clock, written into
  each message's headers by Celery's `before_task_publish` hook just before kombu's LPUSH
  (same machine, same clock as Redis's).
  Each send is put in the nearest due slot of its schedule (first due + k intervals).
- **APScheduler 4** (its own deployment: `AsyncScheduler` with the SQLAlchemy data store on
  PostgreSQL, asyncpg, and the Redis event broker; the scheduler process runs the jobs): N
  schedules added one at a time with `AsyncScheduler.add_schedule` (timed, same cap), each an
  `IntervalTrigger` whose start time is its first due (spread evenly over one interval from
  t0, 30 s after the registration's expected end, so its scheduler is up). The job only
  records its send: one XADD (entry id = send time) naming its schedule and its scheduled
  fire time, which is its slot. A peer that is not installed or fails at a size gets a row
  whose note says so with the error.
- CPU is the scheduler process's user+system seconds over the window, scaled to one minute;
  Redis CPU is the same for the redis-server process (shared with everything else on the
  machine, so an upper bound of what the scheduler costs it). Both are also given per fire
  sent in the window ("CPU per fire", "Redis CPU per fire", in µs): a scheduler that only
  moved its work into Redis (a script doing the planning) would show it there; peak RSS is
  the largest resident size sampled (every 0.25 s) during the run; errors logged counts the
  scheduler's log records at ERROR (the stock one logs one per failed send).
"""


def _log_errors(proc: procs.Proc) -> int:
    try:
        text = proc.log_path.read_text(errors="replace")
    except OSError:
        return 0
    return count_errors(text)


# --------------------------------------------------------------------------- stock taskiq


async def run_stock(n: int, *, fires: int = FIRES, interval: int = INTERVAL_SECONDS) -> Outcome:
    from taskiq import ScheduledTask

    out = Outcome("stock taskiq", n)
    async with bench_env(f"b1-stock-{n}") as env:
        prefix = env.prefix
        source = stock_app.make_source(REDIS_URL, prefix)
        await source.startup()
        started = time.monotonic()
        for i in range(n):
            await source.add_schedule(
                ScheduledTask(
                    task_name=stock_app.ECHO_TASK,
                    labels={},
                    args=[],
                    kwargs={"message": f"b1-{i}"},
                    interval=interval,
                    schedule_id=f"s{i}",
                )
            )
            out.registered = i + 1
            if time.monotonic() - started > REGISTER_CAP_SECONDS:
                out.note = f"registration stopped at the {REGISTER_CAP_SECONDS} s cap"
                break
        out.register_seconds = time.monotonic() - started
        await source.shutdown()

        proc = procs.Proc(
            f"b1-stock-{n}-scheduler",
            procs.python(
                "-m",
                "taskiq",
                "scheduler",
                "bench.stock_app:make_scheduler",
                "--log-level",
                "WARNING",
            ),
            {"BENCH_STOCK_REDIS_URL": REDIS_URL, "BENCH_STOCK_PREFIX": prefix},
        ).start()
        redis = env.redis(decode=False)
        stream = stock_app.stream_name(prefix)
        try:
            first = None
            deadline = time.time() + 120 + n / 1000
            while first is None:
                if not proc.alive():
                    raise RuntimeError(f"stock scheduler exited:\n{proc.tail()}")
                if time.time() > deadline:
                    raise TimeoutError("stock scheduler sent nothing within its deadline")
                first = await first_entry_ms(redis, stream)
                await asyncio.sleep(0.05)
            anchor = first // 1000 * 1000
            cpu_start = proc.cpu_seconds()
            server = await redis_pid(redis)
            redis_start = procs.cpu_of(server)
            window = fires * interval
            out.window_seconds = window
            await asyncio.sleep(max(0.0, anchor / 1000 + window - time.time()))
            cpu_window = proc.cpu_seconds() - cpu_start
            out.cpu_per_minute = cpu_window * 60 / window
            out.redis_cpu_per_minute = per_minute(redis_start, procs.cpu_of(server), window)
            await asyncio.sleep(max(0.0, anchor / 1000 + window + interval - time.time()))
            proc.stop()
            out.peak_rss = proc.peak_rss
            out.errors_in_log = _log_errors(proc)

            sends: dict[str, list[int]] = defaultdict(list)
            total = 0
            async for s in read_all(redis, stream):
                sends[str(s.labels.get("schedule_id"))].append(s.sent_ms)
                total += 1
            if total < out.registered * fires:
                out.note = (out.note + "; " if out.note else "") + (
                    f"{total:,} messages reached the broker in all, from the first tick to "
                    f"the stop ({window + interval} s later)"
                )
            out.expected = out.registered * fires
            step_ms = interval * 1000
            for i in range(out.registered):
                slots: dict[int, int] = {}
                for sent_ms in sorted(sends.get(f"s{i}", [])):
                    k = round((sent_ms - anchor) / step_ms)  # the nearest due time
                    if not 0 <= k < fires:
                        continue
                    if k in slots:
                        out.duplicated += 1  # a second send for one due time
                        continue
                    slots[k] = sent_ms
                    out.lags.append((sent_ms - (anchor + k * step_ms)) / 1000)
                out.sent += len(slots)
                out.missed += fires - len(slots)
        finally:
            proc.stop()
            await redis.aclose()
    return out


# --------------------------------------------------------------------------- taskplane


async def run_taskplane(
    n: int,
    *,
    fires: int = FIRES,
    interval: int = INTERVAL_SECONDS,
    redis_url: str = REDIS_URL,
    register_cap: float = REGISTER_CAP_SECONDS,
    registered: Callable[[Redis, BenchEnv], Awaitable[None]] | None = None,
    fired: Callable[[Redis, BenchEnv], Awaitable[None]] | None = None,
) -> Outcome:
    """taskplane's side; ``redis_url``: a server of the run's own (B11), whose memory and
    command times are then this run's alone (its keys take the default prefix);
    ``registered``: called once every schedule is registered, before the window, and
    ``fired`` once the window's fires are sent (B11 reads Redis's memory by key family at
    both)."""
    from taskplane.resources import make_redis

    out = Outcome("taskplane", n)
    own = redis_url != REDIS_URL
    async with bench_env(f"b1-tp-{n}", redis_url=redis_url, own_server=own) as env:
        redis = make_redis(env.settings())
        try:
            svc = stack.service(env, redis)
            configs = stack.interval_configs(n, interval)
            # The scheduler starts first (its start-up is not in the window) but the bench
            # holds the leader lease, so it fires nothing while the schedules are registered
            # and their first dues rewritten; then the bench lets go and it takes over.
            await redis.set(env.keys.scheduler_leader, stack.HOLD, px=1_800_000)
            proc = stack.scheduler_proc(env, f"b1-tp-{n}-scheduler").start()
            try:
                await stack.wait_follower(redis, env, proc, within=120)
                memory0 = await used_memory(redis)
                started = time.monotonic()
                done, how = await stack.start_all(svc, configs, register_cap)
                out.register_seconds = time.monotonic() - started
                out.redis_memory_added = await used_memory(redis) - memory0
                if registered is not None:
                    await registered(redis, env)
                out.registered = done
                out.note = f"registered with {how}"
                if done < n:
                    out.note += (
                        f"; {done:,} registered through the service in "
                        f"{out.register_seconds:.0f} s "
                        f"(cap), the other {n - done:,} loaded by the bench's bulk loader (core's "
                        "keys, pipelined) so the scheduler still runs at full size"
                    )
                    started_ids = set(await redis.zrange(env.keys.due, 0, -1))
                    await stack.load_directly(
                        svc, redis, env, [c for c in configs if str(c.id) not in started_ids]
                    )
                # spread the first due times evenly over one interval, from t0 on (after
                # the rewrite itself and the take-over: ~2 s per 100,000 when loaded)
                t0_ms = int((time.time() + 5 + n / 20_000) * 1000)
                step = interval * 1000 / n
                async with redis.pipeline(transaction=False) as pipe:
                    for i, c in enumerate(configs):
                        pipe.zadd(env.keys.due, {str(c.id): t0_ms + int(i * step)}, xx=True)
                        if i % 10_000 == 9_999:
                            await pipe.execute()
                    await pipe.execute()
                await redis.delete(env.keys.scheduler_leader)
                await stack.wait_leader(redis, env, proc, within=30)
                if time.time() * 1000 > t0_ms:
                    out.note += "; the scheduler took the lease after the window opened"
                window = fires * interval
                out.window_seconds = window
                await asyncio.sleep(max(0.0, t0_ms / 1000 - time.time()))
                cpu0 = proc.cpu_seconds()
                server = await redis_pid(redis)
                redis0 = procs.cpu_of(server)
                commands0 = await command_times(redis)
                await asyncio.sleep(max(0.0, t0_ms / 1000 + window - time.time()))
                out.cpu_per_minute = (proc.cpu_seconds() - cpu0) * 60 / window
                out.redis_cpu_per_minute = per_minute(redis0, procs.cpu_of(server), window)
                out.redis_commands = command_delta(commands0, await command_times(redis))
                await asyncio.sleep(max(0.0, t0_ms / 1000 + window + interval - time.time()))
                if fired is not None:
                    await fired(redis, env)
            finally:
                proc.stop()
            out.peak_rss = proc.peak_rss
            out.errors_in_log = count_errors(proc.tail(1_000_000))
            end_ms = t0_ms + window * 1000
            seen: Counter[tuple[int, int]] = Counter()
            raw = env.redis(decode=False)
            try:
                async for s in read_all(raw, env.keys.broker_stream("default")):
                    due = s.labels.get("due_at")
                    if s.labels.get("trigger") != "scheduled" or due is None:
                        continue
                    due_ms = round(datetime.fromisoformat(due).timestamp() * 1000)
                    if t0_ms <= due_ms < end_ms:
                        seen[(int(s.labels["config_id"]), due_ms)] += 1
                        if seen[(int(s.labels["config_id"]), due_ms)] == 1:
                            out.lags.append((s.sent_ms - due_ms) / 1000)
            finally:
                await raw.aclose()
            out.expected = n * fires
            out.sent = len(seen)
            out.duplicated = sum(c - 1 for c in seen.values())
            out.missed = out.expected - out.sent
        finally:
            await redis.aclose()
    return out


# --------------------------------------------------------------------------- the table


def add_rows(table: Table, outcomes: list[Outcome]) -> None:
    for o in outcomes:
        lag = stats.summary_ms(o.lags)
        table.add(
            o.system,
            stats.count(o.n),
            stats.secs(o.register_seconds, 2)
            + ("" if o.registered == o.n else f" ({o.registered:,} registered)"),
            stats.count(o.expected),
            stats.count(o.sent),
            stats.count(o.missed),
            stats.count(o.duplicated),
            lag["p50"],
            lag["p99"],
            lag["max"],
            stats.secs(o.cpu_per_minute, 2),
            stats.secs(o.redis_cpu_per_minute, 2),
            per_fire_us(o.cpu_per_minute, o),
            per_fire_us(o.redis_cpu_per_minute, o),
            stats.mib(o.peak_rss),
            stats.count(o.errors_in_log),
        )


COLUMNS = [
    "system",
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
    "CPU per fire",
    "Redis CPU per fire",
    "peak RSS",
    "errors logged",
]


TITLE = "scheduler precision and scale"
SIZES = [1_000, 10_000, 100_000]


async def run(result: Result, args: argparse.Namespace) -> None:
    sizes: list[int] = getattr(args, "n", None) or SIZES
    with_stock = not getattr(args, "no_stock", False)
    with_peers = with_stock and not getattr(args, "no_peers", False)
    fires = getattr(args, "fires", None) or FIRES
    interval = getattr(args, "interval", None) or INTERVAL_SECONDS
    table = result.table(f"B1: {fires} fires per schedule, every {interval} s", COLUMNS)
    outcomes: list[Outcome] = []
    systems: list[tuple[str, Callable[..., Awaitable[Outcome]]]] = [("taskplane", run_taskplane)]
    if with_stock:
        systems.append(("stock taskiq", run_stock))
    if with_peers:
        systems.extend(b1_peers.PEERS)
    for n in sizes:
        for system, fn in systems:
            print(f"  B1 {system} N={n:,} ...", flush=True)
            try:
                o = await fn(n, fires=fires, interval=interval)
            except Exception as exc:
                o = Outcome(system, n, note=f"failed: {exc!r}")
            outcomes.append(o)
            add_rows(table, [o])
            if o.note:
                result.note(f"{o.system} N={n:,}: {o.note}")
    _goals(result, outcomes)
    if with_peers:
        b1_peers.goals(result, outcomes)


def _find(outcomes: list[Outcome], system: str, n: int) -> Outcome | None:
    return next((o for o in outcomes if o.system == system and o.n == n), None)


def _goals(result: Result, outcomes: list[Outcome]) -> None:
    big = _find(outcomes, "taskplane", 100_000)
    if big is None or not big.lags:
        result.goal("100,000: p99 lag ≤ 1 s, 0 missed, 0 duplicated", None, "not run")
    else:
        p99 = stats.percentile(big.lags, 99) or 0.0
        result.goal(
            "100,000: p99 lag ≤ 1 s, 0 missed, 0 duplicated",
            p99 <= 1.0 and big.missed == 0 and big.duplicated == 0,
            f"p99 {stats.ms(p99)}, missed {big.missed:,}, duplicated {big.duplicated:,}",
        )
    tp, st = _find(outcomes, "taskplane", 10_000), _find(outcomes, "stock taskiq", 10_000)
    if tp and st and tp.cpu_per_minute is not None and st.cpu_per_minute is not None:
        ratio = st.cpu_per_minute / max(tp.cpu_per_minute, 1e-9)
        result.goal(
            "10,000: scheduler CPU ≥ 10x below stock",
            ratio >= 10,
            f"{stats.secs(tp.cpu_per_minute, 2)} vs {stats.secs(st.cpu_per_minute, 2)} "
            f"CPU per minute ({ratio:.1f}x); Redis CPU per fire "
            f"{per_fire_us(tp.redis_cpu_per_minute, tp)} vs "
            f"{per_fire_us(st.redis_cpu_per_minute, st)}",
        )
    else:
        result.goal("10,000: scheduler CPU ≥ 10x below stock", None, "not run")
    for n in (10_000, 100_000):
        _total_goal(result, _find(outcomes, "taskplane", n), _find(outcomes, "stock taskiq", n), n)
    if big is not None and big.register_seconds is not None and big.registered == big.n:
        result.goal(
            "register 100,000 through the service layer ≤ 5 s",
            big.register_seconds <= 5,
            stats.secs(big.register_seconds, 2),
        )
    elif big is not None and big.register_seconds and big.registered:
        rate = big.registered / big.register_seconds
        result.goal(
            "register 100,000 through the service layer ≤ 5 s",
            False,
            f"{big.registered:,} in {stats.secs(big.register_seconds, 0)} before the cap "
            f"({rate:,.0f}/s: 100,000 would take ~{big.n / rate:,.0f} s)",
        )
    else:
        result.goal("register 100,000 through the service layer ≤ 5 s", None, "not run")


def _total_goal(result: Result, tp: Outcome | None, st: Outcome | None, n: int) -> None:
    goal = f"{n:,}: scheduler + Redis CPU per fire ≥ 10x below stock's"
    ours, theirs = (total_per_fire(tp) if tp else None), (total_per_fire(st) if st else None)
    if tp is None or st is None or ours is None or theirs is None:
        said = "not run" if tp is None or st is None else f"stock sent {st.sent if st else 0:,}"
        result.goal(goal, None, said)
        return
    ratio = theirs / max(ours, 1e-12)
    result.goal(
        goal,
        ratio >= 10,
        f"{ours * 1e6:,.0f} µs vs {theirs * 1e6:,.0f} µs per fire sent ({ratio:.1f}x; stock sent "
        f"{st.sent:,} of {st.expected:,})",
    )
