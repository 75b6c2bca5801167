"""Schedules as code: every config as one document (``export``), and a document made true
(``apply``), configs matched by name. API.md "Schedules as code"; the api's
``GET /configs/export`` / ``POST /configs/apply`` and ``taskplane export`` / ``apply`` call
this, and nothing here is copied from the config CRUD: creates, updates and deletes are the
``ConfigService``'s (its validation, its undo), status changes the ``SchedulerService``'s
(start / pause / resume / stop, and ``hold`` for inactive -> paused), so their events,
registrations and locks follow.

An entry is a config's create fields (``EXPORTED_FIELDS``: the editable columns in the
table's order, so a field added to the config is exported and applied with no change here)
plus ``status`` (``active`` / ``paused`` / ``inactive``) and ``note`` (the note kept with the
status). The export has no ids and no times, entries sorted by name (code point order, the
same on every database), so an unchanged system exports the same bytes.

- Secret parameters (``tasks/secrets.py``) are exported as ``"***"``, as every config read
  shows them to every role: a file never carries a secret. Applied back to a config that
  exists, ``"***"`` keeps the stored value (as a PATCH does); a config to be created must be
  given the value (else 422 naming the parameter).
- ``error`` (a registration that failed) is exported as ``active``, what was asked for: an
  apply starts it again.
- In an apply, ``status`` left out keeps an existing config's status (a new one is
  ``inactive``); ``note`` left out keeps its note. A note that differs under an unchanged
  status is replaced without an event (``updated`` lists it under ``changes.note``).

Apply validates every entry before anything is written (each with the create's validation,
``ConfigService.prepared``; an existing config's unchanged date schedule and a config that
will not be started are not held to "run_date in the past"); any error -> one InvalidInput
naming ``("configs", i, ...)``. Then, in the body's order: create or update, then the status
(and note), then (``prune``) the deletes. Each step is committed on its own: a store lost
midway leaves the steps before it done and the rest undone, and the same apply run again
finishes the job (every decision is made from what is stored at that moment, so done steps
are ``unchanged``). A second apply of the same body changes nothing and records no event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from taskplane.actors import Actor
from taskplane.db import configs
from taskplane.db.configs import EDITABLE_FIELDS, ConfigRow
from taskplane.db.session import open_session
from taskplane.enums import SchedulerType, ScheduleStatus
from taskplane.errors import FieldError, InvalidInput
from taskplane.scheduling.config_service import PAST_DATES_ALLOWED, ConfigService
from taskplane.scheduling.service import ActionResult
from taskplane.state.schedule_records import ScheduleState
from taskplane.tasks import secrets

EXPORT_VERSION: Literal[1] = 1
EXPORTED_FIELDS: tuple[str, ...] = tuple(f for f in ConfigRow._fields if f in EDITABLE_FIELDS)
"""The create fields an entry carries, in the table's column order."""

ACTIVE, PAUSED, INACTIVE, ERROR = (
    ScheduleStatus.ACTIVE,
    ScheduleStatus.PAUSED,
    ScheduleStatus.INACTIVE,
    ScheduleStatus.ERROR,
)


def exported_status(state: ScheduleState | None) -> ScheduleStatus:
    """The status a file says for a config: ``error`` reads as ``active`` (what was asked
    for); a config without state is ``inactive``."""
    if state is None:
        return INACTIVE
    return ACTIVE if state.status is ERROR else state.status


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, StrEnum) else value


@dataclass(frozen=True, slots=True)
class Entry:
    """One config of an apply: its create fields as given (``EXPORTED_FIELDS``), and the
    status and note asked for (``status`` None: keep; ``has_note`` False: keep)."""

    index: int
    fields: Mapping[str, Any]
    status: ScheduleStatus | None = None
    note: str | None = None
    has_note: bool = False

    @property
    def name(self) -> str:
        return str(self.fields["name"])


@dataclass(frozen=True, slots=True)
class StatusChange:
    name: str
    from_: ScheduleStatus
    to: ScheduleStatus
    note: str | None


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """What an apply did (or, ``dry_run``, would do). ``updated`` maps each changed
    config's name to ``{field: {"from": old, "to": new}}`` (secret parameters as "***")."""

    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    status_changed: list[StatusChange] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The body of ``POST /configs/apply`` (and ``taskplane apply --json``)."""
        return {
            "created": self.created,
            "updated": [{"name": n, "changes": c} for n, c in self.updated.items()],
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "status_changed": [
                {"name": s.name, "from": str(s.from_), "to": str(s.to), "note": s.note}
                for s in self.status_changed
            ],
            "dry_run": self.dry_run,
        }


@dataclass(slots=True)
class _Plan:
    """One entry decided: what to write (``values``: a create's, or an update's changes),
    the status and note to end on."""

    entry: Entry
    row: ConfigRow | None
    values: dict[str, Any]
    now: datetime | None  # the spec's "not in the past" instant (``validate_config``)
    shown: dict[str, dict[str, Any]]
    status_from: ScheduleStatus
    status_to: ScheduleStatus
    note_from: str | None
    note_to: str | None


class ConfigsAsCode:
    """Export and apply (module doc) over one ``ConfigService`` and its scheduler."""

    def __init__(self, service: ConfigService) -> None:
        self.service = service
        self.scheduler = service.scheduler
        self.registry = service.registry

    async def _stored(self) -> tuple[list[ConfigRow], dict[int, ScheduleState]]:
        async with open_session(self.service.sessions) as session, session.begin():
            rows = await configs.all_rows(session)
        return rows, await self.scheduler.state.get_many([r.id for r in rows])

    def _shown_parameters(self, parameters: Mapping[str, Any], task_type: str) -> dict[str, Any]:
        return secrets.masked(parameters, secrets.fields_of(self.registry, task_type))

    def entry_of(self, row: ConfigRow, state: ScheduleState | None) -> dict[str, Any]:
        """A config as the export writes it."""
        out = {f: _plain(getattr(row, f)) for f in EXPORTED_FIELDS}
        out["parameters"] = self._shown_parameters(row.parameters, row.task_type)
        out["status"] = str(exported_status(state))
        out["note"] = (state.note or None) if state is not None else None
        return out

    async def export(self) -> dict[str, Any]:
        """``{"version": 1, "configs": [...]}``, sorted by name (module doc)."""
        rows, states = await self._stored()
        entries = [self.entry_of(row, states.get(row.id)) for row in rows]
        entries.sort(key=lambda e: str(e["name"]))
        return {"version": EXPORT_VERSION, "configs": entries}

    # --- apply ----------------------------------------------------------------------------

    async def apply(
        self,
        entries: Sequence[Entry],
        *,
        actor: Actor,
        prune: bool = False,
        dry_run: bool = False,
    ) -> ApplyReport:
        """Make the stored configs what ``entries`` say (module doc); InvalidInput naming
        ``("configs", i, ...)`` before anything changed. Each change is recorded (events,
        audit) as ``actor``'s, and an apply that changed something as one ``applied`` audit
        entry (its counts in ``details``)."""
        rows, states = await self._stored()
        by_name = {row.name: row for row in rows}
        plans = self._plans(entries, by_name, states)
        named = {e.name for e in entries}
        report = ApplyReport(dry_run=dry_run)
        if prune:
            report.deleted.extend(sorted(n for n in by_name if n not in named))
        for plan in plans:
            self._report(report, plan)
        if dry_run:
            return report
        report.status_changed.clear()
        for plan in plans:
            await self._carry_out(plan, report, actor)
        for name in report.deleted:
            await self.service.delete(by_name[name].id, actor=actor)
        changed = report.created or report.updated or report.deleted or report.status_changed
        if not changed:  # nothing changed: nothing to audit (as a no-op update)
            return report
        await self.scheduler.state.audit.record(
            actor,
            "applied",
            None,
            None,
            details={
                "created": len(report.created),
                "updated": len(report.updated),
                "unchanged": len(report.unchanged),
                "deleted": len(report.deleted),
                "status_changed": len(report.status_changed),
                "prune": prune,
            },
        )
        return report

    def _plans(
        self,
        entries: Sequence[Entry],
        by_name: Mapping[str, ConfigRow],
        states: Mapping[int, ScheduleState],
    ) -> list[_Plan]:
        errors: list[FieldError] = []
        first_at: dict[str, int] = {}
        plans: list[_Plan] = []
        for entry in entries:
            if entry.name in first_at:
                errors.append(
                    FieldError(
                        ("configs", entry.index, "name"),
                        f"name repeated: configs[{first_at[entry.name]}] has it too",
                    )
                )
                continue
            first_at[entry.name] = entry.index
            row = by_name.get(entry.name)
            try:
                plans.append(self._plan(entry, row, states.get(row.id) if row else None))
            except InvalidInput as exc:
                errors.extend(
                    FieldError(("configs", entry.index, *e.loc), e.msg, e.type) for e in exc.errors
                )
        if errors:
            raise InvalidInput(errors)
        return plans

    def _plan(self, entry: Entry, row: ConfigRow | None, state: ScheduleState | None) -> _Plan:
        """One entry validated as a create is (``ConfigService.prepared``) and compared with
        the stored config; InvalidInput with locs inside the entry."""
        fields = {f: entry.fields[f] for f in EXPORTED_FIELDS if f in entry.fields}
        task_type = str(fields["task_type"])
        secret = secrets.fields_of(self.registry, task_type)
        given = dict(fields.get("parameters") or {})
        status_from = INACTIVE if row is None or state is None else state.status
        status_to = entry.status or status_from  # left out: kept (an error stays an error)
        errors: list[FieldError] = []
        if row is not None:
            given = secrets.restored(given, row.parameters, secret)
        else:
            masked = sorted(k for k in secret if secrets.is_mask(given.get(k)))
            errors.extend(
                FieldError(
                    ("parameters", k),
                    f'a secret shown as "{secrets.MASK}" cannot be re-created: give its value',
                )
                for k in masked
            )
            given = {k: v for k, v in given.items() if k not in masked}  # one error each
        fields["parameters"] = given
        kind = SchedulerType(fields["scheduler_type"])
        if kind is SchedulerType.MANUAL and status_to is not INACTIVE:
            errors.append(
                FieldError(("status",), "a manual config is always inactive: it runs on demand")
            )
        same_spec = row is not None and (
            row.scheduler_type == kind and row.schedule_config == fields.get("schedule_config")
        )
        # a schedule that will be registered from a new spec must not be in the past
        now: datetime | None = None if status_to is ACTIVE and not same_spec else PAST_DATES_ALLOWED
        try:
            values, _ = self.service.prepared(fields, now=now)
        except InvalidInput as exc:
            errors.extend(exc.errors)
            values = {}
        if errors:
            raise InvalidInput(errors)
        note_from = (state.note or None) if state is not None else None
        note_to = entry.note if entry.has_note else note_from
        shown: dict[str, dict[str, Any]] = {}
        if row is not None:
            values = {k: v for k, v in values.items() if getattr(row, k) != v}
            for k, v in values.items():
                old, new = getattr(row, k), v
                if k == "parameters":
                    old = self._shown_parameters(old, row.task_type)
                    new = self._shown_parameters(new, task_type)
                shown[k] = {"from": _plain(old), "to": _plain(new)}
            if status_to is status_from and note_to != note_from:
                shown["note"] = {"from": note_from, "to": note_to}
        return _Plan(entry, row, values, now, shown, status_from, status_to, note_from, note_to)

    def _report(self, report: ApplyReport, plan: _Plan) -> None:
        name = plan.entry.name
        if plan.row is None:
            report.created.append(name)
        elif plan.shown:
            report.updated[name] = plan.shown
        elif plan.status_to is plan.status_from:
            report.unchanged.append(name)
        if plan.status_to is not plan.status_from:
            report.status_changed.append(
                StatusChange(name, plan.status_from, plan.status_to, plan.note_to)
            )

    async def _carry_out(self, plan: _Plan, report: ApplyReport, actor: Actor) -> None:
        row = plan.row
        if row is None:
            row = (await self.service.create(plan.values, actor=actor, now=plan.now)).row
        elif plan.values:
            row = await self.service.update(row.id, plan.values, actor=actor, now=plan.now)
        if plan.status_to is plan.status_from:
            if plan.note_to != plan.note_from:
                await self.scheduler.set_note(row.id, plan.note_to)
            return
        result = await self._settle(row, plan.status_from, plan.status_to, plan.note_to, actor)
        report.status_changed.append(
            StatusChange(plan.entry.name, plan.status_from, result.status, plan.note_to)
        )

    async def _settle(
        self,
        row: ConfigRow,
        current: ScheduleStatus,
        to: ScheduleStatus,
        note: str | None,
        actor: Actor,
    ) -> ActionResult:
        """The one control action that takes ``current`` to ``to``."""
        if to is INACTIVE:
            return await self.scheduler.stop(row, note, actor=actor)
        if to is ACTIVE:
            if current is PAUSED:
                return await self.scheduler.resume(row, note, actor=actor)
            return await self.scheduler.start(row, note, actor=actor)
        if current is ACTIVE:
            return await self.scheduler.pause(row, note, actor=actor)
        return await self.scheduler.hold(row, note, actor=actor)
