"""The ``?limit=&offset=`` query parameters every list takes (API.md, Lists)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from taskplane.api.schemas.inputs import MAX_OFFSET

LimitQuery = Annotated[int, Query(ge=1, le=500, description="page size")]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
