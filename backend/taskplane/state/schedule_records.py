"""What the schedule state service stores and reports, as values: one config's state
(``ScheduleState``, decoded from its hash by ``decode_state``), a status change
(``Transition`` / ``TransitionResult``), a finished execution (``ExecutionOutcome``) and the
counts by status (``Summary``)."""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskplane.enums import Event, ScheduleStatus, Trigger
from taskplane.instants import read_instant


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """One config's state as stored."""

    config_id: int
    status: ScheduleStatus
    note: str | None
    status_at: datetime | None
    metadata: dict[str, Any]
    runs: int = 0
    successes: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_run_at: datetime | None = None
    last_success: bool | None = None
    last_task_id: str | None = None
    paused_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """One status change: to ``to`` if the status is in ``allowed_from`` (None: any), with
    ``event`` (and its note / details) and, optionally, new metadata. ``paused_until``: a
    change to ``paused`` ends by itself then (the pause timer); ``expect_paused_until``:
    apply only while the stored pause ends at that instant (the timer's guard)."""

    config_id: int
    to: ScheduleStatus
    allowed_from: Collection[ScheduleStatus] | None
    event: Event | None
    note: str | None = None
    details: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None
    at: datetime | None = None
    config_name: str | None = None  # for the audit entry (else the metadata's name)
    paused_until: datetime | None = None
    expect_paused_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class TransitionResult:
    """``changed``: the script applied; ``previous``: the status before (or the current
    status, unchanged, when ``changed`` is false)."""

    changed: bool
    previous: ScheduleStatus


@dataclass(frozen=True, slots=True)
class ExecutionOutcome:
    """One finished execution, as the worker's recorder reports it."""

    config_id: int
    task_id: str
    is_success: bool
    finished_at: datetime
    attempt: int = 1
    trigger: Trigger = Trigger.SCHEDULED


@dataclass(frozen=True, slots=True)
class Summary:
    total: int
    active: int
    paused: int
    inactive: int
    error: int

    def as_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "active": self.active,
            "paused": self.paused,
            "inactive": self.inactive,
            "error": self.error,
        }


def _int(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


METADATA_KEYS = ("name", "task_type", "scheduler_type", "schedule", "registered_at")
"""The keys of a config's metadata (``decisions.metadata_of``'s), in the order it is read."""


def read_metadata(raw: Mapping[str, str]) -> dict[str, Any]:
    """A state hash's metadata (``scripts.METADATA_LUA``): a field per key, ``m:{key}`` a
    string, ``j:{key}`` any other value as JSON, so that a typical hash's values all stay
    short (≤ 64 bytes: a listpack, half a hashtable's memory); or, as a previous version
    wrote it, one ``metadata`` JSON field (read as it was: an upgrade needs no migration).
    ``m:registered_at`` '' is ``status_at`` (an activation's instant, kept once).
    ``METADATA_KEYS`` come first, in their order; ``{}`` for no metadata."""
    old = raw.get("metadata")
    if old is not None:
        try:
            metadata = json.loads(old or "{}")
        except ValueError:
            return {}
        return metadata if isinstance(metadata, dict) else {}
    found: dict[str, Any] = {}
    for field, value in raw.items():
        if field == "m:registered_at" and value == "":
            found["registered_at"] = raw.get("status_at")  # registered with this status
        elif field.startswith("m:"):
            found[field[2:]] = value
        elif field.startswith("j:"):
            try:
                found[field[2:]] = json.loads(value)
            except ValueError:
                found[field[2:]] = None
    ordered = {key: found[key] for key in METADATA_KEYS if key in found}
    ordered.update(found)
    return ordered


def decode_state(config_id: int, raw: Mapping[str, str]) -> ScheduleState | None:
    """A state hash as read (the pools decode replies: ``redis_clients.make_redis``); None
    without status."""
    if "status" not in raw:
        return None
    status = ScheduleStatus.stored(raw["status"])
    last_success = raw.get("last_success")
    return ScheduleState(
        config_id=config_id,
        status=status,
        note=raw.get("note") or None,
        status_at=read_instant(raw.get("status_at")),
        metadata=read_metadata(raw),
        runs=_int(raw.get("runs")),
        successes=_int(raw.get("successes")),
        failures=_int(raw.get("failures")),
        consecutive_failures=_int(raw.get("consecutive_failures")),
        last_run_at=read_instant(raw.get("last_run_at")),
        last_success=None if last_success in (None, "") else last_success == "1",
        last_task_id=raw.get("last_task_id") or None,
        paused_until=read_instant(raw.get("paused_until")),
    )


STATES_REMEMBERED = 8192


@functools.lru_cache(maxsize=STATES_REMEMBERED)
def remembered_state(config_id: int, flat: tuple[str, ...]) -> ScheduleState | None:
    """``decode_state`` of a hash read as HGETALL's flat field / value list, remembered
    while the hash reads the same (pages are read again and again; a stopped config's hash
    does not change). The state is shared: read it only (its metadata too)."""
    items = iter(flat)
    return decode_state(config_id, dict(zip(items, items, strict=True)))
