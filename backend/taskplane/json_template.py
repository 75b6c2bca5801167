"""``Template``: a JSON text with named holes, encoded once, filled many times.

A producer that writes many JSON texts of one shape (a registration per config, a run
message per fire, a metadata object per config of a bulk chunk) makes the shape's template
once and fills its holes per text::

    t = Template.of({"id": Hole("id"), "kind": "cron", "kwargs": Hole("kwargs")})
    t.fill(id=7, kwargs={"a": 1}) == json.dumps({"id": 7, "kind": "cron", "kwargs": {"a": 1}})

The text is exactly what ``json.dumps(value, **options)`` writes with each hole's value in
its place (tests hold the two equal on generated values). Holes are found by position, never
by searching the text for a marker: a subtree without a hole is encoded by one ``json.dumps``
call, a dict or list holding a hole item by item with the same separators. ``fill`` (by
name) and ``fill_in`` (in ``holes`` order) encode each value as ``json.dumps`` with the
template's options would (a ``str`` by the encoder
``json.dumps`` itself uses, an ``int`` by its repr); a value it cannot encode raises
``TypeError`` / ``ValueError`` as ``json.dumps`` does.

Only the options these texts use are supported: ``separators``, ``default``, ``allow_nan``
and ``ensure_ascii`` (no ``indent``, no ``sort_keys``). A dict that holds a hole must have
string keys.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
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


@functools.lru_cache(maxsize=64)
def _dumps(
    separators: tuple[str, str], default: Callable[[Any], Any] | None, allow_nan: bool, ascii_: bool
) -> Callable[[Any], str]:
    """One encoder per set of options, shared by every template made with them."""
    return json.JSONEncoder(
        separators=separators, default=default, allow_nan=allow_nan, ensure_ascii=ascii_
    ).encode


@functools.lru_cache(maxsize=256)
def _holes(names: tuple[str, ...]) -> tuple[str, ...]:
    return names  # equal hole lists: one tuple


class Template:
    """A JSON text cut at its holes: ``parts[0]``, then per hole its value and the next
    part. Make one with ``of``; fill it by name (``fill``) or in ``holes`` order
    (``fill_in``, the engine's per-fire path)."""

    __slots__ = ("_dumps", "_first", "_rest", "_string", "holes")

    def __init__(
        self, parts: list[str], names: list[str], dumps: Callable[[Any], str], ensure_ascii: bool
    ) -> None:
        if len(set(names)) != len(names):
            raise ValueError(f"a hole's name stands once in a template: {names}")
        self._first = parts[0]
        self._rest = tuple(parts[1:])
        self.holes = _holes(tuple(names))
        """The names of the holes, in the order they stand in the text."""
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
        allow_nan=..., ensure_ascii=...)`` with a hole wherever ``value`` holds a ``Hole``
        (each name once)."""
        dumps = _dumps(separators, default, allow_nan, ensure_ascii)
        item_sep, key_sep = separators
        string = encode_basestring_ascii if ensure_ascii else encode_basestring
        parts: list[str] = [""]
        names: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, Hole):
                names.append(node.name)
                parts.append("")
            elif not _has_hole(node):
                parts[-1] += dumps(node)
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
        return cls(parts, names, dumps, ensure_ascii)

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
        if len(values) != len(self.holes) or not all(n in values for n in self.holes):
            raise TypeError(f"holes {list(self.holes)}, given {sorted(values)}")
        return self.fill_in(*(values[name] for name in self.holes))

    def fill_in(self, *values: Any) -> str:
        """The text with the holes' values in ``holes`` order; TypeError for a wrong count."""
        rest = self._rest
        if len(values) != len(rest):
            raise TypeError(f"{len(rest)} holes {list(self.holes)}, given {len(values)}")
        string, dumps = self._string, self._dumps
        out = [self._first]
        for value, part in zip(values, rest):  # noqa: B905 (the lengths are equal)
            kind = type(value)  # ``encode``, inlined: this is the engine's per-fire path
            if kind is str:
                out.append(string(value))
            elif kind is int:
                out.append(int.__repr__(value))
            else:
                out.append(dumps(value))
            out.append(part)
        return "".join(out)
