"""The input rules every request obeys: the bounds of ids and offsets, and what every body
may carry.

Every string that reaches PostgreSQL must be storable: no NUL character and no lone surrogate
(JSON allows both, PostgreSQL and UTF-8 do not), and no JSON number may be infinite or NaN
(``1e999999`` parses to infinity). Bodies that break this are a 422 naming the field, never a
500 from the driver (the checks themselves: ``taskplane/storable.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from taskplane.storable import check_json, check_text

MAX_ID = 2**63 - 1  # PostgreSQL bigint
MAX_OFFSET = 2**31 - 1


SafeStr = Annotated[str, AfterValidator(check_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]


def _utc(moment: datetime) -> datetime:
    """A naive time is UTC (as a config's ``run_date``); one UTC cannot hold is refused."""
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("out of range") from None


Instant = Annotated[datetime, AfterValidator(_utc)]
"""An ISO time in a body, as aware UTC."""


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are refused, numbers must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


ConfigId = Annotated[int, Field(ge=1, le=MAX_ID)]


class ConfigIdsBody(RequestModel):
    """A body naming up to 1,000 configs. An id given more than once is acted on once (1,000
    copies of one id are one action, not 1,000) and reported in the answer's ``duplicates``."""

    config_ids: list[ConfigId] = Field(min_length=1, max_length=1000)

    @property
    def unique_ids(self) -> list[int]:
        """The ids in the order given, each once."""
        return list(dict.fromkeys(self.config_ids))

    @property
    def duplicate_ids(self) -> list[int]:
        """The ids given more than once, each once, in the order first repeated."""
        seen: set[int] = set()
        repeated: dict[int, None] = {}
        for config_id in self.config_ids:
            if config_id in seen:
                repeated[config_id] = None
            seen.add(config_id)
        return list(repeated)


DUPLICATES_DESCRIPTION = "ids given more than once: each was acted on once"
