"""A Redis reply as text, from a decoding pool or from one that returns bytes."""

from __future__ import annotations

from typing import Any

import pytest

from taskplane.state.replies import text


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"taskplane:stream:default", "taskplane:stream:default"),
        ("1700000000000-0", "1700000000000-0"),
        (b"\xc3\xa9t\xc3\xa9", "été"),
        (b"", ""),
        (7, "7"),
        (None, None),  # a nil reply stays nil: "absent" is not the text "None"
    ],
)
def test_text_reads_either_kind_of_reply(reply: Any, expected: str | None) -> None:
    assert text(reply) == expected
