"""The Redis key layout: the only code that builds a key. docs/redis.md mirrors it.

Every key starts with the configured prefix (TASKPLANE_REDIS_PREFIX), so several deployments
or test runs can share one Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskplane.enums import ScheduleStatus


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str  # e.g. "taskplane:"

    def schedule(self, config_id: int) -> str:
        """hash: status, note, status_at, metadata (JSON), counters."""
        return f"{self.prefix}schedule:{config_id}"

    def history(self, config_id: int) -> str:
        """list of JSON events, newest first, capped, with a TTL."""
        return f"{self.prefix}history:{config_id}"

    def by_status(self, status: ScheduleStatus) -> str:
        """set of config ids with that status: summaries and filters without KEYS."""
        return f"{self.prefix}schedules:{status}"

    @property
    def all_schedules(self) -> str:
        """set of every config id that has schedule state."""
        return f"{self.prefix}schedules:all"

    @property
    def schedule_source_prefix(self) -> str:
        """prefix handed to the taskiq-redis schedule source (it appends ':{schedule_id}')."""
        return f"{self.prefix}source"

    @property
    def broker_stream_prefix(self) -> str:
        """broker streams are '{prefix}queue:{queue}'."""
        return f"{self.prefix}queue:"

    def broker_stream(self, queue: str) -> str:
        return f"{self.broker_stream_prefix}{queue}"
