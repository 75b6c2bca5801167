"""B2 — change propagation."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench import procs, stack, stats, stock_app
from bench.env import ADMIN_TOKEN, REDIS_URL, bench_env
from bench.results import Result, Table
from bench.streams import read_all

TITLE = "change propagation"
REGISTERED = 10_000
CHANGES = 200
STOCK_REFRESH_SECONDS = 60  # taskiq scheduler's default --update-interval

DESCRIPTION = f"""
{REGISTERED:,} schedules are registered and active (interval 1 h, so they load the scheduler
without firing in the window); on top of them, test schedules (interval 1 s) are changed
{CHANGES} times while the scheduler runs. A change is honoured when the broker shows it: the
latency is the send time of the first message that reflects it, minus the moment it could
first have been sent (the call's return, or the first due time of the new registration if
later). For a pause, it is the last send of that schedule after the call returned (0 when
there is none). Send times are stream entry ids (Redis's clock).

- **taskplane**: the changes are HTTP calls to `taskplane api` (`POST /schedules/{{id}}/start`,
  `pause`, `resume`, and `PATCH /configs/{{id}}` of the parameters followed by `reload`), 50
  each, over test configs with `run_immediately: false` (so the first fire after a start or
  resume comes from the scheduler, not from the API call); the scheduler is
  `python -m taskplane.scheduling`.
- **stock**: `ListRedisScheduleSource` + `taskiq scheduler` (defaults: the source is re-read
  every {STOCK_REFRESH_SECONDS} s). A start is `add_schedule`, a pause is `delete_schedule`
  (the stock source has no pause); {CHANGES // 2} starts then {CHANGES // 2} pauses, spread
  over one refresh interval so they sample every phase of it.
"""


@dataclass
class Outcome:
    system: str
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    not_honoured: int = 0
    note: str = ""


# --------------------------------------------------------------------------- stock taskiq


async def run_stock(
    changes: int = CHANGES, registered: int = REGISTERED, refresh: int = STOCK_REFRESH_SECONDS
) -> Outcome:
    from taskiq import ScheduledTask

    out = Outcome("stock taskiq")
    lanes = max(1, changes // 2)
    async with bench_env("b2-stock") as env:
        source = stock_app.make_source(REDIS_URL, env.prefix)
        await source.startup()
        for i in range(registered):
            await source.add_schedule(
                ScheduledTask(
                    task_name=stock_app.ECHO_TASK,
                    labels={},
                    args=[],
                    kwargs={"message": "background"},
                    interval=3600,
                    schedule_id=f"bg{i}",
                )
            )
        proc = procs.Proc(
            "b2-stock-scheduler",
            procs.python(
                "-m",
                "taskiq",
                "scheduler",
                "bench.stock_app:make_scheduler",
                "--log-level",
                "WARNING",
            ),
            {"BENCH_STOCK_REDIS_URL": REDIS_URL, "BENCH_STOCK_PREFIX": env.prefix},
        ).start()
        redis = env.redis(decode=False)
        stream = stock_app.stream_name(env.prefix)
        starts: dict[str, float] = {}
        pauses: dict[str, float] = {}
        try:
            # wait for the first tick (the background schedules all fire once at it)
            deadline = time.time() + 120
            while await redis.xlen(stream) == 0:
                if time.time() > deadline or not proc.alive():
                    raise RuntimeError(f"stock scheduler did not start:\n{proc.tail()}")
                await asyncio.sleep(0.1)
            spacing = refresh / lanes

            async def lane(k: int) -> None:
                sid = f"t{k}"
                await asyncio.sleep(k * spacing)
                await source.add_schedule(
                    ScheduledTask(
                        task_name=stock_app.ECHO_TASK,
                        labels={},
                        args=[],
                        kwargs={"message": sid},
                        interval=1,
                        schedule_id=sid,
                    )
                )
                starts[sid] = time.time()
                # pause one refresh interval and a bit later: after the start was honoured
                await asyncio.sleep(refresh + 5)
                await source.delete_schedule(sid)
                pauses[sid] = time.time()

            await asyncio.gather(*(lane(k) for k in range(lanes)))
            await asyncio.sleep(refresh + 5)  # every pause seen by a refresh
        finally:
            proc.stop()
            await source.shutdown()
        sends: dict[str, list[float]] = defaultdict(list)
        async for s in read_all(redis, stream):
            sid = str(s.labels.get("schedule_id"))
            if sid.startswith("t"):
                sends[sid].append(s.sent_ms / 1000)
        await redis.aclose()
        for sid, t_start in starts.items():
            after = [t for t in sends.get(sid, []) if t >= t_start]
            if not after:
                out.not_honoured += 1
            else:
                out.latencies["start"].append(min(after) - t_start)
            t_pause = pauses.get(sid)
            if t_pause is not None:
                late = [t for t in sends.get(sid, []) if t > t_pause]
                out.latencies["pause"].append(max(late) - t_pause if late else 0.0)
    return out


# --------------------------------------------------------------------------- taskplane

LANES = 5
GAP_SECONDS = 1.5  # between two changes of one config: longer than its 1 s interval


@dataclass(frozen=True, slots=True)
class Change:
    config_id: int
    action: str
    returned_at: float
    marker: str | None = None  # reload: the parameters' new message
    ok: bool = True


async def run_taskplane(changes: int = CHANGES, registered: int = REGISTERED) -> Outcome:
    import asyncpg
    import httpx

    from taskplane.resources import make_redis

    out = Outcome("taskplane")
    n_test = max(1, changes // 4)
    async with bench_env("b2-tp", database=True) as env:
        rows: list[dict[str, Any]] = [
            {
                "name": f"b2-bg-{i}",
                "task_type": "echo",
                "scheduler_type": "interval",
                "schedule_config": {"seconds": 3600, "run_immediately": False},
                "parameters": {"message": "background"},
            }
            for i in range(registered)
        ] + [
            {
                "name": f"b2-test-{i}",
                "task_type": "echo",
                "scheduler_type": "interval",
                "schedule_config": {"seconds": 1, "run_immediately": False},
                "parameters": {"message": "v0"},
            }
            for i in range(n_test)
        ]
        ids = await stack.insert_configs(env, rows)
        bg = [
            stack.bench_config(
                id=cid,
                name=r["name"],
                schedule_config=r["schedule_config"],
                parameters=r["parameters"],
            )
            for cid, r in zip(ids[:registered], rows[:registered], strict=True)
        ]
        test_ids = ids[registered:]
        redis = make_redis(env.settings())
        pg = await asyncpg.create_pool(
            env.database_url.replace("+asyncpg", ""), min_size=1, max_size=LANES
        )
        svc = stack.service(env, redis)
        await stack.create_state(svc, bg)
        await stack.create_state(
            svc, [stack.bench_config(id=cid, name=f"t{cid}") for cid in test_ids]
        )
        await stack.start_all(svc, bg, cap_seconds=900)
        port = stack.free_port()
        scheduler = stack.scheduler_proc(env, "b2-tp-scheduler").start()
        api = stack.api_proc(env, "b2-tp-api", port).start()
        log: list[Change] = []
        try:
            await stack.wait_leader(redis, env, scheduler, within=120)
            base = f"http://127.0.0.1:{port}/api/v1"
            await stack.wait_http(f"{base}/system/health", api)
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

                async def act(cid: int, action: str, marker: str | None = None) -> None:
                    r = await client.post(f"/schedules/{cid}/{action}", json={})
                    log.append(Change(cid, action, time.time(), marker, r.status_code == 200))

                async def lane(my_ids: list[int]) -> None:
                    for cid in my_ids:
                        await act(cid, "start")
                        await asyncio.sleep(GAP_SECONDS)
                        await act(cid, "pause")
                        await asyncio.sleep(GAP_SECONDS)
                        await act(cid, "resume")
                        await asyncio.sleep(GAP_SECONDS)
                        marker = f"v1-{cid}"
                        await pg.execute(
                            "UPDATE task_config SET parameters = $1::jsonb WHERE id = $2",
                            json.dumps({"message": marker}),
                            cid,
                        )
                        await act(cid, "reload", marker)
                        await asyncio.sleep(GAP_SECONDS)
                        await client.post(f"/schedules/{cid}/stop", json={})

                await asyncio.gather(*(lane(test_ids[k::LANES]) for k in range(LANES)))
        finally:
            api.stop()
            scheduler.stop()
            await pg.close()
            await redis.aclose()
        sends: dict[int, list[tuple[float, float | None, str]]] = {}
        wanted = set(test_ids)
        raw = env.redis(decode=False)
        try:
            async for s in read_all(raw, env.keys.broker_stream("default")):
                cid = int(s.labels.get("config_id", 0))
                if cid in wanted:
                    due = s.labels.get("due_at")
                    due_s = datetime.fromisoformat(due).timestamp() if due else None
                    sends.setdefault(cid, []).append(
                        (s.sent_ms / 1000, due_s, str(s.kwargs.get("message")))
                    )
        finally:
            await raw.aclose()
        failed = [c for c in log if not c.ok]
        if failed:
            out.note = f"{len(failed)} of {len(log)} calls did not return 200"
        by_config: dict[int, list[Change]] = {}
        for c in sorted(log, key=lambda c: c.returned_at):
            by_config.setdefault(c.config_id, []).append(c)
        for cid, seq in by_config.items():
            mine = sorted(sends.get(cid, []))
            for k, c in enumerate(seq):
                if not c.ok:
                    continue
                until = seq[k + 1].returned_at if k + 1 < len(seq) else float("inf")
                after = [m for m in mine if c.returned_at < m[0] <= until + 5]
                if c.action == "pause":
                    late = [m[0] for m in after if m[0] <= until]
                    out.latencies["pause"].append(max(late) - c.returned_at if late else 0.0)
                    continue
                hits = [m for m in after if c.marker is None or m[2] == c.marker]
                if not hits:
                    out.not_honoured += 1
                    continue
                sent, due, _ = hits[0]
                could = max(c.returned_at, due or c.returned_at)
                out.latencies[c.action].append(max(0.0, sent - could))
    return out


# --------------------------------------------------------------------------- the table


COLUMNS = ["system", "action", "changes", "p50", "p99", "max", "not honoured"]


def add_rows(table: Table, o: Outcome) -> None:
    every: list[float] = []
    for action, values in o.latencies.items():
        every += values
        s = stats.summary_ms(values)
        table.add(o.system, action, stats.count(len(values)), s["p50"], s["p99"], s["max"], "")
    s = stats.summary_ms(every)
    table.add(
        o.system,
        "all",
        stats.count(len(every)),
        s["p50"],
        s["p99"],
        s["max"],
        stats.count(o.not_honoured),
    )


async def run(result: Result, args: argparse.Namespace) -> None:
    changes = getattr(args, "changes", None) or CHANGES
    registered = (getattr(args, "n", None) or [REGISTERED])[0]
    with_stock = not getattr(args, "no_stock", False)
    table = result.table(f"B2: {changes} changes with {registered:,} schedules registered", COLUMNS)
    found: dict[str, Outcome] = {}
    refresh = getattr(args, "refresh", None) or STOCK_REFRESH_SECONDS

    async def stock(changes: int, registered: int) -> Outcome:
        return await run_stock(changes, registered, refresh)

    runs = [("taskplane", run_taskplane)] + ([("stock", stock)] if with_stock else [])
    for label, fn in runs:
        print(f"  B2 {label} ...", flush=True)
        try:
            o = await fn(changes, registered)
        except Exception as exc:
            o = Outcome(
                "taskplane" if label == "taskplane" else "stock taskiq", note=f"failed: {exc!r}"
            )
        found[label] = o
        add_rows(table, o)
        if o.note:
            result.note(f"{o.system}: {o.note}")
    tp = found.get("taskplane")
    every = [v for values in (tp.latencies.values() if tp else []) for v in values]
    if every:
        p99 = stats.percentile(every, 99) or 0.0
        result.goal(
            "p99 ≤ 1 s from the call returning to the scheduler honouring it",
            p99 <= 1.0 and tp is not None and tp.not_honoured == 0,
            f"p99 {stats.ms(p99)} over {len(every)} changes"
            + (f", {tp.not_honoured} not honoured" if tp and tp.not_honoured else ""),
        )
    else:
        result.goal(
            "p99 ≤ 1 s from the call returning to the scheduler honouring it", None, "not run"
        )
