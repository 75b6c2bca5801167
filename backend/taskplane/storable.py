"""What PostgreSQL can store of a JSON value: no NUL character and no lone surrogate in any
string (JSON allows both, PostgreSQL and UTF-8 do not), no infinite or NaN number, at most
``MAX_JSON_DEPTH`` levels. The request bodies (api/schemas/inputs.py) and the config
service's normalized parameters (a parameter model may turn "inf" into a float) are checked
here.
"""

from __future__ import annotations

import math
from typing import Any

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
