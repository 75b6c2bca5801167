"""Schedules as code: ``GET /configs/export`` and ``POST /configs/apply``
(``scheduling/as_code.py`` does the work). Included before the configs router, so
``/configs/export`` is not read as a config id."""

from __future__ import annotations

from fastapi import APIRouter, Response

from taskplane.api.deps import DRY_RUN_FOR_VIEWERS, ActorDep, AdminOrDryRun, ConfigServiceDep
from taskplane.api.routers.compose import json_response
from taskplane.api.schemas.as_code import ApplyBody, ApplyOut, ExportOut
from taskplane.api.schemas.errors import documented
from taskplane.scheduling.as_code import ConfigsAsCode

router = APIRouter(prefix="/configs", tags=["configs"])


@router.get("/export", response_model=ExportOut)
async def export_configs(service: ConfigServiceDep) -> Response:
    """Every config as its create fields plus ``status`` and ``note``, sorted by name; no
    ids, no times (an unchanged system exports the same bytes). Secret parameters are
    ``"***"``, as every read shows them."""
    return json_response(await ConfigsAsCode(service).export())


@router.post(
    "/apply",
    response_model=ApplyOut,
    responses=documented(409),
    openapi_extra={DRY_RUN_FOR_VIEWERS: True},  # a viewer may send dry_run: true
)
async def apply_configs(
    body: ApplyBody, service: ConfigServiceDep, actor: ActorDep, _principal: AdminOrDryRun
) -> Response:
    """Make the configs what the body says, matched by name: every entry is validated first
    (a 422 names ``["body", "configs", i, ...]`` and nothing changes); ``prune`` deletes
    the configs not named; ``dry_run`` changes nothing. Applying the same body again
    changes nothing."""
    report = await ConfigsAsCode(service).apply(
        body.entries(), actor=actor, prune=body.prune, dry_run=body.dry_run
    )
    return json_response(report.as_dict())
