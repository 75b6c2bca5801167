"""API token bodies: the secret appears only in the create response."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from taskplane.api.schemas.inputs import RequestModel, SafeStr
from taskplane.enums import Role


class TokenCreate(RequestModel):
    name: SafeStr = Field(min_length=1, max_length=128)
    role: Role


class TokenCreated(BaseModel):
    id: int
    name: str
    role: Role
    token: str = Field(description="the token itself: shown this once, never again")


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
