"""Date completions: the engine tells the service when a date schedule has had its one fire
(sent or skipped as a misfire), off the tick: completing takes the service's per-config lock,
which must not hold up the fires of other schedules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Completer(Protocol):
    """Told when a date schedule has had its one fire (sent or skipped as a misfire)."""

    async def complete(self, config_id: int) -> Any: ...


class Completions:
    """The completions started by the engine's ticks (a reference kept to each task)."""

    def __init__(self, completer: Completer | None) -> None:
        self.completer = completer
        self._running: set[asyncio.Task[None]] = set()

    def start(self, config_ids: Sequence[int]) -> None:
        if not config_ids or self.completer is None:
            return
        job = asyncio.create_task(self._complete_all(config_ids), name="complete-dates")
        self._running.add(job)
        job.add_done_callback(self._running.discard)

    async def drain(self) -> None:
        """Wait for the completions started by earlier ticks."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def _complete_all(self, config_ids: Sequence[int]) -> None:
        await asyncio.gather(*(self._complete(cid) for cid in config_ids))

    async def _complete(self, config_id: int) -> None:
        if self.completer is None:
            return
        try:
            await self.completer.complete(config_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("completing a date schedule failed", extra={"config_id": config_id})
