"""The process commands: `dev`, `api`, `worker`, `scheduler`, `migrate`, `reconcile`."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer
from pydantic import SecretStr
from rich.markup import escape

from taskplane.cli.output import CliError, console, err_console, settings_for_command
from taskplane.cli.supervisor import Supervisor, child_command, stop_on_signals, watch_parent
from taskplane.settings import Settings

if TYPE_CHECKING:
    from taskplane.embedded_redis import EmbeddedRedis

ParentPid = Annotated[
    int | None,
    typer.Option("--parent-pid", hidden=True, help="stop when this supervisor process is gone"),
]


def register(app: typer.Typer) -> None:
    app.command("dev")(dev)
    app.command("api")(api)
    app.command("worker")(worker)
    app.command("scheduler")(scheduler)
    app.command("migrate")(migrate)
    app.command("reconcile")(reconcile)


# --- migrate ----------------------------------------------------------------------------


async def _migrate(settings: Settings) -> None:
    from taskplane.db import migrations
    from taskplane.db.session import make_engine

    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings)
    try:
        await migrations.upgrade(engine, settings)
    finally:
        await engine.dispose()


def _database_label(settings: Settings) -> str:
    from taskplane.logs import redact

    return redact(settings.database_url.get_secret_value())


def migrate() -> None:
    """Create or upgrade the database schema to the latest revision."""
    settings = settings_for_command()
    with err_console.status(f"migrating {_database_label(settings)} ..."):
        asyncio.run(_migrate(settings))
    console.print(f"database {_database_label(settings)} is at the latest revision")


# --- api --------------------------------------------------------------------------------


def api(
    host: Annotated[str | None, typer.Option(help="bind address [TASKPLANE_API_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="port [TASKPLANE_API_PORT]")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    parent_pid: ParentPid = None,
) -> None:
    """Run the REST API, the dashboard and /metrics (uvicorn)."""
    from taskplane.api.process import serve_api

    settings = settings_for_command()
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
    settings = settings_for_command()
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    if processes > 1:
        _supervise_workers(queue or [], concurrency, processes, port)
        return
    from taskplane.worker.process import serve_worker

    watch_parent(parent_pid)
    serve_worker(settings, queue or None, concurrency, metrics_port=port)


def _supervise_workers(queues: list[str], concurrency: int, processes: int, port: int) -> None:
    # running executions get the worker's own shutdown grace (30 s) before a SIGKILL
    supervisor = Supervisor(report=_reporter("taskplane worker"), stop_timeout_seconds=40)
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

    settings = settings_for_command()
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


# --- dev --------------------------------------------------------------------------------


def _reporter(name: str) -> Callable[[str], None]:
    def report(message: str) -> None:
        err_console.print(f"[yellow]{name}:[/] {escape(message)}", markup=True)

    return report


_report = _reporter("taskplane dev")


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CliError(
                f"cannot listen on {host}:{port} ({exc.strerror}); "
                "choose another port with --port or TASKPLANE_API_PORT"
            ) from exc


def _check_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise CliError(f"Redis at TASKPLANE_REDIS_URL is unreachable: {exc}") from exc
    finally:
        client.close()


def _wait_for_health(
    base_url: str, supervisor: Supervisor, within: float, stop: threading.Event
) -> dict[str, Any]:
    """Poll /system/health until ok; the last body (or a description) on timeout."""
    deadline = time.monotonic() + within
    last: dict[str, Any] = {"status": "api not reachable yet"}
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline and not stop.is_set():
            supervisor.check()
            try:
                response = client.get(f"{base_url}/api/v1/system/health")
                body = response.json()
                last = body if isinstance(body, dict) else {"status": str(body)}
                if response.status_code == 200:
                    return last
            except (httpx.HTTPError, ValueError):
                pass
            stop.wait(0.3)
    return last


EXAMPLES: list[tuple[dict[str, Any], bool]] = [
    (
        {
            "name": "example-echo-every-30s",
            "description": "echoes a message every 30 seconds",
            "task_type": "echo",
            "scheduler_type": "interval",
            "schedule_config": {"seconds": 30},
            "parameters": {"message": "hello from taskplane"},
        },
        True,
    ),
    (
        {
            "name": "example-health-check-every-minute",
            "description": "GET this taskplane's own health endpoint every minute",
            "task_type": "http_request",
            "scheduler_type": "cron",
            "schedule_config": {"cron_expression": "* * * * *"},
            "parameters": {"method": "GET", "url": "{base_url}/api/v1/system/health"},
        },
        True,
    ),
    (
        {
            "name": "example-manual-sleep",
            "description": "sleeps two seconds; run it by hand",
            "task_type": "sleep",
            "scheduler_type": "manual",
            "schedule_config": {},
            "parameters": {"seconds": 2},
        },
        False,
    ),
]


def create_examples(base_url: str, token: str) -> list[str]:
    """Create the example configs through the API (validated like any client's); a name
    that exists already is left as it is."""
    lines: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{base_url}/api/v1", headers=headers, timeout=15) as client:
        for template, auto_start in EXAMPLES:
            body = json.loads(json.dumps(template).replace("{base_url}", base_url))
            response = client.post(
                "/configs", params={"auto_start": str(auto_start).lower()}, json=body
            )
            if response.status_code == 201:
                lines.append(f"created {body['name']} (id {response.json()['id']})")
            elif response.status_code == 409:
                lines.append(f"{body['name']} exists already")
            else:
                lines.append(f"could not create {body['name']}: HTTP {response.status_code}")
    return lines


def dev(
    example: Annotated[
        bool, typer.Option("--example", help="create a few example configs")
    ] = False,
    port: Annotated[int | None, typer.Option(help="API port [TASKPLANE_API_PORT]")] = None,
) -> None:
    """Run everything on one machine: api, scheduler and worker, supervised.

    Uses SQLite and an embedded Redis unless TASKPLANE_DATABASE_URL / TASKPLANE_REDIS_URL
    are set. Ctrl-C stops all.
    """
    from taskplane.cli.services import reconcile_all
    from taskplane.embedded_redis import EmbeddedRedis, EmbeddedRedisError

    settings = settings_for_command()
    configured = settings.model_fields_set
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"

    database_url = settings.database_url.get_secret_value()
    path = settings.sqlite_path()
    if path is not None and not path.is_absolute():
        database_url = f"sqlite+aiosqlite:///{Path.cwd() / path}"
    env["TASKPLANE_DATABASE_URL"] = database_url
    api_port = port or settings.api_port
    env["TASKPLANE_API_PORT"] = str(api_port)
    _check_port_free(settings.api_host, api_port)

    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url.get_secret_value()
    if "redis_url" in configured:
        redis_label = _database_label_url(redis_url)
        _check_redis(redis_url)
    else:
        data_dir = (path.parent if path is not None else Path.cwd()) / DEV_DATA_DIR / "redis"
        try:
            embedded = EmbeddedRedis(data_dir.absolute()).start()
        except EmbeddedRedisError as exc:
            raise CliError(f"the embedded Redis did not start: {exc}") from exc
        redis_url = embedded.url
        redis_label = f"embedded redis-server, append-only in {data_dir} ({redis_url})"
    env["TASKPLANE_REDIS_URL"] = redis_url
    dev_settings = settings.model_copy(
        update={"database_url": SecretStr(database_url), "redis_url": SecretStr(redis_url)}
    )

    try:
        with err_console.status(f"migrating {_database_label(settings)} ..."):
            asyncio.run(_migrate(dev_settings))
        with err_console.status("reconciling schedules with Redis ..."):
            report = asyncio.run(reconcile_all(dev_settings))
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    if report.repairs:
        _report(f"reconciled {len(report.repairs)} schedules with Redis")

    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    token_label = "from TASKPLANE_ADMIN_TOKEN (not shown)"  # noqa: S105 - a label
    if not token:
        token = secrets.token_urlsafe(24)
        token_label = token  # generated for this run: shown here, once
    env["TASKPLANE_ADMIN_TOKEN"] = token

    supervisor = Supervisor(report=_report)
    supervisor.add("api", child_command("api", "--port", str(api_port)), env)
    supervisor.add("scheduler", child_command("scheduler"), env)
    supervisor.add("worker", child_command("worker"), env)

    base_url = f"http://{_display_host(settings.api_host)}:{api_port}"
    try:
        with stop_on_signals() as stop:
            supervisor.start()
            with err_console.status("starting api, scheduler and worker ..."):
                health = _wait_for_health(base_url, supervisor, 60, stop)
            if stop.is_set():
                return
            _print_banner(
                base_url, token_label, _database_label_url(database_url), redis_label, health
            )
            if example:
                for line in create_examples(base_url, token):
                    console.print(f"  example: {line}")
            supervisor.run(stop, also=_keep_running(embedded))
            console.print("stopping ...")
    finally:
        supervisor.stop()
        if embedded is not None:
            embedded.stop()
    console.print("stopped")


DEV_DATA_DIR = ".taskplane"
"""Beside the SQLite file: the embedded Redis's append-only file (``redis/``)."""


def _keep_running(embedded: EmbeddedRedis | None) -> Callable[[], None] | None:
    """A check for the supervisor's loop: an embedded Redis that died is started again on
    its port, from its append-only file (the children reconnect by themselves)."""
    if embedded is None:
        return None
    server = embedded

    def check() -> None:
        if server.is_running():
            return
        _report("the embedded Redis exited; restarting it from its append-only file")
        try:
            server.restart()
        except Exception as exc:  # reported, tried again on the next check
            _report(f"the embedded Redis did not restart: {exc}")

    return check


def _database_label_url(url: str) -> str:
    from taskplane.logs import redact

    return redact(url)


def _print_banner(
    base_url: str, token_label: str, database: str, redis_label: str, health: dict[str, Any]
) -> None:
    status = health.get("status", "unknown")
    console.print()
    console.print(f"[bold green]taskplane is running[/] (health: {status})", markup=True)
    console.print(f"  dashboard    {base_url}/")
    console.print(f"  API          {base_url}/api/v1   (docs {base_url}/docs)")
    console.print(f"  metrics      {base_url}/metrics")
    console.print(f"  database     {database}")
    console.print(f"  redis        {redis_label}")
    console.print(f"  admin token  {token_label}")
    console.print()
    console.print(f'  try: curl -H "Authorization: Bearer $TOKEN" {base_url}/api/v1/task-types')
    console.print("  Ctrl-C stops everything.")
    sys.stdout.flush()
