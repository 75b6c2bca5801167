"""One row by key for the API's hottest read (``GET /configs/{id}``): on PostgreSQL straight
through asyncpg, on its own small pool; elsewhere (SQLite) through SQLAlchemy.

Through SQLAlchemy's async layer a one-row read costs about 218 µs of CPU here (checkout,
autocommit, execute and close each cross into a greenlet and back); through an asyncpg pool,
73 µs (measured one after another, in-process). Under B4's load that was about a fifth of
the request's CPU. The row is the same: the statement is SQLAlchemy's, compiled once for the
engine's dialect, and each column's value goes through the result processing of its
SQLAlchemy type (``UTCDateTime``, the enum), JSON columns decoded as SQLAlchemy decodes them.

The pool (at most ``max_size`` connections, none opened until a read needs one) is the API
process's own, next to the engine's: ``close`` ends it. A connection PostgreSQL closed
(a restart) fails its read once with ``BackendUnavailable`` (503) and is replaced by the
pool; PostgreSQL down (refused, starting up, shutting down, too many connections) is a 503
too. Other database errors propagate (a 500, as through SQLAlchemy).
"""

from __future__ import annotations

import asyncio
import json
from collections import namedtuple
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncEngine

from taskplane.db.reads import read_connection
from taskplane.errors import BackendUnavailable

UNREACHABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # 57P01 shutting down, 57P03 starting up
    asyncpg.exceptions.InsufficientResourcesError,  # 53300 too many connections
    # a connection PostgreSQL ended while the next query was being sent: the client
    # protocol's state is broken (the pool replaces the connection on release)
    asyncpg.exceptions.InternalClientError,
)
APPLICATION_NAME = "taskplane-rows"
COMPILED_KEPT = 64  # statements compiled and kept (they are module constants: a handful)
# what SQLAlchemy's asyncpg dialect adds to asyncpg.connect's arguments, not asyncpg's own
_SQLALCHEMY_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")


class _Compiled:
    """A statement as asyncpg runs it: its SQL, its parameters' order, and the row maker."""

    def __init__(self, stmt: Select[Any], engine: AsyncEngine) -> None:
        dialect = engine.dialect
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.params = tuple(compiled.positiontup or ())
        self.values = compiled.params  # the statement's own values (literals, defaults)
        columns = list(stmt.selected_columns)
        self.processors: list[Callable[[Any], Any] | None] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        ]
        self.row = namedtuple("Row", [str(c.key) for c in columns], rename=True)  # type: ignore[misc]

    def make(self, record: Any) -> Any:
        return self.row(
            *(v if p is None else p(v) for p, v in zip(self.processors, record, strict=True))
        )


class RowReader:
    """``one(stmt, **params)``: the statement's first row (attributes by column name), or
    None."""

    def __init__(self, engine: AsyncEngine, *, max_size: int) -> None:
        self.engine = engine
        self.max_size = max_size
        self.direct = engine.dialect.driver == "asyncpg"
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        # by the statement's id, the statement held too (its id is not reused meanwhile)
        self._compiled: dict[int, tuple[Select[Any], _Compiled]] = {}

    async def one(self, stmt: Select[Any], **params: Any) -> Any:
        if not self.direct:
            async with read_connection(self.engine) as conn:
                return (await conn.execute(stmt, params)).first()
        held = self._compiled.get(id(stmt))
        if held is None:
            while len(self._compiled) >= COMPILED_KEPT:  # meant for constant statements
                del self._compiled[next(iter(self._compiled))]
            held = self._compiled[id(stmt)] = (stmt, _Compiled(stmt, self.engine))
        compiled = held[1]
        args = [params.get(name, compiled.values.get(name)) for name in compiled.params]
        try:
            pool = self._pool or await self._open()
            record = await pool.fetchrow(compiled.sql, *args)
        except UNREACHABLE as exc:
            raise BackendUnavailable("PostgreSQL", type(exc).__name__) from exc
        return None if record is None else compiled.make(record)

    async def _open(self) -> asyncpg.Pool:
        """The pool, made on the first read (none at start: PostgreSQL may be down then)."""
        async with self._opening:
            if self._pool is None:
                _, options = self.engine.dialect.create_connect_args(self.engine.url)
                for key in _SQLALCHEMY_ONLY:
                    options.pop(key, None)
                # its connections, told apart from the engine's in pg_stat_activity
                options.setdefault("server_settings", {}).setdefault(
                    "application_name", APPLICATION_NAME
                )
                pool = asyncpg.create_pool(
                    min_size=0,
                    max_size=self.max_size,
                    timeout=10,
                    command_timeout=60,
                    init=_json_codecs,
                    **options,
                )
                self._pool = await pool
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), 5)
            except (TimeoutError, *UNREACHABLE):
                pool.terminate()


async def _json_codecs(conn: asyncpg.Connection) -> None:
    """json and jsonb decoded to Python values, as SQLAlchemy's asyncpg dialect does."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
