"""B4 - API latency and throughput under wrk."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench import procs, stack, stats
from bench.env import BenchEnv, bench_env
from bench.results import Result

TITLE = "API latency"
CONFIGS = 10_000
ACTIVE = 2_000  # schedules started, for pause + resume
CONNECTIONS = 32
DURATION_SECONDS = 15
WARMUP_SECONDS = 3  # each read endpoint's load first runs this long, not counted
WRITES_SCRIPT = "pause_resume.lua"
WRK_DIR = Path(__file__).resolve().parent / "wrk"

DESCRIPTION = f"""
`taskplane api` (its production defaults: access log off, INFO logging) on PostgreSQL and
Redis, with {CONFIGS:,} interval configs in the database ({ACTIVE:,} of them started), called
with a stored admin token (made like `taskplane token create`, so each request goes through
the token check a real client's does). The load tool is Debian's `wrk` (1 thread,
{CONNECTIONS} connections, keep-alive, {DURATION_SECONDS} s per endpoint, `--latency`; if wrk is
missing, a Python load generator with the same connections and requests, and the page says
so), run on the same 2 cores as the server: `GET /api/v1/configs/{{id}}` (a random id per
request), `GET /api/v1/configs?limit=50` and `POST /api/v1/schedules/{{id}}/pause` + `resume`
(round-robin over the {ACTIVE:,} active schedules, each paused then resumed, so every answer is
a 200). The scripts are in `bench/wrk/`. Each read endpoint (the bare one too) first gets the
same load for {WARMUP_SECONDS} s, not counted: the figures are the steady state, not the first
connections, statement preparations and caches filling; the writes run last, on a warm
process. The references are two endpoints in the same run:
`bench/bare_app.py` serves the same app (same factory, settings, middleware and uvicorn
options) plus two bench-only routes: one that returns a constant without the auth dependency
("x bare": what the framework costs), and a floor that does the I/O of a config read and
nothing else: the token lookup, one asyncpg fetch of the row and the read model's one Redis
pipeline, answered as raw JSON ("x floor": what a config read adds to its own I/O). API
CPU is the server's CPU (all its uvicorn processes) over the run, as a share of one core;
CPU / request divides it by the answered requests, and "x bare" compares that with the bare
endpoint's. Everything runs once with one api process, then the reads again with
`--workers 2` (one process per core) for the throughput goal.
"""


@dataclass
class Outcome:
    endpoint: str
    requests: int = 0
    rps: float | None = None
    p50: float | None = None
    p99: float | None = None
    max: float | None = None
    non_2xx: int = 0
    socket_errors: str = ""
    api_cpu: float | None = None
    note: str = ""


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _duration(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unreadable wrk duration {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(output: str, endpoint: str) -> Outcome:
    out = Outcome(endpoint)
    for line in output.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "50.000%" or parts[0] == "50%":
            out.p50 = _duration(parts[1])
        elif parts[0] == "99.000%" or parts[0] == "99%":
            out.p99 = _duration(parts[1])
        elif parts[0] == "Latency" and len(parts) >= 4:
            out.max = _duration(parts[3])
        elif line.strip().startswith("Requests/sec:"):
            out.rps = float(parts[1])
        elif "requests in" in line:
            out.requests = int(parts[0])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            out.non_2xx = int(parts[-1])
        elif line.strip().startswith("Socket errors:"):
            out.socket_errors = line.split(":", 1)[1].strip()
    return out


async def seed(env: BenchEnv, n: int, active: int) -> tuple[int, int]:
    """n interval configs (rows + schedule state); the first ``active`` of them started.
    Returns (first id, last id)."""
    from sqlalchemy import insert, select

    from taskplane.db.configs import ConfigRow
    from taskplane.db.models import TaskConfig
    from taskplane.db.session import make_engine, make_session_factory
    from taskplane.resources import make_redis

    settings = env.settings()
    engine = make_engine(settings)
    try:
        sessions = make_session_factory(engine)
        async with sessions() as session, session.begin():
            rows = stack.config_rows(0, n)
            for i in range(0, n, 2000):  # multi-row INSERTs, as in stack.insert_configs
                await session.execute(insert(TaskConfig).values(rows[i : i + 2000]))
        async with sessions() as session:
            every = select(TaskConfig.__table__).order_by(TaskConfig.id)
            configs = [ConfigRow(*row) for row in (await session.execute(every)).all()]
        redis = make_redis(settings)
        try:
            svc = stack.service(env, redis)
            await stack.create_state(svc, configs)
            await stack.start_all(svc, configs[:active], cap_seconds=600)
        finally:
            await redis.aclose()
        return configs[0].id, configs[-1].id
    finally:
        await engine.dispose()


async def run_wrk(
    api: procs.Proc,
    url: str,
    script: str | None,
    endpoint: str,
    duration: float,
    extra_env: dict[str, str],
) -> Outcome:
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{int(duration)}s", "--latency"]
    if script:
        argv += ["-s", str(WRK_DIR / script)]
    argv.append(url)
    cpu0 = api.cpu_seconds()
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **extra_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    raw, _ = await asyncio.wait_for(proc.communicate(), timeout=duration + 60)
    elapsed = time.monotonic() - started
    out = parse_wrk(raw.decode(errors="replace"), endpoint)
    out.api_cpu = (api.cpu_seconds() - cpu0) / elapsed
    return out


def load_tool(asked: str | None) -> str:
    """``wrk`` or ``python``: what was asked for, or (``auto``) wrk when it is installed. No
    part of taskplane installs wrk, so a machine without it still runs B4."""
    if asked in ("wrk", "python"):
        return asked
    return "wrk" if shutil.which("wrk") is not None else "python"


@dataclass
class Step:
    endpoint: str
    url: str
    script: str
    params: dict[str, str]


def _plan(base: str, first: int, last: int, active: int, *, writes: bool) -> list[Step]:
    ids = {"B4_FIRST_ID": str(first), "B4_ID_COUNT": str(last - first + 1)}
    plan = [
        Step(BARE, f"{base}/bench/bare", "auth.lua", {}),
        Step(FLOOR, base, "get_config.lua", {**ids, "B4_PATH": "/api/v1/bench/floor"}),
        Step(CONFIG_READ, base, "get_config.lua", ids),
        Step("GET /configs?limit=50", f"{base}/configs?limit=50", "auth.lua", {}),
    ]
    if writes:
        plan.append(
            Step(
                "POST /schedules/{id}/pause + resume",
                base,
                WRITES_SCRIPT,
                {"B4_FIRST_ID": str(first), "B4_ID_COUNT": str(active)},
            )
        )
    return plan


BARE = "GET /bench/bare (reference)"
FLOOR = "GET /bench/floor/{id} (reference: a config read's I/O)"
CONFIG_READ = "GET /configs/{id}"
COLUMNS = [
    "endpoint",
    "requests",
    "req/s",
    "p50",
    "p99",
    "max",
    "non-2xx",
    "API CPU (1 core)",
    "CPU / request",
    "x bare",
    "x floor",
]
# CPU per request as a multiple of the bare endpoint's (one api process)
RATIO_GOALS = {CONFIG_READ: 2.0, "GET /configs?limit=50": 6.0}
# a config read's CPU per request as a multiple of the floor's (the same I/O, nothing else)
FLOOR_GOAL = 1.5
THROUGHPUT_WORKERS = 2


def cpu_per_request(o: Outcome, duration: float) -> float | None:
    """API CPU seconds per answered request."""
    if o.api_cpu is None or not o.requests:
        return None
    return o.api_cpu * duration / o.requests


async def run(result: Result, args: argparse.Namespace) -> None:
    n = (getattr(args, "n", None) or [CONFIGS])[0]
    duration = getattr(args, "duration", None) or DURATION_SECONDS
    active = min(ACTIVE, n)
    tool = load_tool(getattr(args, "load", None))
    use_wrk = tool == "wrk"
    label = tool if use_wrk else "Python load generator"
    if not use_wrk:
        result.note(
            "wrk was not used (apt-get install -y wrk; --load wrk): measured with the bench's "
            "Python "
            "load generator instead (httpx, same connections and requests), which is itself "
            "CPU-hungry on these 2 cores, so its figures are lower bounds"
        )
    single: dict[str, float | None] = {}
    over_floor: float | None = None
    reads: list[Outcome] = []
    async with bench_env("b4", database=True) as env:
        print(f"  B4 seeding {n:,} configs ...", flush=True)
        first, last = await seed(env, n, active)
        token = await stored_token(env)
        for workers in (1, THROUGHPUT_WORKERS):
            table = result.table(
                f"B4: {label}, {CONNECTIONS} connections, {int(duration)} s each, {n:,} configs, "
                + ("one api process" if workers == 1 else f"`taskplane api --workers {workers}`"),
                COLUMNS,
            )
            outcomes = await _measure(
                env, workers, token, first, last, active, duration, use_wrk, result
            )
            bare = cpu_per_request(outcomes[0], duration)
            floor = cpu_per_request(outcomes[1], duration)
            for o in outcomes:
                per = cpu_per_request(o, duration)
                ratio = per / bare if per is not None and bare else None
                to_floor = per / floor if per is not None and floor else None
                if workers == 1:
                    single[o.endpoint] = ratio
                    if o.endpoint == CONFIG_READ:
                        over_floor = to_floor
                elif o.endpoint in RATIO_GOALS:
                    reads.append(o)
                table.add(
                    o.endpoint,
                    stats.count(o.requests),
                    stats.rate(o.rps, ""),
                    stats.ms(o.p50),
                    stats.ms(o.p99),
                    stats.ms(o.max),
                    stats.count(o.non_2xx),
                    f"{o.api_cpu * 100:.0f} %" if o.api_cpu is not None else "-",
                    f"{per * 1000:.2f} ms" if per is not None else "-",
                    f"{ratio:.1f}x" if ratio is not None else "-",
                    f"{to_floor:.2f}x" if to_floor is not None and o.endpoint != BARE else "-",
                )
    for endpoint, bound in RATIO_GOALS.items():
        ratio = single.get(endpoint)
        result.goal(
            f"{endpoint}: API CPU per request <= {bound:g}x the bare endpoint's",
            None if ratio is None else ratio <= bound,
            "not measured" if ratio is None else f"{ratio:.1f}x (one api process)",
        )
    result.goal(
        f"{CONFIG_READ}: API CPU per request <= {FLOOR_GOAL:g}x the floor's (the same I/O)",
        None if over_floor is None else over_floor <= FLOOR_GOAL,
        "not measured" if over_floor is None else f"{over_floor:.2f}x (one api process)",
    )
    goal = f"reads >= 1,000 req/s, p99 <= 50 ms (--workers {THROUGHPUT_WORKERS})"
    if reads and all(o.rps is not None and o.p99 is not None for o in reads):
        ok = all((o.rps or 0) >= 1000 and (o.p99 or 1) <= 0.050 and o.non_2xx == 0 for o in reads)
        result.goal(
            goal,
            ok,
            "; ".join(f"{o.endpoint}: {stats.rate(o.rps)}, p99 {stats.ms(o.p99)}" for o in reads),
        )
    else:
        result.goal(goal, None, "not measured")


async def stored_token(env: BenchEnv) -> str:
    """A stored admin token (``taskplane token create``), so every request goes through the
    token lookup a real client's does (the settings' admin token needs no lookup)."""
    from taskplane.auth import create_token
    from taskplane.db.session import make_engine, make_session_factory
    from taskplane.enums import Role

    engine = make_engine(env.settings())
    try:
        async with make_session_factory(engine)() as session, session.begin():
            _, plaintext = await create_token(session, "b4", Role.ADMIN)
        return plaintext
    finally:
        await engine.dispose()


async def _measure(
    env: BenchEnv,
    workers: int,
    token: str,
    first: int,
    last: int,
    active: int,
    duration: float,
    use_wrk: bool,
    result: Result,
) -> list[Outcome]:
    """The bare endpoint on the reference app, then the taskplane endpoints on `taskplane
    api`, each started with ``workers`` uvicorn processes (one at a time, the other idle)."""
    outcomes: list[Outcome] = []
    suffix = "" if workers == 1 else f"-w{workers}"
    flags = ["--workers", str(workers)]
    ref_port, api_port = stack.free_port(), stack.free_port()
    ref = procs.Proc(
        f"b4-bare{suffix}",
        procs.python("-m", "bench.bare_app", "--port", str(ref_port), *flags),
        env.process_env(log_level="INFO"),
    )
    api = procs.Proc(
        f"b4-api{suffix}",
        procs.python("-m", "taskplane.cli", "api", "--port", str(api_port), *flags),
        env.process_env(log_level="INFO"),
    )
    try:
        for proc, port in ((ref, ref_port), (api, api_port)):
            proc.start()
            await stack.wait_http(f"http://127.0.0.1:{port}/api/v1/system/health", proc)
        ref_base = f"http://127.0.0.1:{ref_port}/api/v1"
        api_base = f"http://127.0.0.1:{api_port}/api/v1"
        plan = _plan(api_base, first, last, active, writes=workers == 1)
        plan[0].url = f"{ref_base}/bench/bare"
        plan[1].url = ref_base
        for step in plan:
            print(f"  B4 {step.endpoint} (workers {workers}) ...", flush=True)
            proc = ref if step.endpoint in (BARE, FLOOR) else api
            params = {"B4_TOKEN": token, **step.params}
            load = run_wrk if use_wrk else run_python
            if step.script != WRITES_SCRIPT:  # writes run last, on a warm process
                await load(proc, step.url, step.script, step.endpoint, WARMUP_SECONDS, params)
            o = await load(proc, step.url, step.script, step.endpoint, duration, params)
            outcomes.append(o)
            if o.socket_errors:
                result.note(
                    f"{o.endpoint} (workers {workers}): wrk socket errors: {o.socket_errors}"
                )
    finally:
        api.stop()
        ref.stop()
    return outcomes


async def run_python(
    api: procs.Proc,
    url: str,
    script: str,
    endpoint: str,
    duration: float,
    params: dict[str, str],
) -> Outcome:
    """The fallback load generator: CONNECTIONS clients in a loop, the same requests as the
    wrk scripts, latencies of every request."""
    import random

    import httpx

    headers = {"Authorization": f"Bearer {params['B4_TOKEN']}"}
    first = int(params.get("B4_FIRST_ID", "0"))
    count = int(params.get("B4_ID_COUNT", "1"))
    path = params.get("B4_PATH", "/api/v1/configs").removeprefix("/api/v1")
    counter = 0
    paused: set[int] = set()

    def next_request() -> tuple[str, str]:
        nonlocal counter
        if script == "auth.lua":
            return "GET", url
        if script == "get_config.lua":
            return "GET", f"{path}/{first + random.randrange(count)}"
        k = counter % count
        counter += 1
        action = "resume" if k in paused else "pause"
        paused.symmetric_difference_update({k})
        return "POST", f"/schedules/{first + k}/{action}"

    latencies: list[float] = []
    non_2xx = errors = 0
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    cpu0 = api.cpu_seconds()
    started = time.monotonic()
    deadline = started + duration
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=30
    ) as client:

        async def one_client() -> None:
            nonlocal non_2xx, errors
            while time.monotonic() < deadline:
                method, path = next_request()
                t = time.monotonic()
                try:
                    r = await client.request(method, path, json={} if method == "POST" else None)
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.monotonic() - t)
                if not 200 <= r.status_code < 300:
                    non_2xx += 1

        await asyncio.gather(*(one_client() for _ in range(CONNECTIONS)))
    elapsed = time.monotonic() - started
    out = Outcome(
        endpoint,
        requests=len(latencies),
        rps=len(latencies) / elapsed,
        p50=stats.percentile(latencies, 50),
        p99=stats.percentile(latencies, 99),
        max=max(latencies) if latencies else None,
        non_2xx=non_2xx,
        socket_errors=f"{errors} failed requests" if errors else "",
    )
    out.api_cpu = (api.cpu_seconds() - cpu0) / elapsed
    return out
