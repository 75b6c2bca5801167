"""B6's verdict and its place in the page: pure logic, no stack (B6 only makes sense at sizes
a test cannot afford; its figures are in docs/benchmarks.md, never asserted)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from bench.results import Result

from bench import b6_growth, report


def test_flat_compares_the_largest_size_with_the_smallest_whatever_the_order() -> None:
    assert b6_growth.flat([(100_000, 3.0), (1_000, 2.0), (10_000, 9.0)]) == (1.5, True)
    ratio, met = b6_growth.flat([(1_000, 2.0), (100_000, 3.2)])
    assert met is False and ratio is not None and round(ratio, 2) == 1.6
    assert b6_growth.flat([(1_000, 2.0), (100_000, 3.2)], limit=2.0)[1] is True
    assert b6_growth.flat([(1_000, 2.0)]) == (None, None)  # one size says nothing of growth
    assert b6_growth.flat([(1_000, 0.0), (10_000, 1.0)]) == (None, None)


def test_the_report_shows_b6_with_its_plot(tmp_path: Path) -> None:
    store, doc = tmp_path / "stored", tmp_path / "benchmarks.md"
    old = Result("b1", "scheduler", "python -m bench b1")
    old.goal("b1 goal", False, "slow")
    report.store([old], store)
    b6 = Result("b6", b6_growth.TITLE, "python -m bench b6 --n 1000 --n 10000")
    b6.image("img/b6-growth.png", "B6 plot")
    b6.goal("tick cost flat", True, "0.9x")
    report.write([b6], store, doc)
    text = doc.read_text()
    assert "## B6 — cost growth" in text and "![B6 plot](img/b6-growth.png)" in text
    assert "| B1 | b1 goal | NO | slow |" in text and "| B6 | tick cost flat | yes | 0.9x |" in text
    assert report.stored(store)["b6"].images[0].path == "img/b6-growth.png"


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_b6_runs_end_to_end_at_tiny_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(b6_growth, "TICKS", 5)
    monkeypatch.setattr(b6_growth, "REQUESTS", 5)
    monkeypatch.setattr(b6_growth, "WARMUP_REQUESTS", 1)
    result = Result("b6", b6_growth.TITLE, "test")
    await b6_growth.run(result, argparse.Namespace(n=[60, 30], no_report=True))
    ticks, pages = result.tables
    assert [r[0] for r in ticks.rows] == ["30", "60"]  # sizes in order, whatever was asked
    assert [r[1] for r in ticks.rows] == ["150", "300"]  # every due schedule fired each tick
    assert [(r[0], r[1]) for r in pages.rows] == [
        ("30", "first (offset 0)"),
        ("30", "last (offset 0)"),
        ("30", "last (after=, keyset)"),
        ("60", "first (offset 0)"),
        ("60", "last (offset 10)"),
        ("60", "last (after=, keyset)"),
    ]
    assert [g.met is not None for g in result.goals] == [True, True, True, True]
    assert not result.images  # --no-report: the plot stays out of docs/
    assert any("b6-growth.png" in n for n in result.notes)
