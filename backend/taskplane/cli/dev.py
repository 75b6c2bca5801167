"""`taskplane dev`: everything on one machine. The orchestration lives here: resolve the
database and Redis (an embedded redis-server unless TASKPLANE_REDIS_URL is set), migrate and
reconcile, supervise api + scheduler + worker as child processes, wait for /system/health,
print the banner, create the example configs (``examples.json``, data) on request, and keep
the embedded Redis up until Ctrl-C.

Children get their settings by environment (``TASKPLANE_DATABASE_URL`` absolute,
``TASKPLANE_REDIS_URL``, ``TASKPLANE_ADMIN_TOKEN`` generated if unset), so each runs the same
entry as ``taskplane api|scheduler|worker``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer
from pydantic import SecretStr

from taskplane.cli.output import CliError, console, err_console, reporter
from taskplane.cli.stack import (
    STACK_FILE,
    DevStack,
    is_running,
    read_stack,
    remove_stack,
    settings_for_command,
    write_stack,
)
from taskplane.cli.supervisor import Supervisor, child_command, stop_on_signals
from taskplane.logs import redact
from taskplane.settings import Settings

if TYPE_CHECKING:
    from taskplane.embedded_redis import EmbeddedRedis

DEV_DATA_DIR = ".taskplane"
"""Beside the SQLite file: the embedded Redis's append-only file (``redis/``)."""

HEALTH_WAIT_SECONDS = 60.0

_report = reporter("taskplane dev")


def register(app: typer.Typer) -> None:
    app.command("dev")(dev)


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
    settings = settings_for_command(stack="none")
    api_port = port or settings.api_port
    _check_no_other_dev()
    _check_port_free(settings.api_host, api_port)
    database_url = _absolute_database_url(settings)
    redis = _open_redis(settings)
    base_url = f"http://{_display_host(settings.api_host)}:{api_port}"
    write_stack(DevStack(os.getpid(), redis.url, database_url, base_url))
    try:
        _prepare_stores(
            settings.model_copy(
                update={"database_url": SecretStr(database_url), "redis_url": SecretStr(redis.url)}
            )
        )
        token, token_label = _admin_token(settings)
        env = dict(os.environ)
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "TASKPLANE_DATABASE_URL": database_url,
                "TASKPLANE_REDIS_URL": redis.url,
                "TASKPLANE_API_PORT": str(api_port),
                "TASKPLANE_ADMIN_TOKEN": token,
            }
        )
        banner = Banner(base_url, token_label, redact(database_url), redis.label)
        _supervise(env, api_port, banner, token if example else None, redis.embedded)
    finally:
        remove_stack(os.getpid())
        if redis.embedded is not None:
            redis.embedded.stop()
    console.print("stopped")


def _check_no_other_dev() -> None:
    """One `taskplane dev` per folder: the CLI here talks to the one in ``stack.json``."""
    other = read_stack()
    if other is not None and other.pid != os.getpid() and is_running(other.pid):
        raise CliError(
            f"a taskplane dev already runs in this folder (pid {other.pid}, {other.api_url}); "
            "stop it first, or run this one in another folder"
        )


# --- the stores -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DevRedis:
    url: str
    label: str  # for the banner: never a password
    embedded: EmbeddedRedis | None  # None: the configured TASKPLANE_REDIS_URL


def _absolute_database_url(settings: Settings) -> str:
    """The children run from the same directory, but a relative SQLite path is made absolute
    so that each of them opens the same file whatever it does with its cwd."""
    path = settings.sqlite_path()
    if path is not None and not path.is_absolute():
        return f"sqlite+aiosqlite:///{Path.cwd() / path}"
    return settings.database_url.get_secret_value()


def _open_redis(settings: Settings) -> DevRedis:
    """The configured Redis (checked now: one clear line if it does not answer), else an
    embedded redis-server, append-only in ``.taskplane/redis`` beside the SQLite file."""
    from taskplane.embedded_redis import EmbeddedRedis, EmbeddedRedisError

    if settings.is_sentinel:  # its children would follow the Sentinels, not this Redis
        raise CliError(
            "taskplane dev runs on one Redis: unset TASKPLANE_REDIS_SENTINELS (and set "
            "TASKPLANE_REDIS_URL to use a Redis of your own)"
        )
    if "redis_url" in settings.model_fields_set:
        url = settings.redis_url.get_secret_value()
        _check_redis(url)
        return DevRedis(url, redact(url), None)
    path = settings.sqlite_path()
    data_dir = (path.parent if path is not None else Path.cwd()) / DEV_DATA_DIR / "redis"
    try:
        embedded = EmbeddedRedis(data_dir.absolute()).start()
    except EmbeddedRedisError as exc:
        raise CliError(f"the embedded Redis did not start: {exc}") from exc
    label = f"embedded redis-server, append-only in {data_dir} ({embedded.url})"
    return DevRedis(embedded.url, label, embedded)


def _check_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise CliError(f"Redis at TASKPLANE_REDIS_URL is unreachable: {exc}") from exc
    finally:
        client.close()


def _prepare_stores(settings: Settings) -> None:
    """Migrate the database, then reconcile schedule state with Redis (as the scheduler does
    at start), before any child runs."""
    from taskplane.cli.services import migrate_database, reconcile_all

    with err_console.status(f"migrating {redact(settings.database_url.get_secret_value())} ..."):
        asyncio.run(migrate_database(settings))
    with err_console.status("reconciling schedules with Redis ..."):
        report = asyncio.run(reconcile_all(settings))
    if report.repairs:
        _report(f"reconciled {len(report.repairs)} schedules with Redis")


def _admin_token(settings: Settings) -> tuple[str, str]:
    """The admin token and how the banner shows it: a configured one is never printed; one
    generated for this run is printed, once."""
    if settings.admin_token and settings.admin_token.get_secret_value():
        return settings.admin_token.get_secret_value(), "from TASKPLANE_ADMIN_TOKEN (not shown)"
    token = secrets.token_urlsafe(24)
    return token, token


# --- the children -----------------------------------------------------------------------


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


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _supervise(
    env: dict[str, str],
    api_port: int,
    banner: Banner,
    examples_token: str | None,
    embedded: EmbeddedRedis | None,
) -> None:
    """Start api, scheduler and worker; once healthy print the banner (and create the
    examples with ``examples_token``); run until Ctrl-C / SIGTERM, then stop them all."""
    supervisor = Supervisor(report=_report)
    supervisor.add("api", child_command("api", "--port", str(api_port)), env)
    supervisor.add("scheduler", child_command("scheduler"), env)
    supervisor.add("worker", child_command("worker"), env)
    try:
        with stop_on_signals() as stop:
            supervisor.start()
            with err_console.status("starting api, scheduler and worker ..."):
                health = _wait_for_health(banner.base_url, supervisor, HEALTH_WAIT_SECONDS, stop)
            if stop.is_set():
                return
            banner.print(health)
            if examples_token is not None:
                for line in create_examples(banner.base_url, examples_token):
                    console.print(f"  example: {line}")
            supervisor.run(stop, also=_keep_running(embedded))
            console.print("stopping ...")
    finally:
        supervisor.stop()


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


# --- what the user sees -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Banner:
    base_url: str
    token_label: str  # the generated token, or where the configured one comes from
    database: str  # redacted
    redis: str  # redacted

    def print(self, health: dict[str, Any]) -> None:
        base_url = self.base_url
        status = health.get("status", "unknown")
        console.print()
        console.print(f"[bold green]taskplane is running[/] (health: {status})", markup=True)
        console.print(f"  dashboard    {base_url}/")
        console.print(f"  API          {base_url}/api/v1   (docs {base_url}/docs)")
        console.print(f"  metrics      {base_url}/metrics")
        console.print(f"  database     {self.database}")
        console.print(f"  redis        {self.redis}")
        console.print(f"  admin token  {self.token_label}")
        console.print()
        console.print(
            '  try: curl -H "Authorization: Bearer $TASKPLANE_ADMIN_TOKEN" '
            f"{base_url}/api/v1/task-types"
        )
        console.print(f"  the taskplane CLI in this folder uses this stack ({STACK_FILE})")
        console.print("  Ctrl-C stops everything.")
        sys.stdout.flush()


@dataclass(frozen=True, slots=True)
class Example:
    config: dict[str, Any]  # a POST /configs body
    auto_start: bool


def load_examples(base_url: str) -> list[Example]:
    """The example configs (``examples.json``, shipped in the package), with ``{base_url}``
    in their text replaced by this run's API address."""
    text = resources.files(__package__).joinpath("examples.json").read_text(encoding="utf-8")
    return [
        Example(
            json.loads(json.dumps(item["config"]).replace("{base_url}", base_url)),
            bool(item["auto_start"]),
        )
        for item in json.loads(text)
    ]


def create_examples(base_url: str, token: str) -> list[str]:
    """Create the example configs through the API (validated like any client's); a name
    that exists already is left as it is."""
    lines: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{base_url}/api/v1", headers=headers, timeout=15) as client:
        for example in load_examples(base_url):
            name = example.config["name"]
            response = client.post(
                "/configs",
                params={"auto_start": str(example.auto_start).lower()},
                json=example.config,
            )
            if response.status_code == 201:
                lines.append(f"created {name} (id {response.json()['id']})")
            elif response.status_code == 409:
                lines.append(f"{name} exists already")
            else:
                lines.append(f"could not create {name}: HTTP {response.status_code}")
    return lines
