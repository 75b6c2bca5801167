"""Alert incidents: ``GET /alerts`` (any role), newest first (alerts/store.py keeps them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from taskplane.alerts.incidents import IncidentState
from taskplane.api.deps import AlertsDep
from taskplane.api.routers.paging import AfterQuery, LimitQuery, OffsetQuery
from taskplane.api.schemas.alerts import AlertOut
from taskplane.api.schemas.inputs import MAX_ID
from taskplane.pages import Page

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=Page[AlertOut])
async def list_alerts(
    alerts: AlertsDep,
    state: IncidentState | None = None,
    config_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
    after: AfterQuery = None,
) -> Page[AlertOut]:
    """Incidents (``late``, ``failing``), newest first; ``state`` and ``config_id`` filter,
    ``after`` (an incident id) pages by keyset."""
    page = await alerts.page(
        state=state, config_id=config_id, after=after, limit=limit, offset=offset
    )
    return page.with_items([AlertOut.model_validate(i) for i in page.items])
