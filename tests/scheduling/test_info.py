"""The read model's words for a config that is not registered: remembered per config text."""

from __future__ import annotations

from typing import Any

import pytest

from taskplane.scheduling import info, words


def test_a_stored_config_is_described_once_per_text(monkeypatch: pytest.MonkeyPatch) -> None:
    info._described_key.cache_clear()
    seen: list[Any] = []
    real = words.describe_config

    def counted(kind: Any, config: Any) -> str | None:
        seen.append(config)
        return real(kind, config)

    monkeypatch.setattr(words, "describe_config", counted)
    config = {"seconds": 30, "run_immediately": True}
    assert info._described("interval", config) == "every 30s"
    assert info._described("interval", dict(config)) == "every 30s"
    assert len(seen) == 1
    # equal to a dict, not to the spec: 1 is no boolean, so the config no longer reads
    assert info._described("interval", {"seconds": 30, "run_immediately": 1}) is None
    # not a flat object: described afresh, never remembered
    nested = {"seconds": [30]}
    assert info._described("interval", nested) is None
    assert info._described("interval", nested) is None
    assert len(seen) == 4
    assert info._described_key.cache_info().currsize == 2
