"""The process commands `api`, `worker`, `scheduler` (each calls its process's one entry:
``api.process.serve_api``, ``worker.process.serve_worker``,
``scheduling.process.serve_scheduler``), and `migrate`, `reconcile`. `dev` is ``dev.py``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from typing import Annotated

import typer

from taskplane.cli.output import console, err_console, reporter
from taskplane.cli.stack import settings_for_command
from taskplane.cli.supervisor import Supervisor, child_command, stop_on_signals, watch_parent
from taskplane.logs import redact

ParentPid = Annotated[
    int | None,
    typer.Option("--parent-pid", hidden=True, help="stop when this supervisor process is gone"),
]


def register(app: typer.Typer) -> None:
    app.command("api")(api)
    app.command("worker")(worker)
    app.command("scheduler")(scheduler)
    app.command("migrate")(migrate)
    app.command("reconcile")(reconcile)


# --- migrate ----------------------------------------------------------------------------


def migrate() -> None:
    """Create or upgrade the database schema to the latest revision."""
    from taskplane.cli.services import migrate_database

    settings = settings_for_command(stack="optional")
    label = redact(settings.database_url.get_secret_value())
    with err_console.status(f"migrating {label} ..."):
        asyncio.run(migrate_database(settings))
    console.print(f"database {label} is at the latest revision")


# --- api --------------------------------------------------------------------------------


def api(
    host: Annotated[str | None, typer.Option(help="bind address [TASKPLANE_API_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="port [TASKPLANE_API_PORT]")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    parent_pid: ParentPid = None,
) -> None:
    """Run the REST API, the dashboard and /metrics (uvicorn)."""
    from taskplane.api.process import serve_api

    settings = settings_for_command(stack="optional")
    watch_parent(parent_pid)
    serve_api(settings, host=host, port=port, workers=workers)


# --- worker -----------------------------------------------------------------------------


def worker(
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", "-q", help="queue to consume (repeat; default: every queue)"),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="executions at once per process")] = 10,
    processes: Annotated[int, typer.Option(min=1, help="worker processes to run")] = 1,
    metrics_port: Annotated[
        int | None, typer.Option(help="/metrics port [TASKPLANE_WORKER_METRICS_PORT]")
    ] = None,
    parent_pid: ParentPid = None,
) -> None:
    """Run task executions from the broker (TaskIQ worker)."""
    settings = settings_for_command(stack="optional")
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    if processes > 1:
        _supervise_workers(queue or [], concurrency, processes, port)
        return
    from taskplane.worker.process import serve_worker

    watch_parent(parent_pid)
    serve_worker(settings, queue or None, concurrency, metrics_port=port)


def _supervise_workers(queues: list[str], concurrency: int, processes: int, port: int) -> None:
    # running executions get the worker's own shutdown grace (30 s) before a SIGKILL
    supervisor = Supervisor(report=reporter("taskplane worker"), stop_timeout_seconds=40)
    env = dict(os.environ)
    for index in range(processes):
        args = ["worker", "--concurrency", str(concurrency)]
        args += [part for q in queues for part in ("--queue", q)]
        args += ["--metrics-port", str(port + index if port else 0)]
        supervisor.add(f"worker-{index + 1}", child_command(*args), env)
    with stop_on_signals() as stop:
        supervisor.start()
        console.print(f"{processes} worker processes running (Ctrl-C stops them)")
        try:
            supervisor.run(stop)
        finally:
            supervisor.stop()


# --- scheduler --------------------------------------------------------------------------


def scheduler(
    metrics_port: Annotated[
        int | None, typer.Option(help="/metrics port [TASKPLANE_SCHEDULER_METRICS_PORT]")
    ] = None,
    parent_pid: ParentPid = None,
) -> None:
    """Run the scheduler engine (safe to run several: no duplicate and no lost fires)."""
    from taskplane.scheduling.process import serve_scheduler

    settings = settings_for_command(stack="optional")
    watch_parent(parent_pid)
    serve_scheduler(settings, metrics_port=metrics_port)


# --- reconcile --------------------------------------------------------------------------


def reconcile(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Make Redis schedule state agree with the configs (repairs are history events)."""
    from taskplane.cli.services import reconcile_all

    settings = settings_for_command()
    with err_console.status("reconciling schedules ..."):
        report = asyncio.run(reconcile_all(settings))
    if as_json:
        console.print_json(json.dumps(dataclasses.asdict(report)))
        return
    console.print(
        f"checked {report.checked} configs: {len(report.repairs)} repaired, "
        f"{len(report.orphans_removed)} orphans removed"
    )
    for repair in report.repairs:
        console.print(
            f"  config {repair.config_id}: {repair.reason} -> {repair.status}", markup=False
        )
