"""``GET /audit`` (admin): the audit trail, newest first (``state/audit.py`` keeps it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from taskplane.api.deps import AuditDep, require_admin
from taskplane.api.routers.paging import ConfigIdQuery, LimitQuery, OffsetQuery, aware
from taskplane.api.schemas.audit import AuditEntryOut
from taskplane.errors import InvalidInput
from taskplane.pages import Page
from taskplane.state.audit_pages import AuditQuery

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[Depends(require_admin)])

AuditIdQuery = Annotated[
    str | None,
    Query(
        pattern=r"^\d{1,19}-\d{1,19}$",
        description="keyset cursor: only entries older than this audit id; pass the last "
        "item's id for the next page",
    ),
]
ActorQuery = Annotated[str | None, Query(min_length=1, max_length=256)]


@router.get("", response_model=Page[AuditEntryOut])
async def list_audit(
    audit: AuditDep,
    config_id: ConfigIdQuery = None,
    actor: ActorQuery = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
    after: AuditIdQuery = None,
) -> Any:
    """Every change made through the API or the CLI, newest first: filtered by config,
    actor and time (``since`` / ``until`` inclusive; a naive time is UTC), paged by
    ``limit`` / ``offset`` or the keyset cursor ``after``. ``total`` counts what the
    filters select, whatever the cursor."""
    start, end = aware(since, "since"), aware(until, "until")
    if start is not None and end is not None and start > end:
        raise InvalidInput.field("until", msg="must not be before since", root="query")
    query = AuditQuery(config_id, actor, start, end, after, limit, offset)
    page = await audit.page(query)
    return Page(
        items=[AuditEntryOut.model_validate(r, from_attributes=True) for r in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )
