"""The registry: discovery of built-ins and TASKPLANE_TASK_MODULES, duplicates, schemas,
validation errors that name the field."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from taskplane.errors import DuplicateTaskType, InvalidInput, NotFound
from taskplane.settings import Settings
from taskplane.tasks.registry import (
    DEFAULT_QUEUE,
    TaskRegistry,
    TaskType,
    load_registry,
    registry_from_modules,
    resolve_run_settings,
    task_type,
    types_in,
)

EXTRA = "tests.tasks.fixtures.extra_types"
BUILTINS = {"cleanup_executions", "echo", "http_request", "sleep"}


def _settings(**over: object) -> Settings:
    return Settings(_env_file=None, **over)  # type: ignore[arg-type]


def test_builtins_are_discovered_sorted_with_schemas() -> None:
    registry = load_registry(_settings())
    assert [t.name for t in registry.all()] == sorted(BUILTINS)
    for t in registry.all():
        assert t.parameters_schema["type"] == "object"
        assert t.description
        assert t.queue == DEFAULT_QUEUE
    assert registry.get("echo").parameters_schema["required"] == ["message"]
    assert registry.get("cleanup_executions").wants_context is True
    assert registry.get("echo").wants_context is False


def test_task_modules_setting_adds_types_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKPLANE_TASK_MODULES", f" {EXTRA} ,")
    registry = load_registry(_settings())
    assert set(registry.names()) == BUILTINS | {
        "test_add",
        "test_refuse",
        "test_flaky",
        "test_mark",
        "test_fail_twice_retried",
        "test_loose",
    }
    add = registry.get("test_add")
    assert add.max_retries == 1
    assert add.description == "Add a and b"
    assert add.parameters_schema["properties"]["a"]["description"] == "first addend"


def test_two_types_with_one_name_fail_at_start_naming_both_modules() -> None:
    with pytest.raises(DuplicateTaskType) as err:
        load_registry(_settings(task_modules=["tests.tasks.fixtures.duplicate_echo"]))
    assert "'echo'" in str(err.value)
    assert "taskplane.tasks.builtin.echo" in str(err.value)
    assert "tests.tasks.fixtures.duplicate_echo" in str(err.value)


def test_unimportable_task_module_names_it() -> None:
    with pytest.raises(ImportError, match="no_such_module_xyz"):
        load_registry(_settings(task_modules=["no_such_module_xyz"]))


def test_a_module_listed_twice_is_loaded_once() -> None:
    registry = registry_from_modules([EXTRA, EXTRA])
    assert "test_add" in registry


def test_reexported_type_is_not_counted_twice() -> None:
    import types

    from tests.tasks.fixtures import extra_types

    shim = types.ModuleType("shim")
    shim.add = extra_types.add  # type: ignore[attr-defined]
    assert types_in(shim) == []


def test_get_unknown_is_not_found_and_find_is_none() -> None:
    registry = load_registry(_settings())
    with pytest.raises(NotFound, match="task type nope not found"):
        registry.get("nope")
    assert registry.find("nope") is None
    with pytest.raises(NotFound):
        registry.validate("nope", {})


def test_validate_normalizes_and_fills_defaults() -> None:
    registry = load_registry(_settings())
    assert registry.validate("echo", {"message": "hi"}) == {"message": "hi", "fail": False}
    out = registry.validate("http_request", {"url": "https://example.com/x", "json": {"a": 1}})
    assert out["json"] == {"a": 1} and out["method"] == "GET"


@pytest.mark.parametrize(
    ("name", "parameters", "loc"),
    [
        ("echo", {}, ("parameters", "message")),
        ("echo", {"message": "x", "fail": "maybe"}, ("parameters", "fail")),
        ("sleep", {"seconds": -1}, ("parameters", "seconds")),
        ("sleep", {"seconds": 86_401}, ("parameters", "seconds")),
        ("http_request", {"url": "ftp://x"}, ("parameters", "url")),
        ("http_request", {"url": "http://x", "method": "BREW"}, ("parameters", "method")),
        ("http_request", {"url": "http://x", "json": 1, "body": "b"}, ("parameters",)),
        ("cleanup_executions", {"older_than_days": -1}, ("parameters", "older_than_days")),
        ("echo", ["not", "an", "object"], ("parameters",)),
    ],
)
def test_validate_errors_name_the_field(name: str, parameters: object, loc: tuple[str]) -> None:
    registry = load_registry(_settings())
    with pytest.raises(InvalidInput) as err:
        registry.validate(name, parameters)
    assert [e.loc for e in err.value.errors] == [loc]
    assert err.value.errors[0].msg


def test_decorator_rejects_bad_declarations() -> None:
    class P(BaseModel):
        x: int = 0

    with pytest.raises(ValueError, match="name"):
        task_type("has space", params=P)
    with pytest.raises(TypeError, match="pydantic"):
        task_type("t", params=dict)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        task_type("t", params=P, timeout_seconds=0)
    with pytest.raises(TypeError, match="params"):

        @task_type("t", params=P)
        async def no_args() -> None: ...


def test_same_function_added_twice_is_not_a_duplicate() -> None:
    from tests.tasks.fixtures import extra_types

    t = types_in(extra_types)[0]
    registry = TaskRegistry([t, t])
    assert len(registry) == 1


def test_an_unknown_parameter_key_is_refused_by_name_for_every_type() -> None:
    registry = load_registry(_settings(task_modules=EXTRA))
    for name, parameters in (
        ("echo", {"message": "hi", "mesage": "typo"}),
        ("http_request", {"url": "https://example.com", "jsn": {}}),
        ("test_add", {"a": 1, "bb": 2}),
    ):
        with pytest.raises(InvalidInput) as caught:
            registry.validate(name, parameters)
        [error] = caught.value.errors
        typo = next(k for k in parameters if k not in ("message", "url", "a"))
        assert error.loc == ("parameters", typo), name
        assert error.type == "extra_forbidden"


def test_unknown_keys_and_bad_values_are_reported_together_and_aliases_are_known() -> None:
    registry = load_registry(_settings(task_modules=EXTRA))
    with pytest.raises(InvalidInput) as caught:
        registry.validate("test_add", {"a": "x", "shuot": True})
    assert {e.loc for e in caught.value.errors} == {("parameters", "shuot"), ("parameters", "a")}
    # http_request's body field is named json_body with the alias "json": both are keys
    assert registry.validate("http_request", {"url": "https://example.com", "json": {"k": 1}})[
        "json"
    ] == {"k": 1}


def test_a_model_that_forbids_extras_is_named_once_and_one_that_allows_them_still_refuses() -> None:
    from pydantic import ConfigDict

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")
        x: int = 0

    class Lax(BaseModel):
        model_config = ConfigDict(extra="allow")
        x: int = 0

    async def strict(params: BaseModel) -> None:
        return None

    async def lax(params: BaseModel) -> None:
        return None

    registry = TaskRegistry(
        [
            _marked(task_type("strict", params=Strict)(strict)),
            _marked(task_type("lax", params=Lax)(lax)),
        ]
    )
    for name in ("strict", "lax"):
        with pytest.raises(InvalidInput) as caught:
            registry.validate(name, {"y": 1})
        assert [e.loc for e in caught.value.errors] == [("parameters", "y")], name


def test_a_type_that_declares_extra_parameters_takes_unknown_keys() -> None:
    registry = load_registry(_settings(task_modules=EXTRA))
    assert registry.validate("test_loose", {"known": 1, "anything": 2})["known"] == 1


def test_run_settings_come_from_the_config_else_the_task_type_else_the_default() -> None:
    registry = load_registry(_settings(task_modules=EXTRA))
    failing = registry.get("test_fail_twice_retried")
    values, sources = resolve_run_settings(failing, {"max_retries": None, "priority": 3})
    assert values == {"max_retries": 2, "timeout_seconds": 40, "priority": 3}
    assert sources == {
        "max_retries": "task_type",
        "timeout_seconds": "task_type",
        "priority": "config",
    }
    values, sources = resolve_run_settings(registry.get("test_refuse"), {"max_retries": 0})
    assert values == {"max_retries": 0, "timeout_seconds": None, "priority": 0}
    assert sources == {"max_retries": "config", "timeout_seconds": "default", "priority": "default"}
    assert resolve_run_settings(None, {})[1]["max_retries"] == "default"


def _marked(fn: object) -> TaskType:
    [marked] = [v for k, v in vars(fn).items() if isinstance(v, TaskType)]
    return marked
