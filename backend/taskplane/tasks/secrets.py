"""Secret task parameters: stored, sent to the worker and used, never shown.

A task author marks a top-level field of the parameter model secret in one of two ways:

    class Params(BaseModel):
        api_key: SecretStr                                            # pydantic's own
        headers: dict[str, str] = Field(default_factory=dict, json_schema_extra=SECRET)

Either way the field's JSON Schema says ``"writeOnly": true`` (``SECRET`` also adds
``"secret": true``; a field whose schema says ``"format": "password"`` is one too), which is
how this module finds them (``secret_fields``). The API answers
such a field's value as ``MASK`` (``"***"``) to every role (``masked``); a PATCH that sends
``MASK`` back keeps the stored value (``restored``). The value is stored in full (``dumped``
reveals a ``SecretStr``, which pydantic's JSON dump would write as asterisks), and the worker
parses it into the model as any other value. Logs never carry parameters (``logs.py``) and
an ``updated`` history event shows a secret field's old and new value as ``MASK``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic_core import to_jsonable_python

if TYPE_CHECKING:
    from taskplane.tasks.registry import TaskRegistry

MASK = "***"
HIDDEN = frozenset({"password"})
"""The JSON Schema ``format`` values of a field whose value is secret."""
SECRET: dict[str, Any] = {"writeOnly": True, "secret": True}
"""``json_schema_extra`` of a field whose value is secret."""


def is_mask(value: Any) -> bool:
    """Whether a parameter's value is the mask a read shows (``MASK``), not a value."""
    return isinstance(value, str) and value == MASK


@cache
def secret_fields(model: type[BaseModel]) -> frozenset[str]:
    """The names (aliases, as stored) of ``model``'s top-level secret fields."""
    properties: dict[str, Any] = model.model_json_schema(by_alias=True).get("properties", {})
    return frozenset(
        name
        for name, schema in properties.items()
        if isinstance(schema, dict)
        and (schema.get("writeOnly") or schema.get("secret") or schema.get("format") in HIDDEN)
    )


def masked(parameters: Mapping[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """``parameters`` with every secret field that holds a value shown as ``MASK``."""
    if not fields:
        return dict(parameters)
    return {
        k: (MASK if k in fields and v not in (None, "", {}, []) else v)
        for k, v in parameters.items()
    }


def restored(
    parameters: Mapping[str, Any], stored: Mapping[str, Any], fields: frozenset[str]
) -> dict[str, Any]:
    """``parameters`` of a PATCH with each secret field sent back as ``MASK`` (as a read
    showed it) replaced by its stored value."""
    return {
        k: (stored[k] if k in fields and is_mask(v) and k in stored else v)
        for k, v in parameters.items()
    }


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v) for v in value]
    return value


def _holds_secret(value: Any) -> bool:
    if isinstance(value, SecretStr | SecretBytes):
        return True
    if isinstance(value, Mapping):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_secret(v) for v in value)
    return False


def dumped(model: BaseModel) -> dict[str, Any]:
    """The parameters as stored (JSON form, by alias, defaults filled in) with secret
    values in full."""
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True)
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if _holds_secret(value):
            data[info.alias or name] = to_jsonable_python(_reveal(value))
    return data


def fields_of(registry: TaskRegistry, task_type: str) -> frozenset[str]:
    """The secret fields of a task type; none for a type this process does not know."""
    t = registry.find(task_type)
    return secret_fields(t.params_model) if t is not None else frozenset()
