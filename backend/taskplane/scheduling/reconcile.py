"""Reconcile: make Redis agree with the state and the configs (at start, and on demand).

active => registered with the current spec and a due time; paused / inactive / error =>
absent; no state => inactive; a date schedule whose time passed and that is no longer
registered => inactive (completed). Schedules and state of configs that no longer exist
(orphans) are removed. Each repair is a ``repaired`` event and a log line, made under the
config's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import RECONCILE
from taskplane.db import configs as config_rows
from taskplane.db.configs import ConfigRow
from taskplane.enums import Event, SchedulerType, ScheduleStatus
from taskplane.errors import TaskplaneError
from taskplane.scheduling import registration_store, specs
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.decisions import (
    ACTIVE,
    ERROR,
    INACTIVE,
    kind_of,
    metadata_of,
    spec_or_none,
)
from taskplane.scheduling.locking import ScheduleLocks
from taskplane.state.replies import text
from taskplane.state.schedule_state import ScheduleStateService

log = logging.getLogger(__name__)

RECONCILE_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Repair:
    config_id: int
    reason: str
    status: ScheduleStatus | None  # status after the repair (None: orphan removed)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    checked: int
    repairs: list[Repair] = field(default_factory=list)
    orphans_removed: list[int] = field(default_factory=list)


class Reconciler:
    """Repairs drift between state, registrations and configs (see the module doc)."""

    def __init__(
        self,
        state: ScheduleStateService,
        core: SchedulerCoreService,
        locks: ScheduleLocks,
    ) -> None:
        self.state = state
        self.core = core
        self.locks = locks

    async def reconcile(
        self, configs: Sequence[ConfigRow], *, remove_orphans: bool = True
    ) -> ReconcileReport:
        """Make Redis agree with the state: active => registered with the current spec;
        paused / inactive / error => absent; no state => inactive; a date schedule whose
        time passed and that is no longer registered => inactive. With ``remove_orphans``
        (``configs`` must then be every config), schedules and state of configs that do
        not exist are removed. Each repair is a ``repaired`` event and a log line."""
        repairs: list[Repair] = []
        for chunk_start in range(0, len(configs), RECONCILE_CHUNK):
            chunk = configs[chunk_start : chunk_start + RECONCILE_CHUNK]
            ids = [c.id for c in chunk]
            statuses = await self.state.statuses(ids)
            stored = await self.core.raw_many(ids)
            dues = await self.core.next_due_many(ids)
            for config, status, raw in zip(chunk, statuses, stored, strict=True):
                if self._in_order(config, status, raw, dues[config.id]):
                    continue
                async with self.locks.held(config.id):
                    repair = await self._repair(config)
                if repair is not None:
                    repairs.append(repair)
                    log.warning(
                        "schedule repaired",
                        extra={"config_id": repair.config_id, "reason": repair.reason},
                    )
        orphans: list[int] = []
        if remove_orphans:
            orphans = await self._remove_orphans(await self.orphan_candidates(configs))
        return ReconcileReport(len(configs), repairs, orphans)

    async def orphan_candidates(self, configs: Sequence[ConfigRow]) -> set[int]:
        """Ids with a schedule or state in Redis but not among ``configs``."""
        known = {c.id for c in configs}
        return (await self.core.registered_ids() | await self.state.all_ids()) - known

    async def _remove_orphans(self, candidates: set[int]) -> list[int]:
        for cid in sorted(candidates):
            async with self.locks.held(cid):
                await self.core.remove(cid)
                await self.state.delete(cid)
            log.warning("orphan schedule removed", extra={"config_id": cid})
        return sorted(candidates)

    async def reconcile_all(self, sessions: async_sessionmaker[AsyncSession]) -> ReconcileReport:
        """Reconcile every config in the database (and remove orphans): what the API and the
        scheduler run at start; it first moves the registrations of an earlier key layout
        into this one and deletes that layout's keys (``core.drop_legacy``, once)."""
        dropped = await self.core.drop_legacy()
        if dropped:
            log.info("keys of an earlier layout deleted", extra={"keys": dropped})
        async with sessions() as session:
            ids = await config_rows.all_ids(session)
            rows = await config_rows.get_many(session, ids)
        listed = [rows[i] for i in ids if i in rows]
        report = await self.reconcile(listed, remove_orphans=False)
        # A config created by another process after the snapshot above already has its
        # schedule: ask the database again, right before removing, which ids are gone.
        candidates = await self.orphan_candidates(listed)
        if candidates:
            async with sessions() as session:
                still_there = await config_rows.get_many(session, candidates)
            removed = await self._remove_orphans(candidates - still_there.keys())
            report = ReconcileReport(report.checked, report.repairs, removed)
        log.info(
            "reconciled schedules",
            extra={
                "checked": report.checked,
                "repaired": len(report.repairs),
                "orphans_removed": len(report.orphans_removed),
            },
        )
        return report

    def _in_order(
        self, config: ConfigRow, status: ScheduleStatus | None, raw: Any, due: datetime | None
    ) -> bool:
        """Nothing to repair: the config has state; active, it is registered with a due time
        and not stale; otherwise nothing is registered."""
        if status is None:
            return False
        if status is not ACTIVE:
            return raw is None
        return raw is not None and due is not None and not self._is_stale(config, raw)

    def _is_stale(self, config: ConfigRow, raw: Any) -> bool:
        """The stored registration (its read form, None if absent) differs from the one the
        config builds now (an absent or unreadable one is not stale). The stored value is
        first compared with the one of what ``core.encode`` writes (it names the whole
        text: the same value is the same task, without decoding it); another is compared
        as the models' dumps."""
        if raw is None:
            return False
        written = registration_store.text_of(text(raw))
        spec = spec_or_none(config)
        if spec is None or not spec.is_scheduled:
            return self.core.decode(written) is not None
        try:
            if registration_store.check_of(raw) == self.core.stored(config, spec).value:
                return False
            wanted = self.core.build(config, spec)
        except TaskplaneError:
            return self.core.decode(written) is not None
        stored = self.core.decode(written)
        if stored is None:
            return False
        return bool(wanted.model_dump(mode="json") != stored.model_dump(mode="json"))

    async def _repair(self, config: ConfigRow) -> Repair | None:
        cid = config.id
        state = await self.state.get(cid)
        registered = await self.core.is_registered(cid)
        if state is None:
            if registered:
                await self.core.remove(cid)
            spec = spec_or_none(config)
            await self.state.transition(
                cid,
                INACTIVE,
                allowed_from=None,
                event=Event.REPAIRED,
                actor=RECONCILE,
                details={"reason": "missing state"},
                metadata=metadata_of(config, spec, None),
            )
            return Repair(cid, "missing state", INACTIVE)
        status = state.status
        if status is not ACTIVE:
            if not registered:
                return None
            await self.core.remove(cid)
            reason = f"registered while {status}"
            await self.state.record_event(
                cid, Event.REPAIRED, actor=RECONCILE, details={"reason": reason}
            )
            return Repair(cid, reason, status)
        kind = kind_of(config)
        if kind is SchedulerType.MANUAL:
            await self.core.remove(cid)
            return await self._repair_to(cid, INACTIVE, "manual config cannot be active")
        now = datetime.now(UTC)
        due = await self.core.next_due(cid)
        if kind is SchedulerType.DATE and (not registered or due is None):
            spec = spec_or_none(config)
            if spec is None or spec.run_at is None or spec.run_at <= now:
                await self.core.remove(cid)
                return await self._repair_to(cid, INACTIVE, "date passed", completed=True)
        stale = registered and self._is_stale(config, await self.core.get_raw(cid))
        if registered and not stale and due is not None:
            return None
        if not registered:
            reason = "schedule missing"
        elif stale:
            reason = "schedule differs from config"
        else:
            reason = "due time missing"
        try:
            spec = specs.parse(config.scheduler_type, config.schedule_config, now=now)
            await self.core.replace(config, spec, now=now)
        except (TaskplaneError, ValueError) as exc:
            await self.core.remove(cid)
            return await self._repair_to(cid, ERROR, f"{reason}; registration failed: {exc}")
        await self.state.record_event(
            cid, Event.REPAIRED, actor=RECONCILE, details={"reason": reason}
        )
        return Repair(cid, reason, ACTIVE)

    async def _repair_to(
        self, cid: int, status: ScheduleStatus, reason: str, *, completed: bool = False
    ) -> Repair:
        details: dict[str, Any] = {"reason": reason}
        if completed:
            details["completed"] = True
        await self.state.transition(
            cid, status, allowed_from=None, event=Event.REPAIRED, actor=RECONCILE, details=details
        )
        return Repair(cid, reason, status)
