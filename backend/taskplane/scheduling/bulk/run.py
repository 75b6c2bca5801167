"""``act_many`` and ``create_many``: a bulk action over chunks of ``CHUNK`` configs, the rare
cases by the single path, the outcomes in the order given."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from taskplane.actors import Actor
from taskplane.db.configs import ConfigRow
from taskplane.enums import Action, Event
from taskplane.errors import Conflict, InvalidInput, NotFound
from taskplane.scheduling.bulk.chunk import audit, run_chunk
from taskplane.scheduling.bulk.report import BulkReport, Outcome, Refused, refusal
from taskplane.scheduling.decisions import (
    ActionResult,
    check_until,
    metadata_of,
    spec_or_none,
)

if TYPE_CHECKING:
    from taskplane.scheduling.service import SchedulerService

log = logging.getLogger(__name__)

MAX_IDS = 1000
CHUNK = 500
"""Configs per batch: enough to amortize the round trips, small enough that a chunk's script
holds Redis for milliseconds only."""
IN_FLIGHT = 2
"""Chunks under way at once: one's Python runs while Redis runs the other's script."""


async def single(
    scheduler: SchedulerService,
    action: Action,
    config: ConfigRow,
    note: str | None,
    until: datetime | None,
    actor: Actor,
) -> Outcome:
    try:
        return await scheduler.act(action, config, note, until, actor=actor)
    except (NotFound, Conflict, InvalidInput) as exc:
        return refusal(config.id, exc)


async def act_many(
    scheduler: SchedulerService,
    action: Action,
    config_ids: Sequence[int],
    configs: Mapping[int, ConfigRow],
    note: str | None = None,
    until: datetime | None = None,
    *,
    actor: Actor,
) -> BulkReport:
    """Run ``action`` on each id of ``config_ids`` (``configs`` holds the rows that exist);
    ``until`` (pause only) is checked once for all: a bad one refuses the whole call."""
    action = Action(action)
    if until is not None:
        if action is not Action.PAUSE:
            raise InvalidInput.field("until", msg="only a pause takes until")
        check_until(until, datetime.now(UTC))
    outcomes: list[Outcome | None] = [None] * len(config_ids)
    first: dict[int, int] = {}
    for index, cid in enumerate(config_ids):
        first.setdefault(cid, index)
    distinct = [cid for cid in first if cid in configs]
    by_id: dict[int, Outcome] = {}

    async def one(chunk: list[ConfigRow]) -> None:
        decided, left = await run_chunk(scheduler, action, chunk, note, actor, until)
        by_id.update(decided)
        for config in left:
            by_id[config.id] = await single(scheduler, action, config, note, until, actor)

    inflight: list[asyncio.Task[None]] = []
    try:
        for start in range(0, len(distinct), CHUNK):
            chunk = [configs[cid] for cid in distinct[start : start + CHUNK]]
            inflight.append(asyncio.create_task(one(chunk)))
            if len(inflight) >= IN_FLIGHT:
                await inflight.pop(0)
        while inflight:
            await inflight.pop(0)
    except BaseException:  # a store outage ends the request: stop the chunk still running
        for pending in inflight:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        raise
    for index, cid in enumerate(config_ids):
        if cid not in configs:
            outcomes[index] = Refused(cid, NotFound("config", cid))
        elif first[cid] == index:
            outcomes[index] = by_id[cid]
        else:  # a repeated id: the single call again, in order
            outcomes[index] = await single(scheduler, action, configs[cid], note, until, actor)
    done = [o for o in outcomes if o is not None]
    return BulkReport(
        results=[o for o in done if isinstance(o, ActionResult)],
        errors=[o for o in done if isinstance(o, Refused)],
    )


async def create_many(
    scheduler: SchedulerService, configs: Sequence[ConfigRow], *, actor: Actor
) -> None:
    """``on_created`` for many configs: their state ``inactive`` with a ``created`` event,
    one script per chunk (``bulk.lua.CREATE``); state that exists is left alone. The audit
    entries of those created follow each chunk's script."""
    at = datetime.now(UTC)
    for start in range(0, len(configs), CHUNK):
        chunk = configs[start : start + CHUNK]
        items = [
            (c.id, json.dumps(metadata_of(c, spec_or_none(c), None), separators=(",", ":")))
            for c in chunk
        ]
        made = await scheduler.bulk_script.create(items, at, actor=actor)
        await audit(
            scheduler,
            actor,
            str(Event.CREATED),
            None,
            [(c, None) for c, is_made in zip(chunk, made, strict=True) if is_made],
        )
