"""Redis replies as text, for what the broker's own pool reads.

The process pools decode every reply (``resources.make_redis``: ``decode_responses=True``);
the broker's taskiq-redis pool does not (message bodies stay bytes), so what that pool
reads and shares with the others (stream names and message ids, the worker heartbeats its
dead-worker check lists) goes through ``text``.
"""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str:
    """A reply as text, from either kind of pool."""
    return value.decode() if isinstance(value, bytes) else str(value)
