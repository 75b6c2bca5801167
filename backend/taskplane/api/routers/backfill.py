"""``POST /schedules/{config_id}/backfill`` (API.md, "Backfill"): the runs a schedule should
have had in a past window, each due time once (``scheduling/backfill.py``). An admin sends;
a viewer may call it with ``dry_run: true`` (it then changes nothing).

Included before the schedules router: its ``/{config_id}/{action}`` would otherwise take the
path and refuse ``backfill`` as an unknown action."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from taskplane.api.cpu_bound import CpuBound
from taskplane.api.deps import (
    READ_ONLY,
    ActorDep,
    Caller,
    ResourcesDep,
    SchedulerDep,
    SessionDep,
)
from taskplane.api.schemas.errors import documented
from taskplane.api.schemas.inputs import MAX_ID
from taskplane.api.schemas.schedules import BackfillIn, BackfillOut
from taskplane.db import configs

router = APIRouter(prefix="/schedules", tags=["schedules"])

ConfigId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post(
    "/{config_id}/backfill",
    response_model=BackfillOut,
    responses=documented(404, 409),
    openapi_extra={READ_ONLY: True},  # a viewer may call it with dry_run true (checked here)
)
async def backfill_schedule(
    config_id: ConfigId,
    body: BackfillIn,
    caller: Caller,
    actor: ActorDep,
    session: SessionDep,
    scheduler: SchedulerDep,
    resources: ResourcesDep,
    request: Request,
) -> BackfillOut:
    """The due times of the config's schedule in ``[start, end)`` (``end`` not in the
    future; at most 1,000, else ``422`` naming ``end``): ``already_ran`` (an execution, a
    ``fired`` event or an earlier backfill) and ``sent`` (the rest, each as a ``backfill``
    run with the task id a scheduled fire of that due time has). ``dry_run`` sends nothing.
    One ``backfill`` history event per call that sends."""
    if not body.dry_run and not caller.is_admin:
        raise HTTPException(
            status_code=403, detail=f"role {caller.role} may only backfill with dry_run true"
        )
    row = await configs.get(session, config_id)
    await session.rollback()  # no connection held while the backfill runs
    cpu: CpuBound = request.app.state.cpu
    report = await scheduler.backfiller.run(
        resources.sessions,
        row,
        body.start,
        body.end,
        dry_run=body.dry_run,
        note=body.note,
        now=datetime.now(UTC),
        actor=actor,
        compute=cpu.run,
    )
    return BackfillOut(
        due_times=report.due_times,
        already_ran=report.already_ran,
        sent=report.sent,
        dry_run=report.dry_run,
        task_ids=report.task_ids,
    )
