"""`taskplane schedules start|stop|pause|resume|reload ID...`: schedule control from the
shell, with the report ``POST /schedules/bulk/{action}`` gives (the same service function);
`pause --until ISO` ends the pause by itself then. `taskplane schedules backfill ID --start
--end [--dry-run]`: ``POST /schedules/{id}/backfill`` (``cli/backfill.py``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from taskplane.actors import CLI
from taskplane.cli import backfill
from taskplane.cli.output import CliError, console, instant_option, run_async
from taskplane.cli.stack import settings_for_command
from taskplane.enums import Action
from taskplane.settings import Settings

app = typer.Typer(
    help="Control schedules: start, stop, pause (--until), resume, reload; backfill.",
    no_args_is_help=True,
)

Ids = Annotated[list[int], typer.Argument(help="config ids (up to 1,000)")]
Note = Annotated[
    str | None, typer.Option("--note", help="why (kept with the status and in history)")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
Until = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="pause only: ISO time at which the pause ends by itself (naive = UTC; "
        "in the future, at most a year ahead)",
    ),
]


async def _act(
    settings: Settings,
    action: Action,
    ids: list[int],
    note: str | None,
    until: datetime | None = None,
) -> Any:
    from taskplane.cli.services import open_services_for_cli
    from taskplane.db import configs
    from taskplane.scheduling import bulk

    async with open_services_for_cli(settings) as services:
        async with services.resources.sessions() as session:
            rows = await configs.get_many(session, set(ids))
        return await bulk.act_many(services.scheduler, action, ids, rows, note, until, actor=CLI)


def _command(action: Action) -> Any:
    def act(config_ids: list[int], note: str | None, as_json: bool, until: str | None) -> None:
        if any(cid < 1 for cid in config_ids):
            raise CliError("config ids are positive integers")
        if len(config_ids) > 1000:
            raise CliError("at most 1,000 config ids at once")
        from taskplane.api.errors import status_of

        ends = None if until is None else instant_option(until, "--until")
        report = run_async(_act(settings_for_command(), action, config_ids, note, ends))
        results = [
            {"config_id": r.config_id, "action": str(action), "success": r.success,
             "status": str(r.status), "message": r.message}
            for r in report.results
        ]  # fmt: skip
        errors = [
            {"config_id": e.config_id, "status_code": status_of(e.error), "detail": e.detail}
            for e in report.errors
        ]
        if as_json:
            console.print_json(json.dumps({"results": results, "errors": errors}))
        else:
            for r in results:
                console.print(
                    f"config {r['config_id']}: {r['status']} ({r['message']})", markup=False
                )
            for e in errors:
                console.print(
                    f"config {e['config_id']}: refused ({e['status_code']}): {e['detail']}",
                    markup=False,
                )
        if errors:
            raise typer.Exit(1)

    def pause(
        config_ids: Ids, note: Note = None, as_json: JsonFlag = False, until: Until = None
    ) -> None:
        act(config_ids, note, as_json, until)

    def other(config_ids: Ids, note: Note = None, as_json: JsonFlag = False) -> None:
        act(config_ids, note, as_json, None)

    command = pause if action is Action.PAUSE else other  # --until is a pause's alone
    command.__doc__ = f"{action.capitalize()} schedules; each id as `POST /schedules/ID/{action}`."
    return command


for _action in Action:
    app.command(str(_action))(_command(_action))

backfill.register(app)
