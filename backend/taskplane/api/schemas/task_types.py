"""Registered task types."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class TaskTypeOut(BaseModel):
    name: str
    description: str
    queue: str
    default_timeout_seconds: int | None
    default_max_retries: int
    parameters_schema: dict[str, Any]
