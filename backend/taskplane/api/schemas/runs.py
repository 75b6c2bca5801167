"""Run now and batch run."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from taskplane.api.schemas.inputs import MAX_ID, RequestModel
from taskplane.enums import Trigger

ConfigId = Annotated[int, Field(ge=1, le=MAX_ID)]


class RunOut(BaseModel):
    config_id: int
    task_id: str
    trigger: Trigger


class BatchRunBody(RequestModel):
    config_ids: list[ConfigId] = Field(min_length=1, max_length=1000)


class Dispatched(BaseModel):
    config_id: int
    task_id: str


class BatchError(BaseModel):
    config_id: int
    detail: str


class BatchRunOut(BaseModel):
    dispatched: list[Dispatched]
    errors: list[BatchError]
