"""Preparing fires: a due entry of the index becomes a ``Fire``, what the fire script needs.

``prepare`` reads one registered ``ScheduledTask`` (as stored), plans it (``planning.plan``)
and builds what the script sends and records: the run message (``messages.compose``, trigger
``scheduled``, task id ``{config_id}-{due_ms}``, label ``due_at``) and the history events in
the state service's format (``fired``; ``skipped`` for an overlap or a run of misfires;
``error`` for an unreadable registration, which is dropped from the index).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from taskiq import ScheduledTask

from taskplane import messages
from taskplane.enums import Event, SchedulerType, Trigger
from taskplane.epoch import from_ms, to_ms
from taskplane.scheduling import specs
from taskplane.scheduling.planning import ON_TIME_SECONDS, Plan, plan
from taskplane.state.schedule_state import HistoryEvent

log = logging.getLogger(__name__)

NOTHING = Plan(fire_at=None, next_due=None)


@dataclass(frozen=True, slots=True)
class Fire:
    """One due entry, ready for the fire script. ``score``: the due score read (the
    compare-and-set); ``next_score`` '' removes the entry; ``body`` '' sends nothing; an
    event '' records nothing (``overlap_event`` '': no overlap check)."""

    config_id: int
    score: str
    plan: Plan = NOTHING
    next_score: str = ""
    body: str = ""
    queue: str = messages.DEFAULT_QUEUE
    fired_event: str = ""
    overlap_event: str = ""
    misfire_event: str = ""
    is_date: bool = False

    @property
    def is_finished(self) -> bool:
        """A date schedule whose one fire is done: nothing is due any more."""
        return self.is_date and not self.next_score


def event(kind: Event, at: datetime, details: dict[str, Any]) -> str:
    """A history event in the state service's format (docs/internals.md)."""
    return HistoryEvent(event=str(kind), timestamp=at, note=None, details=details).to_json()


def score_text(score: float) -> str:
    return str(int(score)) if math.isfinite(score) and score == int(score) else repr(score)


Parsed = tuple[specs.Spec, messages.RunLabels, dict[str, Any]]


class Registrations:
    """The parsed form of each config's registration, kept while its stored text is the
    same: a fire re-validates nothing it validated on an earlier tick (pydantic parsing of
    the ScheduledTask and its labels was most of a fire's CPU). Keyed by config id with the
    text's hash, so a replaced registration is parsed again; bounded (``max_entries``)."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._parsed: dict[int, tuple[tuple[int, int], Parsed]] = {}

    def read(self, config_id: int, raw: str | bytes) -> Parsed:
        """The spec, labels and parameters of a registration; ValidationError / ValueError
        / KeyError / TypeError when it is unreadable (nothing is kept then)."""
        same_text = (len(raw), hash(raw))
        kept = self._parsed.get(config_id)
        if kept is not None and kept[0] == same_text:
            return kept[1]
        task = ScheduledTask.model_validate_json(raw)
        spec = specs.from_labels(task.labels)
        labels = messages.RunLabels.parse(task.labels, task.task_name)
        if not labels.task_type:
            raise ValueError("registered schedule without a task type")
        parsed: Parsed = (spec, labels, dict(task.kwargs))
        if len(self._parsed) >= self.max_entries:
            self._parsed.clear()  # rare: more registrations than the bound; start afresh
        self._parsed[config_id] = (same_text, parsed)
        return parsed


_registrations = Registrations()


def prepare(
    config_id: int,
    score: float,
    raw: Any,
    now: datetime,
    *,
    on_time_seconds: float = ON_TIME_SECONDS,
) -> Fire:
    """The fire of one due entry (score ``score``) whose registration reads ``raw``."""
    score_ = score_text(score)
    if raw is None:
        # Removed between our two reads (its score is gone too, so the CAS fails), or an
        # index entry without data: drop it, once, through the same CAS.
        return Fire(config_id, score_)
    try:
        spec, labels, kwargs = _registrations.read(config_id, raw)
        the_plan = plan(spec, from_ms(score), now, on_time_seconds=on_time_seconds)
    except (ValidationError, ValueError, KeyError, TypeError):
        log.exception(
            "unreadable registered schedule; dropped from the due index",
            extra={"config_id": config_id},
        )
        error = event(Event.ERROR, now, {"reason": "unreadable schedule"})
        return Fire(config_id, score_, misfire_event=error)
    body = fired = overlap = ""
    queue = labels.queue or messages.DEFAULT_QUEUE
    if the_plan.fire_at is not None:
        fire_at = the_plan.fire_at
        task_id = f"{config_id}-{to_ms(fire_at)}"
        run = messages.RunLabels(
            config_id=config_id,
            task_type=labels.task_type,
            trigger=Trigger.SCHEDULED,
            queue=queue,
            max_retries=labels.max_retries or 0,
            timeout_seconds=labels.timeout_seconds,
            priority=labels.priority,
            due_at=fire_at,
        )
        body = messages.compose(run, kwargs, task_id).body.decode()
        details: dict[str, Any] = {
            "due_at": fire_at.isoformat(),
            "trigger": str(Trigger.SCHEDULED),
            "task_id": task_id,
        }
        if the_plan.missed:
            details["catch_up"] = True
        fired = event(Event.FIRED, now, details)
        if spec.overlap == "skip":
            overlap = event(Event.SKIPPED, now, {**details, "reason": "overlap"})
    misfire = ""
    if the_plan.missed:
        assert the_plan.first_missed_at is not None
        misfire = event(
            Event.SKIPPED,
            now,
            {
                "reason": "misfire",
                "missed": the_plan.missed,
                "due_at": the_plan.first_missed_at.isoformat(),
                "policy": spec.misfire,
            },
        )
    return Fire(
        config_id,
        score_,
        plan=the_plan,
        next_score=str(to_ms(the_plan.next_due)) if the_plan.next_due is not None else "",
        body=body,
        queue=queue,
        fired_event=fired,
        overlap_event=overlap,
        misfire_event=misfire,
        is_date=spec.kind is SchedulerType.DATE,
    )
