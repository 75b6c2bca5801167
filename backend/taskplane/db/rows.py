"""The API's hot reads (``GET /configs/{id}``, ``GET /configs``): on PostgreSQL straight
through asyncpg, on a small pool of its own; elsewhere (SQLite) through SQLAlchemy.

Through SQLAlchemy's async layer a one-row read costs about 218 µs of CPU here (checkout,
autocommit, execute and close each cross into a greenlet and back); through an asyncpg pool,
73 µs (one after another, in-process). Under B4's load the config read went from about 1.0
to 0.65 ms of api CPU per request. The rows are SQLAlchemy's: the statement is SQLAlchemy's,
compiled for the engine's dialect once per shape (kept by SQLAlchemy's cache key, which
leaves the parameter values out, as SQLAlchemy's own compiled cache does), each parameter
goes through its type's bind processing and each value through its column type's result
processing (``UTCDateTime``, the enum), JSON decoded as SQLAlchemy's dialect decodes it. A
statement SQLAlchemy must finish rendering per execution (an expanding ``IN`` list) runs
through SQLAlchemy.

The pool (at most ``max_size`` connections, none opened until a read needs one; named
``taskplane-rows`` in ``pg_stat_activity``) is the API process's own, next to the engine's:
``close`` ends it. PostgreSQL refusing, starting up, shutting down, out of connections, or
ending a connection mid-read is ``BackendUnavailable`` (503); the pool replaces a closed
connection. Other database errors propagate (a 500, as through SQLAlchemy).
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
SHAPES_KEPT = 256  # compiled statement shapes kept (a list's filters make a few dozen)
# what SQLAlchemy's asyncpg dialect adds to asyncpg.connect's arguments, not asyncpg's own
_SQLALCHEMY_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")


class _Shape:
    """A statement's shape as asyncpg runs it (SQLAlchemy's compiled SQL, kept by its cache
    key, which leaves the parameter values out): the SQL, each parameter's name and bind
    processing, and the row maker (result processing per column)."""

    def __init__(self, stmt: Select[Any], dialect: Any, key: Any) -> None:
        self.compiled = stmt.compile(dialect=dialect, cache_key=key)
        # an expanding IN list (post-compile parameters) is SQLAlchemy's to render
        self.direct = not (
            self.compiled.post_compile_params or self.compiled.literal_execute_params
        )
        self.sql = self.compiled.string
        self.names = tuple(self.compiled.positiontup or ())
        self.binds = [
            self.compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)
            for n in self.names
        ]
        columns = list(stmt.selected_columns)
        self.processors: list[Callable[[Any], Any] | None] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        ]
        self.row = namedtuple("Row", [str(c.key) for c in columns], rename=True)  # type: ignore[misc]

    def args(self, key: Any, params: dict[str, Any]) -> list[Any]:
        values = self.compiled.construct_params(params or None, extracted_parameters=key.bindparams)
        return [
            v if p is None else p(v)
            for p, v in zip(self.binds, (values[n] for n in self.names), strict=True)
        ]

    def make(self, record: Any) -> Any:
        return self.row(
            *(v if p is None else p(v) for p, v in zip(self.processors, record, strict=True))
        )


class RowReader:
    """``one(stmt, **params)``: the statement's first row (attributes by column name), or
    None; ``all(stmt, **params)``: every row."""

    def __init__(self, engine: AsyncEngine, *, max_size: int) -> None:
        self.engine = engine
        self.max_size = max_size
        self.direct = engine.dialect.driver == "asyncpg"
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._shapes: dict[Any, _Shape] = {}

    async def one(self, stmt: Select[Any], **params: Any) -> Any:
        rows = await self._read(stmt, params, one=True)
        return rows[0] if rows else None

    async def all(self, stmt: Select[Any], **params: Any) -> list[Any]:
        return await self._read(stmt, params, one=False)

    async def _read(self, stmt: Select[Any], params: dict[str, Any], *, one: bool) -> list[Any]:
        key = stmt._generate_cache_key() if self.direct else None
        shape = None if key is None else self._shape(stmt, key)
        if shape is None or not shape.direct:
            async with read_connection(self.engine) as conn:
                result = await conn.execute(stmt, params)
                first = result.first() if one else None
                return ([] if first is None else [first]) if one else list(result.all())
        args = shape.args(key, params)
        try:
            pool = self._pool or await self._open()
            if one:
                record = await pool.fetchrow(shape.sql, *args)
                records = [] if record is None else [record]
            else:
                records = await pool.fetch(shape.sql, *args)
        except UNREACHABLE as exc:
            raise BackendUnavailable("PostgreSQL", type(exc).__name__) from exc
        return [shape.make(r) for r in records]

    def _shape(self, stmt: Select[Any], key: Any) -> _Shape:
        shape = self._shapes.get(key.key)
        if shape is None:
            while len(self._shapes) >= SHAPES_KEPT:  # oldest out first
                del self._shapes[next(iter(self._shapes))]
            shape = self._shapes[key.key] = _Shape(stmt, self.engine.dialect, key)
        return shape

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
