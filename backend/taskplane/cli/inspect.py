"""`taskplane inspect [CONFIG_ID]`: Redis inspection for operators.

Without an id: the processes (scheduler leader and instances, workers), broker queues and a
table of every schedule with its status, note, next fire, counters and last outcome. With an
id: that config's full state, its registered schedule, due time, running tasks and history.
SCAN is fine here (an operator's command), never on a request path. ``--json`` for scripts.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from redis.asyncio import Redis
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from taskplane.cli import verdict
from taskplane.cli.output import CliError, console, err_console
from taskplane.cli.stack import describe_stack, settings_for_command
from taskplane.settings import Settings
from taskplane.state.keys import Keys

if TYPE_CHECKING:
    from taskplane.services import Services


def register(root: typer.Typer) -> None:
    root.command("inspect")(inspect)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _state_dict(state: Any) -> dict[str, Any]:
    return {
        "status": str(state.status),
        "note": state.note,
        "status_at": _iso(state.status_at),
        "metadata": state.metadata,
        "runs": state.runs,
        "successes": state.successes,
        "failures": state.failures,
        "consecutive_failures": state.consecutive_failures,
        "last_run_at": _iso(state.last_run_at),
        "last_success": state.last_success,
        "last_task_id": state.last_task_id,
    }


async def _names(services: Services, ids: list[int]) -> dict[int, str]:
    """Config names from the database; an unreachable database only loses the names."""
    from taskplane.db import configs

    try:
        async with services.resources.sessions() as session:
            rows = await configs.get_many(session, ids)
    except Exception:  # inspection is about Redis; names are a courtesy
        return {}
    return {cid: row.name for cid, row in rows.items()}


async def _processes(redis: Redis, keys: Keys, settings: Settings) -> dict[str, Any]:
    from taskplane.state import heartbeats
    from taskplane.worker import recorder

    stale = settings.heartbeat_stale_seconds
    schedulers = await heartbeats.list_schedulers(redis, keys, stale_seconds=stale)
    workers = await heartbeats.list_workers(redis, keys, stale_seconds=stale)
    return {
        "scheduler_leader": await heartbeats.get_leader(redis, keys),
        "schedulers": [
            {
                "id": b.id,
                "heartbeat_at": _iso(b.heartbeat_at),
                "is_leader": b.is_leader,
                "is_stale": b.is_stale,
            }
            for b in schedulers
        ],
        "workers": [
            {
                "id": b.id,
                "heartbeat_at": _iso(b.heartbeat_at),
                "queues": b.queues,
                "is_stale": b.is_stale,
            }
            for b in workers
        ],
        "recorder_buffer": await recorder.buffered(redis, keys),
    }


async def overview(
    settings: Settings, status: str | None = None, limit: int = 1000
) -> dict[str, Any]:
    """Everything `taskplane inspect` shows without an id, as plain data."""
    from taskplane import messages
    from taskplane.cli.services import open_services_for_cli
    from taskplane.enums import ScheduleStatus

    async with open_services_for_cli(settings) as services:
        redis, keys, state = services.resources.redis, services.resources.keys, services.state
        summary = (await state.summary()).as_dict()
        if status:
            ids = sorted(await state.ids_with_status(ScheduleStatus(status)))
        else:
            ids = sorted(await state.all_ids())
        matching = len(ids)
        ids = ids[:limit]
        states = await state.get_many(ids)
        next_dues = await services.core.next_due_many(ids)
        names = await _names(services, ids)
        schedules = [
            {
                "config_id": cid,
                "name": names.get(cid),
                "next_fire_at": _iso(next_dues.get(cid)),
                **(_state_dict(states[cid]) if cid in states else {"status": None}),
            }
            for cid in ids
        ]
        return {
            "prefix": settings.redis_prefix,
            "summary": summary,
            **await _processes(redis, keys, settings),
            "queues": await messages.streams_overview(redis, keys),
            "schedules_matching": matching,
            "schedules": schedules,
        }


async def detail(settings: Settings, config_id: int, history: int = 20) -> dict[str, Any]:
    """One config's full Redis picture, as plain data."""
    from taskplane.cli.services import open_services_for_cli
    from taskplane.state import running

    async with open_services_for_cli(settings) as services:
        redis, keys, state_service = (
            services.resources.redis,
            services.resources.keys,
            services.state,
        )
        state = await state_service.get(config_id)
        events, total = await state_service.history(config_id, limit=history)
        core = services.core
        raw_source = await core.get_raw(config_id)
        due = await core.next_due(config_id)
        running_ids = await running.members(redis, keys, config_id)
        registered: Any = None
        if raw_source is not None:  # as readers see it: what the stored text left out restored
            task = core.decode(raw_source)
            registered = (
                task.model_dump(mode="json")
                if task is not None
                else {"unreadable": str(raw_source)[:200]}
            )
        names = await _names(services, [config_id])
        if state is None and registered is None and due is None and not events:
            raise CliError(f"config {config_id} has no state in Redis (prefix {keys.prefix!r})")
        return {
            "config_id": config_id,
            "name": names.get(config_id),
            "state": _state_dict(state) if state is not None else None,
            "registered_schedule": registered,
            "is_registered": registered is not None,
            "next_fire_at": _iso(due),
            "running": sorted(running_ids),
            "history_total": total,
            "history": [
                {
                    "event": e.event,
                    "timestamp": _iso(e.timestamp),
                    "note": e.note,
                    "details": e.details,
                    "actor": e.actor,
                }
                for e in events
            ],
        }


def _short(value: str | None) -> str:
    if not value:
        return "-"
    return value.replace("+00:00", "Z").split(".")[0].replace("T", " ")


def _outcome(row: dict[str, Any]) -> str:
    if row.get("last_success") is None:
        return "-"
    return "[green]ok[/]" if row["last_success"] else "[red]failed[/]"


def _render_overview(data: dict[str, Any]) -> None:
    summary = data["summary"]
    console.print(
        f"schedules under {data['prefix']!r}: "
        + ", ".join(f"{name} {count}" for name, count in summary.items())
    )
    leader = data["scheduler_leader"] or "none"
    console.print(f"scheduler leader: {leader}; instances: {len(data['schedulers'])}", markup=False)
    for beat in data["schedulers"]:
        console.print(
            f"  {beat['id']}  beat {_short(beat['heartbeat_at'])}"
            + ("  [red]stale[/]" if beat["is_stale"] else "")
        )
    console.print(f"workers: {len(data['workers'])}", markup=False)
    for beat in data["workers"]:
        console.print(
            f"  {beat['id']}  queues {','.join(beat['queues']) or '-'}"
            f"  beat {_short(beat['heartbeat_at'])}"
            + ("  [red]stale[/]" if beat["is_stale"] else "")
        )
    for queue in data["queues"]:
        pending = sum(int(g.get("pending") or 0) for g in queue["groups"])
        console.print(f"queue {queue['queue']}: {queue['length']} in stream, {pending} pending")
    console.print(f"recorder buffer: {data['recorder_buffer']}")
    table = Table(
        "id",
        "name",
        "status",
        "note",
        "next fire",
        "runs",
        "ok",
        "failed",
        "streak",
        "last run",
        "last",
        title="schedules",
    )
    for row in data["schedules"]:
        status = row.get("status") or "?"
        table.add_row(
            str(row["config_id"]),
            row.get("name") or "-",
            status,
            row.get("note") or "",
            _short(row.get("next_fire_at")),
            str(row.get("runs", 0)),
            str(row.get("successes", 0)),
            str(row.get("failures", 0)),
            str(row.get("consecutive_failures", 0)),
            _short(row.get("last_run_at")),
            _outcome(row),
        )
    console.print(table)
    if data["schedules_matching"] > len(data["schedules"]):
        console.print(
            f"showing {len(data['schedules'])} of {data['schedules_matching']} (use --limit)"
        )


def _explained(settings: Settings, config_id: int) -> dict[str, Any] | None:
    """The explain verdict and its facts; None (said on stderr) when the database, which
    holds the config, cannot be read: the Redis picture is still shown."""
    try:
        return asyncio.run(verdict.explain(settings, config_id))
    except (OSError, SQLAlchemyError) as exc:
        err_console.print(f"no verdict: the database is unreachable ({type(exc).__name__})")
        return None


def _render_detail(data: dict[str, Any]) -> None:
    name = f" ({data['name']})" if data.get("name") else ""
    console.print(f"[bold]config {data['config_id']}{name}[/]")
    if data.get("explain") is not None:
        verdict.render(data["explain"])  # "why didn't it run?" first
    state = data["state"]
    table = Table("field", "value", show_header=False)
    for key, value in (state or {"status": "no state"}).items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    table.add_row("registered", "yes" if data["is_registered"] else "no")
    table.add_row("next fire", _short(data["next_fire_at"]))
    table.add_row("running", ", ".join(data["running"]) or "-")
    console.print(table)
    if data["registered_schedule"] is not None:
        console.print("registered schedule:")
        console.print_json(json.dumps(data["registered_schedule"]))
    history = Table(
        "when", "event", "by", "note", "details", title=f"history ({data['history_total']})"
    )
    for event in data["history"]:
        history.add_row(
            _short(event["timestamp"]),
            event["event"],
            event["actor"] or "",
            event["note"] or "",
            json.dumps(event["details"]) if event["details"] else "",
        )
    console.print(history)


def inspect(
    config_id: Annotated[int | None, typer.Argument(min=1, help="one config in detail")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
    status: Annotated[
        str | None, typer.Option(help="only schedules with this status (overview)")
    ] = None,
    history: Annotated[int, typer.Option(min=0, max=1000, help="history events shown")] = 20,
    limit: Annotated[int, typer.Option(min=1, help="schedules shown (lowest ids first)")] = 1000,
) -> None:
    """Show schedule state in Redis: every schedule, or one config in detail."""
    from taskplane.enums import ScheduleStatus

    settings = settings_for_command()
    if status is not None and status not in {s.value for s in ScheduleStatus}:
        raise CliError(f"--status must be one of {', '.join(s.value for s in ScheduleStatus)}")
    if config_id is None:
        data = asyncio.run(overview(settings, status, limit))
    else:
        data = asyncio.run(detail(settings, config_id, history))
        data["explain"] = _explained(settings, config_id)
    if as_json:
        console.print_json(json.dumps(data, default=str))
        return
    console.print(describe_stack(settings), markup=False)
    if config_id is None:
        _render_overview(data)
    else:
        _render_detail(data)
