"""docs/reliability.md is what the stored figures files make: the committed page equals the
generated one; a run's entries replace their tests' stored ones, section by section; a
promise's last stored outcome decides whether it is listed as a known defect."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.badclients import section as badclients
from tests.faults import figures, promises, reliability
from tests.faults import sentinel_section as sentinel

FAULTS = reliability.SECTIONS[0]


def test_the_committed_page_is_what_the_stored_figures_make() -> None:
    # after `--store` of a run, or an edit of tests/faults/promises.py:
    # `python -m tests.faults.reliability`
    assert reliability.DOC.read_text() == reliability.page()


def test_every_cited_test_exists() -> None:
    for nodeid in reliability.cited():
        path, _, name = nodeid.partition("::")
        assert f"def {name}(" in (reliability.ROOT / path).read_text(), nodeid


def _run(store: Path, entries: dict[str, dict[str, Any]]) -> str:
    reliability.keep(entries, store)
    return reliability.page(store)


def test_a_run_replaces_its_tests_entries_and_a_passing_run_clears_the_defect(
    tmp_path: Path,
) -> None:
    failed = {"at": "2026-12-02T10:00:00+00:00", "commit": "aaa1111", "outcome": "failed"}
    text = _run(tmp_path, {promises.PG_SHUTTING_DOWN: failed, "tests/x.py::uncited": failed})
    assert sorted(json.loads((tmp_path / FAULTS.file).read_text())) == [promises.PG_SHUTTING_DOWN]
    defects = text[text.index("## Known defects") :]
    assert "**4c: PostgreSQL shutting down" in defects
    assert "failed (2026-12-02 10:00:00 UTC at aaa1111)" in defects
    assert "| 1 | `kill -9` of a worker mid-task |" in text and "| no stored run |" in text

    figures_of_6 = {"lost": 0, "duplicated": 0, "stopped_after_sigterm_seconds": 3.25}
    passed = {"at": "2026-12-06T20:40:00+00:00", "commit": "bbb2222", "outcome": "passed"}
    text = _run(
        tmp_path,
        {
            promises.PG_SHUTTING_DOWN: passed,
            promises.SIGTERM_WORKER: {**passed, "figures": figures_of_6},
        },
    )
    assert "failed (" not in text and "aaa1111" not in text  # replaced, not kept beside
    assert "None: no test cited above failed in its last stored run." in text
    assert (
        "| 6 | 0 | 0 | worker exited 3.2 s after SIGTERM (the task had 3 s left) | — | "
        "2026-12-06 20:40:00 UTC at bbb2222 |" in text
    )
    assert "| 4 | | | | no stored run | |" in text


def test_the_page_takes_sections_from_several_figures_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bad_clients(entries: dict[str, dict[str, Any]]) -> list[str]:
        rows = [f"| {e['figures']['p99_ms']} ms |" for e in entries.values()]
        return ["## Bad clients", "", "| /health p99 |", "| --- |", *rows, ""]

    other = reliability.Section("bad-clients.json", frozenset({"tests/b.py::t"}), bad_clients)
    monkeypatch.setattr(reliability, "SECTIONS", [FAULTS, other])
    entry = {"at": "2026-12-06", "commit": "c", "outcome": "passed", "figures": {"p99_ms": 12}}
    text = _run(tmp_path, {"tests/b.py::t": entry})
    assert json.loads((tmp_path / "bad-clients.json").read_text()) == {"tests/b.py::t": entry}
    assert not (tmp_path / FAULTS.file).exists()
    assert text.index("## Known defects") < text.index("## Bad clients\n\n| /health p99 |")
    assert "| 12 ms |" in text
    assert "tests/b.py::t" in reliability.cited()


def test_a_cited_tests_outcome_is_kept_beside_its_figures(tmp_path: Path) -> None:
    factory = SimpleNamespace(getbasetemp=lambda: tmp_path)
    item = SimpleNamespace(
        nodeid="tests/a.py::t",
        user_properties=[],
        config=SimpleNamespace(_tmp_path_factory=factory),
    )

    def report(when: str, outcome: str) -> Any:
        return SimpleNamespace(when=when, outcome=outcome, passed=outcome == "passed")

    cited = frozenset({"tests/a.py::t"})
    figures.outcome(item, report("setup", "passed"), cited)  # type: ignore[arg-type]
    assert not (tmp_path / figures.FILE_NAME).exists()  # a setup that passed says nothing yet
    figures.outcome(item, report("call", "failed"), cited)  # type: ignore[arg-type]
    found = json.loads((tmp_path / figures.FILE_NAME).read_text())
    assert found["tests/a.py::t"]["outcome"] == "failed"
    assert found["tests/a.py::t"]["commit"] == figures.commit() and found["tests/a.py::t"]["at"]
    item.nodeid = "tests/a.py::not_cited"  # neither cited nor with figures: not kept
    figures.outcome(item, report("call", "passed"), cited)  # type: ignore[arg-type]
    assert list(json.loads((tmp_path / figures.FILE_NAME).read_text())) == ["tests/a.py::t"]


def test_an_xdist_worker_writes_the_figures_of_the_whole_run(tmp_path: Path) -> None:
    """A worker's base temp dir is ``<the run's>/popen-gwN``: its entries go to the run's file,
    beside the other workers' (one file to ``--store``)."""
    worker = tmp_path / "popen-gw1"
    factory = SimpleNamespace(getbasetemp=lambda: worker)
    config = SimpleNamespace(_tmp_path_factory=factory, workerinput={"workerid": "gw1"})
    assert figures.run_file(config) == tmp_path / figures.FILE_NAME  # type: ignore[arg-type]
    plain = SimpleNamespace(_tmp_path_factory=factory)
    assert figures.run_file(plain) == worker / figures.FILE_NAME  # type: ignore[arg-type]


def test_the_bad_client_section_is_rendered_from_its_stored_file_alone(tmp_path: Path) -> None:
    (section,) = [s for s in reliability.SECTIONS if s.render is badclients.render]
    assert section.file == "badclients.json" and section.cites == badclients.CITED
    # the committed page's "Bad clients" part is its renderer's output of the committed file
    committed = "\n".join(badclients.render(reliability.stored(section)))
    assert committed in reliability.DOC.read_text()
    assert reliability.DOC.read_text().count("## Bad clients") == 1

    header, streams = badclients.TESTS[0], badclients.TESTS[4]
    figures_of_header = {
        "attack": "one 64 MiB header, no token",
        "answer": "431 and reset",
        "health_calls": 1234,
        "health_failures": 0,
        "health_p50_ms": 18.64,
        "health_max_ms": 41.5,
    }
    run: dict[str, dict[str, Any]] = {
        header: {"at": "2026-12-06T22:10:00+00:00", "commit": "ccc3333", "outcome": "passed"}
        | {"figures": figures_of_header},
        streams: {"at": "2026-12-06T22:11:00+00:00", "commit": "ccc3333", "outcome": "failed"},
    }
    text = _run(tmp_path, run)
    assert sorted(json.loads((tmp_path / section.file).read_text())) == sorted(run)
    assert not (tmp_path / FAULTS.file).exists()
    part = text[text.index("## Bad clients") :]
    assert (
        "| one 64 MiB header, no token | 431 and reset | 1,234 | 0 | 18.64 | 41.5 | passed "
        "(2026-12-06 22:10:00 UTC at ccc3333) |" in part
    )
    # a cited test without figures is listed with how its last stored run ended
    assert f"- `{streams}`: failed (2026-12-06 22:11:00 UTC at ccc3333)" in part
    assert f"- `{badclients.TESTS[5]}`: no stored run" in part


def test_the_sentinel_section_is_rendered_from_its_stored_file_alone(tmp_path: Path) -> None:
    (section,) = [s for s in reliability.SECTIONS if s.render is sentinel.render]
    assert section.file == "sentinel.json" and section.cites == sentinel.CITED
    committed = "\n".join(sentinel.render(reliability.stored(section)))
    assert committed in reliability.DOC.read_text()

    text = _run(tmp_path, {})
    part = text[text.index("## Redis Sentinel failover") :]
    assert "Last stored run: no stored run." in part
    assert "**What cannot be promised: Redis replicates asynchronously.**" in part

    run_figures = {
        "schedules": 100,
        "every_seconds": 2,
        "down_after_ms": 2000,
        "failover_timeout_ms": 6000,
        "promoted_seconds": 3.46,
        "api_answers_seconds": 4.1,
        "lost": 0,
        "duplicated": 0,
        "run_now_acknowledged_never_ran": 2,
    }
    entry = {"at": "2026-12-07T00:30:00+00:00", "commit": "ddd4444", "outcome": "passed"}
    text = _run(tmp_path, {sentinel.TEST: entry | {"figures": run_figures}})
    assert json.loads((tmp_path / section.file).read_text())[sentinel.TEST]["figures"] == (
        run_figures
    )
    part = text[text.index("## Redis Sentinel failover") :]
    assert "Last stored run: passed (2026-12-07 00:30:00 UTC at ddd4444)" in part
    assert "| new primary named by the Sentinels | 3.5 s |" in part
    assert "| api answers a Redis read again | 4.1 s |" in part
    assert "| of those, never ran (lost with the old primary) | 2 |" in part
    assert "| a fire due after the kill has run |" not in part  # not stored: no row
