"""Redis replies as text, for what a pool that does not decode reads.

The process pools decode every reply (``redis_clients.make_redis``: ``decode_responses=True``);
the broker's taskiq-redis pool does not (message bodies stay bytes), and a raw EVALSHA sender
reads undecoded replies too, so what those read and share with the others (stream names and
message ids, the worker heartbeats its dead-worker check lists, a script's statuses) goes
through ``text``: the one such reading.
"""

from __future__ import annotations

from typing import Any, overload


@overload
def text(value: None) -> None: ...
@overload
def text(value: Any) -> str: ...
def text(value: Any) -> str | None:
    """A reply as text, from either kind of pool; a nil reply stays None."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
