"""The ``?limit=&offset=`` query parameters every list takes (API.md, Lists), and the
config list's keyset cursor ``?after=``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from taskplane.api.schemas.inputs import MAX_ID, MAX_OFFSET

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
