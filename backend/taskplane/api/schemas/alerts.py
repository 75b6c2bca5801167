"""Alert incidents as ``GET /alerts`` shows them (API.md, Alerts)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from taskplane.alerts.incidents import IncidentState, Kind


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    config_id: int
    name: str
    kind: Kind
    state: IncidentState
    opened_at: datetime
    resolved_at: datetime | None
    detail: str
