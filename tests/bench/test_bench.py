"""Smoke: each benchmark runs end to end on a tiny size, on both sides, and its figures add up.

No timing is asserted (speed lives in the benchmark's own report): a fire may be late on a
loaded machine, so the checks are on counts that hold whatever the speed.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from bench.results import Result, Table

from bench import b1_scheduler, b2_changes, b3_throughput, b4_api, b7_bad_clients, b11_million

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _args(**values: Any) -> argparse.Namespace:
    defaults: dict[str, Any] = {
        "n": None,
        "changes": None,
        "duration": None,
        "fires": None,
        "interval": None,
        "refresh": None,
        "workers": None,
        "no_stock": False,
    }
    return argparse.Namespace(**{**defaults, **values})


def _int(cell: str) -> int:
    return int(cell.replace(",", ""))


def _rows(table: Table) -> list[dict[str, str]]:
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def _no_failures(result: Result) -> None:
    assert not [n for n in result.notes if "failed" in n], result.notes


async def test_b1_accounts_for_every_fire_on_taskplane_stock_and_peers() -> None:
    result = Result("b1", b1_scheduler.TITLE, "test")
    await b1_scheduler.run(result, _args(n=[20], fires=2, interval=1))
    _no_failures(result)
    rows = _rows(result.tables[0])
    assert [r["system"] for r in rows] == [
        "taskplane",
        "stock taskiq",
        "celery beat + RedBeat",
        "APScheduler 4",
    ]
    for r in rows:
        assert _int(r["fires expected"]) == 40
        assert _int(r["sent"]) + _int(r["missed"]) == 40
        assert _int(r["sent"]) > 0
        assert r["duplicated"].replace(",", "").isdigit()
        assert r["CPU s/min"].endswith(" s") and r["peak RSS"].endswith(" MiB")
        assert r["register"].endswith(" s")
    assert _int(rows[0]["duplicated"]) == 0  # deterministic task ids + CAS: never twice
    # each peer's note says how its send time was taken
    assert any(n.startswith("celery beat + RedBeat N=20:") and "LPUSH" in n for n in result.notes)
    assert any(n.startswith("APScheduler 4 N=20:") and "XADD" in n for n in result.notes)
    assert next(g.goal for g in result.goals).startswith("100,000")
    # scheduler + Redis CPU per fire against stock's, at each size the goals name
    totals = [g for g in result.goals if "scheduler + Redis CPU" in g.goal]
    assert [g.goal.split(":")[0] for g in totals] == ["10,000", "100,000"]
    assert all(g.detail == "not run" for g in totals)  # 20 schedules: neither size ran
    ahead = [g for g in result.goals if "taskplane ahead of" in g.goal]
    assert len(ahead) == 4 and all(g.detail == "not run" for g in ahead)  # 2 peers x 2 sizes


async def test_b11_accounts_for_every_fire_and_every_byte_on_a_redis_of_its_own() -> None:
    result = Result("b11", b11_million.TITLE, "test")
    await b11_million.run(result, _args(n=[30], fires=2, interval=1))
    _no_failures(result)
    rows = _rows(result.tables[0])
    assert len(rows) == 1
    (row,) = rows
    assert _int(row["fires expected"]) == 60
    assert _int(row["sent"]) + _int(row["missed"]) == 60 and _int(row["sent"]) > 0
    assert _int(row["duplicated"]) == 0
    assert row["Redis memory per schedule"].endswith(" B") and row["RSS per schedule"].endswith(
        " B"
    )
    # a server of its own: what registration added is this run's keys, the families that
    # hold them are one state hash (the registration in it) and one history list per
    # schedule, and one shape for all of them
    memory = _rows(result.tables[1])
    per_config = {r["key family"]: _int(r["keys"]) for r in memory if r["keys"]}
    assert "source:data:taskplane-config-N" not in per_config
    assert per_config["schedule:N"] == 30 and per_config["history:N"] == 30
    assert per_config.get("reg:shapes", 1) == 1  # one shape for all (a tiny family: may rank
    # below the table's top families)
    assert per_config["due"] == 1
    # after the window: each history list holds its two ``fired`` events more, and the page
    # says what a fire adds and what the history's cap makes of it
    [after] = [t for t in result.tables if "after the window" in t.title]
    fired = {r["key family"]: r for r in _rows(after) if r["keys"]}
    assert _int(fired["history:N"]["keys"]) == 30
    assert _int(fired["history:N"]["bytes per key"]) > _int(
        {r["key family"]: r for r in memory if r["keys"]}["history:N"]["bytes per key"]
    )
    [history] = [n for n in result.notes if n.startswith("History:")]
    assert "B per fire" in history and "`history_max` = 200" in history
    # Redis's time by command over the window: the fire script first
    [by_command] = [t for t in result.tables if "commandstats" in t.title]
    commands = _rows(by_command)
    assert commands[0]["command"] == "evalsha", commands
    assert [g.goal for g in result.goals] == [
        "30: p99 lag ≤ 1 s, 0 missed, 0 duplicated",
        "register 30 through the service's bulk path ≤ 60 s",
        "Redis memory per schedule ≤ 1 KiB",
        "scheduler peak RSS per schedule ≤ 1 KiB",
    ]
    assert all(g.met is not None for g in result.goals), result.goals
    assert result.goals[3].met is False  # 30 schedules: the process's own size dominates


async def test_b2_sees_every_change_honoured() -> None:
    result = Result("b2", b2_changes.TITLE, "test")
    await b2_changes.run(result, _args(changes=4, n=[20], refresh=1))
    _no_failures(result)
    rows = _rows(result.tables[0])
    totals = {r["system"]: r for r in rows if r["action"] == "all"}
    assert set(totals) == {"taskplane", "stock taskiq"}
    assert _int(totals["taskplane"]["changes"]) + _int(totals["taskplane"]["not honoured"]) == 4
    assert {r["action"] for r in rows if r["system"] == "taskplane"} >= {"start", "pause"}
    assert _int(totals["stock taskiq"]["changes"]) >= 2


async def test_b3_drains_every_task_with_one_and_two_workers() -> None:
    result = Result("b3", b3_throughput.TITLE, "test")
    await b3_throughput.run(result, _args(n=[30], workers=[1, 2]))
    _no_failures(result)
    rows = _rows(result.tables[0])
    assert [(r["system"], r["worker processes"]) for r in rows] == [
        ("taskplane", "1"),
        ("plain taskiq", "1"),
        ("taskplane", "2"),
        ("plain taskiq", "2"),
    ]
    assert all(_int(r["done"]) == 30 for r in rows)


def test_b4_uses_its_python_load_generator_where_wrk_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `make test` installs no wrk (only `make bench` tries to): a machine without it must
    # still run B4
    monkeypatch.setattr("bench.b4_api.shutil.which", lambda name: None)
    assert b4_api.load_tool("auto") == "python"
    assert b4_api.load_tool(None) == "python"
    monkeypatch.setattr("bench.b4_api.shutil.which", lambda name: f"/usr/bin/{name}")
    assert b4_api.load_tool("auto") == "wrk"
    assert b4_api.load_tool("python") == "python"


async def test_b4_loads_every_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # the machine's own PATH decides nothing: wrk is hidden, the fallback must carry B4
    monkeypatch.setattr("bench.b4_api.shutil.which", lambda name: None)
    result = Result("b4", b4_api.TITLE, "test")
    await b4_api.run(result, _args(n=[40], duration=1))
    assert "Python load generator" in result.tables[0].title
    rows = _rows(result.tables[0])
    assert [r["endpoint"] for r in rows] == [
        b4_api.BARE,
        b4_api.FLOOR,
        "GET /configs/{id}",
        "GET /configs?limit=50",
        "POST /schedules/{id}/pause + resume",
    ]
    assert all(_int(r["requests"]) > 0 for r in rows)
    assert {rows[i]["non-2xx"] for i in range(4)} == {"0"}, rows  # the floor's reads answer too
    assert rows[0]["x bare"] == "1.0x" and rows[2]["x bare"].endswith("x"), rows
    assert rows[1]["x floor"] == "1.00x" and rows[2]["x floor"].endswith("x"), rows
    # 40 schedules under 32 connections: a resume may overtake its own pause (a 409), but
    # most control calls succeed
    assert _int(rows[4]["non-2xx"]) < _int(rows[4]["requests"]) / 2, rows
    # the reads again on `taskplane api --workers 2`, and a verdict on every B4 goal
    assert "--workers 2" in result.tables[1].title
    assert [r["endpoint"] for r in _rows(result.tables[1])] == [r["endpoint"] for r in rows[:4]]
    assert len(result.goals) == 4 and all(g.met is not None for g in result.goals)
    assert any("the floor's" in g.goal for g in result.goals)


async def test_b7_measures_health_under_every_attack_and_gives_its_goal_a_verdict() -> None:
    result = Result("b7", b7_bad_clients.TITLE, "test")
    await b7_bad_clients.run(result, _args(duration=2))
    rows = _rows(result.tables[0])
    assert [r["attack"] for r in rows] == [name for name, _ in b7_bad_clients.ATTACKS]
    # how many calls an attack lets through is the figure, not a check: a stalled api may
    # answer none in 2 s; the probe answered before each attack, so the run saw the api
    assert sum(_int(r["/health calls"]) for r in rows) > 0, rows
    for r in rows:
        assert (r["p99 ms"] == "nan") == (_int(r["/health calls"]) == 0), r
        assert float(r["load after"]) >= 0, r
    (goal,) = result.goals
    assert goal.met is not None and goal.detail.startswith("worst p99 "), goal


def test_b7_meets_its_goal_only_without_a_failed_call_and_within_the_p99() -> None:
    health = b7_bad_clients.Health
    assert health([10.0] * 99 + [90.0], failures=0).met()
    assert not health([10.0] * 99 + [90.0], failures=1).met()
    assert not health([10.0] * 50 + [150.0] * 50, failures=0).met()
    assert not health([], failures=0).met()  # no answer at all is no verdict of "fast"


WRK_OUTPUT = """Running 15s test @ http://127.0.0.1:8000/api/v1/configs?limit=50
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    25.10ms    5.20ms  112.40ms   90.00%
    Req/Sec     1.28k   100.00     1.40k    80.00%
  Latency Distribution
     50%   24.00ms
     75%   27.00ms
     90%   30.00ms
     99%   48.50ms
  19200 requests in 15.01s, 40.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   1279.15
Transfer/sec:      2.66MB
"""


def test_wrk_output_is_read_to_the_figures_it_prints() -> None:
    o = b4_api.parse_wrk(WRK_OUTPUT, "GET /configs?limit=50")
    assert (o.requests, o.rps, o.non_2xx) == (19200, 1279.15, 3)
    assert (o.p50, o.p99, o.max) == pytest.approx((0.024, 0.0485, 0.1124))
