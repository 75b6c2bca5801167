"""Preparing fires: a due entry of the index becomes a ``Fire``, what the fire script needs.

A registered ``ScheduledTask`` (as stored) is parsed once while its text is the same
(``templates.Registrations``) into a ``Prepared``: its spec, and its run message as a
``json_template.Template`` (``messages.body_template``) with two holes, the task id
(``{config_id}-{due_ms}``) and the ``due_at`` label. A fire plans the entry
(``planning.plan``; interval schedules in whole milliseconds, ``planning.plan_every``) and
fills the two holes: no pydantic model and no JSON encoding of the rest per fire. The
message is byte for byte what ``messages.compose`` writes. With traces on
(``templates.Registrations(tracing=...)``, decided once per process) the template has a third hole,
the fire span's ``traceparent`` (``tracing.provider.FireMessage``); off, nothing is added.
The ``fired`` / overlap ``skipped`` events are built by the fire script from the task id and
due time (``scripts.FIRE``, with Redis's ``cjson``); the rare ``skipped`` (misfire) and
``error`` (unreadable registration, dropped from the index) events are built here, in the
state service's format.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from pydantic import ValidationError

from taskplane import messages
from taskplane.actors import SCHEDULER
from taskplane.enums import Event, SchedulerType
from taskplane.epoch import from_ms, to_ms
from taskplane.scheduling.planning import ON_TIME_SECONDS, plan, plan_every
from taskplane.scheduling.templates import FireKeys, Registrations
from taskplane.state.history import HistoryEvent

if TYPE_CHECKING:
    from taskplane.scheduling.calendar_fires import CalendarFires

log = logging.getLogger(__name__)
_T = TypeVar("_T")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

FLAG_OVERLAP = "o"
"""Fire flag: check the running set first (overlap ``skip``)."""
FLAG_CATCH_UP = "c"
"""Fire flag: the fire is a misfire catch-up (its events say ``catch_up``)."""


class Fire(NamedTuple):
    """One due entry, ready for the fire script. ``score``: the due score read (the
    compare-and-set); ``next_score`` '' removes the entry; ``body`` '' sends nothing;
    ``fire_ms`` / ``due_iso``: the due instant sent (the script builds the task id and the
    ``fired`` / overlap ``skipped`` events from them); ``flags``: ``FLAG_OVERLAP`` /
    ``FLAG_CATCH_UP``; ``event``: one more event recorded first (misfire ``skipped`` or
    ``error``), '' none; ``missed``: due instants dropped by the misfire policy."""

    config_id: int
    score: str
    keys: FireKeys
    next_score: str = ""
    body: str = ""
    fire_ms: int = 0
    due_iso: str = ""
    flags: str = ""
    event: str = ""
    missed: int = 0
    is_date: bool = False
    sha: str = ""

    @property
    def is_finished(self) -> bool:
        """A date schedule whose one fire is done: nothing is due any more."""
        return self.is_date and not self.next_score

    @property
    def sends(self) -> bool:
        return bool(self.body)


def event(kind: Event, at: datetime, details: dict[str, Any]) -> str:
    """A history event in the state service's format (docs/internals.md)."""
    return HistoryEvent(
        event=str(kind), timestamp=at, note=None, details=details, actor=SCHEDULER.name
    ).to_json()


_SECONDS: dict[int, str] = {}  # whole second -> its ISO text without the offset


def iso_of_ms(ms: int) -> str:
    """``from_ms(ms).isoformat()`` (a fire's ``due_at``), from a kept text of its second: the
    fires of a tick share a few seconds, and the datetime and its isoformat took 2 µs."""
    if type(ms) is not int:
        return from_ms(ms).isoformat()
    second, milli = divmod(ms, 1000)
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        text = _SECONDS[second] = datetime.fromtimestamp(second, UTC).isoformat()[:-6]
    return f"{text}.{milli:03d}000+00:00" if milli else f"{text}+00:00"


def score_text(score: float) -> str:
    return str(int(score)) if math.isfinite(score) and score == int(score) else repr(score)


class Now(NamedTuple):
    """The instant a batch is planned at, in the units planning compares."""

    at: datetime
    ms: int
    us: int

    @classmethod
    def of(cls, at: datetime) -> Now:
        return cls(at, to_ms(at), (at - EPOCH) // _MICROSECOND)


KEPT: Any = object()
"""``Preparer.prepare``'s ``raw`` for an entry whose registration was not read (kept)."""


class Preparer:
    """Turns due entries into fires, from the cached templates of ``registrations``."""

    def __init__(
        self,
        registrations: Registrations,
        *,
        on_time_seconds: float = ON_TIME_SECONDS,
        calendar: CalendarFires | None = None,
    ) -> None:
        self.registrations = registrations
        self.on_time_seconds = on_time_seconds
        self.calendar = calendar
        """Plans the fires of schedules with a calendar or requested skips (the engine's)."""

    def prepare(self, config_id: int, score: float, raw: Any, now: Now) -> Fire:
        """The fire of one due entry (score ``score``) whose registration reads ``raw``
        (``KEPT``: not read; the template kept for it is used, and the fire script checks
        that the stored text is still the one it was made from)."""
        score_ = score_text(score)
        checked = raw is KEPT
        if checked:
            kept = self.registrations.get(config_id)
            if kept is None:
                raise KeyError(config_id)  # the engine reads what it has no template for
            template = kept
        elif raw is None:
            # Removed between our two reads (its score is gone too, so the CAS fails), or an
            # index entry without data: drop it, once, through the same CAS.
            return Fire(config_id, score_, self.registrations.keys_of(config_id, ""))
        else:
            try:
                template = self.registrations.read(config_id, raw)
            except (ValidationError, ValueError, KeyError, TypeError):
                return self._unreadable(config_id, score_, now)
        spec = template.spec
        calendar = self.calendar
        if calendar is not None and (
            spec.calendar is not None or (calendar.skips and config_id in calendar.skips)
        ):
            sha = template.sha if checked else ""
            return calendar.prepare(template, score, score_, now, sha)
        if template.step_ms and score_.isdigit():
            # an interval, planned in whole ms (planning.plan_every: the same answers)
            due_ms = int(score_)
            fire_ms, next_ms, missed = plan_every(
                template.step_ms,
                due_ms,
                now.ms,
                now.us,
                on_time_seconds=self.on_time_seconds,
                misfire_grace_seconds=spec.misfire_grace_seconds
                if spec.misfire == "once"
                else None,
            )
            next_score = str(next_ms)
            first_missed_ms = due_ms if missed else None
            is_date = False
        else:
            try:
                the_plan = plan(spec, from_ms(score), now.at, on_time_seconds=self.on_time_seconds)
            except (ValueError, KeyError, TypeError):
                return self._unreadable(config_id, score_, now)
            fire_ms = to_ms(the_plan.fire_at) if the_plan.fire_at is not None else None
            next_score = str(to_ms(the_plan.next_due)) if the_plan.next_due is not None else ""
            missed = the_plan.missed
            first_missed = the_plan.first_missed_at
            first_missed_ms = to_ms(first_missed) if first_missed is not None else None
            is_date = spec.kind is SchedulerType.DATE
        body = due_iso = flags = ""
        if fire_ms is not None:
            due_iso = iso_of_ms(fire_ms)
            body = template.body(messages.scheduled_task_id(config_id, fire_ms), due_iso)
            if spec.overlap == "skip":
                flags = FLAG_OVERLAP
            if missed:
                flags += FLAG_CATCH_UP
        misfire = ""
        if missed:
            assert first_missed_ms is not None
            misfire = event(
                Event.SKIPPED,
                now.at,
                {
                    "reason": "misfire",
                    "missed": missed,
                    "due_at": from_ms(first_missed_ms).isoformat(),
                    "policy": spec.misfire,
                },
            )
        return Fire(
            config_id,
            score_,
            template.keys,
            next_score,
            body,
            fire_ms or 0,
            due_iso,
            flags,
            misfire,
            missed,
            is_date,
            template.sha if checked else "",
        )

    def _unreadable(self, config_id: int, score: str, now: Now) -> Fire:
        log.exception(
            "unreadable registered schedule; dropped from the due index",
            extra={"config_id": config_id},
        )
        error = event(Event.ERROR, now.at, {"reason": "unreadable schedule"})
        return Fire(config_id, score, self.registrations.keys_of(config_id, ""), event=error)
