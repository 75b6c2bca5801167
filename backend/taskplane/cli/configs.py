"""`taskplane configs list|show` and `taskplane run CONFIG_ID...`: thin clients of the
services the API uses (PostgreSQL rows + Redis schedule state)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from taskplane.cli.output import CliError, console
from taskplane.cli.stack import settings_for_command
from taskplane.settings import Settings
from taskplane.tasks import secrets
from taskplane.tasks.registry import TaskRegistry, load_registry

app = typer.Typer(help="List and show task configs.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def _config_dict(config: Any, registry: TaskRegistry) -> dict[str, Any]:
    """A config as the commands print it: secret parameters as "***", as the API shows them."""
    fields = secrets.fields_of(registry, config.task_type)
    return {
        "id": config.id,
        "name": config.name,
        "description": config.description,
        "task_type": config.task_type,
        "scheduler_type": str(config.scheduler_type),
        "schedule_config": config.schedule_config,
        "parameters": secrets.masked(config.parameters, fields),
        "max_retries": config.max_retries,
        "timeout_seconds": config.timeout_seconds,
        "priority": config.priority,
        "created_at": config.created_at.isoformat(),
        "updated_at": config.updated_at.isoformat(),
    }


def _state_fields(state: Any) -> dict[str, Any]:
    if state is None:
        return {"schedule_status": None, "note": None, "last_run_at": None, "last_success": None}
    return {
        "schedule_status": str(state.status),
        "note": state.note,
        "runs": state.runs,
        "failures": state.failures,
        "last_run_at": state.last_run_at.isoformat() if state.last_run_at else None,
        "last_success": state.last_success,
    }


async def list_configs(
    settings: Settings, *, task_type: str | None, q: str | None, limit: int
) -> list[dict[str, Any]]:
    from taskplane.cli.services import open_services_for_cli
    from taskplane.db import configs

    async with open_services_for_cli(settings) as services:
        state = services.state
        async with services.resources.sessions() as session:
            page = await configs.list_page(session, task_type=task_type, q=q, limit=limit)
        states = await state.get_many([c.id for c in page.items])
        registry = load_registry(settings)
        return [
            {**_config_dict(c, registry), **_state_fields(states.get(c.id))} for c in page.items
        ]


async def show_config(settings: Settings, config_id: int) -> dict[str, Any]:
    from taskplane.cli.services import open_services_for_cli
    from taskplane.db import configs

    async with open_services_for_cli(settings) as services:
        state = services.state
        async with services.resources.sessions() as session:
            config = await configs.get(session, config_id)
        events, _ = await state.history(config_id, limit=10)
        return {
            **_config_dict(config, load_registry(settings)),
            **_state_fields(await state.get(config_id)),
            "recent_history": [
                {
                    "event": e.event,
                    "timestamp": e.timestamp.isoformat(),
                    "note": e.note,
                    "details": e.details,
                    "actor": e.actor,
                }
                for e in events
            ],
        }


def _schedule_text(row: dict[str, Any]) -> str:
    spec = row["schedule_config"] or {}
    kind = row["scheduler_type"]
    if kind == "interval":
        return f"every {spec.get('seconds', '?')}s"
    if kind == "cron":
        return f"cron {spec.get('cron_expression', '(fields)')}"
    if kind == "date":
        return f"at {spec.get('run_date')}"
    return "manual"


@app.command("list")
def list_command(
    task_type: Annotated[str | None, typer.Option(help="only this task type")] = None,
    q: Annotated[str | None, typer.Option(help="text in the name or description")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List configs (newest first) with their schedule status."""
    rows = asyncio.run(list_configs(settings_for_command(), task_type=task_type, q=q, limit=limit))
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table("id", "name", "task type", "schedule", "status", "note", "last run")
    for row in rows:
        outcome = {True: " ok", False: " failed", None: ""}[row["last_success"]]
        table.add_row(
            str(row["id"]),
            row["name"],
            row["task_type"],
            _schedule_text(row),
            row["schedule_status"] or "?",
            row["note"] or "",
            (row["last_run_at"] or "-") + outcome,
        )
    console.print(table)


@app.command("show")
def show_command(
    config_id: Annotated[int, typer.Argument(min=1, help="config id")],
    as_json: JsonFlag = False,
) -> None:
    """Show one config: its fields, schedule state and recent history."""
    data = asyncio.run(show_config(settings_for_command(), config_id))
    if as_json:
        console.print_json(json.dumps(data))
        return
    table = Table("field", "value", show_header=False)
    for key, value in data.items():
        if key == "recent_history":
            continue
        table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    console.print(table)
    for event in data["recent_history"]:
        note = f" - {event['note']}" if event["note"] else ""
        console.print(f"  {event['timestamp']}  {event['event']}{note}", markup=False)


def register_run(root: typer.Typer) -> None:
    """`run` lives at the top level: `taskplane run 3 4`."""
    root.command("run")(run_command)


def run_command(
    config_ids: Annotated[list[int], typer.Argument(help="config ids to run now")],
    as_json: JsonFlag = False,
) -> None:
    """Run configs now, whatever their schedule status.

    One id runs as POST /configs/{id}/run does (trigger manual), several as POST /runs
    (trigger batch, one pipelined send)."""
    from taskplane.cli.services import run_configs
    from taskplane.enums import Trigger

    if any(cid < 1 for cid in config_ids):
        raise CliError("config ids are positive integers")
    ids = list(dict.fromkeys(config_ids))
    trigger = Trigger.MANUAL if len(ids) == 1 else Trigger.BATCH
    with console.status(f"sending {len(ids)} run(s) ..."):
        report = asyncio.run(run_configs(settings_for_command(), ids, trigger))
    rows: list[dict[str, Any]] = [
        {"config_id": cid, "task_id": task_id} for cid, task_id in report.dispatched
    ]
    rows += [{"config_id": cid, "detail": detail} for cid, detail in report.errors]
    rows.sort(key=lambda row: ids.index(row["config_id"]))
    if as_json:
        console.print_json(json.dumps(rows))
    else:
        for row in rows:
            if "task_id" in row:
                console.print(f"config {row['config_id']}: sent, task {row['task_id']}")
            else:
                console.print(f"config {row['config_id']}: {row['detail']}", markup=False)
    if report.errors:
        raise typer.Exit(1)
