"""Registered task types and the JSON Schema of their parameters."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from taskplane.api.deps import RegistryDep
from taskplane.api.routers.paging import LimitQuery, OffsetQuery
from taskplane.api.schemas.task_types import TaskTypeOut
from taskplane.pages import Page

router = APIRouter(prefix="/task-types", tags=["task-types"])


@router.get("", response_model=Page[TaskTypeOut])
async def list_task_types(
    registry: RegistryDep, limit: LimitQuery = 50, offset: OffsetQuery = 0
) -> Any:
    types = registry.all()
    items = [
        TaskTypeOut(
            name=t.name,
            description=t.description,
            queue=t.queue,
            default_timeout_seconds=t.timeout_seconds,
            default_max_retries=t.max_retries,
            parameters_schema=t.parameters_schema,
        )
        for t in types[offset : offset + limit]
    ]
    return Page(items=items, total=len(types), limit=limit, offset=offset)
