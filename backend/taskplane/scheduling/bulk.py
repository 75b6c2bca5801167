"""A control action on many configs at once (``POST /schedules/bulk/{action}``,
``taskplane schedules ACTION ID...``): each id gets exactly what the single call would give
it, in the order given, and an id the single call would refuse (404 / 409 / 422) is reported
with that code without stopping the others.

Ids run concurrently (bounded), so a request of 1,000 ids takes about as long as the slowest
few; the same id given twice runs twice, in order (the second is the single call's no-op).
Each id is one atomic action under its own lock; a store outage ends the whole request
(503), and the ids done before it keep their change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from taskplane.enums import Action
from taskplane.errors import Conflict, InvalidInput, NotFound
from taskplane.scheduling.core import ConfigLike
from taskplane.scheduling.service import ActionResult, SchedulerService

MAX_IDS = 1000
CONCURRENCY = 32
"""Actions in flight at once: enough to hide round-trip latency, few enough to leave the
pool (and the per-config locks of other callers) room."""


@dataclass(frozen=True, slots=True)
class Refused:
    """An id the single call would refuse, with the status code it would answer."""

    config_id: int
    status_code: int
    detail: str


@dataclass(frozen=True, slots=True)
class BulkReport:
    results: list[ActionResult]
    errors: list[Refused]


def _refusal(config_id: int, exc: Exception) -> Refused:
    code = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
    return Refused(config_id, code, str(exc))


async def act_many(
    scheduler: SchedulerService,
    action: Action,
    config_ids: Sequence[int],
    configs: Mapping[int, ConfigLike],
    note: str | None = None,
) -> BulkReport:
    """Run ``action`` on each id of ``config_ids`` (``configs`` holds the rows that exist)."""
    positions: dict[int, list[int]] = {}
    for index, cid in enumerate(config_ids):
        positions.setdefault(cid, []).append(index)
    outcomes: dict[int, ActionResult | Refused] = {}
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(cid: int, indexes: list[int]) -> None:
        config = configs.get(cid)
        for index in indexes:
            if config is None:
                outcomes[index] = Refused(cid, 404, f"config {cid} not found")
                continue
            try:
                async with gate:
                    outcomes[index] = await scheduler.act(action, config, note)
            except (NotFound, Conflict, InvalidInput) as exc:
                outcomes[index] = _refusal(cid, exc)

    await asyncio.gather(*(run(cid, indexes) for cid, indexes in positions.items()))
    ordered = [outcomes[i] for i in range(len(config_ids))]
    return BulkReport(
        results=[o for o in ordered if isinstance(o, ActionResult)],
        errors=[o for o in ordered if isinstance(o, Refused)],
    )
