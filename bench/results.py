"""A benchmark's result: tables of preformatted cells, notes and goals, with what the run
said it measured (its description) and the machine it ran on. Printed to the terminal and
stored as JSON in bench/stored/<name>.json (committed: one file per benchmark, the last run
of it); docs/benchmarks.md is rendered from the stored files alone (``bench.report``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def text(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
        line = "  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=False))
        out = [self.title, line, "  ".join("-" * w for w in widths)]
        for row in self.rows:
            out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)))
        return "\n".join(out)

    def markdown(self) -> str:
        out = [
            f"**{self.title}**",
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join(" --- " for _ in self.columns) + "|",
        ]
        for row in self.rows:
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        return "\n".join(out)


@dataclass
class Goal:
    goal: str
    met: bool | None  # None: not measured in this run
    detail: str


@dataclass
class Image:
    path: str  # relative to docs/, e.g. img/b6-growth.png
    alt: str


@dataclass
class Profile:
    """One profiled process of a benchmark's profiled pass: its flame graph (an SVG under
    docs/img/profiles/) and the functions with the most samples (``bench.profile``)."""

    process: str
    svg: str  # relative to docs/
    samples: int
    command: str
    inclusive: list[str] = field(default_factory=list)  # "share  function file", best first
    own: list[str] = field(default_factory=list)
    taken_at: str = ""  # when the profiled pass started, and at which commit
    commit: str = ""


@dataclass
class Result:
    name: str  # b1..b4, b6, b7
    title: str
    command: str
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    finished_at: str = ""
    commit: str = ""
    load_at_start: str = ""
    load_at_end: str = ""
    tables: list[Table] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    description: str = ""  # the benchmark's DESCRIPTION when it ran: the page's text for it
    machine: dict[str, Any] = field(default_factory=dict)  # bench.machine.describe(), + at

    def table(self, title: str, columns: list[str]) -> Table:
        t = Table(title, columns)
        self.tables.append(t)
        return t

    def goal(self, goal: str, met: bool | None, detail: str) -> None:
        self.goals.append(Goal(goal, met, detail))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def image(self, path: str, alt: str) -> None:
        self.images.append(Image(path, alt))

    def text(self) -> str:
        parts = [f"== {self.name.upper()} — {self.title} ==", f"$ {self.command}"]
        parts += [t.text() for t in self.tables]
        if self.goals:
            g = Table("goals", ["goal", "met", "measured"])
            for goal in self.goals:
                g.add(goal.goal, verdict(goal.met), goal.detail)
            parts.append(g.text())
        parts += [f"note: {n}" for n in self.notes]
        return "\n\n".join(parts)

    def to_json(self) -> str:
        """The stored form: one field per line at the top, diffs readable in review."""
        return json.dumps(asdict(self), ensure_ascii=False, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Result:
        raw: dict[str, Any] = json.loads(text)
        tables = [Table(**t) for t in raw.pop("tables")]
        goals = [Goal(**g) for g in raw.pop("goals")]
        images = [Image(**i) for i in raw.pop("images")]
        profiles = [Profile(**p) for p in raw.pop("profiles")]
        return cls(tables=tables, goals=goals, images=images, profiles=profiles, **raw)


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: "not measured"}[met]
