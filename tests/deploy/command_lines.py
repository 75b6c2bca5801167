"""A `taskplane` command line parsed by the real typer app without running it: the check that
compose.yaml's service commands and the README's commands are real."""

from __future__ import annotations

from typing import Any

import typer.main

from taskplane.cli.app import app


def parse_cli(argv: list[str]) -> Any:
    """Parse argv with the real typer app (sub-command and options), without running it.
    Returns the sub-command's context; an unknown command or option raises."""
    assert argv[0] == "taskplane", argv
    command: Any = typer.main.get_command(app)
    context: Any = command.context_class(command, info_name="taskplane")
    rest = argv[1:]
    while hasattr(command, "list_commands"):  # a group: descend into the named command
        assert rest, f"no sub-command in {argv}"
        name, *rest = rest
        sub = command.get_command(context, name)
        assert sub is not None, f"`{name}` is not a taskplane sub-command ({argv})"
        command = sub
        context = command.context_class(command, info_name=name, parent=context)
    return command.make_context(context.info_name, rest, parent=context.parent)
