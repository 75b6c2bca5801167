"""No answer echoes the request's ``Host``: a trailing slash too many is a plain 404, not a
redirect to ``http://{Host}/...`` (an attacker's Host would be the target)."""

from __future__ import annotations

import httpx
import pytest

EVIL = "evil.example"


@pytest.mark.parametrize(
    "path", ["/configs/", "/tokens/", "/system/health/", "/schedules/", "/executions/"]
)
async def test_a_trailing_slash_is_404_and_never_a_redirect_to_the_host(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers={"Host": EVIL})
    assert response.status_code == 404
    assert "location" not in response.headers
    assert EVIL not in response.text


async def test_docs_with_a_slash_too_many_is_not_redirected(client: httpx.AsyncClient) -> None:
    response = await client.get("http://testserver/docs/", headers={"Host": EVIL})
    assert response.status_code == 404 and "location" not in response.headers
