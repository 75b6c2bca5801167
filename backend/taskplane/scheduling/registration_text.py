"""What a stored registration text leaves out, and how a reader puts it back: the one place
that knows the omission rules (``compact_task`` / ``compact_labels`` for the writer,
``full_task`` / ``full_labels`` for every reader).

At a million schedules the registration texts were ~40% of Redis's memory, and most of a
text repeated what the reader knows anyway: a registration's trigger and attempt, the
defaults of retries, priority, queue and the policies, the task type (from the task name),
the spec's kind, cron, interval, timezone and date (from the top-level ``cron``,
``interval``, ``cron_offset``, ``time``), ``args`` (always empty) and the schedule id (from
the config id). The writer leaves a label out only when ``full_labels`` restores exactly the
same value (same JSON type too: ``_same``), so a text of any format reads back as the same
``ScheduledTask``; whatever cannot be restored stays. Texts of earlier formats, which hold
every label, read as they always did: a label present is never replaced.

Restoring must come before anything reads the labels: ``messages.RunLabels.parse`` reads a
missing ``max_retries`` as "the task type's own" and ``spec_labels.from_labels`` a missing
``schedule_run_immediately`` as True, so they see the full labels only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from taskiq import ScheduledTask

from taskplane import messages
from taskplane.enums import SchedulerType, Trigger
from taskplane.scheduling.specs import CHOICES, DEFAULT_GRACE_SECONDS

SCHEDULE_ID_PREFIX = "taskplane-config-"
NULL_BY_DEFAULT = frozenset(
    name
    for name, field in ScheduledTask.model_fields.items()
    if not field.is_required() and field.default is None
)
"""The top-level fields left out when null: the model defaults them to null."""

Restore = Callable[[Mapping[str, Any]], Any]
"""A label's value from the task's top-level fields (None: not restorable)."""


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON: the same type too (``True == 1`` in Python, not in the text)."""
    return type(a) is type(b) and bool(a == b)


def _always(value: Any) -> Restore:
    return lambda task: value


def _cron_only(value: Any) -> Restore:
    """A label ``spec_labels.to_labels`` writes for a cron schedule only (the DST policies)."""
    return lambda task: value if task.get("cron") is not None else None


_KIND_FIELDS = (
    (SchedulerType.CRON.value, "cron"),
    (SchedulerType.INTERVAL.value, "interval"),
    (SchedulerType.DATE.value, "time"),
)


def _kind(task: Mapping[str, Any]) -> str | None:
    """The spec's kind: the one of ``cron`` / ``interval`` / ``time`` that is set."""
    kinds = [k for k, name in _KIND_FIELDS if task.get(name) is not None]
    return kinds[0] if len(kinds) == 1 else None


def _task_type(task: Mapping[str, Any]) -> str | None:
    name = task.get("task_name")
    return messages.task_type_of(name) if isinstance(name, str) else None


def _timezone(task: Mapping[str, Any]) -> Any:
    """A cron's zone is its ``cron_offset``; other kinds are UTC."""
    return task.get("cron_offset") if task.get("cron") is not None else "UTC"


def _run_at(task: Mapping[str, Any]) -> str | None:
    """A date's label is ``datetime.isoformat`` of ``time`` (the text writes it as pydantic
    does, ``Z`` for UTC): the writer's exact check keeps any other spelling."""
    time = task.get("time")
    try:
        return datetime.fromisoformat(time).isoformat() if isinstance(time, str) else None
    except ValueError:
        return None


LABELS: dict[str, Restore | None] = {
    "config_id": None,
    "task_type": _task_type,
    "trigger": _always(Trigger.SCHEDULED.value),
    "attempt": _always(1),
    "max_retries": _always(0),
    "priority": _always(0),
    "queue": _always(messages.DEFAULT_QUEUE),
    "timeout_seconds": None,
    "schedule_kind": _kind,
    "schedule_timezone": _timezone,
    "schedule_run_immediately": _always(True),
    "misfire": _always(CHOICES["misfire"][0]),
    "misfire_grace_seconds": _always(DEFAULT_GRACE_SECONDS),
    "overlap": _always(CHOICES["overlap"][0]),
    "on_missing_time": _cron_only(CHOICES["on_missing_time"][0]),
    "on_repeated_time": _cron_only(CHOICES["on_repeated_time"][0]),
    "schedule_cron": lambda task: task.get("cron"),
    "schedule_interval_seconds": lambda task: task.get("interval"),
    "schedule_run_at": _run_at,
}
"""The labels a registration's ``build`` writes, in its order, each with its restore (None:
never left out); the calendar's labels follow them."""


def compact_labels(labels: Mapping[str, Any], task: Mapping[str, Any]) -> dict[str, Any]:
    """The labels as stored: without those ``full_labels`` restores exactly from ``task``'s
    top-level fields (JSON values, as stored)."""
    return {k: v for k, v in labels.items() if not _restored(k, v, task)}


def _restored(key: str, value: Any, task: Mapping[str, Any]) -> bool:
    restore = LABELS.get(key)
    return restore is not None and value is not None and _same(restore(task), value)


def full_labels(labels: Mapping[str, Any], task: Mapping[str, Any]) -> dict[str, Any]:
    """The labels as built, in ``build``'s order: the stored ones, and each one left out
    restored (a label present, as in every text of an earlier format, is kept as it is)."""
    full: dict[str, Any] = {}
    for key, restore in LABELS.items():
        if key in labels:
            full[key] = labels[key]
        elif restore is not None and (value := restore(task)) is not None:
            full[key] = value
    for key, value in labels.items():
        full.setdefault(key, value)
    return full


def schedule_id(config_id: int) -> str:
    return f"{SCHEDULE_ID_PREFIX}{config_id}"


def _schedule_id_of(labels: Any) -> str | None:
    """The schedule id a registration of these labels has (its config's)."""
    config_id = labels.get("config_id") if isinstance(labels, Mapping) else None
    return schedule_id(config_id) if type(config_id) is int else None


def compact_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """A ScheduledTask's JSON-mode dump as stored: no null field the model defaults to null,
    no empty ``args``, no schedule id that is the config's, the labels ``compact_labels``'."""
    stored: dict[str, Any] = {}
    for name, value in task.items():
        if value is None and name in NULL_BY_DEFAULT:
            continue
        if (name == "args" and _same(value, [])) or (
            name == "schedule_id" and _same(value, _schedule_id_of(task.get("labels")))
        ):
            continue
        stored[name] = compact_labels(value, task) if name == "labels" else value
    return stored


def full_task(stored: Any) -> dict[str, Any]:
    """The fields of a stored text (parsed JSON) as ``ScheduledTask.model_validate`` takes
    them, everything ``compact_task`` left out restored. ValueError when it is no object
    with labels."""
    if not isinstance(stored, dict) or not isinstance(stored.get("labels"), dict):
        raise ValueError("a registration is a JSON object with labels")
    task = {**stored, "labels": full_labels(stored["labels"], stored)}
    task.setdefault("args", [])
    if "schedule_id" not in task and (sid := _schedule_id_of(task["labels"])) is not None:
        task["schedule_id"] = sid
    return task
