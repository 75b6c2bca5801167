"""The schedule read model: a config's status, counters, history and registration in one
``ScheduleInfo``, with the consistency check (state says active <=> really registered).

Many configs are read in ONE pipeline (``info_reads.py``: one script reading every state
hash and history, the registrations and the due scores); the owners of those keys
(``state/schedule_state.py``, ``scheduling/core.py``) keep their writes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from taskplane.db.configs import ConfigRow
from taskplane.enums import SchedulerType, ScheduleStatus
from taskplane.epoch import from_ms, to_ms
from taskplane.scheduling import fire_times, info_reads, spec_labels, words
from taskplane.scheduling.info_reads import Registered
from taskplane.scheduling.skipping import SkippedRun, skipped_runs
from taskplane.scheduling.specs import Spec
from taskplane.state.history import HistoryEvent
from taskplane.state.keys import Keys
from taskplane.state.schedule_records import ScheduleState

NEXT_RUNS = 5
RECENT_HISTORY = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleInfo(ScheduleState):
    """A config's stored state (status, note, metadata, run counters: ``ScheduleState``)
    with its recent history, its registration and whether the two agree."""

    recent_history: list[HistoryEvent]
    is_scheduled: bool
    is_actually_scheduled: bool
    status_consistent: bool
    next_run_at: datetime | None
    next_runs: list[datetime]
    schedule: str | None = None
    skipped_runs: list[SkippedRun] = field(default_factory=list)


class ReadModel:
    """Composes ``ScheduleInfo``s from ``info_reads``."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def infos(
        self,
        configs: Sequence[ConfigRow],
        *,
        history: int = RECENT_HISTORY,
        next_runs: bool = True,
    ) -> dict[int, ScheduleInfo]:
        """Full info of many configs from one pipeline (state, registration, due, history).

        ``next_runs=False`` leaves ``next_runs`` empty (``next_run_at`` still comes from the
        due index): computing future cron times costs far more than the rest of a page.
        """
        if not configs:
            return {}
        ids = [config.id for config in configs]
        try:
            raw = await self._read(ids, history, next_runs)
        except NoScriptError:  # a restarted or flushed Redis: load the script, read again
            await info_reads.load_script(self.redis)
            raw = await self._read(ids, history, next_runs)
        reads = info_reads.decode(ids, raw, history=history)
        now = datetime.now(UTC)
        return {
            config.id: compose(
                config, read.state, read.events, read.registered, next_runs, read.skips, now
            )
            for config, read in zip(configs, reads, strict=True)
        }

    async def _read(self, ids: Sequence[int], history: int, with_skips: bool) -> list[Any]:
        """One round trip: every state (one script reply), registration and due score (and
        the skips and jittered dues, for the fire times)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            info_reads.queue(pipe, self.keys, ids, history=history, with_skips=with_skips)
            raw: list[Any] = await pipe.execute()
        return raw


_STATE_FIELDS = tuple(f.name for f in fields(ScheduleState))


def compose(
    config: ConfigRow,
    state: ScheduleState | None,
    events: list[HistoryEvent],
    registered: Registered,
    with_next_runs: bool = True,
    skips: dict[int, str] | None = None,
    now: datetime | None = None,
) -> ScheduleInfo:
    """One config's info from what ``info_reads`` read (a config without state reads as
    ``inactive``, and as inconsistent). The fire times are ``fire_times.upcoming``'s from
    the stored due time: send times, without excluded or skipped ones."""
    stored = state or ScheduleState(config.id, ScheduleStatus.INACTIVE, None, None, {})
    spec: Spec | None = registered.spec
    if spec is None and registered.task is not None:
        try:
            spec = spec_labels.from_labels(registered.task.labels)
        except (KeyError, ValueError):
            spec = None
    is_scheduled = stored.status is ScheduleStatus.ACTIVE
    next_run_at = registered.next_due if (is_scheduled and registered.is_registered) else None
    next_runs: list[datetime] = []
    if next_run_at is not None and spec is not None:
        next_runs = [next_run_at]
        if spec.calendar is not None:
            # the score of a jittered schedule is a send time: go back to its due
            due = fire_times.due_of(spec, config.id, to_ms(next_run_at), registered.recorded_due_ms)
            count = NEXT_RUNS if with_next_runs else 1
            runs = fire_times.upcoming(
                spec, count, first=from_ms(due), config_id=config.id, skips=skips or {}
            )
            next_runs = [o.send_at for o in runs]
            next_run_at = next_runs[0] if next_runs else None
        elif skips:
            runs = fire_times.upcoming(spec, NEXT_RUNS, first=next_run_at, skips=skips)
            next_runs = [o.send_at for o in runs]
            next_run_at = next_runs[0] if next_runs else None
        elif with_next_runs and spec.kind is not SchedulerType.DATE:
            next_runs += fire_times.next_n(spec, next_run_at, NEXT_RUNS - 1)
    return ScheduleInfo(
        **{name: getattr(stored, name) for name in _STATE_FIELDS},
        recent_history=events,
        is_scheduled=is_scheduled,
        is_actually_scheduled=registered.is_registered,
        status_consistent=(is_scheduled == registered.is_registered) and state is not None,
        next_run_at=next_run_at,
        next_runs=next_runs,
        # the registered spec while registered; else the configured one, so a paused or
        # stopped schedule still says what it will do when it runs again
        schedule=(
            words.describe(spec)
            if spec is not None
            else _described(config.scheduler_type, config.schedule_config)
        ),
        skipped_runs=skipped_runs(skips, now or datetime.now(UTC)) if skips else [],
    )


DESCRIBED_REMEMBERED = 4096


def _described(scheduler_type: SchedulerType | str, schedule_config: Any) -> str | None:
    """``words.describe_config``, remembered per config text (pure: a stored config is
    parsed without the clock), so a page of stopped configs does not parse each spec on
    every read. Values key by type too (``1`` and ``True`` describe differently); a config
    that is not a flat object is described afresh each time."""
    try:
        key = (str(scheduler_type), *((k, type(v), v) for k, v in schedule_config.items()))
        hash(key)
    except (AttributeError, TypeError):
        return words.describe_config(scheduler_type, schedule_config)
    return _described_key(key)


@functools.lru_cache(maxsize=DESCRIBED_REMEMBERED)
def _described_key(key: tuple[Any, ...]) -> str | None:
    scheduler_type, *items = key
    return words.describe_config(scheduler_type, {k: v for k, _, v in items})
