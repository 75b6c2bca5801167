"""The figures of a fault test (lost, duplicated, recovery time ...): printed, attached to the
test's report (``user_properties``, so junit XML carries them) and merged into
``fault-figures.json`` in pytest's base temp dir. docs/reliability.md quotes the last ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FILE_NAME = "fault-figures.json"


def record(request: pytest.FixtureRequest, **figures: float | int | str) -> Path:
    """Keep ``figures`` under the test's node id; returns the JSON file's path."""
    rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    path = factory.getbasetemp() / FILE_NAME
    found = json.loads(path.read_text()) if path.exists() else {}
    found[request.node.nodeid] = rounded
    path.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")
    request.node.user_properties.append(("figures", json.dumps(rounded, sort_keys=True)))
    print(f"FAULT FIGURES {request.node.nodeid}: {json.dumps(rounded, sort_keys=True)}")
    return path
