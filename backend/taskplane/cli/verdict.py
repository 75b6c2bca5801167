"""What `taskplane inspect ID` shows first: the explain verdict (the same function as
``GET /schedules/{id}/explain``), the next 5 fires, the last 10 decisions, the counters and
the last error."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from taskplane.cli.output import console
from taskplane.settings import Settings

NEXT_FIRES = 5
DECISIONS = 10


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def explain(settings: Settings, config_id: int) -> dict[str, Any] | None:
    """The verdict and its facts as plain data; None when the config does not exist."""
    from taskplane.cli.services import open_services_for_cli
    from taskplane.db import configs, executions
    from taskplane.scheduling.explain import explain_config
    from taskplane.tasks.registry import DEFAULT_QUEUE

    async with open_services_for_cli(settings) as services:
        async with services.resources.sessions() as session:
            row = await configs.find(session, config_id)
            if row is None:
                return None
            failed = (
                await executions.list_page(session, config_id=config_id, is_success=False, limit=1)
            ).items
        task_type = services.registry.find(row.task_type)
        result = await explain_config(
            services.scheduler,
            row,
            task_type.queue if task_type is not None else DEFAULT_QUEUE,
            stale_seconds=settings.heartbeat_stale_seconds,
            alerts=services.alerts,
        )
        counters = await services.state.get(config_id)
    last_error = failed[0] if failed else None
    return {
        "verdict": result.verdict,
        "next_runs": [_iso(t) for t in result.next_runs[:NEXT_FIRES]],
        "decisions": [
            {
                "at": _iso(d.at),
                "due_at": _iso(d.due_at),
                "decision": d.decision,
                "reason": d.reason,
            }
            for d in result.decisions[:DECISIONS]
        ],
        "counters": {
            "runs": counters.runs if counters else 0,
            "successes": counters.successes if counters else 0,
            "failures": counters.failures if counters else 0,
            "consecutive_failures": counters.consecutive_failures if counters else 0,
            "last_run_at": _iso(counters.last_run_at) if counters else None,
        },
        "last_error": (
            {
                "at": _iso(last_error.completed_at),
                "task_id": last_error.task_id,
                "error": last_error.error_message,
            }
            if last_error is not None
            else None
        ),
    }


def _short(value: str | None) -> str:
    if not value:
        return "-"
    return value.replace("+00:00", "Z").split(".")[0].replace("T", " ")


def render(data: dict[str, Any]) -> None:
    console.print(f"[bold]verdict:[/] {data['verdict']}", markup=True, highlight=False)
    fires = ", ".join(_short(t) for t in data["next_runs"]) or "none"
    console.print(f"next fires: {fires}", markup=False)
    decisions = Table("at", "due", "decision", "reason", title="last decisions")
    for d in data["decisions"]:
        decisions.add_row(_short(d["at"]), _short(d["due_at"]), d["decision"], d["reason"] or "")
    console.print(decisions)
    c = data["counters"]
    console.print(
        f"runs {c['runs']} (ok {c['successes']}, failed {c['failures']}, "
        f"{c['consecutive_failures']} in a row), last run {_short(c['last_run_at'])}",
        markup=False,
    )
    error = data["last_error"]
    if error is not None:
        console.print(
            f"last error ({_short(error['at'])}, task {error['task_id']}): {error['error']}",
            markup=False,
        )
    else:
        console.print("last error: none", markup=False)
