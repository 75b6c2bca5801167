"""Schedules as code: the export document and the apply body and report
(``scheduling/as_code.py``). The CLI validates a file with the same ``ApplyBody``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from taskplane.api.schemas.configs import ConfigCreate
from taskplane.api.schemas.inputs import RequestModel, SafeStr
from taskplane.enums import ScheduleStatus
from taskplane.scheduling.as_code import EXPORT_VERSION, Entry

MAX_ENTRIES = 10_000
FileStatus = Literal["active", "paused", "inactive"]
Note = Annotated[SafeStr, Field(max_length=2000)]


class ConfigEntry(ConfigCreate):
    """A config as the export writes it and an apply reads it: the create fields, the
    status it should have and the note kept with that status."""

    status: FileStatus | None = Field(
        default=None,
        description="left out: an existing config keeps its status, a new one is inactive",
    )
    note: Note | None = Field(default=None, description="left out: the note is kept")

    def entry(self, index: int) -> Entry:
        fields = self.model_dump(exclude={"status", "note"})
        return Entry(
            index=index,
            fields=fields,
            status=ScheduleStatus(self.status) if self.status is not None else None,
            note=self.note,
            has_note="note" in self.model_fields_set,
        )


class ExportOut(BaseModel):
    version: Literal[1] = EXPORT_VERSION
    configs: list[ConfigEntry]


class ApplyBody(RequestModel):
    """An export document (``version`` may be sent back as it is) plus what to do."""

    version: Literal[1] | None = None
    configs: list[ConfigEntry] = Field(max_length=MAX_ENTRIES)
    prune: bool = Field(default=False, description="delete the configs the body does not name")
    dry_run: bool = Field(default=False, description="change nothing; say what would change")

    def entries(self) -> list[Entry]:
        return [c.entry(i) for i, c in enumerate(self.configs)]


class FieldChange(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: Any = Field(alias="from")
    to: Any


class UpdatedOut(BaseModel):
    name: str
    changes: dict[str, FieldChange]


class StatusChangedOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str
    from_: ScheduleStatus = Field(alias="from")
    to: ScheduleStatus
    note: str | None


class ApplyOut(BaseModel):
    created: list[str]
    updated: list[UpdatedOut]
    unchanged: list[str]
    deleted: list[str]
    status_changed: list[StatusChangedOut]
    dry_run: bool
