"""The state machine before anything is written (``decisions.decide``): a table, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from taskplane.db.configs import ConfigRow
from taskplane.enums import Action, SchedulerType, ScheduleStatus
from taskplane.errors import Conflict
from taskplane.scheduling.decisions import ActionResult, decide, settled
from tests.scheduling.registrations import Config as config_row

ACTIVE, PAUSED, INACTIVE, ERROR = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)
GOES_ON = "changes"


def Config(**fields: Any) -> ConfigRow:
    values: dict[str, Any] = {
        "scheduler_type": SchedulerType.CRON,
        "schedule_config": {"minute": "0"},
        "max_retries": 0,
        "timeout_seconds": None,
        "priority": 0,
        **fields,
    }
    return config_row(7, **values)


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
