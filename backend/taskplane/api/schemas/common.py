"""Shapes shared by every resource: the page, and the input rules every body obeys.

Every string that reaches PostgreSQL must be storable: no NUL character and no lone surrogate
(JSON allows both, PostgreSQL and UTF-8 do not), and no JSON number may be infinite or NaN
(``1e999999`` parses to infinity). Bodies that break this are a 422 naming the field, never a
500 from the driver.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict

T = TypeVar("T")

MAX_ID = 2**63 - 1  # PostgreSQL bigint
MAX_OFFSET = 2**31 - 1
MAX_JSON_DEPTH = 32


class Page(BaseModel, Generic[T]):
    """The shape of every list: ``{items, total, limit, offset}``."""

    items: list[T]
    total: int
    limit: int
    offset: int


def page_of(items: Sequence[T], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"items": list(items), "total": total, "limit": limit, "offset": offset}


def check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def check_json(value: Any, depth: int = 0) -> Any:
    """Reject what JSON can carry but PostgreSQL cannot store."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key))
            check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json(item, depth + 1)
    return value


SafeStr = Annotated[str, AfterValidator(check_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are refused, numbers must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
