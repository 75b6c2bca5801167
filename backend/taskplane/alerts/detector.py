"""The detector: one pass opens and resolves the incidents whose moment has come.

Its cost follows the alerting configs, never the number of schedules:

- ``late``: only the configs whose late check is due (``AlertStore.late_checks_due``: a
  zset read by score) are examined. Each watches one due time D (the ``due`` score the
  scheduler keeps, read when the check is armed). When D + ``late_after_seconds`` has
  passed: if the config is not active, or its status changed after D (a pause, a stop:
  those due times are never late), the watch moves on; if a run was marked started for D
  or later (the worker's claim script: a scheduled run's due time, else its start), or D
  was skipped on purpose (an exclusion, a requested skip: its ``skipped`` event), the watch
  moves to the next due time; otherwise D is late, whatever the cause (no scheduler, no
  worker, a backlog, a misfire or overlap skip). An open ``late`` incident is resolved once
  a run is marked started for its D or later.
- ``failing``: the configs with ``failures_in_row`` (their counters, one script): opened
  when ``consecutive_failures`` reaches it, resolved once ``successes`` grew past the count
  at the opening (the next success, even if a failure followed it before the pass).

Opening and resolving are compare-and-set scripts (``AlertStore.change``): two detectors
passing at once open or resolve each incident once. An open incident of a config whose
alert was turned off (or deleted, or no longer active for ``late``) is resolved.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from taskplane.alerts.incidents import AlertSettings, Incident, IncidentState, Kind
from taskplane.alerts.store import AlertStore, Delivery
from taskplane.enums import Event, ScheduleStatus
from taskplane.epoch import from_ms, to_ms
from taskplane.instants import read_instant
from taskplane.scheduling import fire_times
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.state.schedule_records import ScheduleState
from taskplane.state.schedule_state import ScheduleStateService

log = logging.getLogger(__name__)

NEVER_LATE_REASONS = frozenset({"excluded", "requested", "paused"})
"""Reasons of a ``skipped`` event whose due time was left out on purpose (never late)."""


@dataclass(slots=True)
class Pass:
    """What one pass did."""

    opened: list[Incident] = field(default_factory=list)
    resolved: list[Incident] = field(default_factory=list)
    examined: int = 0


class Detector:
    def __init__(
        self,
        store: AlertStore,
        state: ScheduleStateService,
        core: SchedulerCoreService,
        *,
        webhook_count: int,
        recheck_seconds: float = 10.0,
    ) -> None:
        self.store = store
        self.state = state
        self.core = core
        self.webhook_count = webhook_count
        self.recheck_ms = int(recheck_seconds * 1000)

    async def check(self, now: datetime) -> Pass:
        done = Pass()
        now_ms = to_ms(now)
        opened = await self.store.open_incidents()
        await self._late(now, now_ms, opened, done)
        await self._failing(now, now_ms, opened, done)
        return done

    # --- late -------------------------------------------------------------------------
    async def _late(self, now: datetime, now_ms: int, opened: list[Incident], done: Pass) -> None:
        open_late = {i.config_id: i for i in opened if i.kind is Kind.LATE}
        due_ids = await self.store.late_checks_due(now_ms)
        ids = sorted(set(due_ids) | open_late.keys())
        if not ids:
            return
        done.examined += len(ids)
        settings = await self.store.settings_of(ids)
        states = await self.state.get_many(ids)
        watched, started = await self.store.marks(ids)
        dues = {
            cid: (to_ms(at) if at is not None else None)
            for cid, at in (await self.core.next_due_many(ids)).items()
        }
        rearm: list[tuple[int, AlertSettings, int | None, int]] = []
        drop: list[int] = []
        for cid in ids:
            s, st, due = settings.get(cid), states.get(cid), dues.get(cid)
            incident = open_late.get(cid)
            if incident is not None:
                verdict = _late_resolution(s, st, started.get(cid, 0), incident)
                ended = None if verdict is None else await self._resolve(incident, verdict, now)
                if ended is not None:
                    done.resolved.append(ended)
                    if s is not None and s.late_after_seconds is not None:
                        was = to_ms(incident.due_at) if incident.due_at else now_ms
                        rearm.append((cid, s, due if due and due > was else None, now_ms))
                continue
            if s is None or s.late_after_seconds is None:
                drop.append(cid)
                continue
            if st is None or st.status is not ScheduleStatus.ACTIVE or due is None:
                rearm.append((cid, s, None, now_ms + self.recheck_ms))
                continue
            d_ms = watched.get(cid)
            if d_ms is None:
                rearm.append((cid, s, due, now_ms))  # start watching its pending due time
                continue
            if d_ms + s.late_after_seconds * 1000 > now_ms:
                rearm.append((cid, s, d_ms, now_ms))  # not yet (a check armed early)
                continue
            status_at = to_ms(st.status_at) if st.status_at is not None else 0
            if status_at > d_ms:  # D fell before a pause / stop / start: never late
                rearm.append((cid, s, due if due > d_ms else None, now_ms + self.recheck_ms))
                continue
            skip = None if started.get(cid, 0) >= d_ms else await self._skip_reason(cid, d_ms)
            if started.get(cid, 0) >= d_ms or skip in NEVER_LATE_REASONS:
                rearm.append((cid, s, await self._next_due(cid, d_ms, due), now_ms))
                continue
            incident = await self._open(
                cid, s, Kind.LATE, now, now_ms, due_at=from_ms(d_ms), detail=_late_detail(skip)
            )
            if incident is not None:
                done.opened.append(incident)
            drop.append(cid)  # the open incident watches it now
        await self.store.rearm(rearm, drop=drop)

    async def _next_due(self, config_id: int, d_ms: int, due: int) -> int | None:
        """The due time after D: the scheduler's pending one, else (it has not moved: a run
        started without it) the next fire time of the registered spec."""
        if due > d_ms:
            return due
        spec = await self.core.get_spec(config_id)
        following = None if spec is None else fire_times.next_after(spec, from_ms(d_ms))
        return None if following is None else to_ms(following)

    async def _skip_reason(self, config_id: int, d_ms: int) -> str | None:
        """The reason of a ``skipped`` event for due time D, if one was recorded."""
        events, _ = await self.state.history(config_id, limit=100)
        for e in events:
            if e.event != Event.SKIPPED:
                continue
            at = read_instant(e.details.get("due_at"))
            if at is not None and to_ms(at) == d_ms:
                return str(e.details.get("reason") or "skipped")
        return None

    # --- failing ----------------------------------------------------------------------
    async def _failing(
        self, now: datetime, now_ms: int, opened: list[Incident], done: Pass
    ) -> None:
        open_failing = {i.config_id: i for i in opened if i.kind is Kind.FAILING}
        settings = await self.store.settings()
        ids = sorted(
            {c for c, s in settings.items() if s.failures_in_row is not None} | open_failing.keys()
        )
        if not ids:
            return
        done.examined += len(ids)
        counts = await self.state.failure_counts(ids)
        for cid in ids:
            s, st, incident = settings.get(cid), counts.get(cid), open_failing.get(cid)
            if incident is not None:
                if s is None or s.failures_in_row is None:
                    verdict: str | None = "its failing alert was turned off"
                elif st is None:
                    verdict = "the config was deleted"
                elif st[1] > incident.successes:
                    verdict = "a run succeeded"
                else:
                    verdict = None
                ended = None if verdict is None else await self._resolve(incident, verdict, now)
                if ended is not None:
                    done.resolved.append(ended)
                continue
            if s is None or s.failures_in_row is None or st is None:
                continue
            in_row, successes = st
            if in_row >= s.failures_in_row:
                made = await self._open(
                    cid,
                    s,
                    Kind.FAILING,
                    now,
                    now_ms,
                    due_at=None,
                    detail=f"the last {in_row} runs failed",
                    successes=successes,
                )
                if made is not None:
                    done.opened.append(made)

    # --- opening and resolving --------------------------------------------------------
    async def _open(
        self,
        config_id: int,
        settings: AlertSettings,
        kind: Kind,
        now: datetime,
        now_ms: int,
        *,
        due_at: datetime | None,
        detail: str,
        successes: int = 0,
    ) -> Incident | None:
        incident = Incident(
            id=await self.store.next_id(),
            config_id=config_id,
            name=settings.name,
            kind=kind,
            state=IncidentState.OPEN,
            opened_at=now,
            resolved_at=None,
            detail=detail,
            due_at=due_at,
            successes=successes,
        )
        if not await self.store.change(incident, None, self._deliveries(incident, now), now_ms):
            return None  # another detector opened it
        log.warning(
            "alert opened",
            extra={"config_id": config_id, "kind": str(kind), "incident": incident.id},
        )
        return incident

    async def _resolve(self, incident: Incident, detail: str, now: datetime) -> Incident | None:
        """The incident resolved, or None when another detector resolved it first."""
        resolved = incident.resolved(now, detail)
        if not await self.store.change(
            resolved, incident, self._deliveries(resolved, now), to_ms(now)
        ):
            return None
        log.info(
            "alert resolved",
            extra={"config_id": incident.config_id, "kind": str(incident.kind)},
        )
        return resolved

    def _deliveries(self, incident: Incident, now: datetime) -> Sequence[Delivery]:
        body = json.dumps(incident.payload(now), separators=(",", ":"))
        return [
            Delivery(incident.id, str(incident.state), i, body, to_ms(now))
            for i in range(self.webhook_count)
        ]


def _late_resolution(
    settings: AlertSettings | None, state: ScheduleState | None, mark: int, incident: Incident
) -> str | None:
    """Why an open ``late`` incident is over now (None: it is not)."""
    if settings is None or settings.late_after_seconds is None:
        return "its late alert was turned off"
    if state is None:
        return "the config was deleted"
    if incident.due_at is not None and mark >= to_ms(incident.due_at):
        return "a later run started"
    if state.status is not ScheduleStatus.ACTIVE:
        return f"the schedule is {state.status}"
    return None


def _late_detail(skip_reason: str | None) -> str:
    if skip_reason is not None:
        return f"its run was skipped ({skip_reason}) and no later run has started"
    return "no run has started for it"
