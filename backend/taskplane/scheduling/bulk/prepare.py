"""The registrations, metadata and events of one chunk's activations (``Preparer``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from taskplane.actors import Actor
from taskplane.db.configs import ConfigRow
from taskplane.enums import Action, Event, SchedulerType, ScheduleStatus
from taskplane.epoch import to_ms
from taskplane.errors import TaskplaneError
from taskplane.json_template import Hole, Template
from taskplane.scheduling import fire_times, registration, registration_store, specs
from taskplane.scheduling.decisions import (
    metadata_of,
)
from taskplane.scheduling.registration import first_due
from taskplane.scheduling.specs import Spec

if TYPE_CHECKING:
    from taskplane.scheduling.service import SchedulerService

log = logging.getLogger(__name__)

ACTIVE, PAUSED, INACTIVE, ERROR = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)
ACTIVATION = {
    Action.START: (Event.STARTED, frozenset({INACTIVE, ERROR})),
    Action.RESUME: (Event.RESUMED, frozenset({PAUSED})),
    Action.RELOAD: (Event.RELOADED, frozenset({ACTIVE})),
}


@dataclass(frozen=True, slots=True)
class Activation:
    config: ConfigRow
    spec: Spec
    due: datetime
    keep_overdue: bool
    immediate: bool
    stored: registration_store.Stored
    """The registration's stored parts (``registration_store``)."""
    score: int  # the due time in epoch ms


class Preparer:
    """The registrations, metadata and events of one chunk's activations (as
    ``Actions._activate`` makes them), each shape's made once: configs of one chunk mostly
    share their schedule, task type and first due."""

    def __init__(
        self,
        scheduler: SchedulerService,
        action: Action,
        note: str | None,
        now: datetime,
        actor: Actor,
    ) -> None:
        self.scheduler = scheduler
        self.action = action
        self.note = note
        self.now = now
        self.actor = actor
        self._specs: dict[tuple[str, str], Spec] = {}
        # by id() of a spec of ``_specs`` (alive as long as this object): (due, its epoch
        # ms, immediate), or None when nothing is due
        self._timing: dict[int, tuple[datetime, int, bool] | None] = {}
        self._metadata: dict[tuple[str, int], Template] = {}
        self._events: dict[datetime, str] = {}
        # core.encode, each shape's template found once (the specs of ``_specs`` stay alive)
        self._encode = registration.Encoder(scheduler.core.task_type)

    def spec(self, config: ConfigRow) -> Spec:
        """``specs.parse`` of the config's schedule at ``now`` (InvalidInput if invalid)."""
        # repr tells JSON values apart (1, 1.0 and True are equal keys of a dict, not here)
        key = (str(config.scheduler_type), repr(config.schedule_config))
        found = self._specs.get(key)
        if found is None:
            found = specs.parse(config.scheduler_type, config.schedule_config, now=self.now)
            self._specs[key] = found
        return found

    def activation(self, config: ConfigRow) -> Activation | None:
        """The registration an activation makes, or None when it cannot be made (the
        single path then records the ``error``)."""
        try:
            spec = self.spec(config)
            stored = self._encode.stored(config, spec)  # NotFound: unknown task type
        except (TaskplaneError, ValueError):
            return None
        if id(spec) not in self._timing:
            now = self.now
            immediate = spec.kind is SchedulerType.INTERVAL and spec.run_immediately
            due = (fire_times.next_after(spec, now) if immediate else None) or first_due(spec, now)
            self._timing[id(spec)] = None if due is None else (due, to_ms(due), immediate)
        timing = self._timing[id(spec)]
        if timing is None:
            return None
        due, score, immediate = timing
        keep_overdue = self.action is Action.RELOAD and not immediate
        return Activation(config, spec, due, keep_overdue, immediate, stored, score)

    def metadata(self, config: ConfigRow, spec: Spec) -> str:
        """``metadata_of(config, spec, now)`` as the state stores it (JSON); ``spec`` is
        one of ``spec``'s."""
        key = (config.task_type, id(spec))
        template = self._metadata.get(key)
        if template is None:
            shape = {**metadata_of(config, spec, self.now), "name": Hole("name")}
            template = Template.of(shape, separators=(",", ":"), default=str)
            self._metadata[key] = template
        return template.fill(name=getattr(config, "name", None))

    def event(self, due: datetime) -> str:
        """The activation's history event (its details: the first due)."""
        found = self._events.get(due)
        if found is None:
            found = self._events[due] = self.scheduler.state.history_json(
                ACTIVATION[self.action][0],
                self.now,
                self.note,
                {"next_run_at": due.isoformat()},
                actor=self.actor,
            )
        return found
