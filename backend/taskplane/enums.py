"""The closed sets of the product, spelled exactly as API.md spells them."""

from __future__ import annotations

from enum import StrEnum


class SchedulerType(StrEnum):
    CRON = "cron"
    INTERVAL = "interval"
    DATE = "date"
    MANUAL = "manual"


class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    INACTIVE = "inactive"
    ERROR = "error"

    @classmethod
    def stored(cls, value: str) -> ScheduleStatus:
        """A status as Redis holds it; one this version does not know reads as ``error``."""
        try:
            return cls(value)
        except ValueError:
            return cls.ERROR


class Action(StrEnum):
    START = "start"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    RELOAD = "reload"


class Trigger(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BATCH = "batch"
    IMMEDIATE = "immediate"
    BACKFILL = "backfill"


class Role(StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"


class Event(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    STARTED = "started"
    STOPPED = "stopped"
    PAUSED = "paused"
    RESUMED = "resumed"
    RELOADED = "reloaded"
    FIRED = "fired"
    SKIPPED = "skipped"
    SKIPPED_RUNS = "skipped_runs"
    COMPLETED = "completed"
    RUN_REQUESTED = "run_requested"
    REPAIRED = "repaired"
    ERROR = "error"
    BACKFILL = "backfill"
    ALERT = "alert"
