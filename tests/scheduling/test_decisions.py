"""The state machine before anything is written (``decisions.decide``): a table, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from taskplane.enums import Action, SchedulerType, ScheduleStatus
from taskplane.errors import Conflict
from taskplane.scheduling.decisions import ActionResult, decide, settled

ACTIVE, PAUSED, INACTIVE, ERROR = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)
GOES_ON = "changes"


@dataclass(frozen=True)
class Config:
    scheduler_type: SchedulerType = SchedulerType.CRON
    id: int = 7
    task_type: str = "echo"
    schedule_config: dict[str, Any] = field(default_factory=lambda: {"minute": "0"})
    parameters: dict[str, Any] = field(default_factory=dict)
    max_retries: int = 0
    timeout_seconds: int | None = None
    priority: int = 0


@pytest.mark.parametrize(
    ("action", "current", "expected"),
    [
        (Action.START, INACTIVE, GOES_ON),
        (Action.START, ERROR, GOES_ON),
        (Action.START, ACTIVE, "already active"),
        (Action.START, PAUSED, "config 7 is paused; use resume"),
        (Action.STOP, ACTIVE, GOES_ON),
        (Action.STOP, PAUSED, GOES_ON),
        (Action.STOP, ERROR, GOES_ON),
        (Action.STOP, INACTIVE, "already inactive"),
        (Action.PAUSE, ACTIVE, GOES_ON),
        (Action.PAUSE, PAUSED, "config 7 is paused; only an active schedule can be paused"),
        (Action.PAUSE, INACTIVE, "config 7 is inactive; only an active schedule can be paused"),
        (Action.RESUME, PAUSED, GOES_ON),
        (Action.RESUME, ACTIVE, "config 7 is active; only a paused schedule can be resumed"),
        (Action.RESUME, ERROR, "config 7 is error; only a paused schedule can be resumed"),
        (Action.RELOAD, ACTIVE, GOES_ON),
        (Action.RELOAD, INACTIVE, "config 7 is inactive; only an active schedule can be reloaded"),
    ],
)
def test_decide_follows_the_state_machine(
    action: Action, current: ScheduleStatus, expected: str
) -> None:
    decision = decide(action, Config(), current)
    if expected == GOES_ON:
        assert decision is None and settled(decision) is None
    elif isinstance(decision, Conflict):
        assert str(decision) == expected
        with pytest.raises(Conflict):
            settled(decision)
    else:
        assert isinstance(decision, ActionResult)
        assert (decision.message, decision.status, decision.changed) == (expected, current, False)
        assert settled(decision) is decision


@pytest.mark.parametrize("action", [Action.START, Action.PAUSE, Action.RESUME, Action.RELOAD])
def test_a_manual_config_only_stops(action: Action) -> None:
    manual = Config(scheduler_type=SchedulerType.MANUAL)
    assert isinstance(decide(action, manual, INACTIVE), Conflict)
    assert decide(Action.STOP, manual, ACTIVE) is None
