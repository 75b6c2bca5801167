"""The input rules every request obeys: the bounds of ids and offsets, and what every body
may carry.

Every string that reaches PostgreSQL must be storable: no NUL character and no lone surrogate
(JSON allows both, PostgreSQL and UTF-8 do not), and no JSON number may be infinite or NaN
(``1e999999`` parses to infinity). Bodies that break this are a 422 naming the field, never a
500 from the driver (the checks themselves: ``taskplane/storable.py``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

from taskplane.storable import check_json, check_text

MAX_ID = 2**63 - 1  # PostgreSQL bigint
MAX_OFFSET = 2**31 - 1


SafeStr = Annotated[str, AfterValidator(check_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are refused, numbers must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
