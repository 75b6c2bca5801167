"""A standby scheduler warms: it builds the templates it would fire from before it leads.

Without them, a scheduler that takes the lease over 1,000,000 schedules parses every
registration in its first interval (~40 µs each: 40 s of CPU in a minute that also has
1,000,000 fires to send) and falls behind. A standby (``loop.run`` while not leading) reads
the due index a few slices per turn (``turn``), by rank (soonest first), and parses the
registrations it keeps no template for into the engine's ``templates.Registrations``. A
template made from a text replaced since is harmless: the fire script checks the stored
registration's value at every fire and the engine reads it again (``engine.CHANGED``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from redis.asyncio import Redis

if TYPE_CHECKING:
    from taskplane.scheduling.core import SchedulerCoreService
    from taskplane.scheduling.templates import Registrations

WARM_BATCH = 1000
"""Registrations read per slice: ~17 ms of parsing (``templates.Registrations``)."""
WARM_SLICES = 4
"""Slices per turn (one turn every ``scheduler_tick_ms``), while each finds a full slice to
parse: ~70 ms of parsing then the loop's wait, so a standby warms ~20,000 a second (1,000,000
in under a minute) and leaves half of its core to the rest. It was one slice per turn at
~40 ms (~7,000 a second): in B11 a standby that had waited through a two-minute registration
still left half of a million to parse in the new leader's first interval."""
REST_SECONDS = 5.0
"""After a whole pass over the index that found nothing to parse, a standby rests this long."""


class Standby:
    def __init__(
        self, redis: Redis, core: SchedulerCoreService, registrations: Registrations
    ) -> None:
        self.redis = redis
        self.core = core
        self.registrations = registrations
        self._at = 0  # the rank the next turn reads from
        self._parsed = 0  # parsed in the current pass over the index
        self._rest_until = 0.0

    async def turn(self) -> int:
        """One turn of the loop: up to ``WARM_SLICES`` slices, while each parses a full one
        (the loop's other tasks, the lease keeper's renewals, run between them). Returns how
        many were parsed."""
        parsed = 0
        for _ in range(WARM_SLICES):
            done = await self.warm()
            parsed += done
            if done < WARM_BATCH:
                break
            await asyncio.sleep(0)
        return parsed

    async def warm(self, limit: int | None = None) -> int:
        """One slice: parse the registrations of the next ``limit`` entries of the due index
        that have no template yet; at the index's end, start again (after a rest when the
        pass found nothing). Nothing once the templates' bound is reached. Returns how many
        were parsed."""
        limit = limit or WARM_BATCH
        now = asyncio.get_running_loop().time()
        if self.registrations.is_full or now < self._rest_until:
            return 0
        members: list[Any] = list(
            await self.redis.zrange(self.core.due_key, self._at, self._at + limit - 1)
        )
        if not members:
            if not self._parsed:
                self._rest_until = now + REST_SECONDS
            self._at = self._parsed = 0
            return 0
        self._at += len(members)
        unread: list[int] = []
        for member in members:
            with contextlib.suppress(ValueError):
                if (config_id := int(member)) not in self.registrations:
                    unread.append(config_id)
        parsed = 0
        for config_id, raw in zip(unread, await self.core.raw_many(unread), strict=True):
            if raw is None:
                continue
            if self.registrations.is_full:
                break  # a standby never makes the kept ones start afresh
            try:
                self.registrations.read(config_id, raw)
            except (ValidationError, ValueError, KeyError, TypeError):
                continue  # unreadable: the leader reports it when it is due (an ``error`` event)
            parsed += 1
        self._parsed += parsed
        return parsed
