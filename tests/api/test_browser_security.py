"""What a browser gets from the api: a strict Content-Security-Policy and the other security
headers on every page, `/docs` served from the package (nothing from another origin, no
ReDoc), pages that run under that policy (no inline script or style, no on* attribute), CORS
off unless configured, and `/metrics` behind a token when one is set."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.api.app import create_app
from taskplane.api.docs import STATIC_DIR as DOCS_DIR
from taskplane.dashboard.routes import STATIC_DIR as DASHBOARD_DIR
from taskplane.settings import SettingsError, load_settings
from tests import services as test_services
from tests.conftest import make_test_settings

ROOT = "http://testserver"


@asynccontextmanager
async def served(services: test_services.TestServices, **settings: Any) -> AsyncIterator[Any]:
    app = create_app(make_test_settings(services, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ROOT) as client:
            yield client


@pytest.fixture
async def browser(
    services: test_services.TestServices, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    async with served(services) as client:
        yield client


class _Page(HTMLParser):
    """The URLs a page loads, and anything a strict CSP would block."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.blocked: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for key, value in attrs:
            if key.startswith("on"):
                self.blocked.append(f"<{tag} {key}=...> (inline handler)")
            if key == "style":
                self.blocked.append(f"<{tag} style=...> (inline style)")
            if key in {"src", "href"} and value:
                self.urls.append(value)
        if tag == "style":
            self.blocked.append("<style> (inline style)")
        if tag == "script" and not named.get("src"):
            self._in_script = True

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.blocked.append("<script> without src (inline script)")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def _page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _csp(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    out: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        out[name] = values
    return out


def _assert_secured(response: httpx.Response) -> None:
    csp = _csp(response)
    assert csp["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        assert csp[directive] == ["'self'"], directive  # no 'unsafe-inline' / 'unsafe-eval'
    assert csp["frame-ancestors"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


async def test_docs_load_nothing_from_another_origin_and_their_assets_are_served(
    browser: httpx.AsyncClient,
) -> None:
    docs = await browser.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    _assert_secured(docs)
    page = _page(docs.text)
    assert page.blocked == []
    assert len(page.urls) >= 3  # the bundle, its start script, the stylesheet
    # this origin only, relative to the page (so a TASKPLANE_ROOT_PATH prefix is kept)
    urls = [urljoin("/docs", url) for url in page.urls]
    for url in page.urls:
        assert not re.match(r"[a-z]+:|//", url), url
    for url in urls:
        asset = await browser.get(url)
        assert asset.status_code == 200, url
        _assert_secured(asset)
    kinds = {(await browser.get(u)).headers["content-type"].split(";")[0] for u in urls}
    assert {"text/javascript", "text/css"} <= kinds
    start = (await browser.get("/docs/assets/docs.js")).text
    assert not re.search(r"https?://", start) and "validatorUrl: null" in start
    assert "openapi" in (await browser.get("/openapi.json")).json()


async def test_redoc_is_not_served(browser: httpx.AsyncClient) -> None:
    assert (await browser.get("/redoc")).status_code == 404


@pytest.mark.parametrize(
    "path", ["/", "/dashboard/app.js", "/docs", "/api/v1/system/health", "/nothing-here"]
)
async def test_every_response_carries_the_security_headers(
    browser: httpx.AsyncClient, path: str
) -> None:
    _assert_secured(await browser.get(path))


async def test_an_oversized_body_refused_early_still_carries_them(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.post(
        "/api/v1/tokens",
        content=b"x" * (1024 * 1024 + 1),
        headers={"Authorization": "Bearer admin-test-token", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    _assert_secured(response)


@pytest.mark.parametrize("folder", [DASHBOARD_DIR, DOCS_DIR])
def test_the_shipped_pages_run_under_the_policy(folder: Path) -> None:
    for html in folder.glob("*.html"):
        page = _page(html.read_text())
        assert page.blocked == [], (html.name, page.blocked)
        for url in page.urls:  # this origin only (relative URLs keep a sub-path working)
            assert not url.startswith("//") and not re.match(r"^[a-z]+:", url), (html.name, url)
    for script in folder.glob("*.js"):
        source = script.read_text()
        for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "cssText"):
            assert forbidden not in source, (script.name, forbidden)
        assert not re.search(r"setAttribute\(\s*[\"'](on|style)", source), script.name
        assert not re.search(r"https?://", source), script.name


async def test_the_dashboard_page_still_works_under_the_policy(
    browser: httpx.AsyncClient,
) -> None:
    page = await browser.get("/")
    assert page.status_code == 200
    loaded = _page(page.text)
    assert loaded.blocked == []
    for url in loaded.urls:
        assert (await browser.get(url)).status_code == 200, url
    # the page binds its handlers with addEventListener, never as attributes
    assert "addEventListener" in (await browser.get("/dashboard/app.js")).text


async def test_cors_is_off_by_default(browser: httpx.AsyncClient) -> None:
    preflight = await browser.options(
        "/api/v1/configs",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = await browser.get("/api/v1/system/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_allows_only_the_configured_origins(
    services: test_services.TestServices, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with served(services, cors_origins=["https://ops.example.com"]) as client:
        ok = await client.options(
            "/api/v1/configs",
            headers={
                "Origin": "https://ops.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://ops.example.com"
        assert "access-control-allow-credentials" not in ok.headers
        other = await client.options(
            "/api/v1/configs",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in other.headers


def test_cors_origins_come_from_the_environment_and_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TASKPLANE_CORS_ORIGINS", "https://a.example, http://b.example:8080")
    assert load_settings(_env_file=None).cors_origins == [
        "https://a.example",
        "http://b.example:8080",
    ]
    monkeypatch.setenv("TASKPLANE_CORS_ORIGINS", "")
    assert load_settings(_env_file=None).cors_origins == []
    monkeypatch.setenv("TASKPLANE_CORS_ORIGINS", "https://a.example/path")
    with pytest.raises(SettingsError, match="TASKPLANE_CORS_ORIGINS"):
        load_settings(_env_file=None)


async def test_metrics_are_open_without_a_metrics_token(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/metrics")
    assert response.status_code == 200 and "taskplane_" in response.text


async def test_metrics_token_guards_metrics(
    services: test_services.TestServices,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with served(services, metrics_token="scrape-secret") as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Bearer admin-test-token"},  # an API token is not the metrics one
            {"Authorization": "Basic scrape-secret"},
        ):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert "taskplane_" not in refused.text and "scrape-secret" not in refused.text
            assert refused.headers["www-authenticate"] == "Bearer"
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert allowed.status_code == 200 and "taskplane_" in allowed.text
    monkeypatch.setenv("TASKPLANE_METRICS_TOKEN", "")
    assert load_settings(_env_file=None).metrics_token is None  # empty: open
