"""What the state service hands to the scripts and pipelines of others (the engine's fire
script, the bulk path, the alert store): its keys, its live-event channel and the text of a
history event, so that they write the state service's data in its own format."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from taskplane.actors import Actor
from taskplane.enums import Event
from taskplane.state.history import HistoryEvent
from taskplane.state.keys import Keys
from taskplane.state.scripts import STATUS_ORDER


class StateParts:
    """The state service's parts for composing writers (``keys`` is the service's own)."""

    keys: Keys

    def status_key(self, config_id: int) -> str:
        """A config's state hash, for a composing script (``scripts.LUA``)."""
        return self.keys.schedule(config_id)

    def index_keys(self) -> list[str]:
        """The all-schedules set, then the by-status sets in ``STATUS_ORDER`` (``scripts.LUA``)."""
        return [self.keys.all_schedules, *(self.keys.by_status(s) for s in STATUS_ORDER)]

    def pause_timer_key(self) -> str:
        """The pause timer's zset, for a composing script (``scripts.LUA``'s ``pause_timer``)."""
        return self.keys.paused_until

    def live_event(self, event: Event | None) -> tuple[str, str]:
        """The channel and the ``event`` of the live events a script publishes (``scripts.LUA``'s
        ``state_keys``: every schedule live event is published by the script of its change;
        '' for none)."""
        return self.keys.events, str(event) if event else ""

    def history_json(
        self,
        event: Event,
        at: datetime,
        note: str | None,
        details: Mapping[str, Any],
        *,
        actor: Actor,
    ) -> str:
        """An event as its history list holds it."""
        return HistoryEvent(str(event), at, note, dict(details), actor.name).to_json()

    def event_log(self, config_id: int) -> str:
        """A config's history list, for a script that composes ``scripts.PUSH_EVENT`` (the
        engine's fire script) with ``history_max`` and ``history_ttl_seconds``."""
        return self.keys.history(config_id)
