"""Error bodies, so the OpenAPI document describes every status an endpoint answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorOut(BaseModel):
    detail: str


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for routes and routers: each code with the ``{"detail": str}`` body."""
    descriptions = {
        401: "no, unknown or revoked token",
        403: "the token's role may not do this",
        404: "unknown id",
        409: "name taken, or the action is not valid in the current status",
        413: "request body too large",
        429: "too many open event streams (of this token, or of the api)",
        503: "PostgreSQL or Redis is unavailable",
    }
    return {code: {"model": ErrorOut, "description": descriptions[code]} for code in codes}
