"""The audit trail's response model (``GET /audit``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEntryOut(BaseModel):
    id: str = Field(
        description="the entry's id (a Redis stream id, '<ms>-<seq>'); never reused; pass the "
        "last item's as `after` for the next page"
    )
    at: datetime
    actor: str = Field(description="an API token's name ('admin' for the settings' token), 'cli'")
    action: str = Field(
        description="created, updated, deleted, started, stopped, paused, resumed, reloaded, "
        "run_requested, skipped_runs, backfill, applied, token_created, token_revoked"
    )
    config_id: int | None
    config_name: str | None
    note: str | None
    details: dict[str, Any]
