"""`taskplane inspect [CONFIG_ID]`: Redis inspection for operators (SCAN is fine here, never
on a request path)."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    """Add `inspect` to the root app."""
