"""``Template``: a JSON text with named holes, encoded once, filled many times.

A producer that writes many JSON texts of one shape (a registration per config, a run
message per fire, a metadata object per config of a bulk chunk) makes the shape's template
once and fills its holes per text::

    t = Template.of({"id": Hole("id"), "kind": "cron", "kwargs": Hole("kwargs")})
    t.fill(id=7, kwargs={"a": 1}) == json.dumps({"id": 7, "kind": "cron", "kwargs": {"a": 1}})

The text is exactly what ``json.dumps(value, **options)`` writes with each hole's value in
its place (tests hold the two equal on generated values). Holes are found by position, never
by searching the text for a marker: a subtree without a hole is encoded by one ``json.dumps``
call, a dict or list holding a hole item by item with the same separators. ``fill`` encodes
each value as ``json.dumps`` with the template's options would (a ``str`` by the encoder
``json.dumps`` itself uses, an ``int`` by its repr); a value it cannot encode raises
``TypeError`` / ``ValueError`` as ``json.dumps`` does.

Only the options these texts use are supported: ``separators``, ``default``, ``allow_nan``
and ``ensure_ascii`` (no ``indent``, no ``sort_keys``). A dict that holds a hole must have
string keys.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

__all__ = ["Hole", "Template"]


@dataclass(frozen=True, slots=True)
class Hole:
    """A place of a template's value filled per text, by ``name``. Not JSON itself: a hole
    that reached ``json.dumps`` would raise (the template never lets one)."""

    name: str


def _has_hole(value: Any) -> bool:
    if isinstance(value, Hole):
        return True
    if isinstance(value, dict):
        return any(_has_hole(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_hole(v) for v in value)
    return False


class Template:
    """A JSON text cut at its holes: ``parts[0]``, then per hole its value and the next
    part. Make one with ``of``."""

    __slots__ = ("_dumps", "_first", "_names", "_rest", "_string")

    def __init__(
        self, parts: list[str], names: list[str], dumps: Callable[[Any], str], ensure_ascii: bool
    ) -> None:
        self._first = parts[0]
        self._rest = tuple(zip(names, parts[1:], strict=True))
        self._names = frozenset(names)
        self._dumps = dumps
        self._string = encode_basestring_ascii if ensure_ascii else encode_basestring

    @classmethod
    def of(
        cls,
        value: Any,
        *,
        separators: tuple[str, str] = (", ", ": "),
        default: Callable[[Any], Any] | None = None,
        allow_nan: bool = True,
        ensure_ascii: bool = True,
    ) -> Template:
        """The template of ``value``: ``json.dumps(value, separators=..., default=...,
        allow_nan=..., ensure_ascii=...)`` with a hole wherever ``value`` holds a ``Hole``."""
        encoder = json.JSONEncoder(
            separators=separators, default=default, allow_nan=allow_nan, ensure_ascii=ensure_ascii
        )
        item_sep, key_sep = separators
        string = encode_basestring_ascii if ensure_ascii else encode_basestring
        parts: list[str] = [""]
        names: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, Hole):
                names.append(node.name)
                parts.append("")
            elif not _has_hole(node):
                parts[-1] += encoder.encode(node)
            elif isinstance(node, dict):
                parts[-1] += "{"
                for i, (key, item) in enumerate(node.items()):
                    if not isinstance(key, str):
                        raise TypeError(f"a dict holding a hole needs str keys, not {key!r}")
                    parts[-1] += (item_sep if i else "") + string(key) + key_sep
                    walk(item)
                parts[-1] += "}"
            else:  # a list or tuple holding a hole
                parts[-1] += "["
                for i, item in enumerate(node):
                    parts[-1] += item_sep if i else ""
                    walk(item)
                parts[-1] += "]"

        walk(value)
        return cls(parts, names, encoder.encode, ensure_ascii)

    @property
    def holes(self) -> frozenset[str]:
        """The names of the holes (a name may stand in several places)."""
        return self._names

    def encode(self, value: Any) -> str:
        """One value as this template writes it into a hole."""
        kind = type(value)
        if kind is str:
            text: str = self._string(value)
            return text
        if kind is int:
            return int.__repr__(value)
        return self._dumps(value)

    def fill(self, **values: Any) -> str:
        """The text with every hole's value (by name) in place; TypeError for a missing or
        unknown name."""
        if values.keys() != self._names:
            raise TypeError(f"holes {sorted(self._names)}, given {sorted(values)}")
        return self.fill_from(values)

    def fill_from(self, values: Mapping[str, Any]) -> str:
        """``fill`` from a mapping that holds (at least) every hole's value."""
        encode = self.encode
        out = [self._first]
        for name, part in self._rest:
            out.append(encode(values[name]))
            out.append(part)
        return "".join(out)
