"""GET /configs?after=: the keyset cursor (API.md, Added in the second round). A client
pages with the last item's id; the pages hold exactly what offset paging gives, ``total``
stays the count of every matching config, and a bad cursor is a 422 naming it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from taskplane.db.models import TaskConfig
from taskplane.enums import SchedulerType
from tests.api.configs import Sessions, create, rows


async def _seed(sessions: Sessions, n: int) -> None:
    """n configs in one statement (what the API creates, without n round trips)."""
    async with sessions() as s, s.begin():
        await s.execute(
            insert(TaskConfig),
            [
                {
                    "name": f"bulk-{i:04d}",
                    "description": "tagged" if i % 5 == 0 else None,
                    "task_type": "sleep" if i % 3 == 0 else "echo",
                    "scheduler_type": SchedulerType.MANUAL,
                    "schedule_config": {},
                    "parameters": {},
                }
                for i in range(n)
            ],
        )


async def _walk(client: httpx.AsyncClient, by_cursor: bool, **params: Any) -> list[int]:
    """Every page of the list, by ``after`` or by ``offset``; each page's total checked."""
    ids: list[int] = []
    totals: set[int] = set()
    while True:
        query: dict[str, Any] = {"limit": 9, **params}
        if by_cursor and ids:
            query["after"] = ids[-1]
        elif not by_cursor:
            query["offset"] = len(ids)
        response = await client.get("/configs", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "total", "limit", "offset"}
        assert page["offset"] == query.get("offset", 0) and page["limit"] == 9
        totals.add(page["total"])
        if not page["items"]:
            assert len(totals) == 1 and totals.pop() == len(ids)
            return ids
        ids += [item["id"] for item in page["items"]]


@pytest.mark.parametrize(
    "params",
    [{}, {"task_type": "sleep"}, {"q": "TAGGED"}, {"status": "inactive"}, {"task_type": "x"}],
)
async def test_paging_by_after_gives_what_paging_by_offset_does(
    client: httpx.AsyncClient, sessions: Sessions, params: dict[str, Any]
) -> None:
    await _seed(sessions, 80)
    for i in range(12):  # with a state in Redis: status=inactive holds these
        await create(client, name=f"via-api-{i}")
    by_offset = await _walk(client, by_cursor=False, **params)
    by_cursor = await _walk(client, by_cursor=True, **params)
    assert by_cursor == by_offset
    assert by_offset == sorted(by_offset, reverse=True)
    if params.get("status"):
        assert len(by_offset) == 12
    if not params:
        assert len(by_offset) == await rows(sessions) == 92


async def test_after_with_an_offset_and_filters(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _seed(sessions, 30)
    every = [c["id"] for c in (await client.get("/configs", params={"limit": 100})).json()["items"]]
    page = (await client.get("/configs", params={"after": every[4], "offset": 3})).json()
    assert [c["id"] for c in page["items"]] == every[8:]
    assert page["total"] == 30 and page["offset"] == 3
    sleep = (await client.get("/configs", params={"task_type": "sleep"})).json()
    below = [c["id"] for c in sleep["items"] if c["id"] < every[4]]
    page = (
        await client.get("/configs", params={"task_type": "sleep", "after": every[4], "limit": 2})
    ).json()
    assert [c["id"] for c in page["items"]] == below[:2]
    assert page["total"] == sleep["total"] == 10
    past = (await client.get("/configs", params={"after": every[-1]})).json()
    assert past == {"items": [], "total": 30, "limit": 50, "offset": 0}
    beyond = (await client.get("/configs", params={"after": every[0] + 1000})).json()
    assert [c["id"] for c in beyond["items"]] == every  # a cursor above every id: the top


@pytest.mark.parametrize("after", ["0", "-1", "abc", "1.5", str(2**63)])
async def test_a_bad_after_is_422_naming_it(client: httpx.AsyncClient, after: str) -> None:
    response = await client.get("/configs", params={"after": after})
    assert response.status_code == 422, response.text
    assert ["query", "after"] in [e["loc"] for e in response.json()["detail"]]


async def test_the_largest_after_is_accepted(client: httpx.AsyncClient) -> None:
    await create(client, name="only")
    page = (await client.get("/configs", params={"after": str(2**63 - 1)})).json()
    assert [c["name"] for c in page["items"]] == ["only"] and page["total"] == 1
