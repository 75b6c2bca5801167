"""The page: what every list returns, from data access to the response body.

Data access fills it with rows (``db/pagination.py:fetch_page``); a router swaps the rows
for response models (``with_items``) and names ``Page[ItemOut]`` as its response model, so
the API, the database layer and the OpenAPI document share this one shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")
U = TypeVar("U")


class Page(BaseModel, Generic[T]):
    """The shape of every list: ``{items, total, limit, offset}``."""

    model_config = ConfigDict(frozen=True)

    items: list[T]
    total: int
    limit: int
    offset: int

    def with_items(self, items: Sequence[U]) -> Page[U]:
        """The same page (total, limit, offset) holding ``items`` (e.g. the response
        models of its rows)."""
        return Page(items=list(items), total=self.total, limit=self.limit, offset=self.offset)
