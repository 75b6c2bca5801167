"""Tests' access to a stored registration in its layout (``registration_store``): read its
text, lose it, or put any text in its place (one that ``store`` cannot split is kept as an
unreadable shape, as a corrupted one would read)."""

from __future__ import annotations

from redis.asyncio import Redis

from taskplane.scheduling import registration_store
from taskplane.state.keys import Keys

UNREADABLE = "unreadable00"


async def stored_text(redis: Redis, keys: Keys, config_id: int) -> str | None:
    """The registration text of a config as stored (None: not registered)."""
    value = await redis.hget(keys.schedule(config_id), registration_store.FIELD)
    if value is None:
        return None
    value = value.decode() if isinstance(value, bytes) else value
    shape = await redis.hget(keys.registration_shapes, value[: registration_store.SHAPE_ID_LEN])
    assert shape is not None, "a stored registration's shape is missing"
    shape = shape.decode() if isinstance(shape, bytes) else shape
    return registration_store.join(config_id, value, shape)


async def drop(redis: Redis, keys: Keys, config_id: int) -> None:
    """Lose a config's registration (its due score stays), as a damaged Redis would."""
    await redis.hdel(keys.schedule(config_id), registration_store.FIELD)


async def put_text(redis: Redis, keys: Keys, config_id: int, text: str) -> None:
    """Store ``text`` as the config's registration, bypassing core (a text ``store`` cannot
    split is stored as a shape of its own, which reads as unreadable)."""
    try:
        value, sid, shape = registration_store.store(text)
    except ValueError:
        value, sid, shape = UNREADABLE, UNREADABLE, text
    await redis.hset(keys.registration_shapes, sid, shape)
    await redis.hincrby(keys.registration_refs, sid, 1)
    await redis.hset(keys.schedule(config_id), registration_store.FIELD, value)
