"""Engine and session factory, built once per process from the settings."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from taskplane.settings import Settings

log = logging.getLogger(__name__)


def make_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    url = settings.database_url.get_secret_value()
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")  # cascade deletes need this on SQLite
            cursor.execute("PRAGMA journal_mode=WAL")  # api, worker, scheduler share the file
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        # no overflow by default: an overflow connection is opened at checkout and closed at
        # return, so a burst past the pool paid a connect (and a new PostgreSQL backend) per
        # query; in B4's profile asyncpg's connect took 8 % of the api's CPU
        max_overflow=settings.db_max_overflow,
        pool_timeout=10,
        connect_args={"timeout": 10, "command_timeout": 60},
        **kwargs,
    )
    event.listen(engine.sync_engine, "checkout", _discard_closed)
    return engine


def _discard_closed(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection PostgreSQL has closed (a restart, an idle timeout) is replaced
    at checkout, without a round trip: asyncpg notices the closed socket by itself. (The
    pool's pre-ping costs three round trips per checkout: BEGIN, a ping, ROLLBACK.) A
    connection that dies unnoticed fails its query, is invalidated, and the request gets
    the 503 of an unreachable PostgreSQL."""
    driver = getattr(dbapi_conn, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("the pooled connection was closed by PostgreSQL")


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@contextlib.asynccontextmanager
async def open_session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for one piece of work (a request's, a service call's). A connection
    PostgreSQL dropped meanwhile cannot roll back at close; that must not turn work already
    answered (a 200, or the 503 of the outage) into a new error: the connection is
    invalidated and the pool discards it."""
    session = sessions()
    try:
        yield session
    finally:
        await close_quietly(session, "session")


async def close_quietly(opened: AsyncSession | AsyncConnection, what: str) -> None:
    """Close a session or connection; one PostgreSQL dropped meanwhile cannot close cleanly:
    it is invalidated (the pool discards it), logged once, and no error is raised."""
    try:
        await opened.close()
    except (SQLAlchemyError, OSError) as exc:
        log.warning(
            f"database {what} closed on a lost connection", extra={"error": type(exc).__name__}
        )
        with contextlib.suppress(Exception):
            await opened.invalidate()
