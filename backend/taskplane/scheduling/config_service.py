"""ConfigService: a config's create, update and delete, with its schedule following the row.

The one writer of ``task_config`` rows (ARCHITECTURE.md: "the config CRUD"); the api's
routes and any other caller go through it. Every call validates first (task type,
parameters for that type, schedule spec: every problem at once, one ``InvalidInput``), and
a call that fails changes nothing:

- create commits the row, then creates its state (and starts it with ``auto_start``); if any
  of that fails, the state and the row are removed again before the error is raised. The
  row is committed first so a run sent by the start (an interval's immediate run) never
  reaches a worker before its config exists.
- update commits the row change first, then re-registers an active schedule from the row
  as committed (re-read under the schedule's lock, so concurrent updates end on the latest
  row). A failed commit has touched nothing in Redis; if the re-registration raises, the
  row change is undone (unless a later update came after it), and whatever Redis was left
  with is repaired by reconcile.
- delete takes the schedule's due score out (it fires no more), commits the row deletion
  (its execution records go with it), then removes the schedule, state and history
  (``SchedulerService.delete``): Redis unreachable is an error before anything changed; a
  failed commit puts the due score back; once committed, a Redis failure leaves state that
  reconcile removes, and a schedule that cannot fire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import Actor
from taskplane.alerts.incidents import AlertSettings
from taskplane.alerts.store import AlertStore
from taskplane.db import configs
from taskplane.db.configs import SCHEDULE_FIELDS, ConfigRow
from taskplane.db.models import utcnow
from taskplane.db.session import open_session
from taskplane.enums import SchedulerType
from taskplane.epoch import to_ms
from taskplane.errors import FieldError, InvalidInput
from taskplane.scheduling import specs
from taskplane.scheduling.service import SchedulerService
from taskplane.storable import JsonValueError, check_json
from taskplane.tasks import secrets
from taskplane.tasks.registry import TaskRegistry, resolve_run_settings

log = logging.getLogger(__name__)

PAST_DATES_ALLOWED = datetime.fromtimestamp(0, UTC)
"""``now`` for ``validate_config`` of a config that will not be started: a date is a date."""
_PARAMETER_FIELDS = frozenset({"task_type", "parameters"})
_SPEC_FIELDS = frozenset({"scheduler_type", "schedule_config"})
# a change to any of these restarts the config's alert watch (alerts/store.py)
_ALERT_FIELDS = SCHEDULE_FIELDS | {"name", "alerts"}


def validate_config(
    registry: TaskRegistry,
    *,
    task_type: str,
    scheduler_type: SchedulerType,
    schedule_config: Mapping[str, Any],
    parameters: dict[str, Any],
    check_parameters: bool = True,
    check_schedule: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every problem of a config at once (task type, parameters, schedule spec), as one
    InvalidInput naming each field; returns the normalized parameters. ``now``: the instant
    a ``run_date`` must not precede (default the clock; ``PAST_DATES_ALLOWED`` for a config
    that will not be started, e.g. a fired date schedule re-created by an apply)."""
    errors: list[FieldError] = []
    normalized = parameters
    if registry.find(task_type) is None:
        errors.append(
            FieldError(
                ("task_type",),
                f"unknown task type; registered: {', '.join(registry.names())}",
                "value_error",
            )
        )
    elif check_parameters:
        try:
            normalized = registry.validate(task_type, parameters)
        except InvalidInput as exc:
            errors.extend(exc.errors)
    if check_schedule:
        try:
            specs.parse(scheduler_type, schedule_config, now=now)
        except InvalidInput as exc:
            errors.extend(exc.errors)
    if not errors:
        try:
            check_json(normalized)  # a parameter model may turn "inf" into a float
        except JsonValueError as exc:
            errors.append(FieldError(("parameters", *exc.path), str(exc), "value_error"))
    if errors:
        raise InvalidInput(errors)
    return normalized


@dataclass(frozen=True, slots=True)
class Created:
    """A created config, and where each run setting came from (``config``, ``task_type``,
    ``default``: ``tasks.registry.resolve_run_settings``)."""

    row: ConfigRow
    run_settings_source: dict[str, str]


class ConfigService:
    """Create, update and delete configs (see the module doc for what each guarantees)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        scheduler: SchedulerService,
        registry: TaskRegistry,
        alerts: AlertStore | None = None,
    ) -> None:
        self.sessions = sessions
        self.scheduler = scheduler
        self.registry = registry
        self.alerts = alerts

    def prepared(
        self, fields: Mapping[str, Any], *, now: datetime | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The values a create stores for ``fields`` (run settings resolved, parameters
        normalized) and where each run setting came from; InvalidInput for a bad config.
        Writes nothing (an apply validates every entry with it before changing anything)."""
        values = dict(fields)
        run_settings, sources = resolve_run_settings(
            self.registry.find(values["task_type"]), values
        )
        values.update(run_settings)
        values["parameters"] = validate_config(
            self.registry,
            task_type=values["task_type"],
            scheduler_type=SchedulerType(values["scheduler_type"]),
            schedule_config=values.get("schedule_config") or {},
            parameters=values.get("parameters") or {},
            now=now,
        )
        return values, sources

    async def create(
        self,
        fields: Mapping[str, Any],
        *,
        actor: Actor,
        auto_start: bool = False,
        now: datetime | None = None,
    ) -> Created:
        """A new config from its editable fields; ``auto_start`` starts it (not a manual
        one). A run setting (``max_retries``, ``timeout_seconds``, ``priority``) left None
        takes its task type's (``resolve_run_settings``). Conflict for a taken name;
        InvalidInput for a bad config or a start refused. ``now``: as in ``validate_config``."""
        values, sources = self.prepared(fields, now=now)
        async with open_session(self.sessions) as session, session.begin():
            row = await configs.create(session, **values)
        try:
            await self.scheduler.on_created(row, actor=actor)
            if auto_start and row.scheduler_type is not SchedulerType.MANUAL:
                result = await self.scheduler.start(row, actor=actor)
                if not result.success:
                    raise InvalidInput.field("schedule_config", msg=result.message)
            if row.alerts:
                await self._follow_alerts(row)
        except BaseException:
            await asyncio.shield(self._undo_create(row.id))
            raise
        return Created(row, sources)

    async def _follow_alerts(self, row: ConfigRow) -> None:
        """The alert store follows the row: its settings and name, and a late watch from
        the schedule's pending due time (alerts/store.py)."""
        if self.alerts is None:
            return
        settings = AlertSettings.of(row.name, row.alerts)
        due = await self.scheduler.core.next_due(row.id) if settings.late_after_seconds else None
        await self.alerts.configure(
            row.id,
            settings,
            watch_due_ms=to_ms(due) if due is not None else None,
            now_ms=to_ms(utcnow()),
        )

    async def _undo_create(self, config_id: int) -> None:
        """Remove what a failed create left: its schedule, state and audit entries, then its
        row."""
        try:
            if self.alerts is not None:
                await self.alerts.forget(config_id)
            await self.scheduler.on_deleted(config_id, forget_audit=True)
        finally:
            async with open_session(self.sessions) as session, session.begin():
                await configs.delete(session, config_id)

    async def update(
        self,
        config_id: int,
        changes: Mapping[str, Any],
        *,
        actor: Actor,
        now: datetime | None = None,
    ) -> ConfigRow:
        """Apply ``changes`` (a subset of the editable fields), validated against the
        config they make; an active schedule is re-registered from the committed row. The
        ``updated`` event (and audit entry) says each changed field's ``{from, to}``
        (secret parameters masked); a call that changes nothing records nothing.
        NotFound, Conflict (a taken name), InvalidInput. ``now``: as in ``validate_config``."""
        changes = dict(changes)
        async with open_session(self.sessions) as session:
            async with session.begin():
                row = await configs.get(session, config_id)
                if "parameters" in changes:  # a secret sent back as "***" keeps its value
                    changes["parameters"] = secrets.restored(
                        changes["parameters"],
                        row.parameters,
                        secrets.fields_of(self.registry, changes.get("task_type", row.task_type)),
                    )
                touches_params = bool(_PARAMETER_FIELDS & changes.keys())
                merged = {
                    **{k: getattr(row, k) for k in _PARAMETER_FIELDS | _SPEC_FIELDS},
                    **changes,
                }
                normalized = validate_config(
                    self.registry,
                    task_type=merged["task_type"],
                    scheduler_type=SchedulerType(merged["scheduler_type"]),
                    schedule_config=merged["schedule_config"],
                    parameters=merged["parameters"],
                    check_parameters=touches_params,
                    check_schedule=bool(_SPEC_FIELDS & changes.keys()),
                    now=now,
                )
                if touches_params:
                    changes["parameters"] = normalized
                changed = {k for k, v in changes.items() if getattr(row, k) != v}
                previous = {k: getattr(row, k) for k in changed}
                updated = await configs.update(session, config_id, changes)
                assert updated is not None  # NotFound otherwise
            if not changed:
                return updated

            latest = updated

            async def reload() -> ConfigRow | None:
                """The row as committed now (under the schedule's lock): what is registered,
                and what the call answers."""
                nonlocal latest
                async with session.begin():
                    found = await configs.find(session, config_id)
                latest = found or latest
                return found

            # Committed: Redis follows the row. A failed commit above touched nothing there.
            try:  # shielded: a cancelled call still brings Redis in line with the row
                await asyncio.shield(
                    self.scheduler.on_updated(
                        updated,
                        changed,
                        actor=actor,
                        changes=shown_changes(self.registry, row, updated, changed),
                        reload=reload,
                    )
                )
                if changed & _ALERT_FIELDS and (latest.alerts or "alerts" in changed):
                    await asyncio.shield(self._follow_alerts(latest))
            except Exception:
                # A failed call changes nothing: put the row back. Whatever Redis holds is
                # then the old registration or one that reconcile replaces from the row.
                await asyncio.shield(
                    self._undo_update(config_id, previous, row.updated_at, updated.updated_at)
                )
                raise
        return latest

    async def _undo_update(
        self,
        config_id: int,
        previous: dict[str, Any],
        previous_at: datetime,
        updated_at: datetime,
    ) -> None:
        """Restore the fields an update changed, unless another update came after it."""
        try:
            async with open_session(self.sessions) as session, session.begin():
                await configs.update(
                    session, config_id, previous, updated_at=previous_at, if_updated_at=updated_at
                )
        except Exception as exc:  # the original error is the one to raise
            log.warning(
                "could not undo a config update; reconcile repairs its schedule",
                extra={"config_id": config_id, "error": type(exc).__name__},
            )

    async def delete(self, config_id: int, *, actor: Actor) -> None:
        """Delete a config, its execution records, its schedule, state and history (see the
        module doc for the order), and record the ``deleted`` audit entry. NotFound if
        there is none."""

        async def delete_row() -> str | None:
            async with open_session(self.sessions) as session, session.begin():
                found = await configs.find(session, config_id)
                await configs.delete(session, config_id)
            return None if found is None else found.name

        await self.scheduler.delete(config_id, delete_row, actor=actor)
        if self.alerts is not None:
            await self.alerts.forget(config_id)


def shown_changes(
    registry: TaskRegistry, before: ConfigRow, after: ConfigRow, changed: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """``{field: {"from": old, "to": new}}`` of the changed fields, as responses show them:
    a secret parameter (``tasks/secrets.py``) as ``"***"``, whichever side holds it."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(changed):
        old, new = getattr(before, name), getattr(after, name)
        if name == "parameters":
            old = secrets.masked(old or {}, secrets.fields_of(registry, before.task_type))
            new = secrets.masked(new or {}, secrets.fields_of(registry, after.task_type))
        out[name] = {"from": old, "to": new}
    return out
