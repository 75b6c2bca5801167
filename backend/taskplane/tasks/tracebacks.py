"""Tracebacks as the API shows them: every frame's file relative to the import root it was
loaded from (site-packages, the standard library, the project), never the server's absolute
install paths (anyone who may read an execution would learn the layout of the host)."""

from __future__ import annotations

import os
import sys
import traceback
from functools import cache
from types import TracebackType


@cache
def _roots(path: tuple[str, ...]) -> tuple[str, ...]:
    """The absolute import roots, longest first, each ending with a separator."""
    found = {os.path.join(os.path.abspath(p), "") for p in path if p}
    return tuple(sorted(found, key=len, reverse=True))


def relative(filename: str) -> str:
    """``filename`` relative to the longest import root that holds it, else its base name
    (a file outside every root says nothing about the host but its name)."""
    if not os.path.isabs(filename):
        return filename
    for root in _roots(tuple(sys.path)):
        if filename.startswith(root):
            return filename[len(root) :]
    return os.path.basename(filename)


def format_frames(tb: TracebackType | None) -> str:
    """``traceback.format_tb`` with each frame's file made ``relative``."""
    frames = traceback.StackSummary.from_list(
        [
            traceback.FrameSummary(relative(f.filename), f.lineno, f.name, line=f.line)
            for f in traceback.extract_tb(tb)
        ]
    )
    return "".join(frames.format())
