"""The `taskplane` command: the typer root. Every sub-command parses, calls a service and
prints; a failure is one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import sys

import typer

from taskplane.cli import as_code, configs, dev, inspect, processes, schedules, tokens
from taskplane.cli.output import CliError, error_line
from taskplane.logs import setup_logging

app = typer.Typer(
    name="taskplane",
    help="taskplane: typed async tasks on TaskIQ, scheduled from Redis-held state.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    """taskplane: typed async tasks on TaskIQ, scheduled from Redis-held state."""
    # short commands show warnings (e.g. reconcile's repairs); process commands reconfigure
    # logging from their settings when they start
    setup_logging("WARNING", "text")


dev.register(app)
processes.register(app)
app.add_typer(tokens.app, name="token")
app.add_typer(configs.app, name="configs")
app.add_typer(schedules.app, name="schedules")
configs.register_run(app)
inspect.register(app)
as_code.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app, turn any failure into one line and exit 1."""
    try:
        # standalone: usage errors, --help and Ctrl-C at a prompt are handled by typer
        app(args=argv, prog_name="taskplane")
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(130)
    except CliError as exc:
        error_line(str(exc))
        sys.exit(exc.exit_code)
    except Exception as exc:  # a process edge: one line, never a traceback
        error_line(describe(exc))
        sys.exit(1)


def describe(exc: BaseException) -> str:
    """One line naming what failed, from a domain error or an unexpected one."""
    import redis
    from redis.asyncio.sentinel import MasterNotFoundError
    from sqlalchemy.exc import DBAPIError

    from taskplane.errors import TaskplaneError
    from taskplane.logs import redact
    from taskplane.settings import SettingsError

    if isinstance(exc, (TaskplaneError, SettingsError)):
        text = str(exc)
    elif isinstance(exc, DBAPIError):
        text = f"database: {exc.orig if exc.orig is not None else exc}"
        text = text.split(" (Background on this error", 1)[0]
    elif isinstance(exc, MasterNotFoundError):  # its message ends in every Sentinel's repr
        text = f"Redis: {str(exc).split(' : ', 1)[0]} (asked TASKPLANE_REDIS_SENTINELS)"
    elif isinstance(exc, redis.ConnectionError):
        text = f"Redis: {exc}"
    elif isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        text = f"cannot connect: {exc.strerror or exc}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return redact(" ".join(text.split()))


if __name__ == "__main__":
    main()
