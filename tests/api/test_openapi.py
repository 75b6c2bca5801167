"""The OpenAPI document is the contract: schemathesis drives every operation with generated
input (admin token) and finds no 5xx and no response that breaks the documented schema."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import jsonschema_rs
import schemathesis
from hypothesis import HealthCheck, given, strategies
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.api.app import create_app
from taskplane.enums import SchedulerType
from taskplane.settings import Settings
from taskplane.state.keys import Keys

AUTH = {"Authorization": "Bearer admin-test-token"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# small in the suite; TASKPLANE_TEST_SCHEMATHESIS_SCALE=20 for a deeper local run
SCALE = int(os.environ.get("TASKPLANE_TEST_SCHEMATHESIS_SCALE", "1"))
EXAMPLES = {GenerationMode.POSITIVE: 6 * SCALE, GenerationMode.NEGATIVE: 4 * SCALE}
DERANDOMIZE = SCALE == 1
CREATE = "POST /api/v1/configs"
CREATE_EXAMPLES = 30 * SCALE


async def test_openapi_describes_every_route_with_auth_and_tags(client: httpx.AsyncClient) -> None:
    doc = (await client.get("http://testserver/openapi.json", headers={"Authorization": ""})).json()
    assert doc["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    tags = {t["name"] for t in doc["tags"]}
    assert {"configs", "schedules", "runs", "executions", "system", "tokens"} <= tags
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            assert operation.get("tags"), (method, path)
            ok = [c for c in operation["responses"] if c.startswith("2")]
            assert ok, (method, path)
            if path != "/api/v1/system/health":
                assert operation.get("security"), (method, path)
                assert "401" in operation["responses"], (method, path)


def beat(settings: Settings) -> None:
    """Fresh scheduler and worker heartbeats, so health answers 200 (a 503 is a 5xx)."""
    keys = Keys(settings.redis_prefix)
    at = datetime.now(UTC).isoformat()
    client = SyncRedis.from_url(settings.redis_url.get_secret_value())
    try:
        client.hset(keys.scheduler_instances, "s1", json.dumps({"id": "s1", "heartbeat_at": at}))
        client.hset(keys.workers, "w1", json.dumps({"id": "w1", "heartbeat_at": at}))
    finally:
        client.close()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    # `redis` deletes the test prefix's keys afterwards, `sessions` wipes the tables
    settings = settings.model_copy(update={"heartbeat_stale_seconds": 3600.0})
    beat(settings)
    app = create_app(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tested = 0
    creates: Counter[int] = Counter()  # POST /configs' status codes, over positive cases
    try:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operation = result.ok()
            for mode, examples in EXAMPLES.items():
                if operation.label == CREATE and mode is GenerationMode.POSITIVE:
                    examples = CREATE_EXAMPLES  # enough to count the valid creates

                counting = operation.label == CREATE and mode is GenerationMode.POSITIVE

                @given(
                    case=operation.as_strategy(generation_mode=mode, headers=AUTH),
                    counted=strategies.just(counting),
                )
                @hypothesis_settings(
                    max_examples=examples,
                    deadline=None,
                    database=None,
                    derandomize=DERANDOMIZE,
                    suppress_health_check=list(HealthCheck),
                )
                def exercise(case: Any, counted: bool) -> None:
                    if counted:  # names are unique (409): no schema can say so
                        case.body["name"] = f"{case.body['name'][:100]}-{creates.total()}"
                    response = case.call(headers=AUTH)
                    if counted:
                        creates[response.status_code] += 1
                    case.validate_response(response, checks=CHECKS)

                try:
                    exercise()
                except Unsatisfiable:
                    # nothing to break: an operation without parameters has no negative case
                    assert mode is GenerationMode.NEGATIVE, operation.label
            tested += 1
    finally:
        asgi.shutdown_lifespans()
    documented = sum(len(methods) for methods in app.openapi()["paths"].values())
    assert tested == documented
    # the published body union (api/config_schema.py) makes most generated creates valid
    print(f"POST /configs positive cases: {dict(creates)}")
    assert creates[201] * 2 > creates.total(), creates


async def test_openapi_publishes_the_config_body_as_unions(client: httpx.AsyncClient) -> None:
    doc = (await client.get("http://testserver/openapi.json", headers={"Authorization": ""})).json()
    schemas = doc["components"]["schemas"]
    body = schemas["ConfigCreate"]
    assert body["discriminator"]["propertyName"] == "scheduler_type"
    assert set(body["discriminator"]["mapping"]) == {t.value for t in SchedulerType}
    for kind, ref in body["discriminator"]["mapping"].items():
        variant = schemas[ref.removeprefix("#/components/schemas/")]
        assert variant["properties"]["scheduler_type"]["const"] == kind
        schedule = variant["properties"]["schedule_config"]["$ref"]
        assert schedule.removeprefix("#/components/schemas/") in schemas
        task_types = {v["properties"]["task_type"]["const"] for v in variant["oneOf"]}
        assert {"echo", "sleep", "http_request"} <= task_types
    assert schemas["Parameters.echo"]["required"] == ["message"]
    assert "pattern" in schemas["CronSchedule"]["properties"]["cron_expression"]
    assert schemas["DateSchedule"]["properties"]["run_date"]["format"] == "date-time"
    # every schema is valid JSON Schema 2020-12 (OpenAPI 3.1's dialect), refs resolved
    for name, schema in schemas.items():
        assert jsonschema_rs.meta.is_valid(schema), name
    jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/ConfigCreate", "components": doc["components"]}
    )
    create = doc["paths"]["/api/v1/configs"]["post"]["requestBody"]["content"]
    assert create["application/json"]["schema"] == {"$ref": "#/components/schemas/ConfigCreate"}


def test_published_config_body_accepts_an_example_and_refuses_a_mismatch() -> None:
    settings = Settings(database_url="sqlite+aiosqlite://", redis_url="redis://unused")
    doc = create_app(settings).openapi()
    check = jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/ConfigCreate", "components": doc["components"]}
    )
    body = {
        "name": "n",
        "task_type": "echo",
        "parameters": {"message": "hi"},
        "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "*/5 * * * *", "timezone": "UTC"},
    }
    assert check.is_valid(body)
    assert not check.is_valid({**body, "schedule_config": {"seconds": 5}})
    assert not check.is_valid({**body, "parameters": {"seconds": 5}})
    assert check.is_valid({**body, "scheduler_type": "interval", "schedule_config": {"minutes": 5}})
