from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane import auth
from taskplane.db.models import ApiToken
from tests.api.conftest import make_client


async def test_created_token_is_shown_once_stored_hashed_and_listed_without_secret(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], app: object
) -> None:
    created = await client.post("/tokens", json={"name": "ci", "role": "viewer"})
    assert created.status_code == 201
    body = created.json()
    assert set(body) >= {"id", "name", "role", "token"} and body["role"] == "viewer"
    secret = body["token"]
    async with sessions() as s:
        row = await s.scalar(select(ApiToken).where(ApiToken.id == body["id"]))
        assert row is not None and row.token_hash == auth.hash_token(secret)
        assert secret not in row.token_hash
    listed = await client.get("/tokens")
    assert listed.status_code == 200
    page = listed.json()
    assert page["total"] == 1 and page["limit"] == 50 and page["offset"] == 0
    item = page["items"][0]
    assert set(item) >= {"id", "name", "role", "created_at", "last_used_at", "revoked_at"}
    assert secret not in listed.text and "token_hash" not in listed.text


async def test_revoked_token_is_refused_from_the_next_request_and_stays_listed(
    client: httpx.AsyncClient, app: object
) -> None:
    body = (await client.post("/tokens", json={"name": "temp", "role": "admin"})).json()
    async with make_client(app, body["token"]) as temp:  # type: ignore[arg-type]
        assert (await temp.get("/tokens")).status_code == 200
        assert (await client.delete(f"/tokens/{body['id']}")).status_code == 204
        assert (await temp.get("/tokens")).status_code == 401
    listed = (await client.get("/tokens")).json()
    assert listed["items"][0]["revoked_at"] is not None
    assert listed["items"][0]["last_used_at"] is not None


async def test_revoke_of_unknown_token_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/tokens/999999")).status_code == 404


async def test_token_body_is_validated(client: httpx.AsyncClient) -> None:
    bad_role = await client.post("/tokens", json={"name": "x", "role": "root"})
    assert bad_role.status_code == 422
    assert bad_role.json()["detail"][0]["loc"] == ["body", "role"]
    empty = await client.post("/tokens", json={"name": "", "role": "viewer"})
    assert empty.status_code == 422


async def test_viewer_cannot_read_or_create_tokens(viewer: httpx.AsyncClient) -> None:
    assert (await viewer.get("/tokens")).status_code == 403
    assert (await viewer.post("/tokens", json={"name": "x", "role": "admin"})).status_code == 403


async def test_the_answer_that_shows_a_new_token_may_not_be_cached(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/tokens", json={"name": "ci", "role": "viewer"})
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
