"""The API's hot reads (``GET /configs/{id}``, ``GET /configs``): on PostgreSQL straight
through asyncpg, on a small pool of its own; elsewhere (SQLite) through SQLAlchemy.

Through SQLAlchemy's async layer a one-row read costs about 218 µs of CPU here (checkout,
autocommit, execute and close each cross into a greenlet and back); through an asyncpg pool,
73 µs (one after another, in-process). Under B4's load the config read went from about 1.0
to 0.65 ms of api CPU per request. The values are SQLAlchemy's: the statement is
SQLAlchemy's, compiled for the engine's dialect once per shape, each parameter goes through
its type's bind processing and each value through its column type's result processing
(``UTCDateTime``, the enum), JSON decoded as SQLAlchemy's dialect decodes it. A statement
SQLAlchemy must finish rendering per execution (an expanding ``IN`` list) runs through
SQLAlchemy. What this leans on of SQLAlchemy's internals is in one function, ``plan``
(tests/db/test_rows.py pins it; pyproject bounds SQLAlchemy below the next minor).

The pool (at most ``max_size`` connections, none opened until a read needs one; named
``taskplane-rows`` in ``pg_stat_activity``) belongs to the process's ``Resources``, which
close it. A failure that ``outage.store_of`` calls the database's (PostgreSQL refusing,
starting up, shutting down, out of connections, ending a connection mid-read) is
``BackendUnavailable`` (503); the pool replaces a closed connection. Other database errors
propagate (a 500, as through SQLAlchemy).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from cachetools import LRUCache
from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from taskplane.db.reads import read_connection
from taskplane.errors import BackendUnavailable
from taskplane.outage import DATABASE, store_of

APPLICATION_NAME = "taskplane-rows"
SHAPES_KEPT = 256  # compiled statement shapes kept (a list's filters make a few dozen)
# what SQLAlchemy's asyncpg dialect adds to asyncpg.connect's arguments, not asyncpg's own
_SQLALCHEMY_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")


@dataclass(frozen=True, slots=True)
class Shape:
    """A statement's shape as asyncpg runs it: the SQL, each parameter's name and bind
    processing, and each column's result processing (None: the value as asyncpg gives it)."""

    sql: str
    names: tuple[str, ...]
    binds: tuple[Callable[[Any], Any] | None, ...]
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column index, processor)
    compiled: Any

    def row(self, record: Sequence[Any]) -> list[Any]:
        values = list(record)
        for i, process in self.results:
            values[i] = process(values[i])
        return values


def plan(
    stmt: Select[Any],
    params: dict[str, Any],
    dialect: Dialect,
    kept: MutableMapping[Any, Shape | None],
) -> tuple[Shape, list[Any]] | None:
    """The statement's shape (compiled once per cache key into ``kept``) and its bound
    arguments in order, or None when SQLAlchemy must render it per execution (an expanding
    ``IN`` list). The one place that uses SQLAlchemy's internals: the cache key (which
    leaves the parameter values out, as SQLAlchemy's own compiled cache does) and the
    compiled statement's positional names, binds and post-compile parameters."""
    key = stmt._generate_cache_key()
    if key is None:
        return None
    if key.key in kept:
        shape = kept[key.key]
    else:
        compiled = stmt.compile(dialect=dialect, cache_key=key)
        shape = None
        if not (compiled.post_compile_params or compiled.literal_execute_params):
            names = tuple(compiled.positiontup or ())
            processors = [
                c.type.dialect_impl(dialect).result_processor(dialect, None)
                for c in stmt.selected_columns
            ]
            shape = Shape(
                sql=compiled.string,
                names=names,
                binds=tuple(
                    compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)
                    for n in names
                ),
                results=tuple((i, p) for i, p in enumerate(processors) if p is not None),
                compiled=compiled,
            )
        kept[key.key] = shape
    if shape is None:
        return None
    values = shape.compiled.construct_params(params or None, extracted_parameters=key.bindparams)
    args = [
        v if p is None else p(v)
        for p, v in zip(shape.binds, (values[n] for n in shape.names), strict=True)
    ]
    return shape, args


class RowReader:
    """``one(stmt, **params)``: the statement's first row's values in column order, or
    None; ``all(stmt, **params)``: every row's."""

    def __init__(self, engine: AsyncEngine, *, max_size: int) -> None:
        self.engine = engine
        self.max_size = max_size
        self.direct = engine.dialect.driver == "asyncpg"
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        # bounded, least recently used out first (one lookup per read: its ~0.7 µs is noise
        # beside a read's few hundred)
        self._shapes: LRUCache[Any, Shape | None] = LRUCache(SHAPES_KEPT)

    async def one(self, stmt: Select[Any], **params: Any) -> Sequence[Any] | None:
        rows = await self._read(stmt, params, one=True)
        return rows[0] if rows else None

    async def all(self, stmt: Select[Any], **params: Any) -> Sequence[Sequence[Any]]:
        return await self._read(stmt, params, one=False)

    async def _read(
        self, stmt: Select[Any], params: dict[str, Any], *, one: bool
    ) -> Sequence[Sequence[Any]]:
        planned = plan(stmt, params, self.engine.dialect, self._shapes) if self.direct else None
        if planned is None:
            async with read_connection(self.engine) as conn:
                result = await conn.execute(stmt, params)
                first = result.first() if one else None
                return ([] if first is None else [first]) if one else result.all()
        shape, args = planned
        try:
            pool = self._pool or await self._open()
            if one:
                record = await pool.fetchrow(shape.sql, *args)
                records = [] if record is None else [record]
            else:
                records = await pool.fetch(shape.sql, *args)
        except Exception as exc:
            if store_of(exc, (DATABASE,)) == DATABASE:
                raise BackendUnavailable("PostgreSQL", type(exc).__name__) from exc
            raise
        return [shape.row(r) for r in records]

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
            except Exception as exc:
                if store_of(exc, (DATABASE,)) != DATABASE:
                    raise
                pool.terminate()


async def _json_codecs(conn: asyncpg.Connection) -> None:
    """json and jsonb decoded to Python values, as SQLAlchemy's asyncpg dialect does."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
