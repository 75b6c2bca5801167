"""Runs on demand: one config now, or many at once. The messages are on the broker when the
response is sent (SchedulerService sends them before returning)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from taskplane.api.deps import ActorDep, SchedulerDep, SessionDep
from taskplane.api.schemas.errors import documented
from taskplane.api.schemas.inputs import MAX_ID
from taskplane.api.schemas.runs import BatchError, BatchRunBody, BatchRunOut, Dispatched, RunOut
from taskplane.db import configs
from taskplane.enums import Trigger
from taskplane.scheduling import batch

router = APIRouter(tags=["runs"])

ConfigId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post(
    "/configs/{config_id}/run", status_code=202, response_model=RunOut, responses=documented(404)
)
async def run_config(
    config_id: ConfigId, session: SessionDep, scheduler: SchedulerDep, actor: ActorDep
) -> RunOut:
    row = await configs.get(session, config_id)
    task_id = await scheduler.run_now(row, trigger=Trigger.MANUAL, actor=actor)
    return RunOut(config_id=config_id, task_id=task_id, trigger=Trigger.MANUAL)


@router.post("/runs", status_code=202, response_model=BatchRunOut)
async def batch_run(
    body: BatchRunBody, session: SessionDep, scheduler: SchedulerDep, actor: ActorDep
) -> BatchRunOut:
    report = await batch.run_configs(scheduler, session, body.unique_ids, actor=actor)
    return BatchRunOut(
        dispatched=[Dispatched(config_id=cid, task_id=tid) for cid, tid in report.dispatched],
        errors=[BatchError(config_id=cid, detail=detail) for cid, detail in report.errors],
        duplicates=body.duplicate_ids,
    )
