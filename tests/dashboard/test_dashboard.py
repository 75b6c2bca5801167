"""The dashboard at `/` and `/metrics` on the api: served by the app, open, and the page
calls only public API endpoints that exist."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.api.app import create_app
from taskplane.dashboard.routes import STATIC_DIR
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from tests.worker.buffered import buffer_records


@pytest.fixture
async def root(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], redis: Redis
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield app, c


async def test_the_dashboard_page_and_its_assets_are_served_without_a_token(
    root: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = root
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # relative URLs, so the page works under any sub-path
    assert 'src="dashboard/app.js"' in page.text and 'href="dashboard/style.css"' in page.text
    for asset, kind in (
        ("app.js", "javascript"),
        ("api.js", "javascript"),
        ("style.css", "text/css"),
    ):
        response = await client.get(f"/dashboard/{asset}")
        assert response.status_code == 200, asset
        assert kind in response.headers["content-type"]
    assert (await client.get("/dashboard/nothing.js")).status_code == 404


async def test_metrics_are_open_prometheus_text_outside_the_api(
    root: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = root
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "taskplane_executions_total" in response.text
    assert "/metrics" not in app.openapi()["paths"]
    assert "/" not in app.openapi()["paths"]


async def test_metrics_show_the_broker_backlog_and_recorder_buffer_from_redis(
    root: tuple[FastAPI, httpx.AsyncClient], redis: Redis, keys: Keys, settings: Settings
) -> None:
    _, client = root
    for n in range(3):
        await redis.xadd(keys.broker_stream("default"), {"data": str(n)})
    # two records buffered the way a worker does while PostgreSQL is down (a stream)
    await buffer_records(redis, keys, settings, ["m1", "m2"])
    text = (await client.get("/metrics")).text
    assert 'taskplane_broker_queue_depth{queue="default"} 3.0' in text
    assert "taskplane_recorder_buffer_depth 2.0" in text


def _calls(source: str) -> set[tuple[str, str]]:
    """(method, path template) of every API call the page makes."""
    found: set[tuple[str, str]] = set()
    pattern = re.compile(r'api\((["`])(/[^"`]*)\1(?:,\s*\{\s*method:\s*"([A-Z]+)")?')
    for match in pattern.finditer(source):
        path = match.group(2).split("?")[0]
        path = re.sub(r"\$\{[^}]+\}", "{x}", path)
        found.add((match.group(3) or "GET", path))
    for match in re.finditer(r'fetch\(API \+ "(/[^"?]+)', source):
        found.add(("GET", match.group(1)))
    return found


def _matches(template: str, path: str) -> bool:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path.replace("{x}", "1")) is not None


async def test_every_call_of_the_page_is_a_public_api_endpoint(
    root: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, _ = root
    source = "\n".join(p.read_text() for p in sorted(STATIC_DIR.glob("*.js")))
    assert 'const API = "api/v1";' in source  # relative: works under a sub-path
    calls = _calls(source)
    assert ("GET", "/task-types") in calls and ("POST", "/configs/{x}/run") in calls
    assert ("POST", "/schedules/bulk/{x}") in calls and ("GET", "/events") in calls
    assert ("POST", "/schedules/preview") in calls and ("GET", "/schedules/{x}/explain") in calls
    assert len(calls) >= 15
    paths = app.openapi()["paths"]
    for method, path in calls:
        known = [
            t for t, ops in paths.items() if method.lower() in ops and _matches(t, "/api/v1" + path)
        ]
        assert known, f"{method} /api/v1{path} is not an API endpoint"
