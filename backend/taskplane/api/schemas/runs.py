"""Run now and batch run."""

from __future__ import annotations

from pydantic import BaseModel, Field

from taskplane.api.schemas.inputs import DUPLICATES_DESCRIPTION, ConfigIdsBody
from taskplane.enums import Trigger


class RunOut(BaseModel):
    config_id: int
    task_id: str
    trigger: Trigger


class BatchRunBody(ConfigIdsBody):
    pass


class Dispatched(BaseModel):
    config_id: int
    task_id: str


class BatchError(BaseModel):
    config_id: int
    detail: str


class BatchRunOut(BaseModel):
    dispatched: list[Dispatched]
    errors: list[BatchError]
    duplicates: list[int] = Field(default_factory=list, description=DUPLICATES_DESCRIPTION)
