"""The viewer / admin / no-token matrix, generated from the app's own route table, so a new
route cannot be left open by accident: every route but health needs a token, a viewer may
only call GET routes (and write-method routes marked read-only: a preview; a route marked
dry-run-for-viewers refuses the matrix's empty body) that are not admin-only, an admin may
call everything."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from taskplane.api.deps import (
    DRY_RUN_FOR_VIEWERS,
    READ_ONLY,
    authorize,
    require_admin,
    require_admin_or_dry_run,
)
from taskplane.enums import Role
from tests.api.conftest import make_client

OPEN = {("GET", "/api/v1/system/health")}
STREAMS = {("GET", "/api/v1/events")}
PATH_VALUES = {"action": "stop"}


def calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from calls(dep)


def api_routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    """Every (method, path, route) the app serves under /api/v1, included routers resolved."""
    routes = []
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if path.startswith("/api/v1") and isinstance(route.original_route, APIRoute):
            for method in sorted(route.methods or ()):
                routes.append((method, path, route))
    return routes


def concrete(path: str, route: Any) -> str:
    for param in route.dependant.path_params:
        value = PATH_VALUES.get(param.name, "1")
        path = path.replace("{" + param.name + "}", value)
    return path


async def call(client: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    url = "http://testserver" + path
    if method in {"POST", "PATCH", "PUT"}:
        return await client.request(method, url, json={})
    return await client.request(method, url)


async def test_matrix_covers_every_route(
    app: FastAPI, new_token: Callable[[Role], Awaitable[str]]
) -> None:
    routes = api_routes(app)
    assert len(routes) >= 10
    viewer_token = await new_token(Role.VIEWER)
    checked = 0
    async with (
        make_client(app) as nobody,
        make_client(app, "not-a-token") as stranger,
        make_client(app, viewer_token) as viewer,
        make_client(app, "admin-test-token") as admin,
    ):
        for method, template, route in routes:
            path = concrete(template, route)
            deps = set(calls(route.dependant))
            if (method, template) in OPEN:
                assert authorize not in deps
                assert (await call(nobody, method, path)).status_code in {200, 503}
                continue
            assert authorize in deps, f"{method} {template} is not protected"
            for client in (nobody, stranger):
                response = await call(client, method, path)
                assert response.status_code == 401, (method, template, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
            extra = route.original_route.openapi_extra or {}
            read_only = bool(extra.get(READ_ONLY))
            # a viewer's dry run only: the matrix's body ({}) is no dry run, so 403
            assert bool(extra.get(DRY_RUN_FOR_VIEWERS)) == (require_admin_or_dry_run in deps)
            viewer_may = (method == "GET" or read_only) and require_admin not in deps
            if (method, template) in STREAMS:
                # an endless stream cannot finish through the in-process transport: its
                # 200 for a viewer and an admin is proven over a real server
                # (tests/api/test_events.py); here only who may call it
                assert viewer_may, (method, template)
                checked += 1
                continue
            response = await call(viewer, method, path)
            if viewer_may:
                assert response.status_code not in {401, 403}, (method, template)
            else:
                assert response.status_code == 403, (method, template, response.text)
            response = await call(admin, method, path)
            assert response.status_code not in {401, 403}, (method, template)
            assert response.status_code < 500, (method, template, response.text)
            checked += 1
    assert checked == len(routes) - len(OPEN)


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "bearer admin-test-tokenx"])
async def test_malformed_authorization_is_401(anonymous: httpx.AsyncClient, header: str) -> None:
    response = await anonymous.get("/executions", headers={"Authorization": header})
    assert response.status_code == 401


async def test_lowercase_bearer_scheme_is_accepted(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get(
        "/executions", headers={"Authorization": "bearer admin-test-token"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("body", [b'{"name": ', b"\xff\xfe"])
async def test_auth_is_checked_before_the_body_is_judged(
    anonymous: httpx.AsyncClient, viewer: httpx.AsyncClient, body: bytes
) -> None:
    headers = {"Content-Type": "application/json"}
    assert (await anonymous.post("/tokens", content=body, headers=headers)).status_code == 401
    assert (await viewer.post("/configs", content=body, headers=headers)).status_code == 403
    assert (await viewer.get("/executions", params={"limit": 0})).status_code == 422
