"""Input JSON can carry but nothing can store (a lone surrogate, ``1e999999``): a 422 whose
``loc`` names the field at its deepest level (API.md, Errors), list indexes as integers,
and the body never echoes the input."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.db.models import TaskConfig

JSON = {"Content-Type": "application/json"}
SURROGATE = '"a\\ud800b"'  # JSON text of a string holding a lone surrogate
HUGE = "1e999999"  # parses to infinity


def _body(name: str, parameters: str, schedule_config: str = '{"seconds": 60}') -> bytes:
    return (
        f'{{"name": {name}, "task_type": "http_request", "scheduler_type": "interval", '
        f'"schedule_config": {schedule_config}, "parameters": {parameters}}}'
    ).encode()


def _ok_params(extra: str = "") -> str:
    return '{"url": "https://example.com/"' + extra + "}"


CASES: list[tuple[bytes, list[str | int]]] = [
    (_body(SURROGATE, _ok_params()), ["body", "name"]),
    (_body('"n"', '{"url": ' + SURROGATE + "}"), ["body", "parameters", "url"]),
    (
        _body('"n"', _ok_params(', "timeout_seconds": ' + HUGE)),
        ["body", "parameters", "timeout_seconds"],
    ),
    (
        _body('"n"', _ok_params(', "headers": {"X-A": "ok", "X-B": ' + SURROGATE + "}")),
        ["body", "parameters", "headers", "X-B"],
    ),
    (
        _body('"n"', _ok_params(', "json": {"rows": [1, {"v": [0, ' + HUGE + "]}]}")),
        ["body", "parameters", "json", "rows", 1, "v", 1],
    ),
    (
        _body('"n"', _ok_params(), '{"seconds": ' + HUGE + "}"),
        ["body", "schedule_config", "seconds"],
    ),
    (
        _body('"n"', _ok_params(), '{"seconds": 60, "misfire": ' + SURROGATE + "}"),
        ["body", "schedule_config", "misfire"],
    ),
]


async def _configs(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(TaskConfig)) or 0)


async def test_create_names_the_deepest_field_of_unencodable_input(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for raw, loc in CASES:
        response = await client.post("/configs", content=raw, headers=JSON)
        assert response.status_code == 422, (raw, response.text)
        detail = response.json()["detail"]
        assert [e["loc"] for e in detail] == [loc], (raw, detail)
        assert set(detail[0]) == {"loc", "msg", "type"}
        assert "inf" not in response.text.lower() and "ud800" not in response.text
    assert await _configs(sessions) == 0


async def test_update_names_the_deepest_field_of_unencodable_input(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/configs", content=_body('"patched"', _ok_params()), headers=JSON)
    assert created.status_code == 201, created.text
    config_id = created.json()["id"]
    for raw, loc in [
        (b'{"description": ' + SURROGATE.encode() + b"}", ["body", "description"]),
        (
            b'{"parameters": {"url": "https://e.com/", "expected_status": [200, '
            + HUGE.encode()
            + b"]}}",
            ["body", "parameters", "expected_status", 1],
        ),
        (
            b'{"schedule_config": {"seconds": 60, "misfire_grace_seconds": '
            + HUGE.encode()
            + b"}}",
            ["body", "schedule_config", "misfire_grace_seconds"],
        ),
    ]:
        response = await client.patch(f"/configs/{config_id}", content=raw, headers=JSON)
        assert response.status_code == 422, (raw, response.text)
        assert [e["loc"] for e in response.json()["detail"]] == [loc], raw
    after = (await client.get(f"/configs/{config_id}")).json()
    assert after["parameters"]["url"] == "https://example.com/"


async def test_an_unencodable_key_is_named_encodably(client: httpx.AsyncClient) -> None:
    raw = _body('"n"', _ok_params(', "headers": {"\\udfff": "v"}'))
    response = await client.post("/configs", content=raw, headers=JSON)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"][:3] == ["body", "parameters", "headers"] and len(error["loc"]) == 4
