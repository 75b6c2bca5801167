"""What a request costs: SQL statements (through the engine or the row reader) and Redis
round trips, counted while it runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from redis.asyncio.connection import AbstractConnection
from sqlalchemy import event


@dataclass
class Cost:
    sql: int = 0
    redis: int = 0


@contextmanager
def measured(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cost]:
    cost = Cost()
    engine = app.state.resources.engine.sync_engine
    original = AbstractConnection.send_packed_command

    def on_statement(*args: Any) -> None:
        cost.sql += 1

    async def send(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        cost.redis += 1  # one write to the socket per command or per pipeline
        await original(self, *args, **kwargs)

    def counting(method: Any) -> Any:
        async def counted(self: asyncpg.Pool, *args: Any, **kwargs: Any) -> Any:
            cost.sql += 1  # a statement of the row reader (db/rows.py), past the engine
            return await method(self, *args, **kwargs)

        return counted

    event.listen(engine, "before_cursor_execute", on_statement)
    with monkeypatch.context() as patch:
        patch.setattr(AbstractConnection, "send_packed_command", send)
        for name in ("fetch", "fetchrow"):
            patch.setattr(asyncpg.Pool, name, counting(getattr(asyncpg.Pool, name)))
        try:
            yield cost
        finally:
            event.remove(engine, "before_cursor_execute", on_statement)
