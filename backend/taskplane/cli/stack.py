"""Which stack a command talks to: the configured one, or the `taskplane dev` of this folder.

`taskplane dev` writes ``.taskplane/stack.json`` in the folder it runs in (its pid, the
embedded Redis's URL, the database URL, the API address) and removes it when it stops.
Every other command run in that folder with none of ``TASKPLANE_REDIS_URL``,
``TASKPLANE_REDIS_SENTINELS`` and ``TASKPLANE_DATABASE_URL`` set (environment or ``.env``)
uses the addresses in that file, so
`taskplane inspect` next to `make dev` sees the dev stack, never another Redis. A file whose
`taskplane dev` is no longer running is refused in one line; so is a command that needs Redis
with no stack file and no URL set (a default Redis on 127.0.0.1 would be someone else's).
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from taskplane.cli.output import CliError
from taskplane.logs import redact
from taskplane.settings import Settings, load_settings

STACK_FILE = Path(".taskplane") / "stack.json"
"""Relative to the folder `taskplane dev` runs in."""

NO_STACK = (
    "no taskplane stack here: run `taskplane dev` in this folder (it writes {path}), "
    "or set TASKPLANE_REDIS_URL and TASKPLANE_DATABASE_URL"
)


@dataclass(frozen=True, slots=True)
class DevStack:
    pid: int
    redis_url: str
    database_url: str
    api_url: str


def stack_path(folder: Path | None = None) -> Path:
    return (folder or Path.cwd()) / STACK_FILE


def write_stack(stack: DevStack, folder: Path | None = None) -> Path:
    """Publish this `taskplane dev`'s addresses (atomically: a reader never sees half)."""
    path = stack_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(stack), indent=2) + "\n", encoding="utf-8")
    partial.chmod(0o600)  # the URLs may hold passwords
    partial.replace(path)
    return path


def remove_stack(pid: int, folder: Path | None = None) -> None:
    """Take the file down on stop, unless another `taskplane dev` wrote it since."""
    found = read_stack(folder)
    if found is not None and found.pid == pid:
        stack_path(folder).unlink(missing_ok=True)


def read_stack(folder: Path | None = None) -> DevStack | None:
    path = stack_path(folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return DevStack(
            int(data["pid"]),
            str(data["redis_url"]),
            str(data["database_url"]),
            str(data["api_url"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(
            f"{path} is unreadable ({exc}): remove it or run `taskplane dev` again"
        ) from exc


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def configured(settings: Settings) -> bool:
    return bool({"redis_url", "redis_sentinels", "database_url"} & settings.model_fields_set)


def with_stack(settings: Settings, *, required: bool) -> Settings:
    """``settings`` pointed at this folder's `taskplane dev` when no URL is configured.

    ``required``: with no stack file and no URL set, refuse (a command that reads or
    changes schedule state) instead of falling back on the defaults (a process command).
    """
    if configured(settings):
        return settings
    stack = read_stack()
    if stack is None:
        if required:
            raise CliError(NO_STACK.format(path=STACK_FILE))
        return settings
    if not is_running(stack.pid):
        raise CliError(
            f"the taskplane dev of this folder (pid {stack.pid}, {STACK_FILE}) is not "
            "running: start it again with `taskplane dev`, or set TASKPLANE_REDIS_URL"
        )
    return settings.model_copy(
        update={
            "redis_url": SecretStr(stack.redis_url),
            "database_url": SecretStr(stack.database_url),
        }
    )


def describe_stack(settings: Settings) -> str:
    """One line: which stack this command talks to (no passwords)."""
    from taskplane import redis_clients

    redis_url = redis_clients.describe(settings)
    database_url = redact(settings.database_url.get_secret_value())
    stack = read_stack()
    in_use = settings.redis_url.get_secret_value().encode()
    if (
        stack is not None
        and not settings.is_sentinel
        and hmac.compare_digest(stack.redis_url.encode(), in_use)
    ):
        return (
            f"stack: taskplane dev in {Path.cwd()} (pid {stack.pid}, {stack.api_url}): "
            f"redis {redis_url}, database {database_url}"
        )
    return f"stack: redis {redis_url}, database {database_url} (configured)"


def settings_for_command(stack: Literal["required", "optional", "none"] = "required") -> Settings:
    """The settings of this process (environment, then .env); bad values raise one line.

    With no Redis or database URL set, the `taskplane dev` of this folder (``cli/stack.py``):
    ``required`` refuses when there is none, ``optional`` keeps the defaults then, ``none``
    never looks (`taskplane dev` itself)."""
    settings = load_settings()
    if stack == "none":
        return settings
    return with_stack(settings, required=stack == "required")
