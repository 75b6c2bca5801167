"""The ``?limit=&offset=`` query parameters every list takes (API.md, Lists), the config
list's keyset cursor ``?after=``, a config id filter and query times (``aware``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query

from taskplane.api.schemas.inputs import MAX_ID, MAX_OFFSET
from taskplane.errors import InvalidInput

LimitQuery = Annotated[int, Query(ge=1, le=500, description="page size")]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
AfterQuery = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_ID,
        description="keyset cursor: only items with an id below this one (newest first); "
        "pass the last item's id for the next page",
    ),
]
ConfigIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def aware(instant: datetime | None, name: str) -> datetime | None:
    """A naive query time is UTC; one that cannot be expressed in UTC is a 422."""
    if instant is None:
        return None
    try:
        return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInput.field(name, msg="out of range", root="query") from None
