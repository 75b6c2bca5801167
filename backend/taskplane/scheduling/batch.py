"""Runs on demand for a list of config ids: the one flow ``POST /runs`` and ``taskplane run``
both call (ids -> config rows -> one pipelined send through ``SchedulerService``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from taskplane.actors import Actor
from taskplane.db import configs
from taskplane.enums import Trigger
from taskplane.scheduling.service import BatchReport, SchedulerService


async def run_configs(
    scheduler: SchedulerService,
    session: AsyncSession,
    config_ids: Sequence[int],
    trigger: Trigger = Trigger.BATCH,
    *,
    actor: Actor,
) -> BatchReport:
    """Send the configs to the broker now, whatever their schedule status, in one pipelined
    send. An id given twice runs once. An id without a config, and a config that cannot be
    built (unknown task type), is in ``errors`` and the others are still sent; ``errors``
    lists the ids without a config first, each part in the order asked."""
    wanted = list(dict.fromkeys(config_ids))
    found = await configs.get_many(session, wanted)
    missing = [(cid, f"config {cid} not found") for cid in wanted if cid not in found]
    report = await scheduler.batch_report(
        [found[cid] for cid in wanted if cid in found], trigger, actor=actor
    )
    return BatchReport(report.dispatched, missing + report.errors)
