"""The figures of a bad-client test (the attack's size, what the api did, /health latency
while it ran): attached to the test's report and merged into ``bad-client-figures.json`` in
pytest's base temp dir; ``table`` renders them as docs/reliability.md's "Bad clients" table.
Latencies are recorded, never asserted (speed lives in bench/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FILE_NAME = "bad-client-figures.json"

COLUMNS = (
    ("attack", "attack"),
    ("answer", "what the api does"),
    ("health_calls", "/health calls"),
    ("health_failures", "failed"),
    ("health_p50_ms", "/health p50 (ms)"),
    ("health_max_ms", "/health max (ms)"),
)


def record(request: pytest.FixtureRequest, **figures: float | int | str) -> Path:
    """Keep ``figures`` under the test's node id; returns the JSON file's path."""
    rounded = {k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    path = factory.getbasetemp() / FILE_NAME
    found = json.loads(path.read_text()) if path.exists() else {}
    found[request.node.nodeid] = rounded
    path.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")
    request.node.user_properties.append(("figures", json.dumps(rounded, sort_keys=True)))
    print(f"BAD CLIENT FIGURES {request.node.nodeid}: {json.dumps(rounded, sort_keys=True)}")
    return path


def table(figures: dict[str, dict[str, Any]]) -> str:
    """The markdown table of recorded figures, one row per test, in node-id order."""
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for node_id in sorted(figures):
        row = figures[node_id]
        lines.append("| " + " | ".join(str(row.get(key, "")) for key, _ in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m tests.badclients.figures PATH/bad-client-figures.json
    import sys

    print(table(json.loads(Path(sys.argv[1]).read_text())), end="")
