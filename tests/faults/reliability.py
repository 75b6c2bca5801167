"""docs/reliability.md, generated from stored figures files: ``python -m tests.faults.reliability``
rewrites it from what tests/faults/stored/ keeps; ``--store FILE`` first keeps what a run
wrote (``fault-figures.json`` in pytest's base temp dir, tests/faults/figures.py): each entry
replaces the stored one of its test, in the stored file of the section that cites the test.

The page is sections, each one stored file plus one renderer (``SECTIONS``): the fault
suite's promises and figures here; another suite adds a ``Section`` with its own file, the
tests it cites and its renderer. tests/faults/test_reliability_page.py checks the committed
page is what the committed files make."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.alerts import section as alerts
from tests.badclients import section as badclients
from tests.faults import promises
from tests.faults import sentinel_section as sentinel

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
STORE = Path(__file__).resolve().parent / "stored"

Entries = dict[str, dict[str, Any]]  # node id -> {at, commit, outcome?, figures?, source?}


@dataclass(frozen=True)
class Section:
    """One part of the page: its stored file (under ``STORE``), the tests whose entries it
    keeps, and its renderer (the stored entries -> markdown lines)."""

    file: str
    cites: frozenset[str]
    render: Callable[[Entries], list[str]]


SECTIONS: list[Section] = [
    Section("faults.json", promises.CITED, promises.render),
    Section("badclients.json", badclients.CITED, badclients.render),
    Section("alerts.json", alerts.CITED, alerts.render),
    Section("sentinel.json", sentinel.CITED, sentinel.render),
]


def cited() -> frozenset[str]:
    """Every test the page cites: their outcome is kept even when they record no figures."""
    return frozenset().union(*(s.cites for s in SECTIONS))


def stored(section: Section, store: Path = STORE) -> Entries:
    path = store / section.file
    found: Entries = json.loads(path.read_text()) if path.exists() else {}
    return found


def page(store: Path = STORE) -> str:
    out = [promises.INTRO.strip(), ""]
    for section in SECTIONS:
        out += section.render(stored(section, store))
    return "\n".join(out).rstrip() + "\n"


def keep(run: Entries, store: Path = STORE) -> list[str]:
    """Keep a run's entries, each replacing its test's stored one; returns the node ids kept.
    An entry no section cites is left out (name it in a section's ``cites`` to keep it)."""
    kept: list[str] = []
    for section in SECTIONS:
        mine = {nodeid: e for nodeid, e in run.items() if nodeid in section.cites}
        if mine:
            store.mkdir(parents=True, exist_ok=True)
            entries = stored(section, store) | mine
            text = json.dumps(entries, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            (store / section.file).write_text(text)
            kept += mine
    return kept


def write(store: Path = STORE, doc: Path = DOC) -> Path:
    doc.write_text(page(store))
    return doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.faults.reliability", description=__doc__)
    p.add_argument("--store", type=Path, help="a run's fault-figures.json to keep first")
    args = p.parse_args(argv)
    if args.store is not None:
        run: Entries = json.loads(args.store.read_text())
        kept = keep(run)
        print(f"kept {len(kept)} of {len(run)} entries: {sorted(kept)}")
    print(f"wrote {write()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
