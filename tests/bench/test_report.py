"""docs/benchmarks.md is what the stored results (bench/stored/) make, and only that: the
committed page equals the generated one, a run replaces only its own stored result, the
hand-written analysis sits in its own dated section and says when the runs it read are gone,
and the README's performance figures are figures the stored results hold."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
from bench.results import Result

from bench import __main__ as bench_main
from bench import report, suite

README = report.ROOT / "README.md"
# a figure: a number, with its unit when it has one ("157 ms", "10.2x", "2,505/s", "33 µs")
FIGURE = re.compile(r"(?<![\w.,/])(\d(?:[\d,]*\d)?(?:\.\d+)?)(\s?(?:ms|µs|MiB|s|x|%|/s))?(?!\w)")


def _result(name: str, started_at: str, cell: str = "1,234 ms") -> Result:
    r = Result(name, f"title of {name}", f"python -m bench {name}", started_at=started_at)
    r.finished_at = started_at.replace("T06", "T07")
    r.commit = "abc1234"
    r.description = f"What {name} measures."
    r.table(f"{name}: table", ["a", "b"]).add(cell, "x|y")
    r.goal(f"{name} goal", True, f"{cell} measured")
    return r


def test_the_committed_page_is_what_the_stored_results_make() -> None:
    # after a run, or an edit of bench/stored/analysis.md: `make bench-report`
    assert report.DOC.read_text() == report.page(), "run `python -m bench --report-only`"


def test_every_stored_result_names_its_commit_and_times() -> None:
    results = report.stored()
    assert set(report.ORDER) <= set(results)
    text = report.DOC.read_text()
    for r in results.values():
        assert r.commit and r.started_at and r.finished_at, r.name
        assert f"from {r.started_at} to {r.finished_at}, taskplane at {r.commit}" in text


def test_a_stored_result_reads_back_as_it_was_written(tmp_path: Path) -> None:
    r = _result("b1", "2026-12-02T06:22:01+00:00", cell="p99 157 ms -->")
    r.machine = {"described_at": "2026-12-02T06:30", "cores": 2, "versions": {"x": "1"}}
    report.store([r], tmp_path)
    assert report.stored(tmp_path) == {"b1": r}


def test_a_run_replaces_only_its_own_stored_result_and_the_page_prints_every_cell(
    tmp_path: Path,
) -> None:
    store, doc = tmp_path / "stored", tmp_path / "benchmarks.md"
    report.write([_result("b1", "2026-12-01T06:00:00+00:00", "1,234 ms")], store, doc)
    report.write([_result("b3", "2026-12-01T06:10:00+00:00", "2,600/s")], store, doc)
    report.write([_result("b1", "2026-12-02T06:00:00+00:00", "999 ms")], store, doc)
    text = doc.read_text()
    assert sorted(p.name for p in store.iterdir()) == ["b1.json", "b3.json"]
    assert "| 999 ms | x\\|y |" in text and "| 2,600/s | x\\|y |" in text
    assert "1,234 ms" not in text  # the earlier b1 run is replaced, not kept beside
    assert (
        "from 2026-12-02T06:00:00+00:00 to 2026-12-02T07:00:00+00:00, taskplane at abc1234" in text
    )
    assert "## B2 — not run yet" in text and "What b3 measures." in text
    assert text == report.page(store)  # the page is the stored results' alone


def test_a_new_benchmark_is_one_stored_file_and_may_bring_its_renderer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report.store([_result("b6", "2026-12-02T06:00:00+00:00")], tmp_path)
    (tmp_path / "health.json").write_text(_result("health", "2026-12-03T06:00:00+00:00").to_json())
    text = report.page(tmp_path)
    assert text.index("## B6 — title of b6") < text.index("## HEALTH — title of health")
    assert "| HEALTH | health goal | yes | 1,234 ms measured |" in text  # goals at a glance

    def own(r: Result, results: dict[str, Result]) -> list[str]:
        return [f"## {r.title}: p99 {r.tables[0].rows[0][0]} of {len(results)} stored", ""]

    monkeypatch.setitem(report.SECTIONS, "health", own)
    assert "## title of health: p99 1,234 ms of 2 stored" in report.page(tmp_path)


def test_the_machine_is_the_newest_runs_and_another_machine_is_named(tmp_path: Path) -> None:
    old, new = (
        _result("b1", "2026-12-01T06:00:00+00:00"),
        _result("b3", "2026-12-02T06:00:00+00:00"),
    )
    old.machine = {"described_at": "2026-12-01T06:30", "cores": 4, "versions": {"redis": "7.0"}}
    new.machine = {"described_at": "2026-12-02T06:30", "cores": 2, "versions": {"redis": "7.2"}}
    for info in (old.machine, new.machine):
        info |= {"cpu": "EPYC", "ram": "8 GiB", "kernel": "6", "python": "3.11"}
    report.store([old, new], tmp_path)
    text = report.page(tmp_path)
    assert "As described at 2026-12-02T06:30 UTC by the run of B3:" in text
    assert "- 2 cores (EPYC)" in text and "- redis: 7.2" in text
    assert "On another machine or versions than above: cores 4; redis 7.0." in text


def _analysis(store: Path, read: str) -> None:
    (store / report.ANALYSIS).write_text(
        f"written: 2026-12-02 (commit abc1234)\nread: {read}\n\nB1 was fine: 999 ms.\n"
    )


def test_the_analysis_is_dated_names_what_it_read_and_says_when_that_is_gone(
    tmp_path: Path,
) -> None:
    report.store([_result("b1", "2026-12-02T06:00:00+00:00", "999 ms")], tmp_path)
    _analysis(tmp_path, "b1 2026-12-02T06:00:00+00:00")
    text = report.page(tmp_path)
    head = text[text.index("## Analysis (hand-written)") :]
    assert (
        "Written on 2026-12-02 (commit abc1234), reading the stored results of: "
        "B1 run at 2026-12-02T06:00:00+00:00 (taskplane at abc1234)." in head
    )
    assert "B1 was fine: 999 ms." in head and "Stale" not in head
    # b1 run again (or its result gone): the text's figures are no longer the page's
    report.store([_result("b1", "2026-12-05T06:00:00+00:00", "500 ms")], tmp_path)
    _analysis(tmp_path, "b1 2026-12-02T06:00:00+00:00, b3 2026-12-02T06:10:00+00:00")
    stale = report.page(tmp_path)
    assert (
        "**Stale**: the runs it read are no longer all stored, so the sections above hold other "
        "figures than it quotes for: B1 (the stored one ran at 2026-12-05T06:00:00+00:00); "
        "B3 (no run of it is stored)." in stale
    )


def test_the_committed_analysis_read_the_stored_runs_and_points_at_no_section() -> None:
    analysis = report.Analysis.load(report.STORE / report.ANALYSIS)
    assert analysis is not None
    # it names runs by benchmark and start time; once one is run again the page marks the
    # analysis stale (tested above) rather than failing here: a new run may be committed alone
    assert analysis.read and set(analysis.read) <= set(report.stored())
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:]{8}\+00:00", t) for t in analysis.read.values())
    assert not re.search(r"\b(runs? above|the one above)\b", analysis.text)


def _figures(text: str) -> set[tuple[str, str]]:
    return {(number, unit.strip()) for number, unit in FIGURE.findall(text)}


def test_the_readme_performance_figures_are_in_the_stored_results() -> None:
    readme = README.read_text()
    start = readme.index("## Performance\n")
    claimed = _figures(readme[start : readme.index("\n## ", start + 1)])
    stored = set()
    for path in report.STORE.glob("*.json"):
        raw = json.loads(path.read_text())
        raw.pop("profiles")  # sample shares, not figures the README may quote
        stored |= _figures(json.dumps(raw, ensure_ascii=False))
    numbers = {number for number, _ in stored}
    # a figure with a unit is stored with that unit; a bare number is stored in some form
    missing = sorted(
        f"{number} {unit}".strip()
        for number, unit in claimed
        if ((number, unit) not in stored if unit else number not in numbers)
    )
    assert len(claimed) > 30
    assert not missing, f"README figures no stored result holds: {missing}"


class _Fake:
    TITLE = "a fake benchmark"
    DESCRIPTION = "\nWhat the fake measures.\n"

    @staticmethod
    async def run(result: Result, args: argparse.Namespace) -> None:
        result.table("fake: figures", ["n", "took"]).add("1,000", "12.5 ms")
        result.goal("fast", True, "12.5 ms")


def test_a_run_stores_its_figures_description_machine_and_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(suite.BENCHMARKS, "fake", _Fake)
    monkeypatch.setattr(report, "STORE", tmp_path / "stored")
    monkeypatch.setattr(report, "DOC", tmp_path / "benchmarks.md")
    assert bench_main.main(["fake"]) == 0
    (kept,) = report.stored().values()
    assert (kept.name, kept.description) == ("fake", "What the fake measures.")
    assert kept.tables[0].rows == [["1,000", "12.5 ms"]]
    assert kept.commit and kept.commit == kept.machine["versions"]["taskplane (git)"]
    assert kept.machine["described_at"] and kept.finished_at >= kept.started_at
    page = (tmp_path / "benchmarks.md").read_text()
    assert f"taskplane at {kept.commit}" in page and "| 1,000 | 12.5 ms |" in page
    assert page == report.page()
    # --report-only runs nothing and writes the same page from what is stored
    (tmp_path / "benchmarks.md").write_text("stale")
    assert bench_main.main(["--report-only"]) == 0
    assert (tmp_path / "benchmarks.md").read_text() == page
