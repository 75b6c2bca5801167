"""``http_request``: one HTTP call (httpx, async); records the status, the elapsed time and a
bounded excerpt of the response. A status outside ``expected_status`` is a failure."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import httpx
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from taskplane.tasks.registry import task_type
from taskplane.tasks.result import ExecutionResult
from taskplane.tasks.secrets import SECRET

EXCERPT_CHARS = 2000
EXCERPT_BYTES = 4 * EXCERPT_CHARS  # read no more of a body than the excerpt needs

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class HttpRequestParams(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    method: Method = "GET"
    url: AnyHttpUrl
    headers: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra=SECRET,
        description="request headers; secret: stored and sent, shown as ***",
    )
    json_body: Any = Field(default=None, alias="json", description="JSON body (not with body)")
    body: str | None = Field(default=None, description="text body (not with json)")
    expected_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: list(range(200, 300)),
        min_length=1,
        max_length=1000,
        description="statuses that succeed (default: 200..299)",
    )
    timeout_seconds: float = Field(default=30, gt=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _upper_method(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data = {**data, "method": data["method"].upper()}
        return data

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestParams:
        if self.json_body is not None and self.body is not None:
            raise ValueError("json and body are exclusive: give one of them")
        return self


@task_type("http_request", params=HttpRequestParams)
async def http_request(params: HttpRequestParams) -> ExecutionResult:
    """Make an HTTP request; fails on a status outside expected_status."""
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(timeout=params.timeout_seconds) as client,
        client.stream(
            params.method,
            str(params.url),
            headers=params.headers,
            json=params.json_body,
            content=params.body,
        ) as response,
    ):
        head = bytearray()
        async for chunk in response.aiter_bytes():  # a huge body is never held in memory
            head += chunk
            if len(head) >= EXCERPT_BYTES:
                break
    elapsed = time.perf_counter() - started
    excerpt = bytes(head[:EXCERPT_BYTES]).decode(response.encoding or "utf-8", errors="replace")
    data = {
        "status_code": response.status_code,
        "elapsed_seconds": round(elapsed, 6),
        "response_excerpt": excerpt[:EXCERPT_CHARS],
        "content_type": response.headers.get("content-type"),
    }
    if response.status_code not in params.expected_status:
        return ExecutionResult.fail(
            f"unexpected status {response.status_code} from {params.method} {params.url}",
            data=data,
        )
    return ExecutionResult.ok(
        data, message=f"{params.method} {params.url} -> {response.status_code}"
    )
