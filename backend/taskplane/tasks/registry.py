"""The task-type registry: ``@task_type`` marks a function, ``load_registry`` collects them.

A task type is one module with one decorated function::

    class EchoParams(BaseModel):
        message: str

    @task_type("echo", params=EchoParams, description="Return the message")
    async def echo(params: EchoParams) -> ExecutionResult: ...

The decorator only attaches a ``TaskType`` to the function (importing a module registers
nothing global). ``load_registry(settings)`` imports every module of the built-in package
and every module in ``settings.task_modules`` and collects the marked functions; two types
with one name fail there with ``DuplicateTaskType`` naming both modules. The worker binds
each type to a TaskIQ task on its broker (``worker/broker.py``).

A function that needs the database or Redis takes a second parameter, a ``TaskContext``
(see below); the worker passes one when the function's signature asks for it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from taskplane.errors import DuplicateTaskType, FieldError, InvalidInput, NotFound
from taskplane.tasks import secrets

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from taskplane.enums import Trigger
    from taskplane.settings import Settings
    from taskplane.state.keys import Keys

DEFAULT_QUEUE = "default"
BUILTIN_PACKAGE = "taskplane.tasks.builtin"
_TASK_TYPE_ATTRIBUTE = "__taskplane_task_type__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a task function gets as its second parameter, when it declares one.

    The process's shared resources (never open your own engine or pool in a task) and the
    identity of the attempt being run.
    """

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    keys: Keys
    task_id: str
    config_id: int
    attempt: int
    trigger: Trigger
    worker: str


@cache
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


@dataclass(frozen=True, slots=True)
class TaskType:
    """One registered task type."""

    name: str
    params_model: type[BaseModel]
    fn: Callable[..., Any]
    queue: str = DEFAULT_QUEUE
    timeout_seconds: int | None = None
    max_retries: int = 0
    description: str = ""
    module: str = ""
    wants_context: bool = False
    priority: int = 0
    extra_parameters: bool = False

    @property
    def parameters_schema(self) -> dict[str, Any]:
        """JSON Schema of the parameters (the API's /task-types and the dashboard's forms)."""
        return _schema(self.params_model)

    def parse(self, parameters: Any) -> BaseModel:
        """The parameters as the model; InvalidInput with loc ("parameters", field, ...)."""
        if not isinstance(parameters, dict):
            raise InvalidInput.field("parameters", msg="must be an object", type="dict_type")
        errors = [] if self.extra_parameters else _unknown_keys(self.params_model, parameters)
        try:
            model = self.params_model.model_validate(parameters)
        except ValidationError as exc:
            errors += [
                FieldError(("parameters", *err["loc"]), err["msg"], err["type"])
                for err in exc.errors()
                if err["type"] != "extra_forbidden"  # named once, by _unknown_keys
            ]
        if errors:
            raise InvalidInput(errors)
        return model


def _unknown_keys(model: type[BaseModel], parameters: dict[str, Any]) -> list[FieldError]:
    """A key that names no field of ``model`` (by name or alias), whatever the model's own
    ``extra`` setting: a misspelled parameter is refused, never silently dropped."""
    known = _field_keys(model)
    return [
        FieldError(
            ("parameters", str(key)),
            f"unknown parameter; expected one of: {', '.join(sorted(known)) or 'none'}",
            "extra_forbidden",
        )
        for key in parameters
        if key not in known
    ]


@cache
def _field_keys(model: type[BaseModel]) -> frozenset[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        if field.alias:
            keys.add(field.alias)
        if isinstance(field.validation_alias, str):
            keys.add(field.validation_alias)
    return frozenset(keys)


RUN_SETTINGS = ("max_retries", "timeout_seconds", "priority")
"""A config's run settings that fall back on its task type's when the config leaves them
out."""


def resolve_run_settings(
    task: TaskType | None, given: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The effective ``max_retries`` / ``timeout_seconds`` / ``priority`` of a config and
    where each came from: ``config`` (given, not None), ``task_type`` (the type declares
    one) or ``default`` (neither: 0, no timeout, 0)."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in RUN_SETTINGS:
        declared = getattr(task, name) if task is not None else None
        if given.get(name) is not None:
            values[name], sources[name] = given[name], "config"
        elif declared:
            values[name], sources[name] = declared, "task_type"
        else:
            values[name], sources[name] = (None if name == "timeout_seconds" else 0), "default"
    return values, sources


def task_type(
    name: str,
    *,
    params: type[BaseModel],
    queue: str = DEFAULT_QUEUE,
    timeout_seconds: int | None = None,
    max_retries: int = 0,
    description: str | None = None,
    priority: int = 0,
    extra_parameters: bool = False,
) -> Callable[[F], F]:
    """Mark ``fn`` as the task type ``name``; returns ``fn`` unchanged.

    ``fn(params)`` or ``fn(params, context)``, async (or sync: run in a thread). It returns
    an ``ExecutionResult`` or any JSON-compatible value (a success with it as data), or
    raises (a failure). ``max_retries``, ``timeout_seconds`` and ``priority`` are what a
    config of this type gets when it leaves them out. A parameter key that names no field of
    ``params`` is refused (422) unless ``extra_parameters=True``.
    """
    if not name or len(name) > 128 or any(ch.isspace() for ch in name):
        raise ValueError(f"task type name {name!r} must be 1..128 characters, no spaces")
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise TypeError(f"task type {name!r}: params must be a pydantic model class")
    if timeout_seconds is not None and timeout_seconds <= 0:
        raise ValueError(f"task type {name!r}: timeout_seconds must be > 0")
    if max_retries < 0:
        raise ValueError(f"task type {name!r}: max_retries must be >= 0")
    if not 0 <= priority <= 9:
        raise ValueError(f"task type {name!r}: priority must be 0..9")

    def decorate(fn: F) -> F:
        positional = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if not 1 <= len(positional) <= 2:
            raise TypeError(f"task type {name!r}: the function takes (params) or (params, context)")
        doc = inspect.getdoc(fn) or ""
        setattr(
            fn,
            _TASK_TYPE_ATTRIBUTE,
            TaskType(
                name=name,
                params_model=params,
                fn=fn,
                queue=queue,
                timeout_seconds=timeout_seconds,
                max_retries=max_retries,
                description=description if description is not None else doc.split("\n\n")[0],
                module=fn.__module__,
                wants_context=len(positional) == 2,
                priority=priority,
                extra_parameters=extra_parameters,
            ),
        )
        return fn

    return decorate


def types_in(module: ModuleType) -> list[TaskType]:
    """The task types defined in ``module`` (not ones it merely imports)."""
    found = []
    for value in vars(module).values():
        marked = getattr(value, _TASK_TYPE_ATTRIBUTE, None)
        if isinstance(marked, TaskType) and marked.module == module.__name__:
            found.append(marked)
    return found


class TaskRegistry:
    """The task types a process knows, by name. Built once at start by ``load_registry``."""

    def __init__(self, types: Iterable[TaskType] = ()) -> None:
        self._types: dict[str, TaskType] = {}
        for t in types:
            self.add(t)

    def add(self, t: TaskType) -> None:
        existing = self._types.get(t.name)
        if existing is not None and existing.fn is not t.fn:
            raise DuplicateTaskType(
                f"task type {t.name!r} is defined twice: in {existing.module} and in {t.module}"
            )
        self._types[t.name] = t

    def get(self, name: str) -> TaskType:
        t = self._types.get(name)
        if t is None:
            raise NotFound("task type", name)
        return t

    def find(self, name: str) -> TaskType | None:
        return self._types.get(name)

    def all(self) -> list[TaskType]:
        return sorted(self._types.values(), key=lambda t: t.name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def queues(self) -> list[str]:
        return sorted({t.queue for t in self._types.values()})

    def validate(self, name: str, parameters: Any) -> dict[str, Any]:
        """Normalized parameters of ``name`` (JSON form, defaults filled in).

        NotFound for an unknown type; InvalidInput with loc ("parameters", field, ...).
        """
        return secrets.dumped(self.get(name).parse(parameters))  # secret values in full

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __len__(self) -> int:
        return len(self._types)


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"cannot import task module {module_name!r}: {exc}") from exc


def builtin_modules() -> list[str]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    return sorted(
        f"{BUILTIN_PACKAGE}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    )


def registry_from_modules(module_names: Iterable[str]) -> TaskRegistry:
    registry = TaskRegistry()
    seen: set[str] = set()
    for module_name in module_names:
        if module_name in seen:
            continue
        seen.add(module_name)
        for t in types_in(_import(module_name)):
            registry.add(t)
    return registry


def load_registry(settings: Settings) -> TaskRegistry:
    """Built-in types plus those in ``settings.task_modules``; DuplicateTaskType on a clash,
    ImportError naming the module when one cannot be imported."""
    return registry_from_modules([*builtin_modules(), *settings.task_modules])
