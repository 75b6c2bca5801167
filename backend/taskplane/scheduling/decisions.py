"""The state machine of API.md, decided before anything is written: what an action does
to a config in a given status, shared by the single actions (``actions.py``) and the bulk
path (``bulk/``), and what the state keeps of a config.

    action  from              to        otherwise
    start   inactive, error   active    active: no-op; paused: Conflict (use resume)
    stop    any               inactive  (idempotent; inactive: no-op)
    pause   active            paused    Conflict
    resume  paused            active    Conflict
    reload  active            active    Conflict  (re-registered from the current config)

A manual config: Conflict for start / pause / resume / reload; stop is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from taskplane.db.configs import ConfigRow
from taskplane.enums import Action, SchedulerType, ScheduleStatus
from taskplane.errors import Conflict, InvalidInput
from taskplane.scheduling import specs, words
from taskplane.scheduling.specs import Spec
from taskplane.state.history import format_instant

ACTIVE, PAUSED, INACTIVE, ERROR = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)


@dataclass(frozen=True, slots=True)
class ActionResult:
    config_id: int
    action: str
    success: bool
    status: ScheduleStatus
    message: str
    changed: bool = True  # False for a no-op (then no event was recorded)


def kind_of(config: ConfigRow) -> SchedulerType:
    return SchedulerType(config.scheduler_type)


def metadata_of(
    config: ConfigRow, spec: Spec | None, registered_at: datetime | None
) -> dict[str, Any]:
    """The metadata the state keeps of a config (what the dashboard shows without it)."""
    return {
        "name": getattr(config, "name", None),
        "task_type": config.task_type,
        "scheduler_type": str(kind_of(config)),
        "schedule": words.describe(spec) if spec is not None else None,
        "registered_at": format_instant(registered_at) if registered_at else None,
    }


def spec_or_none(config: ConfigRow) -> Spec | None:
    """The config's spec as stored (no past-date rule), or None if it no longer parses."""
    try:
        return specs.parse(
            config.scheduler_type, config.schedule_config, now=datetime.fromtimestamp(0, UTC)
        )
    except InvalidInput:
        return None


MAX_PAUSE = timedelta(days=366)
"""How far ahead a pause may end by itself: a year (366 days, so "this day next year" is
always allowed)."""


def check_until(until: datetime, now: datetime) -> None:
    """A pause's ``until`` (API.md, "Pause until"): aware, in the future, at most a year
    ahead; else InvalidInput naming ``until``."""
    if until.tzinfo is None:
        raise InvalidInput.field("until", msg="must carry a timezone offset (e.g. Z)")
    if until <= now:
        raise InvalidInput.field("until", msg="must be in the future")
    if until - now > MAX_PAUSE:
        raise InvalidInput.field("until", msg="must be at most a year ahead")


NOOP = {Action.START: "already active", Action.STOP: "already inactive"}
_ONLY_FROM = {Action.RESUME: PAUSED, Action.RELOAD: ACTIVE, Action.PAUSE: ACTIVE}
_ONLY_WORDS = {Action.RESUME: "a paused", Action.RELOAD: "an active", Action.PAUSE: "an active"}
_PAST = {Action.RESUME: "resumed", Action.RELOAD: "reloaded", Action.PAUSE: "paused"}


def decide(
    action: Action, config: ConfigRow, current: ScheduleStatus
) -> ActionResult | Conflict | None:
    """The state machine (module doc) before anything is written: a no-op's result, the
    refusal (not raised), or None when ``action`` changes ``config`` from ``current``. The
    single actions and the bulk path (``bulk/``) both ask it."""
    cid = config.id
    if kind_of(config) is SchedulerType.MANUAL and action is not Action.STOP:
        return Conflict(
            f"config {cid} is a manual config (status {current}): {action} does not apply, "
            "it only runs on demand"
        )
    if action is Action.START:
        if current is ACTIVE:
            return ActionResult(cid, "start", True, ACTIVE, NOOP[action], changed=False)
        if current is PAUSED:
            return Conflict(f"config {cid} is paused; use resume")
        return None
    if action is Action.STOP:
        if current is INACTIVE:
            return ActionResult(cid, "stop", True, INACTIVE, NOOP[action], changed=False)
        return None
    if current is not _ONLY_FROM[action]:
        return Conflict(
            f"config {cid} is {current}; only {_ONLY_WORDS[action]} schedule can be {_PAST[action]}"
        )
    return None


def settled(decision: ActionResult | Conflict | None) -> ActionResult | None:
    """Raise a refusal; return a no-op's result, or None to go on."""
    if isinstance(decision, Conflict):
        raise decision
    return decision
