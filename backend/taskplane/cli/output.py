"""What every command shares: the consoles, the one-line error and the asyncio entry of a
command (its settings: ``stack.settings_for_command``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape

from taskplane.instants import parse_instant

T = TypeVar("T")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A command failed in a way the user can act on; the message is the whole story."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def error_line(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)


def reporter(name: str) -> Callable[[str], None]:
    """What a supervising command says about its children, on stderr: ``name: message``."""

    def report(message: str) -> None:
        err_console.print(f"[yellow]{name}:[/] {escape(message)}", markup=True)

    return report


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def instant_option(value: str, option: str) -> datetime:
    """An ISO time given on the command line (naive = UTC), or a one-line error."""
    try:
        return parse_instant(value)
    except (ValueError, OverflowError):
        raise CliError(f"{option}: not an ISO time: {value!r}") from None
