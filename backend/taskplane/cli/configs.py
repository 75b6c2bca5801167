"""`taskplane configs list|show` and `taskplane run CONFIG_ID...`: thin clients of the
services the API uses (PostgreSQL rows + Redis schedule state)."""

from __future__ import annotations

import typer

app = typer.Typer(help="List and show task configs.", no_args_is_help=True)


def register_run(root: typer.Typer) -> None:
    """`run` lives at the top level: `taskplane run 3 4`."""
