"""Secret parameter fields: found from the model's JSON Schema (SecretStr or ``SECRET``),
stored in full, masked for reading, restored from a masked PATCH."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from taskplane.tasks import secrets
from taskplane.tasks.registry import TaskRegistry, TaskType
from taskplane.tasks.result import ExecutionResult
from taskplane.tasks.secrets import MASK, SECRET


class Params(BaseModel):
    url: str
    api_key: SecretStr
    headers: dict[str, str] = Field(default_factory=dict, json_schema_extra=SECRET)
    retries: int = 1


async def _fn(params: Params) -> ExecutionResult:
    return ExecutionResult.ok(params.api_key.get_secret_value())


REGISTRY = TaskRegistry([TaskType("with_secrets", Params, _fn)])


def test_secret_fields_are_the_write_only_ones_of_the_schema() -> None:
    assert secrets.secret_fields(Params) == {"api_key", "headers"}
    props = Params.model_json_schema()["properties"]
    assert props["api_key"]["writeOnly"] is True and props["headers"]["writeOnly"] is True
    assert "writeOnly" not in props["url"]


def test_validated_parameters_keep_the_secret_value_for_the_worker() -> None:
    stored = REGISTRY.validate(
        "with_secrets", {"url": "u", "api_key": "k-123", "headers": {"X-Key": "h-456"}}
    )
    assert stored["api_key"] == "k-123" and stored["headers"] == {"X-Key": "h-456"}
    parsed = REGISTRY.get("with_secrets").parse(stored)  # what the worker does
    assert isinstance(parsed, Params) and parsed.api_key.get_secret_value() == "k-123"


def test_masked_shows_every_secret_field_as_the_mask_and_the_rest_as_is() -> None:
    fields = secrets.fields_of(REGISTRY, "with_secrets")
    stored = {"url": "u", "api_key": "k", "headers": {"A": "b"}, "retries": 2}
    assert secrets.masked(stored, fields) == {
        "url": "u",
        "api_key": MASK,
        "headers": MASK,
        "retries": 2,
    }
    assert secrets.masked(stored, secrets.fields_of(REGISTRY, "unknown")) == stored


def test_restored_puts_the_stored_value_back_only_where_the_mask_came_back() -> None:
    fields = secrets.secret_fields(Params)
    stored = {"url": "u", "api_key": "k", "headers": {"A": "b"}}
    sent = {"url": "v", "api_key": MASK, "headers": {"C": "d"}}
    assert secrets.restored(sent, stored, fields) == {
        "url": "v",
        "api_key": "k",
        "headers": {"C": "d"},
    }
