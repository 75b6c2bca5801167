"""A config's registration: the TaskIQ ``ScheduledTask`` core stores for it, built and encoded
(pure: no Redis; ``core.SchedulerCoreService`` writes what is made here).

One deterministic schedule id per config: ``taskplane-config-{id}``. The stored JSON is
``encode``'s: byte for byte ``dump``'s, the ScheduledTask's pydantic dump (``build``) written
compactly: no spaces after separators, and without everything a reader restores
(``registration_text.compact_task``: null fields, empty ``args``, the schedule id, and the
labels that are defaults or repeat the task name and the top-level ``cron`` / ``interval`` /
``time``). ``decode`` and ``parsed`` read it back through ``registration_text.full_task``
as the same model; tests hold ``encode`` and ``dump`` equal. Texts of the previous formats
(every label, with or without spaces and null fields) read as the same model. ``encode``
makes the text without building the model: configs of one shape (task type, retries,
timeout, priority, spec) differ only by id and parameters, so the shape's
``json_template.Template`` is made once (``_template``) and filled per config. ``stored``
gives what core writes of it (``registration_store.store`` of the text), for short
parameters without writing the text at all: the shape's stored part is made once per
template and the parameters appended (tests hold the two ways equal).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic_core import to_jsonable_python
from taskiq import ScheduledTask
from taskiq.scheduler.scheduled_task.validators import validate_interval_value

from taskplane import messages
from taskplane.db.configs import ConfigRow
from taskplane.enums import SchedulerType, Trigger
from taskplane.json_template import Hole, Template
from taskplane.scheduling import fire_times, registration_store, spec_labels
from taskplane.scheduling.registration_text import SCHEDULE_ID_PREFIX as SCHEDULE_ID_PREFIX
from taskplane.scheduling.registration_text import compact_task, full_task
from taskplane.scheduling.registration_text import schedule_id as schedule_id
from taskplane.scheduling.specs import Spec

_SEPARATORS = (",", ":")
_TASK_FIELDS = tuple(ScheduledTask.model_fields)
"""The ScheduledTask's fields in the order its dump writes them (``encode`` follows it)."""
SHAPES_REMEMBERED = 1024  # registration templates kept (one per shape)
READ_REMEMBERED = 4096  # registration texts whose parsed form the read model keeps


def config_id_of(schedule_id_: str) -> int | None:
    if not schedule_id_.startswith(SCHEDULE_ID_PREFIX):
        return None
    rest = schedule_id_[len(SCHEDULE_ID_PREFIX) :]
    return int(rest) if rest.isdigit() else None


class TaskTypeLike(Protocol):
    """What core reads of a task type (``tasks.registry.TaskType`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def timeout_seconds(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Registration:
    config_id: int
    schedule_id: str
    spec: Spec
    first_due: datetime


def first_due(spec: Spec, now: datetime) -> datetime | None:
    """When a schedule registered at ``now`` is first due: the next cron time, now +
    interval (an immediate run, if any, is sent by the service), or the date itself."""
    if spec.kind is SchedulerType.DATE:
        return spec.run_at if spec.run_at is not None and spec.run_at > now else None
    return fire_times.next_after(spec, now)


def run_labels(
    config: ConfigRow,
    task_type: TaskTypeLike,
    trigger: Trigger,
    due_at: datetime | None = None,
    *,
    config_id: int | None = None,
) -> messages.RunLabels:
    """The broker message labels of a run of a config (``messages.RunLabels``; ``config_id``
    instead of the config's own: the shape of configs that differ only by id)."""
    return messages.RunLabels(
        config_id=config.id if config_id is None else config_id,
        task_type=config.task_type,
        trigger=trigger,
        queue=task_type.queue,
        max_retries=config.max_retries,
        timeout_seconds=config.timeout_seconds or task_type.timeout_seconds,
        priority=config.priority,
        due_at=due_at,
    )


def _fields(labels: messages.RunLabels, spec: Spec) -> dict[str, Any]:
    """The ScheduledTask's fields of a run's ``labels`` and ``spec``, but for ``kwargs``."""
    if not spec.is_scheduled:
        raise ValueError("a manual schedule is never registered")
    fields: dict[str, Any] = {
        "task_name": messages.task_name(labels.task_type),
        "labels": {**labels.to_dict(), **spec_labels.to_labels(spec)},
        "args": [],
        "schedule_id": schedule_id(labels.config_id),
    }
    if spec.kind is SchedulerType.CRON:
        fields.update(cron=spec.cron, cron_offset=spec.timezone)
    elif spec.kind is SchedulerType.INTERVAL:
        fields["interval"] = spec.interval_seconds
    else:
        fields["time"] = spec.run_at
    return fields


def build(config: ConfigRow, spec: Spec, task_type: TaskTypeLike) -> ScheduledTask:
    """The ScheduledTask of a config: its parameters as kwargs, the message labels
    (trigger ``scheduled``) and the spec's labels. ValueError for a manual spec."""
    fields = _fields(run_labels(config, task_type, Trigger.SCHEDULED), spec)
    return ScheduledTask(**fields, kwargs=dict(config.parameters))


@functools.lru_cache(maxsize=SHAPES_REMEMBERED)
def _template(labels: messages.RunLabels, spec: Spec) -> Template:
    """The stored JSON of a shape (``labels`` of config id 0): holes for the config id and
    the parameters (the schedule id is the config's: left out, as ``compact_task`` does)."""
    fields = _fields(labels, spec)
    validate_interval_value(fields.get("interval"))  # the model's one other check
    if fields.get("time") is not None:
        fields["time"] = to_jsonable_python(fields["time"])
    fields["kwargs"] = {}
    stored = compact_task({name: fields.get(name) for name in _TASK_FIELDS})
    # a shape whose text would read back otherwise would store other registrations silently
    assert full_task(stored) == fields
    stored["labels"]["config_id"] = Hole("config_id")
    stored["kwargs"] = Hole("kwargs")
    template = Template.of(stored, separators=_SEPARATORS, allow_nan=False)
    assert template.holes == ("config_id", "kwargs")  # as ``encode`` fills them
    return template


def encode(config: ConfigRow, spec: Spec, task_type: TaskTypeLike) -> str:
    """The stored JSON of ``build(config, spec, task_type)``, byte for byte ``dump``'s.
    Parameters are JSON values (they come from a JSON column): anything else (a NaN, a
    date) takes the model's way, which converts it as it always did."""
    shape = run_labels(config, task_type, Trigger.SCHEDULED, config_id=0)
    return _fill(_template(shape, spec), config, spec, task_type)


def stored(config: ConfigRow, spec: Spec, task_type: TaskTypeLike) -> registration_store.Stored:
    """``registration_store.store(encode(config, spec, task_type))``, made without writing
    and parsing the text when the parameters fit in the value."""
    shape = run_labels(config, task_type, Trigger.SCHEDULED, config_id=0)
    return _stored(_template(shape, spec), config, spec, task_type)


@functools.lru_cache(maxsize=SHAPES_REMEMBERED)
def _stored_shape(template: Template) -> registration_store.Stored:
    """The stored parts of a template's text with config id 0 and no parameters: its shape."""
    return registration_store.store(template.fill_in(0, {}))


def _stored(
    template: Template, config: ConfigRow, spec: Spec, task_type: TaskTypeLike
) -> registration_store.Stored:
    made = registration_store.with_parameters(_stored_shape(template), dict(config.parameters))
    if made is None:
        made = registration_store.store(_fill(template, config, spec, task_type))
    return made


def _fill(template: Template, config: ConfigRow, spec: Spec, task_type: TaskTypeLike) -> str:
    try:
        return template.fill_in(config.id, dict(config.parameters))
    except (TypeError, ValueError):
        return dump(config, spec, task_type)


class Encoder:
    """``encode`` for many configs (a bulk chunk's): each shape's template and task type
    found once, by the config fields the shape is made of and the spec's ``id`` (the caller
    keeps each spec alive while it uses the encoder: one spec object per schedule), instead
    of building and hashing the shape's labels per config."""

    def __init__(self, task_type_of: Callable[[ConfigRow], TaskTypeLike]) -> None:
        self._task_type_of = task_type_of  # NotFound for an unknown task type
        self._shapes: dict[tuple[Any, ...], tuple[Template, TaskTypeLike]] = {}

    def __call__(self, config: ConfigRow, spec: Spec) -> str:
        found = self._found(config, spec)
        return _fill(found[0], config, spec, found[1])

    def stored(self, config: ConfigRow, spec: Spec) -> registration_store.Stored:
        """``registration.stored`` (the stored parts of ``self(config, spec)``)."""
        found = self._found(config, spec)
        return _stored(found[0], config, spec, found[1])

    def _found(self, config: ConfigRow, spec: Spec) -> tuple[Template, TaskTypeLike]:
        c = config
        key = (c.task_type, c.max_retries, c.timeout_seconds, c.priority, id(spec))
        found = self._shapes.get(key)
        if found is None:
            task_type = self._task_type_of(config)
            shape = run_labels(config, task_type, Trigger.SCHEDULED, config_id=0)
            found = self._shapes[key] = (_template(shape, spec), task_type)
        return found


def dump(config: ConfigRow, spec: Spec, task_type: TaskTypeLike) -> str:
    """The model's way: ``build``'s pydantic dump (JSON mode), written compactly (as taskiq's
    JSON serializer writes it, but for the separators and what ``compact_task`` leaves out)."""
    fields = compact_task(build(config, spec, task_type).model_dump(mode="json"))
    return json.dumps(fields, separators=_SEPARATORS)


def decode(raw: Any) -> ScheduledTask | None:
    """A stored registration (``registration_store``'s read form, or a JSON text of any
    format; None if absent), what it left out restored (``full_task``); None if unreadable."""
    if raw is None:
        return None
    try:
        return ScheduledTask.model_validate(full_task(json.loads(registration_store.text_of(raw))))
    except ValueError:
        return None


@functools.lru_cache(maxsize=READ_REMEMBERED)
def parsed(raw: str) -> tuple[ScheduledTask | None, Spec | None]:
    """A stored registration's task and spec (None each when unreadable), kept while the
    text is asked again (the read model reads pages again and again): the task object is
    shared, read it only."""
    task = decode(raw)
    spec = None
    if task is not None:
        try:
            spec = spec_labels.from_labels(task.labels)
        except (KeyError, ValueError):
            spec = None
    return task, spec
