"""B1's peers: how their sends are counted by (schedule, due slot), and the row a peer gets
when its package is not installed (the run goes on, the row says why)."""

from __future__ import annotations

import sys

import pytest
from bench.b1_scheduler import Outcome

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
