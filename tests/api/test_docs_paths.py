"""/docs loads everything it names from where the page itself is served, so it works at `/`
and under TASKPLANE_ROOT_PATH behind a proxy (with the prefix kept or stripped)."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.api.app import create_app
from taskplane.settings import Settings


@pytest.mark.parametrize("root_path", ["", "/ops"])
async def test_every_url_the_docs_page_names_answers_under_its_prefix(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    root_path: str,
) -> None:
    app = create_app(settings.model_copy(update={"root_path": root_path}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as http:
            page_url = f"http://proxy{root_path}/docs"
            page = await http.get(page_url)
            assert page.status_code == 200
            named = re.findall(r'(?:href|src|data-openapi-url)="([^"]+)"', page.text)
            assert len(named) == 5, named
            for url in named:
                absolute = urljoin(page_url, url)
                assert absolute.startswith(f"http://proxy{root_path}/"), absolute
                answer = await http.get(absolute)
                assert answer.status_code == 200, absolute
