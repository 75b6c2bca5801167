"""Group the worker's per-message Redis work: every call made in one event-loop turn goes
to Redis in ONE round trip, while each caller still awaits its own reply.

- ``AckBatcher``: acknowledgements (XACK + XDEL), one pipeline per turn. A pipeline here is
  not a transaction: each ack stays what it was alone.
- ``ScriptBatcher``: calls of a Lua script that takes a *list* of items (the recorder's
  claim and finish scripts): the turn's items go to ONE script call, so each item keeps the
  atomicity it had alone and the batch as a whole is all or nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript


class _Batcher:
    """Collects calls of one event-loop turn and runs them with ``_run`` (subclasses)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._flush_task: asyncio.Task[None] | None = None

    async def _submit(self, call: Any) -> Any:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((call, done))
        if self._flush_task is None:
            self._flush_task = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the other calls of this turn join the batch
        batch, self._pending = self._pending, []
        self._flush_task = None
        try:
            results = await self._run([call for call, _ in batch])
        except BaseException as exc:  # also a cancellation: no caller may wait forever
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, done), result in zip(batch, results, strict=True):
            if done.done():
                continue
            if isinstance(result, Exception):
                done.set_exception(result)
            else:
                done.set_result(result)

    async def _run(self, calls: list[Any]) -> list[Any]:
        raise NotImplementedError


class AckBatcher(_Batcher):
    """``await acks.ack(stream, id)``: XACK + XDEL, one pipeline per turn. (Delaying an ack
    is safe: a message re-delivered before its ack is skipped by its ``done:`` claim.)"""

    def __init__(self, redis: Redis, group: str) -> None:
        super().__init__(redis)
        self.group = group

    async def ack(self, stream: str, msg_id: str) -> None:
        await self._submit((stream, msg_id))

    async def _run(self, calls: list[Any]) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, msg_id in calls:
                pipe.xack(stream, self.group, msg_id)
                pipe.xdel(stream, msg_id)
            replies = await pipe.execute(raise_on_error=False)
        out: list[Any] = []
        for i in range(len(calls)):
            errors = [r for r in replies[2 * i : 2 * i + 2] if isinstance(r, Exception)]
            out.append(errors[0] if errors else None)
        return out


class ScriptBatcher(_Batcher):
    """``await batcher.call(keys, args)``: one item of a batch script, whose KEYS are the
    ``head_keys`` then every item's keys in order, whose ARGV are the ``head_args`` then every
    item's args in order, and which returns one reply per item (a Lua table)."""

    def __init__(
        self,
        redis: Redis,
        script: AsyncScript,
        *,
        head_keys: Sequence[str] = (),
        head_args: Sequence[Any] = (),
    ) -> None:
        super().__init__(redis)
        self.script = script
        self.head_keys = list(head_keys)
        self.head_args = list(head_args)

    async def call(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self._submit((keys, args))

    async def _run(self, calls: list[Any]) -> list[Any]:
        all_keys = list(self.head_keys)
        all_args = list(self.head_args)
        for keys, args in calls:
            all_keys.extend(keys)
            all_args.extend(args)
        replies = await self.script(keys=all_keys, args=all_args)
        if not isinstance(replies, list) or len(replies) != len(calls):
            raise RuntimeError(f"batch script answered {replies!r} for {len(calls)} items")
        return replies
