"""The engine's fires of schedules with a calendar (exclusions, jitter) or requested skips.

Schedules without either (most of them) never reach this module: ``fires.Preparer`` hands
over only a spec with a ``calendar`` or a config in the engine's copy of the skips, so their
fires cost what they did. For the others every rule is ``fire_times``' (``verdict``,
``send_ms``, ``due_of``): what the engine sends is what ``next_runs`` promised.

Jitter. A jittered schedule's due-index score is the time its due is sent (due + jitter);
the due itself is recorded beside it (``Keys.jittered_dues``, written by the fire script
with the score: flag ``j`` followed by the due ms) and read with the batch (``dues``). A
score that is no recorded due's send time (a fresh registration, a resume) is a due: its
first pass only moves the score to the due's send time (nothing sent, no event). The fire
keeps its due time (task id ``{config_id}-{due_ms}``, ``due_at``) and its ``fired`` event
adds ``sent_at``. Lateness (the misfire policy) is measured from the send time.

Exclusions and requested skips. A due time ``verdict`` leaves out is not sent: one
``skipped`` event (reason ``excluded`` with the holiday, or ``requested`` with the note)
is recorded instead, and a requested skip is dropped from the store once recorded
(``settle``).

The engine's copy of the skips is read at its first tick and again whenever the fire script
refuses a batch because the stored skips version moved (``read_skips``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from taskplane import messages, metrics
from taskplane.enums import Event
from taskplane.epoch import from_ms, to_ms
from taskplane.scheduling import fire_times
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.fires import (
    FLAG_CATCH_UP,
    FLAG_OVERLAP,
    Fire,
    Now,
    event,
)
from taskplane.scheduling.planning import plan
from taskplane.scheduling.templates import Prepared, Registrations
from taskplane.state.skips import SkipStore

FLAG_JITTER = "j"
"""Fire flag, last in the flags: the rest of the text is the due ms of the next score
('' none), recorded in ``Keys.jittered_dues``; the ``fired`` event adds ``sent_at``."""


class CalendarFires:
    """Plans the fires of calendar / skipping schedules (see the module doc)."""

    def __init__(
        self,
        on_time_seconds: float,
        store: SkipStore,
        core: SchedulerCoreService,
        registrations: Registrations,
    ) -> None:
        self.on_time_seconds = on_time_seconds
        self.store = store
        self.core = core
        self.registrations = registrations
        self.skips: dict[int, dict[int, str]] = {}
        """The engine's copy of the requested skips ({config id: {due ms: note}})."""
        self.skips_version: str | None = None
        self.passed: dict[int, int] = {}
        """Requested skips planned to be recorded in the batches being sent: {cid: due ms}."""
        self.dues: Mapping[int, int] = {}
        """The recorded due ms of the jittered scores of the batch being planned."""

    def load(self, version: str, skips: Mapping[int, dict[int, str]]) -> None:
        self.skips_version = version
        self.skips = dict(skips)
        self.passed = {}  # planned from the old copy: nothing of it was recorded

    async def read_skips(self) -> None:
        """Read the copy of the skips (and its version) again."""
        self.load(*await self.store.snapshot())

    async def read_dues(
        self, entries: Sequence[tuple[int, float]], read: Mapping[int, Any]
    ) -> dict[int, int]:
        """The recorded dues of a batch's jittered schedules (no read without any). The
        registrations ``read`` just now are parsed first (kept: the preparer parses
        nothing twice), so that their jitter is known."""
        for cid, raw in read.items():
            if raw is not None:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    self.registrations.read(cid, raw)  # unreadable: the preparer records it
        jittered = self.registrations.jittered
        if not jittered:
            return {}
        ids = [cid for cid, _ in entries if cid in jittered]
        return await self.core.jittered_many(ids) if ids else {}

    async def settle(self, config_ids: Iterable[int], statuses: Iterable[int], done: int) -> None:
        """After a batch: each requested skip its fire script recorded (status ``done``) is
        dropped from the store and the copy; one the script did not record stays."""
        passed: list[tuple[int, int]] = []
        for cid, status in zip(config_ids, statuses, strict=True):
            if cid in self.passed:
                due_ms = self.passed.pop(cid)
                if status == done:
                    passed.append((cid, due_ms))
        await asyncio.gather(*(self.store.passed(cid, due) for cid, due in passed))
        for cid, due in passed:
            mine = self.skips.get(cid)
            if mine is not None:
                mine.pop(due, None)
                if not mine:
                    del self.skips[cid]
        if passed:
            metrics.FIRES_SKIPPED.labels(reason="requested").inc(len(passed))

    def prepare(
        self,
        template: Prepared,
        score: float,
        score_: str,
        now: Now,
        sha: str,
    ) -> Fire:
        """The fire of one due entry of a calendar / skipping schedule."""
        spec, cid = template.spec, template.config_id
        rules = spec.calendar
        jitter = rules is not None and rules.jitter_seconds > 0
        score_ms = int(score)
        due_ms = fire_times.due_of(spec, cid, score_ms, self.dues.get(cid)) if jitter else score_ms
        send = fire_times.send_ms(spec, cid, due_ms)
        if send > now.ms:  # a due not yet moved to its send time
            return Fire(
                cid, score_, template.keys, str(send), flags=FLAG_JITTER + str(due_ms), sha=sha
            )
        shifted = now.at - timedelta(milliseconds=send - due_ms)
        the_plan = plan(spec, from_ms(due_ms), shifted, on_time_seconds=self.on_time_seconds)
        next_score = next_due = ""
        if the_plan.next_due is not None:
            nd = to_ms(the_plan.next_due)
            next_score, next_due = str(fire_times.send_ms(spec, cid, nd)), str(nd)
        tail = FLAG_JITTER + next_due if jitter else ""
        missed = the_plan.missed
        misfire = ""
        if missed:
            assert the_plan.first_missed_at is not None
            details: dict[str, Any] = {
                "reason": "misfire",
                "missed": missed,
                "due_at": the_plan.first_missed_at.isoformat(),
                "policy": spec.misfire,
            }
            misfire = event(Event.SKIPPED, now.at, details)
        if the_plan.fire_at is None:
            return Fire(cid, score_, template.keys, next_score, flags=tail, event=misfire,
                        missed=missed, sha=sha)  # fmt: skip
        fire_at = the_plan.fire_at
        fire_ms = to_ms(fire_at)
        due_iso = fire_at.isoformat()
        why = fire_times.verdict(spec, fire_at, self.skips.get(cid, fire_times.NO_SKIPS))
        if why is not None:
            reason, detail = why
            details = {"reason": reason, "due_at": due_iso}
            if detail is not None:
                details["holiday" if reason == fire_times.EXCLUDED else "note"] = detail
            if missed:
                details["missed"] = missed
            if reason == fire_times.REQUESTED:
                self.passed[cid] = fire_ms
            skipped = event(Event.SKIPPED, now.at, details)
            return Fire(cid, score_, template.keys, next_score, flags=tail, event=skipped,
                        missed=missed, sha=sha)  # fmt: skip
        flags = FLAG_OVERLAP if spec.overlap == "skip" else ""
        if missed:
            flags += FLAG_CATCH_UP
        body = template.body(messages.scheduled_task_id(cid, fire_ms), due_iso)
        return Fire(
            cid,
            score_,
            template.keys,
            next_score,
            body,
            fire_ms,
            due_iso,
            flags + tail,
            misfire,
            missed,
            False,
            sha,
        )
