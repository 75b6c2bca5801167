"""B6 - cost growth: does a tick, and a page of the config list, cost the same whatever the
number of registered schedules / stored configs?"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bench import procs, stack, stats
from bench.env import ADMIN_TOKEN, BenchEnv, bench_env
from bench.results import Result

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from taskplane.db.configs import ConfigRow

TITLE = "cost growth with the number of schedules and configs"
SIZES = [1_000, 10_000, 100_000]
DUE_PER_TICK = 100
TICKS = 100  # measured ticks per size, after WARMUP_TICKS
WARMUP_TICKS = 20
REQUESTS = 200  # sequential requests per page and size, after WARMUP_REQUESTS
WARMUP_REQUESTS = 20
PAGE = 50
STARTED_EVERY = 20  # one config in 20 is started (its page shows a live schedule)
FLAT = 1.5  # "flat": the cost at the largest size within this factor of the smallest's
PAGES = ("first", "last", "last by cursor")
PLOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "b6-growth.png"

DESCRIPTION = f"""
How the cost of one unit of work grows with the amount of registered state, for N = 1,000,
10,000 and 100,000.

- **Tick cost**: for each N, N interval schedules are registered under their own key prefix
  (the keys core writes, loaded directly), all due in an hour except the same {DUE_PER_TICK},
  whose due score the bench sets to the engine's now before each tick. One engine
  (`taskplane.scheduling.engine.Engine`) per N runs in the bench process on a fake clock (one
  second per tick, no lease), and `Engine.tick()` is timed: {TICKS} ticks per size after
  {WARMUP_TICKS} warm-up ticks, each sending {DUE_PER_TICK} fires, the sizes taking turns
  tick by tick (so load from elsewhere on the machine hits them alike).
  "Engine CPU" is the bench process's CPU time (`time.process_time`) across the tick, the
  Python side of the work; "wall" adds the Redis round trips (ZRANGEBYSCORE, MGET, the fire
  script).
- **List latency**: N config rows in PostgreSQL (one in {STARTED_EVERY} started, so every page
  shows live schedules; grown in place from one N to the next: the same database and API
  process), `taskplane api` on them (one uvicorn process), and {REQUESTS}
  sequential requests per page after {WARMUP_REQUESTS} warm-up ones, on one keep-alive
  connection, the pages taking turns: the first page (`GET /api/v1/configs?limit={PAGE}`),
  and the last one twice: by offset (`&offset=N-{PAGE}`) and by keyset cursor (`&after=` the
  id of the item before it, as a client paging with `after` reaches it). The bench asks the
  API for that id once per N. Latency is measured by the
  client; API CPU per request is the server process's CPU (its /proc counters, 10 ms ticks,
  summed per page) over the requests. The tables are ANALYZEd after each growth.

A cost is called flat when its value at the largest N is at most {FLAT}x its value at the
smallest N (tick: median engine CPU per tick; list: p50 latency). The plot (log x axis) is
drawn by the bench from the figures of the run.
"""


@dataclass
class TickFigures:
    n: int
    ticks: int
    sent: int
    cpu_median: float  # seconds
    wall_p50: float
    wall_p99: float


@dataclass
class PageFigures:
    n: int
    page: str  # PAGES: "first", "last" (by offset) or "last by cursor"
    requests: int
    p50: float
    p99: float
    cpu_per_request: float | None


def flat(
    costs: Sequence[tuple[int, float]], limit: float = FLAT
) -> tuple[float | None, bool | None]:
    """(cost at the largest size / cost at the smallest, ratio <= limit); (None, None) with
    fewer than two sizes."""
    if len({n for n, _ in costs}) < 2:
        return None, None
    smallest = min(costs)[1]
    largest = max(costs)[1]
    if smallest <= 0:
        return None, None
    ratio = largest / smallest
    return ratio, ratio <= limit


class Calendars(Protocol):
    """B10's schedules with calendars (``bench/b10_calendars.py``)."""

    every: int

    def apply(self, configs: list[ConfigRow]) -> list[ConfigRow]: ...

    async def skip(
        self, redis: Redis, env: BenchEnv, configs: Sequence[ConfigRow], now: datetime
    ) -> None: ...

    async def make_due(
        self, redis: Redis, env: BenchEnv, due: dict[str, int], now_ms: int
    ) -> None: ...


@dataclass
class FakeClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


# --- tick cost -------------------------------------------------------------------------------


async def measure_ticks(
    redis: Redis,
    sizes: Sequence[int],
    ticks: int,
    *,
    calendars: Calendars | None = None,
    name: str = "b6",
) -> list[TickFigures]:
    """One registered set per size (each under its own key prefix, side by side in Redis),
    one engine on each, and their ticks taking turns, so a burst of load from elsewhere on
    the machine hits every size alike. ``calendars``: one schedule in ``calendars.every``
    carries exclusions, requested skips and jitter (B10)."""
    from taskplane.epoch import to_ms
    from taskplane.scheduling.engine import Engine

    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    async with AsyncExitStack() as stack_of_envs:
        engines: list[tuple[int, BenchEnv, Engine]] = []
        for n in sizes:
            env = await stack_of_envs.enter_async_context(bench_env(f"{name}-{n}"))
            print(f"  {name.upper()} registering {n:,} schedules ...", flush=True)
            configs = stack.interval_configs(n, 3600)
            if calendars is not None:
                configs = calendars.apply(configs)
            await stack.load_directly(stack.service(env, redis), redis, env, configs)
            if calendars is not None:
                await calendars.skip(redis, env, configs, clock.at)
            engines.append((n, env, Engine(redis, env.keys, clock=clock, history_max=10)))
        gc.collect()  # the loader's garbage is not the ticks' to collect
        hot = [str(i) for i in range(1, DUE_PER_TICK + 1)]
        cpu: dict[int, list[float]] = {n: [] for n in sizes}
        wall: dict[int, list[float]] = {n: [] for n in sizes}
        sent = dict.fromkeys(sizes, 0)
        print(f"  B6 {WARMUP_TICKS + ticks} ticks on each size, in turns ...", flush=True)
        with procs.profile_self("b6-engine-ticks"):
            for i in range(WARMUP_TICKS + ticks):
                clock.at += timedelta(seconds=1)
                for n, env, engine in engines:
                    due = dict.fromkeys(hot[: min(DUE_PER_TICK, n)], to_ms(clock.at))
                    await redis.zadd(env.keys.due, due)
                    if calendars is not None:
                        await calendars.make_due(redis, env, due, to_ms(clock.at))
                    c0, w0 = time.process_time(), time.perf_counter()
                    result = await engine.tick()
                    c1, w1 = time.process_time(), time.perf_counter()
                    if i >= WARMUP_TICKS:
                        cpu[n].append(c1 - c0)
                        wall[n].append(w1 - w0)
                        sent[n] += result.sent
        for _, _, engine in engines:
            await engine.drain()
    return [
        TickFigures(
            n,
            ticks,
            sent[n],
            stats.percentile(cpu[n], 50) or 0.0,
            stats.percentile(wall[n], 50) or 0.0,
            stats.percentile(wall[n], 99) or 0.0,
        )
        for n in sizes
    ]


# --- list latency ----------------------------------------------------------------------------


async def grow(env: BenchEnv, redis: Redis, have: int, n: int) -> None:
    """From ``have`` to ``n`` config rows, with their schedule state; one in STARTED_EVERY of
    the new ones started."""
    from sqlalchemy import text

    from taskplane.db.session import make_engine

    ids = (await stack.insert_configs(env, stack.config_rows(have, n - have)))[have:]
    configs = [
        stack.bench_config(
            id=cid,
            name=f"bench-config-{have + k:06d}",
            schedule_config={"seconds": 86_400, "run_immediately": False},
            parameters={"message": f"config {have + k}"},
            description=f"benchmark config {have + k}",
        )
        for k, cid in enumerate(ids)
    ]
    svc = stack.service(env, redis)
    await stack.create_state(svc, configs)
    await stack.start_all(svc, configs[::STARTED_EVERY], cap_seconds=600)
    engine = make_engine(env.settings())
    try:
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    finally:
        await engine.dispose()


async def measure_page_set(
    api: procs.Proc, base: str, n: int, pages: Sequence[tuple[str, str]], requests: int
) -> list[PageFigures]:
    """``requests`` sequential GETs of each page, the pages taking turns (so a burst of load
    from elsewhere hits them alike); the API's CPU per request from its /proc counters."""
    import httpx

    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    latencies: dict[str, list[float]] = {page: [] for page, _ in pages}
    cpu: dict[str, float] = dict.fromkeys(latencies, 0.0)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        for i in range(WARMUP_REQUESTS + requests):
            for page, path in pages:
                c0 = procs.cpu_of(api.pid) or 0.0
                t = time.perf_counter()
                r = await client.get(path)
                elapsed = time.perf_counter() - t
                c1 = procs.cpu_of(api.pid) or 0.0
                if r.status_code != 200:
                    raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:200]}")
                if i >= WARMUP_REQUESTS:
                    latencies[page].append(elapsed)
                    cpu[page] += c1 - c0
    return [
        PageFigures(
            n,
            page,
            requests,
            stats.percentile(latencies[page], 50) or 0.0,
            stats.percentile(latencies[page], 99) or 0.0,
            cpu[page] / requests if requests else None,
        )
        for page, _ in pages
    ]


async def cursor_before_last_page(base: str, n: int) -> int:
    """The ``after`` cursor that reaches the last page: the id of the item just before it
    (what a client paging with ``after`` holds when it asks for that page)."""
    import httpx

    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        r = await client.get("/configs", params={"limit": 1, "offset": max(0, n - PAGE - 1)})
        r.raise_for_status()
        return int(r.json()["items"][0]["id"])


async def measure_pages(
    env: BenchEnv, redis: Redis, sizes: Sequence[int], requests: int
) -> list[PageFigures]:
    out: list[PageFigures] = []
    port = stack.free_port()
    api: procs.Proc | None = None
    have = 0
    try:
        for n in sizes:
            print(f"  B6 storing {n - have:,} more configs (to {n:,}) ...", flush=True)
            await grow(env, redis, have, n)
            have = n
            if api is None:
                api = stack.api_proc(env, "b6-api", port, log_level="INFO").start()
                await stack.wait_http(f"http://127.0.0.1:{port}/api/v1/system/health", api)
            base = f"http://127.0.0.1:{port}/api/v1"
            after = await cursor_before_last_page(base, n)
            pages = [
                ("first", f"/configs?limit={PAGE}"),
                ("last", f"/configs?limit={PAGE}&offset={max(0, n - PAGE)}"),
                ("last by cursor", f"/configs?limit={PAGE}&after={after}"),
            ]
            print(f"  B6 {n:,} configs, first and last page ...", flush=True)
            out += await measure_page_set(api, base, n, pages, requests)
    finally:
        if api is not None:
            api.stop()
    return out


# --- the plot --------------------------------------------------------------------------------


def plot(path: Path, ticks: Sequence[TickFigures], pages: Sequence[PageFigures]) -> Path:
    """Two panels, log x: tick cost against registered schedules, list latency against stored
    configs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    ns = sorted({t.n for t in ticks} | {p.n for p in pages})
    tick_ns = [t.n for t in ticks]
    left.plot(
        tick_ns, [t.cpu_median * 1000 for t in ticks], "o-", label="engine CPU / tick (median)"
    )
    left.plot(tick_ns, [t.wall_p50 * 1000 for t in ticks], "s--", label="wall / tick (p50)")
    left.set_title(f"Tick cost, {DUE_PER_TICK} due per tick")
    left.set_xlabel("registered schedules")
    styles = zip(PAGES, "os^", ("tab:blue", "tab:green", "tab:orange"), strict=True)
    for page, marker, color in styles:
        rows = [p for p in pages if p.page == page]
        xs = [p.n for p in rows]
        right.plot(
            xs, [p.p50 * 1000 for p in rows], f"{marker}-", color=color, label=f"{page} page, p50"
        )
        right.plot(
            xs,
            [p.p99 * 1000 for p in rows],
            f"{marker}:",
            color=color,
            alpha=0.5,
            label=f"{page} page, p99",
        )
    first = [p for p in pages if p.page == "first"]
    right.plot(
        [p.n for p in first],
        [(p.cpu_per_request or 0) * 1000 for p in first],
        "^--",
        color="tab:gray",
        label="API CPU / request (first page)",
    )
    right.set_title(f"GET /api/v1/configs?limit={PAGE}")
    right.set_xlabel("stored configs")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(ns, [f"{n:,}" for n in ns])
        ax.set_ylabel("ms")
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# --- the run ---------------------------------------------------------------------------------


def _page_label(g: PageFigures) -> str:
    if g.page == "first":
        return "first (offset 0)"
    if g.page == "last":
        return f"last (offset {max(0, g.n - PAGE):,})"
    return "last (after=, keyset)"


def _cpu_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f} ms"


async def run(result: Result, args: argparse.Namespace) -> None:
    from taskplane.resources import make_redis

    sizes = sorted(set(getattr(args, "n", None) or SIZES))
    async with bench_env("b6") as env:
        redis = make_redis(env.settings())
        try:
            # a profiled pass ticks longer, so the profile holds enough samples
            ticks = await measure_ticks(redis, sizes, TICKS * (30 if procs.profiling() else 1))
        finally:
            await redis.aclose()
    async with bench_env("b6", database=True) as env:
        redis = make_redis(env.settings())
        try:
            pages = await measure_pages(
                env, redis, sizes, REQUESTS * (3 if procs.profiling() else 1)
            )
        finally:
            await redis.aclose()

    t = result.table(
        f"B6: tick cost, {DUE_PER_TICK} due per tick, "
        f"{ticks[0].ticks if ticks else TICKS} ticks per size",
        ["registered", "fires sent", "engine CPU / tick", "wall / tick p50", "wall / tick p99"],
    )
    for f in ticks:
        t.add(
            stats.count(f.n),
            stats.count(f.sent),
            _cpu_ms(f.cpu_median),
            stats.ms(f.wall_p50),
            stats.ms(f.wall_p99),
        )
    p = result.table(
        f"B6: GET /configs?limit={PAGE}, {REQUESTS} sequential requests per page",
        ["configs", "page", "p50", "p99", "API CPU / request"],
    )
    for g in pages:
        p.add(
            stats.count(g.n),
            _page_label(g),
            stats.ms(g.p50),
            stats.ms(g.p99),
            _cpu_ms(g.cpu_per_request),
        )

    lo, hi = f"{sizes[0]:,}", f"{sizes[-1]:,}"
    ratio, met = flat([(f.n, f.cpu_median) for f in ticks])
    result.goal(
        f"tick cost flat: engine CPU per tick at {hi} <= {FLAT}x at {lo} ({DUE_PER_TICK} due)",
        met,
        "needs two sizes"
        if ratio is None
        else f"{ratio:.2f}x (" + " / ".join(_cpu_ms(f.cpu_median) for f in ticks) + ")",
    )
    for page in PAGES:
        rows = [g for g in pages if g.page == page]
        ratio, met = flat([(g.n, g.p50) for g in rows])
        result.goal(
            f"list {page} page flat: p50 at {hi} configs <= {FLAT}x at {lo}",
            met,
            "needs two sizes"
            if ratio is None
            else f"{ratio:.2f}x (" + " / ".join(stats.ms(g.p50) for g in rows) + ")",
        )

    if getattr(args, "no_report", False):
        where = plot(procs.LOG_DIR / PLOT.name, ticks, pages)
        result.note(f"plot written to {where} (not to docs/: --no-report)")
    else:
        plot(PLOT, ticks, pages)
        result.image(f"img/{PLOT.name}", "B6: tick cost and list latency against N (log x)")
