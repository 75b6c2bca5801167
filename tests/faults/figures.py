"""The figures of a fault test (lost, duplicated, recovery time ...): printed, attached to the
test's report (``user_properties``, so junit XML carries them) and merged into
``fault-figures.json`` in pytest's base temp dir (the run's, also under pytest-xdist: each
worker's base temp dir is a folder of it, and the workers merge into one file under a lock),
with when and at which commit they were taken and, for the tests docs/reliability.md cites,
how the test ended (``outcome``).

``python -m tests.faults.reliability --store <that file>`` keeps them (tests/faults/stored/)
and regenerates docs/reliability.md from what is kept."""

from __future__ import annotations

import fcntl
import functools
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

FILE_NAME = "fault-figures.json"
ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def commit() -> str:
    """The checkout's commit, and whether the code differed from it."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "backend", "tests"]).returncode
    return head.stdout.strip() + (" (plus uncommitted changes)" if dirty else "")


def run_file(config: pytest.Config) -> Path:
    """``fault-figures.json`` in the run's base temp dir: an xdist worker's base temp dir is
    ``<the run's>/popen-gwN``, so a worker writes into its parent, the file of the whole run."""
    factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
    base = factory.getbasetemp()
    return (base.parent if hasattr(config, "workerinput") else base) / FILE_NAME


def _update(path: Path, nodeid: str, **fields: Any) -> None:
    """Read, merge, write under an exclusive lock: xdist workers share the file."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = json.loads(path.read_text()) if path.exists() else {}
        entry = found.setdefault(nodeid, {})
        entry.update(fields, at=datetime.now(UTC).isoformat(timespec="seconds"), commit=commit())
        text = json.dumps(found, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        path.write_text(text)


def record(request: pytest.FixtureRequest, **figures: float | int | str) -> Path:
    """Keep ``figures`` under the test's node id; returns the JSON file's path."""
    rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
    path = run_file(request.config)
    _update(path, request.node.nodeid, figures=rounded)
    request.node.user_properties.append(("figures", json.dumps(rounded, sort_keys=True)))
    print(f"FAULT FIGURES {request.node.nodeid}: {json.dumps(rounded, sort_keys=True)}")
    return path


def outcome(item: pytest.Item, report: pytest.TestReport, cited: frozenset[str]) -> None:
    """Keep how a test ended, for the tests the page cites (``cited``) and any that recorded
    figures: passed / failed / skipped from its call, or its setup's failure."""
    recorded = any(name == "figures" for name, _ in item.user_properties)
    if item.nodeid not in cited and not recorded:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        how = report.outcome if report.when == "call" else f"{report.outcome} in setup"
        _update(run_file(item.config), item.nodeid, outcome=how)
