"""The input rules every request obeys: the bounds of ids and offsets, and what every body
may carry.

Every string that reaches PostgreSQL must be storable: no NUL character and no lone surrogate
(JSON allows both, PostgreSQL and UTF-8 do not), and no JSON number may be infinite or NaN
(``1e999999`` parses to infinity). Bodies that break this are a 422 naming the field, never a
500 from the driver.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_ID = 2**63 - 1  # PostgreSQL bigint
MAX_OFFSET = 2**31 - 1
MAX_JSON_DEPTH = 32


def check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


class JsonValueError(ValueError):
    """A value inside a JSON object that cannot be stored; ``path`` leads to it from the
    object (keys, and list indexes as integers), so the 422 names the deepest field."""

    def __init__(self, msg: str, path: tuple[str | int, ...]) -> None:
        super().__init__(msg)
        self.path = path


def check_json(value: Any, path: tuple[str | int, ...] = ()) -> Any:
    """Reject what JSON can carry but PostgreSQL cannot store (``JsonValueError``)."""
    if len(path) > MAX_JSON_DEPTH:
        raise JsonValueError(f"nested deeper than {MAX_JSON_DEPTH} levels", path)
    if isinstance(value, str):
        try:
            check_text(value)
        except ValueError as exc:
            raise JsonValueError(str(exc), path) from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise JsonValueError("numbers must be finite", path)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json(str(key), (*path, str(key)))
            check_json(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, (*path, index))
    return value


SafeStr = Annotated[str, AfterValidator(check_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]


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
