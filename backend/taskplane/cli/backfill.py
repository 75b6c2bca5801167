"""`taskplane schedules backfill ID --start ISO --end ISO [--dry-run]`: the runs a schedule
should have had in a past window, each due time once; the same service function as
``POST /schedules/{id}/backfill`` (``scheduling/backfill.py``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from taskplane.actors import CLI
from taskplane.cli.output import CliError, console, instant_option, run_async
from taskplane.cli.stack import settings_for_command
from taskplane.settings import Settings


async def _backfill(
    settings: Settings,
    config_id: int,
    start: datetime,
    end: datetime,
    dry_run: bool,
    note: str | None,
) -> Any:
    from taskplane.cli.services import open_services_for_cli
    from taskplane.db import configs

    async with open_services_for_cli(settings) as services:
        async with services.resources.sessions() as session:
            row = await configs.get(session, config_id)
        return await services.scheduler.backfiller.run(
            services.resources.sessions,
            row,
            start,
            end,
            dry_run=dry_run,
            note=note,
            now=datetime.now(UTC),
            actor=CLI,
        )


def backfill(
    config_id: Annotated[int, typer.Argument(help="config id")],
    start: Annotated[str, typer.Option("--start", help="the window's first instant (ISO)")],
    end: Annotated[
        str, typer.Option("--end", help="the window's end, excluded (ISO; not in the future)")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="send nothing; list what would be sent")
    ] = False,
    note: Annotated[str | None, typer.Option("--note", help="why (kept in history)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Send the runs a schedule should have had in [START, END), each due time once (those
    that already ran are left out); as `POST /schedules/ID/backfill`."""
    if config_id < 1:
        raise CliError("config ids are positive integers")
    window = instant_option(start, "--start"), instant_option(end, "--end")
    report = run_async(_backfill(settings_for_command(), config_id, *window, dry_run, note))
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "due_times": [d.isoformat() for d in report.due_times],
                    "already_ran": [d.isoformat() for d in report.already_ran],
                    "sent": [d.isoformat() for d in report.sent],
                    "dry_run": report.dry_run,
                    "task_ids": report.task_ids,
                }
            )
        )
        return
    verb = "would send" if report.dry_run else "sent"
    console.print(
        f"config {config_id}: {len(report.due_times)} due times, "
        f"{len(report.already_ran)} already ran, {verb} {len(report.sent)}",
        markup=False,
    )
    done = set(report.sent)
    for due in report.due_times:
        console.print(
            f"  {due.isoformat()}  {verb if due in done else 'already ran'}", markup=False
        )


def register(app: typer.Typer) -> None:
    app.command("backfill")(backfill)
