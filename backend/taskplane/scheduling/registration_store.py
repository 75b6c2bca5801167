"""How a registration text (``registration.encode``'s) is kept in Redis, and read back: the
one place that splits and joins it (core writes and reads through it).

A million registrations each in a key of its own cost ~300 bytes apiece, most of it the
key's overhead and text every config of a kind repeats (task, labels, spec). So a text is
kept in two parts:

- its **shape**: the text without the config id and, when they fit, its parameters
  (``kwargs``), stored once for every config that has it, in the shapes hash
  (``Keys.registration_shapes``: shape id -> shape text), with a reference count
  (``Keys.registration_refs``) that deletes it with its last registration;
- its **value**: field ``r`` of the config's state hash (``Keys.schedule``): the shape id
  (``SHAPE_ID_LEN`` characters of the shape's SHA1, base64url), then the parameters as JSON.
  A value longer than ``INLINE_MAX`` bytes would turn the whole hash from a listpack into a
  hashtable (Redis's default ``hash-max-listpack-value`` is 64): then the parameters stay
  in the shape (a shape of that config alone) and the value is the id only.

The value names the whole text (the id hashes the rest), so the engine's fire script checks
that a registration is still the one a fire was planned from by comparing it (``check_of``).

Readers get the **read form** ``"{value}\\n{text}"`` (``read_form``; the text rebuilt by
``join``): ``text_of`` gives the text, ``check_of`` the value. A plain text (no newline:
compact JSON has none) reads as itself, with no value to check.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, NamedTuple

FIELD = "r"
"""The state hash's field that holds a registration's value."""
SHAPE_ID_LEN = 12
"""Characters of a shape id (72 bits of the shape's SHA1)."""
INLINE_MAX = 64
"""The longest value kept with its parameters (bytes): Redis's default
``hash-max-listpack-value``."""
_SEPARATORS = (",", ":")
_HEAD = '{"labels":{'


class Stored(NamedTuple):
    """What a registration text is stored as: its value, its shape's id and text."""

    value: str
    shape_id: str
    shape: str


_dumps = json.JSONEncoder(separators=_SEPARATORS, ensure_ascii=False).encode
_strict_dumps = json.JSONEncoder(separators=_SEPARATORS, ensure_ascii=False, allow_nan=False).encode


def shape_id(shape: str) -> str:
    digest = hashlib.sha1(shape.encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode()[:SHAPE_ID_LEN]


_SHAPES_KEPT = 4096
_shapes: dict[Any, tuple[str, str]] = {}
"""Shape texts and ids made (``store``), by the fields they are made of: configs of one kind
differ by id and parameters only, and making a shape was most of a store's time."""


def _shape(labels: dict[str, Any], rest: dict[str, Any]) -> tuple[str, str]:
    """(shape id, shape text) of a text's labels (without the config id) and other fields."""
    try:  # each value with its type: ``True == 1`` and ``1.0 == 1`` in Python, not in JSON
        key: Any = (
            tuple((k, type(v), v) for k, v in labels.items()),
            tuple((k, type(v), v) for k, v in rest.items()),
        )
        found = _shapes.get(key)
    except TypeError:  # a list among the values (calendar dates): made for this one alone
        key, found = None, None
    if found is None:
        shape = _dumps({"labels": labels, **rest})
        found = (shape_id(shape), shape)
        if key is not None:
            if len(_shapes) >= _SHAPES_KEPT:
                _shapes.clear()
            _shapes[key] = found
    return found


def store(text: str) -> Stored:
    """The stored parts of a registration text (a JSON object with labels, the config id
    among them). ValueError when it is not one."""
    task = json.loads(text)
    if not isinstance(task, dict) or not isinstance(task.get("labels"), dict):
        raise ValueError("a registration is a JSON object with labels")
    labels = {k: v for k, v in task["labels"].items() if k != "config_id"}
    rest = {k: v for k, v in task.items() if k != "labels" and k != "kwargs"}
    kwargs = task.get("kwargs")
    if kwargs is not None:
        sid, shape = _shape(labels, rest)
        inline = sid + _dumps(kwargs)
        if len(inline.encode()) <= INLINE_MAX:
            return Stored(inline, sid, shape)
        rest["kwargs"] = kwargs
    sid, shape = _shape(labels, rest)
    return Stored(sid, sid, shape)


def with_parameters(shape: Stored, parameters: Any) -> Stored | None:
    """The stored parts of a registration whose text is ``shape``'s (a ``store`` of a text of
    the same kind with empty parameters) with ``parameters`` instead: what ``store`` makes
    of that text, without writing and parsing it (``registration.stored``). None when
    ``store`` would keep them in the shape (too long) or they are no plain JSON."""
    try:
        value = shape.shape_id + _strict_dumps(parameters)
    except (TypeError, ValueError):
        return None
    return Stored(value, shape.shape_id, shape.shape) if len(value.encode()) <= INLINE_MAX else None


def join(config_id: int, value: str, shape: str) -> str:
    """The registration text of a stored value and its shape (the config id put back)."""
    if not shape.startswith(_HEAD):
        raise ValueError("a registration shape starts with its labels")
    body = shape[len(_HEAD) :]
    head = f'{_HEAD}"config_id":{int(config_id)}'
    text = head + body if body.startswith("}") else f"{head},{body}"
    if len(value) > SHAPE_ID_LEN:
        text = f'{text[:-1]},"kwargs":{value[SHAPE_ID_LEN:]}}}'
    return text


def read_form(config_id: int, value: Any, shape: Any) -> str:
    """What readers get (``core.raw_many``): the value and the rebuilt text; without its
    shape (gone: the stored registration is unreadable), the value and no text."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(shape, bytes):
        shape = shape.decode()
    try:
        text = join(config_id, value, shape) if shape else ""
    except ValueError:
        text = ""
    return f"{value}\n{text}"


def text_of(raw: Any) -> Any:
    """The text of a read form (a plain text, or None, as it is)."""
    if isinstance(raw, bytes):
        raw = raw.decode()
    if isinstance(raw, str) and "\n" in raw:
        return raw.partition("\n")[2]
    return raw


def check_of(raw: Any) -> str:
    """The value of a read form ('' for a plain text: nothing to check)."""
    if isinstance(raw, bytes):
        raw = raw.decode()
    return raw.partition("\n")[0] if isinstance(raw, str) and "\n" in raw else ""
