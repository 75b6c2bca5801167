"""The engine's kept templates: each registration parsed once, while its stored text is the
same (``Registrations``), into a ``Prepared`` that a fire fills (``fires.Preparer``).

Registrations with equal labels but for the config id (most of them: one task type, one
schedule kind, one set of run settings) share what is made from the labels (``_Shape``: the
spec, queue, interval step and the run message's shape, ``messages.body_shape``), made once;
a registration then costs the parse of its text, the encoding of its parameters and the
filling of the shape's config id and kwargs (``json_template.Template.partial``). Making the
shape was two thirds of a parse (38 µs a registration before, this machine; a standby parses
a million of them, a scheduler without one parses each on its first fire).

The stored text leaves out what a reader restores (``registration_text``): a shape is keyed
by the text's own fields (the labels as stored, the task name and the top-level fields they
are restored from), so only a new shape is restored (``full_task``) and validated as a
``ScheduledTask``; a registration of a known shape costs ``json.loads`` of its short text
and a check of its kwargs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from taskiq import ScheduledTask

from taskplane import messages
from taskplane.enums import SchedulerType
from taskplane.json_template import Template
from taskplane.scheduling import registration_store, spec_labels, specs
from taskplane.scheduling.registration_text import full_task

if TYPE_CHECKING:
    from taskplane.tracing.provider import Tracing

_T = TypeVar("_T")


class FireKeys(NamedTuple):
    """The keys a fire touches besides the due index: broker stream, history, running set,
    the stored registration (its text is checked against the one planned from)."""

    stream: str
    history: str
    running: str
    registration: str


KeysOf = Callable[[int, str], FireKeys]
"""(config id, queue) -> the keys of its fires (the engine asks their owners)."""


class MessageTemplate(Protocol):
    """A fire's run message template: a ``json_template.Template`` with the holes of
    ``messages.body_template``, or with traces on a ``tracing.provider.FireMessage`` (its
    third hole, the ``traceparent``, filled from the task id)."""

    def fill_in(self, task_id: str, due_at: str, /) -> str: ...


class Prepared(NamedTuple):
    """A registration, parsed and ready to fire (``body`` writes a fire's run message).

    Kept for every registered schedule (``Registrations``): at a million schedules each byte
    here is a megabyte of the scheduler's memory, so it holds no key of its own (``keys``
    asks their owners at each fire, ~1 µs) and no second record of the text it was made
    from (``text_id``)."""

    spec: specs.Spec
    config_id: int
    sha: str
    """The registration's stored value (``registration_store.check_of``; '' none): the fire
    script checks the stored one against it."""
    text_id: int
    """``hash()`` of the text it was made from: kept while the text read is the same."""
    queue: str
    keys_of: KeysOf
    message: MessageTemplate
    step_ms: int
    """An interval's step in ms (whole-ms planning); 0 for every other kind, and for an
    interval with a calendar (``calendar_fires`` plans those)."""

    @property
    def keys(self) -> FireKeys:
        """The keys of its fires (stream, history, running set, registration)."""
        return self.keys_of(self.config_id, self.queue)

    def body(self, task_id: str, due_iso: str) -> str:
        """The run message of the fire with ``task_id``, due at ``due_iso``."""
        return self.message.fill_in(task_id, due_iso)  # messages.body_template's holes


def _keyless(config_id: int, queue: str) -> FireKeys:
    return FireKeys("", "", "", "")  # a cache that only parses (tests of the parsing)


SHAPES_MAX = 10_000
"""Shapes kept (label sets): past it they start afresh."""
_SHAPE_FIELDS = ("task_name", "cron", "cron_offset", "interval", "time")
"""The top-level fields a shape is made of (with the labels): ``full_task`` restores labels
from them."""


class _Shape(NamedTuple):
    spec: specs.Spec
    queue: str
    step_ms: int
    body: Template
    """``messages.body_shape``: holes task id, config id, due_at[, traceparent], kwargs."""


class Registrations:
    """The ``Prepared`` of each config's registration, kept while its stored text is the
    same: a fire re-validates and re-encodes nothing it did on an earlier tick (pydantic
    parsing and JSON encoding were most of a fire's CPU). Keyed by config id, kept while the
    text's hash is the same, so a replaced registration is parsed again (a hash collision
    between two texts of one config would keep the old template: the fire script's value
    check refuses it, and the engine forgets it); bounded (``max_entries``)."""

    def __init__(
        self,
        keys_of: KeysOf | None = None,
        max_entries: int = 2_000_000,
        *,
        tracing: Tracing | None = None,
    ) -> None:
        self.keys_of: KeysOf = keys_of or _keyless
        self.max_entries = max_entries
        self.tracing = tracing  # traces on: each template gets the traceparent hole
        # a plain dict, not functools/cachetools: it is read once per fire, and with 200,000
        # entries cachetools' LRUCache.get took 769 ns against dict.get's 84 ns (timeit, this
        # machine); the bound is kept by clearing, which is rare (more registrations than it)
        self._parsed: dict[int, Prepared] = {}
        self._shared: dict[Any, Any] = {}  # equal specs, queues and steps: one object each
        self._shapes: dict[Any, _Shape] = {}  # by labels but the id (``_shape_of``)
        self.jittered: set[int] = set()
        """Configs whose kept registration has jitter (their batch reads the recorded dues)."""

    def read(self, config_id: int, raw: str | bytes) -> Prepared:
        """The template of a registration; ValidationError / ValueError / KeyError /
        TypeError when it is unreadable (nothing is kept then)."""
        text_id = hash(raw)
        kept = self._parsed.get(config_id)
        if kept is not None and kept.text_id == text_id:
            return kept
        template = self._parse(config_id, raw, text_id)
        if len(self._parsed) >= self.max_entries:
            self._parsed.clear()  # rare: more registrations than the bound; start afresh
            self._shared.clear()
        self._parsed[config_id] = template
        rules = template.spec.calendar
        if rules is not None and rules.jitter_seconds:
            self.jittered.add(config_id)
        elif self.jittered:
            self.jittered.discard(config_id)
        return template

    def __contains__(self, config_id: object) -> bool:
        return config_id in self._parsed

    @property
    def is_full(self) -> bool:
        """As many kept as the bound: a standby warms no more (``standby.Standby``)."""
        return len(self._parsed) >= self.max_entries

    def get(self, config_id: int) -> Prepared | None:
        """The template kept for a config, if any (the fire script checks that the stored
        text is still the one it was made from: no need to read it again)."""
        return self._parsed.get(config_id)

    def forget(self, config_id: int) -> None:
        """The stored text changed: read and parse it again next time."""
        self._parsed.pop(config_id, None)
        self.jittered.discard(config_id)

    def _parse(self, config_id: int, raw: str | bytes, text_id: int) -> Prepared:
        stored = json.loads(registration_store.text_of(raw))
        if not isinstance(stored, dict) or not isinstance(stored.get("labels"), dict):
            raise ValueError("a registration is a JSON object with labels")
        spec, queue, step_ms, body = self._shape_of(stored)
        kwargs = stored.get("kwargs")
        if not isinstance(kwargs, dict):
            raise TypeError("a registration's kwargs are an object")
        filled = body.partial(config_id=config_id, kwargs=messages.jsonable(kwargs))
        message: MessageTemplate = filled
        if self.tracing is not None:
            message = self.tracing.fire_message(filled)
        return Prepared(
            spec=spec,
            config_id=config_id,
            sha=registration_store.check_of(raw),
            text_id=text_id,
            queue=queue,
            keys_of=self.keys_of,
            message=message,
            step_ms=step_ms,
        )

    def _shape_of(self, stored: dict[str, Any]) -> _Shape:
        """What registrations with these labels share (spec, queue, step, the run message's
        shape: ``messages.body_shape``), made once: most labels are equal across configs but
        for the id, and making it was two thirds of a parse. Keyed by the stored text's own
        fields (the labels as stored and the top-level ones they are restored from), so a
        registration of a known shape is neither restored nor validated again."""
        key: Any = (
            *(stored.get(name) for name in _SHAPE_FIELDS),
            *((k, v) for k, v in stored["labels"].items() if k != "config_id"),
        )
        try:
            hash(key)
        except TypeError:  # a label that is a list (calendar dates): made for this one alone
            key = None
        shape = self._shapes.get(key) if key is not None else None
        if shape is not None:
            return shape
        shape = self._make_shape(ScheduledTask.model_validate(full_task(stored)))
        if key is not None:
            if len(self._shapes) >= SHAPES_MAX:
                self._shapes.clear()
            self._shapes[key] = shape
        return shape

    def _make_shape(self, task: ScheduledTask) -> _Shape:
        """A shape from the full labels (``full_task``'s: ``RunLabels.parse`` and
        ``from_labels`` read a missing label as something else than the registration's)."""
        spec = self._share(spec_labels.from_labels(task.labels))
        registered = messages.RunLabels.parse(task.labels, task.task_name)
        if not registered.task_type:
            raise ValueError("registered schedule without a task type")
        labels = registered.scheduled_fire(0)
        step_ms = 0
        if spec.kind is SchedulerType.INTERVAL and spec.interval_seconds and not spec.calendar:
            step_ms = max(0, int(spec.interval_seconds) * 1000)
        queue = self._share(labels.queue or messages.DEFAULT_QUEUE)
        body = messages.body_shape(labels, traced=self.tracing is not None)
        return _Shape(spec, queue, self._share(step_ms), body)

    def _share(self, value: _T) -> _T:
        shared: _T = self._shared.setdefault(value, value)
        return shared
