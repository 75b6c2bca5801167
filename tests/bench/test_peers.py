"""B1's peers: how their sends are counted by (schedule, due slot), and the row a peer gets
when its package is not installed (the run goes on, the row says why)."""

from __future__ import annotations

import sys

import pytest
from bench.b1_outcome import Outcome
from bench.results import Result

from bench import b1_peers


def test_sends_are_counted_by_schedule_and_due_slot() -> None:
    out = Outcome("peer", 2)
    firsts = {"s0": 10_000, "s1": 10_500}
    sends: b1_peers.Sends = {
        # s0: slot 0 late by 200 ms, slot 1 sent twice, a send past the window ignored
        "s0": [(10_200, None), (11_000, None), (11_050, None), (12_000, None)],
        # s1: slot 0 named by its message (due 10,500) though sent 1.2 s late; slot 1 never
        "s1": [(11_700, 10_500)],
        "not-registered": [(10_000, None)],
    }
    b1_peers.account(out, sends, firsts, fires=2, interval=1)
    assert (out.expected, out.sent, out.missed, out.duplicated) == (4, 3, 1, 1)
    assert sorted(out.lags) == [0.0, 0.2, 1.2]


@pytest.mark.parametrize(
    ("module", "fn", "system"),
    [
        ("redbeat", b1_peers.run_redbeat, b1_peers.REDBEAT),
        ("apscheduler.triggers.interval", b1_peers.run_apscheduler, b1_peers.APSCHEDULER),
    ],
)
async def test_a_peer_not_installed_gets_a_row_saying_so(
    monkeypatch: pytest.MonkeyPatch, module: str, fn: b1_peers.PeerRun, system: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    out = await fn(20, fires=2, interval=1)
    assert out.system == system
    assert out.note.startswith("not installed (the bench dependency group)")
    assert module in out.note
    assert (out.registered, out.expected, out.sent) == (0, 0, 0)


def _outcome(system: str, *, lag: float, missed: int, cpu: float, sent: int = 100) -> Outcome:
    out = Outcome(system, 10_000, sent=sent, missed=missed, expected=sent + missed)
    out.lags = [lag] * sent
    out.window_seconds = 60
    out.cpu_per_minute, out.redis_cpu_per_minute = cpu, cpu
    return out


def test_the_peer_goals_compare_lag_missed_and_cpu_per_fire_at_each_size() -> None:
    result = Result("b1", "t", "test")
    outcomes = [
        _outcome("taskplane", lag=0.01, missed=0, cpu=1.0),
        _outcome(b1_peers.REDBEAT, lag=0.5, missed=3, cpu=2.0),  # behind on all three
        _outcome(b1_peers.APSCHEDULER, lag=0.005, missed=0, cpu=9.0),  # on time: lag better
    ]
    b1_peers.goals(result, outcomes)
    by_goal = {g.goal: g for g in result.goals}
    redbeat = by_goal[f"10,000: taskplane ahead of {b1_peers.REDBEAT} " + _WHAT]
    aps = by_goal[f"10,000: taskplane ahead of {b1_peers.APSCHEDULER} " + _WHAT]
    assert redbeat.met is True and "missed 0 vs 3 of 103" in redbeat.detail
    assert aps.met is False
    assert all(g.detail == "not run" for g in result.goals if g.goal.startswith("100,000"))


def test_a_peer_that_sent_nothing_is_behind_and_one_not_installed_is_not_compared() -> None:
    result = Result("b1", "t", "test")
    failed = Outcome(b1_peers.REDBEAT, 10_000, note="failed: TimeoutError()")
    absent = Outcome(b1_peers.APSCHEDULER, 10_000, note="not installed (the bench ...)")
    b1_peers.goals(result, [_outcome("taskplane", lag=0.01, missed=0, cpu=1.0), failed, absent])
    met = {g.goal.split(" ahead of ")[1].split(" (")[0]: g.met for g in result.goals[:2]}
    assert met == {b1_peers.REDBEAT: True, b1_peers.APSCHEDULER: None}


_WHAT = "(p99 lag, missed, CPU per fire incl. Redis)"
