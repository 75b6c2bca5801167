"""``json_template.Template``: a filled template is, byte for byte, ``json.dumps`` of the value
with the holes' values in place, for generated values and awkward strings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskplane import json_template
from taskplane.json_template import Hole, Template

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()  # any code point, lone surrogates included
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
OPTIONS: list[dict[str, Any]] = [
    {},
    {"separators": (",", ":")},
    {"ensure_ascii": False},
    {"separators": (",", ":"), "default": str, "allow_nan": False},
]


def _with_holes(value: Any, names: list[str], draw: Any) -> Any:
    """``value`` with some of its places made holes (the values they held go to ``filled``)."""
    if draw(st.integers(0, 3)) == 0:
        names.append(f"h{len(names)}")
        return (Hole(names[-1]), value)
    if isinstance(value, dict):
        return {k: _with_holes(v, names, draw) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_holes(v, names, draw) for v in value]
    return value


def _split(marked: Any, filled: dict[str, Any]) -> Any:
    """The template's value (holes in place) from ``_with_holes``'s, noting each hole's value."""
    if isinstance(marked, tuple):
        hole, value = marked
        filled[hole.name] = value
        return hole
    if isinstance(marked, dict):
        return {k: _split(v, filled) for k, v in marked.items()}
    if isinstance(marked, list):
        return [_split(v, filled) for v in marked]
    return marked


def _plain(marked: Any) -> Any:
    if isinstance(marked, tuple):
        return marked[1]
    if isinstance(marked, dict):
        return {k: _plain(v) for k, v in marked.items()}
    if isinstance(marked, list):
        return [_plain(v) for v in marked]
    return marked


@settings(max_examples=300, deadline=None)
@given(data=st.data(), value=VALUES, options=st.sampled_from(OPTIONS))
def test_a_filled_template_is_json_dumps(data: Any, value: Any, options: dict[str, Any]) -> None:
    names: list[str] = []
    marked = _with_holes(value, names, data.draw)
    filled: dict[str, Any] = {}
    template = Template.of(_split(marked, filled), **options)
    assert template.fill(**filled) == json.dumps(_plain(marked), **options)
    # the holes' values come from anywhere: a second fill with other values
    other = {name: data.draw(VALUES) for name in filled}
    expected = json.dumps(_replace(_split(marked, {}), other), **options)
    assert template.fill(**other) == expected
    # some holes filled now (``partial``), the others later: the same text
    now = {name: v for name, v in other.items() if data.draw(st.booleans())}
    later = template.partial(**now)
    assert later.holes == tuple(name for name in template.holes if name not in now)
    assert later.fill(**{n: v for n, v in other.items() if n not in now}) == expected


def test_partial_refuses_a_name_that_is_no_hole() -> None:
    template = Template.of({"a": Hole("a"), "b": Hole("b")})
    with pytest.raises(TypeError, match="given"):
        template.partial(c=1)
    assert template.partial(b=[1]).fill(a="x") == json.dumps({"a": "x", "b": [1]})


def _replace(value: Any, filled: dict[str, Any]) -> Any:
    if isinstance(value, Hole):
        return filled[value.name]
    if isinstance(value, dict):
        return {k: _replace(v, filled) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, filled) for v in value]
    return value


AWKWARD = [
    'say "hi"',
    "back\\slash",
    "tab\tnew\nline\x00nul\x1f",
    "ünïcödé ✓ 𝄞 日本",
    "\ud800 lone surrogate",
    "</script>",
    "",
    2**64 + 1,
    -(2**90),
    None,
    True,
    1.5e300,
    {"nested": ["a", {"b": None}]},
]


@pytest.mark.parametrize("hole_value", AWKWARD)
@pytest.mark.parametrize("options", OPTIONS)
def test_awkward_values_fill_as_json_dumps_writes_them(
    hole_value: Any, options: dict[str, Any]
) -> None:
    shape = {"task_id": Hole("id"), "labels": {"a": 1, "due_at": Hole("due")}, "x": [Hole("x")]}
    template = Template.of(shape, **options)
    assert template.holes == ("id", "due", "x")
    text = template.fill(id=hole_value, due="2030-01-01T00:00:00+00:00", x=hole_value)
    expected = {
        "task_id": hole_value,
        "labels": {"a": 1, "due_at": "2030-01-01T00:00:00+00:00"},
        "x": [hole_value],
    }
    assert text == json.dumps(expected, **options)
    assert template.fill_in(hole_value, "2030-01-01T00:00:00+00:00", hole_value) == text


def test_a_lone_surrogate_is_escaped_in_ascii_and_refused_by_utf8() -> None:
    """Redis gets UTF-8: an ASCII template carries a lone surrogate as its JSON escape; a
    non-ASCII one holds it raw, as json.dumps does, and encoding it for Redis refuses it
    with a UnicodeEncodeError (never a corrupt byte sequence)."""
    ascii_text = Template.of({"n": Hole("n")}).fill(n="\udc80")
    assert ascii_text == '{"n": "\\udc80"}'
    assert json.loads(ascii_text.encode())["n"] == "\udc80"
    raw = Template.of({"n": Hole("n")}, ensure_ascii=False).fill(n="\udc80")
    with pytest.raises(UnicodeEncodeError):
        raw.encode()


def test_a_hole_must_be_named_right_and_values_must_be_json() -> None:
    template = Template.of({"a": Hole("a")}, allow_nan=False)
    with pytest.raises(TypeError):
        template.fill()
    with pytest.raises(TypeError):
        template.fill(a=1, b=2)
    with pytest.raises(TypeError):
        template.fill(b=2)
    with pytest.raises(TypeError):
        template.fill_in(1, 2)
    with pytest.raises(ValueError):
        Template.of([Hole("a"), Hole("a")])  # a name stands once: fill_in's order is clear
    with pytest.raises(ValueError):
        template.fill(a=float("nan"))
    with pytest.raises(TypeError):
        template.fill(a=object())
    assert Template.of({"a": Hole("a")}, default=str).fill(a=3j) == '{"a": "3j"}'


def test_keys_are_written_as_json_dumps_writes_them_and_a_hole_is_not_json() -> None:
    assert Template.of({1: Hole("a")}).fill(a="x") == json.dumps({1: "x"})
    with pytest.raises(TypeError):
        Template.of({Hole("k"): 1})  # a hole is a value, never a key
    with pytest.raises(TypeError):
        json.dumps(Hole("a"))
    assert Template.of({1: "no hole"}).fill() == json.dumps({1: "no hole"})


def test_a_value_holding_the_stand_ins_nonce_is_never_taken_for_a_hole() -> None:
    """The stand-ins name a per-process nonce: a value that holds it (here, forced) makes
    the template draw another, so the text is still cut at the holes only."""
    nonce = json_template._nonce
    value = {"a": f"{nonce}.0.", "b": Hole("b"), "c": [f'"{nonce}.1."']}
    template = Template.of(value)
    assert json_template._nonce != nonce
    assert template.holes == ("b",)
    assert template.fill(b=7) == json.dumps({"a": f"{nonce}.0.", "b": 7, "c": [f'"{nonce}.1."']})
