"""Read-only database work on a plain connection: no ORM session, no transaction.

A request that only reads (a config, a page of configs) needs one round trip, its query. On
a session the same read costs a BEGIN, the query and a ROLLBACK; here the connection runs in
autocommit, so asyncpg sends the query alone. Use it only for single-statement reads (one
statement sees one snapshot anyway).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from taskplane.db.session import close_quietly


@contextlib.asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit, returned to the pool afterwards. A connection
    PostgreSQL dropped meanwhile is discarded quietly (the request's own error, if any,
    is the one raised)."""
    conn = await engine.connect()
    try:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn
    finally:
        await close_quietly(conn, "connection")
