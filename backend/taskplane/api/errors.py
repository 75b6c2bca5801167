"""The one place domain errors become HTTP responses.

Mapped by ``isinstance`` so subclasses inherit their parent's status:

- ``NotFound`` -> 404, ``Conflict`` -> 409, ``InvalidInput`` -> 422 (pydantic's loc/msg/type)
- ``BackendUnavailable`` and the connection errors of PostgreSQL and Redis -> 503
- request validation -> 422 with ``loc`` / ``msg`` / ``type`` only: the input is never echoed,
  and every string is made encodable (a lone surrogate in a key must not turn into a 500).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from taskplane.api.deps import refusal
from taskplane.errors import BackendUnavailable, Conflict, InvalidInput, NotFound, TaskplaneError
from taskplane.outage import DATABASE, REDIS, store_of
from taskplane.storable import JsonValueError

log = logging.getLogger(__name__)

MAX_ERRORS = 20  # a huge invalid body does not make a huge error body
MAX_TEXT = 500


def safe_text(value: object) -> str:
    """A string that JSON-encodes as UTF-8 whatever it held (lone surrogates replaced)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "..."
    return text.encode("utf-8", "replace").decode("utf-8")


def _safe_loc(loc: Iterable[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else safe_text(part) for part in loc]


def _deepest_loc(err: Any) -> tuple[Any, ...]:
    """The error's ``loc``, extended to the value deep inside a JSON object that a
    validator refused (``JsonValueError`` carries the path below the field)."""
    loc = tuple(err.get("loc", ()))
    ctx = err.get("ctx")
    cause = ctx.get("error") if isinstance(ctx, dict) else None
    if isinstance(cause, JsonValueError):
        return (*loc, *cause.path)
    return loc


def validation_detail(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic errors reduced to loc / msg / type; never the input or its context."""
    detail = []
    for err in list(errors)[:MAX_ERRORS]:
        detail.append(
            {
                "loc": _safe_loc(_deepest_loc(err)),
                "msg": safe_text(err.get("msg", "invalid value")),
                "type": safe_text(err.get("type", "value_error")),
            }
        )
    return detail


def unprocessable(detail: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": detail})


def unavailable(component: str) -> JSONResponse:
    return JSONResponse(
        status_code=503,
        content={"detail": f"{component} is unavailable; try again shortly"},
        headers={"Retry-After": "5"},
    )


_COMPONENTS = {REDIS: "Redis", DATABASE: "PostgreSQL"}


def backend_of(exc: BaseException) -> str | None:
    """'Redis' / 'PostgreSQL' when ``exc`` says a backing store cannot be reached
    (``outage.store_of``; a bare socket error is the database driver's: redis-py wraps its
    own)."""
    store = store_of(exc, (DATABASE,))
    return None if store is None else _COMPONENTS[store]


def status_of(exc: TaskplaneError) -> int:
    """The HTTP status of a refusal: 404 ``NotFound``, 409 ``Conflict``, 422 otherwise
    (``InvalidInput``); the handlers below and the bulk reports (``scheduling.bulk``) ask
    it."""
    return 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFound)
    return JSONResponse(status_code=status_of(exc), content={"detail": safe_text(exc)})


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Conflict)
    return JSONResponse(status_code=status_of(exc), content={"detail": safe_text(exc)})


async def _invalid_input(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInput)
    return unprocessable(
        [
            {
                "loc": _safe_loc((exc.root, *e.loc)),
                "msg": safe_text(e.msg),
                "type": safe_text(e.type),
            }
            for e in exc.errors[:MAX_ERRORS]
        ]
    )


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    refused = await refusal(request)
    if refused is not None:
        return await _http_exception(request, refused)
    return unprocessable(validation_detail(exc.errors()))


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.__cause__ is not None:
        # FastAPI answers 400 for a body it cannot decode (not UTF-8, or nested past the
        # decoder's recursion limit); API.md: not JSON -> 422
        refused = await refusal(request)
        if refused is not None:
            return await _http_exception(request, refused)
        msg = (
            "body is nested too deeply to read"
            if isinstance(exc.__cause__, RecursionError)
            else "body is not valid UTF-8 JSON"
        )
        return unprocessable([{"loc": ["body"], "msg": msg, "type": "json_invalid"}])
    return JSONResponse(
        status_code=exc.status_code,
        content={"detail": safe_text(exc.detail) if isinstance(exc.detail, str) else exc.detail},
        headers=exc.headers,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    component = backend_of(exc)
    if component == "PostgreSQL" and getattr(request.app.state.settings, "is_sqlite", False):
        component = "the database (SQLite)"
    if component is not None:
        log.warning(
            "backing store unavailable",
            extra={"component": component, "error": type(exc).__name__, "path": request.url.path},
        )
        return unavailable(component)
    log.exception("unhandled error", extra={"path": request.url.path})
    return JSONResponse(status_code=500, content={"detail": "internal server error"})


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(InvalidInput, _invalid_input)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    for exc_type in (
        BackendUnavailable,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.ResponseError,  # 503 only when it refuses writes (outage.py)
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        sqlalchemy.exc.TimeoutError,
        sqlalchemy.exc.DBAPIError,
        OSError,
        asyncio.TimeoutError,
    ):
        app.add_exception_handler(exc_type, _unexpected)
