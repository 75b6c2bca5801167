"""How CLI commands reach the same services the API uses: opened per command, closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db.session import make_engine, make_session_factory
from taskplane.resources import Resources, open_resources
from taskplane.settings import Settings
from taskplane.state.schedule_state import ScheduleStateService


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on a short-lived engine (no Redis needed)."""
    engine = make_engine(settings)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def open_resources_for_cli(
    settings: Settings,
) -> AsyncIterator[tuple[Resources, ScheduleStateService]]:
    """Resources on small pools, plus the schedule state service."""
    small = settings.model_copy(update={"redis_pool_size": 4, "db_pool_size": 2})
    async with open_resources(small) as resources:
        yield (
            resources,
            ScheduleStateService(
                resources.redis,
                resources.keys,
                history_max=settings.history_max,
                history_ttl_seconds=settings.history_ttl_seconds,
            ),
        )


def _scheduler_service(resources: Resources) -> Any:
    from taskplane.scheduling.service import SchedulerService

    return SchedulerService.from_resources(resources)


async def run_now(settings: Settings, config_ids: list[int]) -> list[dict[str, Any]]:
    """Send configs to the broker now: one id is a `manual` run, several a `batch` run
    (one pipelined send). Unknown ids are reported, the others still sent."""
    from taskplane.db import configs
    from taskplane.enums import Trigger

    ids = list(dict.fromkeys(config_ids))
    async with open_resources_for_cli(settings) as (resources, _state):
        async with resources.sessions() as session:
            found = await configs.get_many(session, ids)
        service = _scheduler_service(resources)
        rows: list[dict[str, Any]] = [
            {"config_id": cid, "detail": f"config {cid} not found"}
            for cid in ids
            if cid not in found
        ]
        present = [found[cid] for cid in ids if cid in found]
        if len(ids) == 1 and present:
            task_id = await service.run_now(present[0], Trigger.MANUAL)
            rows.append({"config_id": present[0].id, "task_id": task_id})
        elif present:
            report = await service.batch_report(present, Trigger.BATCH)
            rows += [{"config_id": cid, "task_id": tid} for cid, tid in report.dispatched]
            rows += [{"config_id": cid, "detail": detail} for cid, detail in report.errors]
    order = {cid: index for index, cid in enumerate(ids)}
    return sorted(rows, key=lambda row: order[row["config_id"]])


async def reconcile_all(settings: Settings) -> dict[str, Any]:
    """Reconcile every config's schedule state with Redis (orphans removed), as the
    scheduler does at start."""
    async with open_resources_for_cli(settings) as (resources, _state):
        report = await _scheduler_service(resources).reconcile_all(resources.sessions)
    return {
        "checked": report.checked,
        "repairs": [
            {
                "config_id": r.config_id,
                "reason": r.reason,
                "status": str(r.status) if r.status is not None else None,
            }
            for r in report.repairs
        ],
        "orphans_removed": list(report.orphans_removed),
    }
