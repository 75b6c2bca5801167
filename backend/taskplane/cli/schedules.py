"""`taskplane schedules start|stop|pause|resume|reload ID...`: schedule control from the
shell, with the report ``POST /schedules/bulk/{action}`` gives (the same service function)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from taskplane.actors import CLI
from taskplane.cli.output import CliError, console, run_async
from taskplane.cli.stack import settings_for_command
from taskplane.enums import Action
from taskplane.settings import Settings

app = typer.Typer(
    help="Control schedules: start, stop, pause, resume, reload.", no_args_is_help=True
)

Ids = Annotated[list[int], typer.Argument(help="config ids (up to 1,000)")]
Note = Annotated[
    str | None, typer.Option("--note", help="why (kept with the status and in history)")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


async def _act(settings: Settings, action: Action, ids: list[int], note: str | None) -> Any:
    from taskplane.cli.services import open_services_for_cli
    from taskplane.db import configs
    from taskplane.scheduling import bulk

    async with open_services_for_cli(settings) as services:
        async with services.resources.sessions() as session:
            rows = await configs.get_many(session, set(ids))
        return await bulk.act_many(services.scheduler, action, ids, rows, note, actor=CLI)


def _command(action: Action) -> Any:
    def command(config_ids: Ids, note: Note = None, as_json: JsonFlag = False) -> None:
        if any(cid < 1 for cid in config_ids):
            raise CliError("config ids are positive integers")
        if len(config_ids) > 1000:
            raise CliError("at most 1,000 config ids at once")
        from taskplane.api.errors import status_of

        report = run_async(_act(settings_for_command(), action, config_ids, note))
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

    command.__doc__ = f"{action.capitalize()} schedules; each id as `POST /schedules/ID/{action}`."
    return command


for _action in Action:
    app.command(str(_action))(_command(_action))
