"""A spec's round trip through a registration's labels (flat JSON scalars, and the
calendar's date list), the spec's stored form in a ``ScheduledTask``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskplane.enums import SchedulerType
from taskplane.instants import parse_instant
from taskplane.scheduling import calendar
from taskplane.scheduling.specs import CHOICES, DEFAULT_GRACE_SECONDS, Spec

LABEL_PREFIX = "schedule_"


def to_labels(spec: Spec) -> dict[str, Any]:
    """The spec as flat JSON scalars, stored in the ScheduledTask's labels."""
    labels: dict[str, Any] = {
        f"{LABEL_PREFIX}kind": str(spec.kind),
        f"{LABEL_PREFIX}timezone": spec.timezone,
        f"{LABEL_PREFIX}run_immediately": spec.run_immediately,
        "misfire": spec.misfire,
        "misfire_grace_seconds": spec.misfire_grace_seconds,
        "overlap": spec.overlap,
    }
    if spec.kind is SchedulerType.CRON:
        labels["on_missing_time"] = spec.on_missing_time
        labels["on_repeated_time"] = spec.on_repeated_time
    if spec.cron is not None:
        labels[f"{LABEL_PREFIX}cron"] = spec.cron
    if spec.interval_seconds is not None:
        labels[f"{LABEL_PREFIX}interval_seconds"] = spec.interval_seconds
    if spec.run_at is not None:
        labels[f"{LABEL_PREFIX}run_at"] = spec.run_at.isoformat()
    return labels | calendar.to_labels(spec.calendar)


def from_labels(labels: Mapping[str, Any]) -> Spec:
    """Inverse of ``to_labels``; other labels are ignored. No "in the past" check: a
    registered date spec stays readable after its time. ValueError on a malformed set."""
    p = LABEL_PREFIX
    run_at = labels.get(f"{p}run_at")
    interval = labels.get(f"{p}interval_seconds")
    choices = {key: labels.get(key, allowed[0]) for key, allowed in CHOICES.items()}
    if any(value not in CHOICES[key] for key, value in choices.items()):
        raise ValueError("bad schedule policy labels")
    return Spec(
        kind=SchedulerType(labels[f"{p}kind"]),
        cron=labels.get(f"{p}cron"),
        timezone=str(labels.get(f"{p}timezone", "UTC")),
        interval_seconds=int(interval) if interval is not None else None,
        run_at=parse_instant(run_at) if run_at is not None else None,
        run_immediately=bool(labels.get(f"{p}run_immediately", True)),
        misfire_grace_seconds=int(labels.get("misfire_grace_seconds", DEFAULT_GRACE_SECONDS)),
        calendar=calendar.from_labels(labels),
        **choices,
    )
