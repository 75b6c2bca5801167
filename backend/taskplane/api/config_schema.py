"""The published schema of ``POST /configs``' body: precise enough for a fuzzer.

``ConfigCreate`` validates ``schedule_config`` and ``parameters`` as free objects (the
service checks them, naming each field in a 422); the OpenAPI document instead publishes the
body as a ``oneOf`` keyed by a discriminator on ``scheduler_type``: one variant per scheduler
type, whose ``schedule_config`` is that type's schema (``CronSchedule``, ...), and inside it
a ``oneOf`` per registered task type binding ``task_type`` to its parameters' schema
(``Parameters.<task type>``). Only the document changes: the bodies accepted and their 422s
are the validation models' and ``scheduling/specs.py``'s, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskplane.enums import SchedulerType
from taskplane.scheduling import calendar, specs
from taskplane.tasks.registry import TaskRegistry

SCHEMAS = "#/components/schemas/"
BODY = "ConfigCreate"
# five plain fields, each a value or '*', optionally stepped: always a valid, firing expression
_STEP = r"(/[1-9])?"
CRON_PATTERN = (
    rf"^(\*|[0-5]?[0-9]){_STEP} (\*|1?[0-9]|2[0-3]){_STEP} (\*|[1-9]|1[0-9]|2[0-8]){_STEP}"
    rf" (\*|[1-9]|1[0-2]){_STEP} (\*|[0-6]){_STEP}$"
)
# a future instant (the API refuses a run_date in the past), ISO 8601 in UTC
RUN_DATE_PATTERN = (
    r"^20[4-9][0-9]-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"[0-5][0-9]Z$"
)
TIMEZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]


def _choice(key: str) -> dict[str, Any]:
    first, second = specs.CHOICES[key]
    return {"type": "string", "enum": [first, second], "default": first}


def _policies() -> dict[str, Any]:
    return {
        "misfire": _choice("misfire"),
        "misfire_grace_seconds": {
            "type": "integer",
            "minimum": 0,
            "maximum": specs.MAX_GRACE_SECONDS,
            "default": specs.DEFAULT_GRACE_SECONDS,
        },
        "overlap": _choice("overlap"),
    }


DATE_PATTERN = r"^20[2-9][0-9]-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"
COUNTRIES = ["DE", "US", "FR", "GB", "AT", "CH"]


def _exclude() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "fire times whose local date (the schedule's timezone; UTC for an "
        "interval) is one of these dates or a public holiday of the region (a country the "
        "holidays package knows, these are examples; also `subdivision`, e.g. BY) do not fire",
        "properties": {
            "dates": {
                "type": "array",
                "items": {"type": "string", "format": "date", "pattern": DATE_PATTERN},
                "maxItems": calendar.MAX_DATES,
            },
            "holidays": {
                "type": "object",
                "properties": {"country": {"type": "string", "enum": COUNTRIES}},
                "required": ["country"],
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    }


def _jitter(description: str) -> dict[str, Any]:
    maximum = calendar.MAX_JITTER_SECONDS
    return {"type": "integer", "minimum": 0, "maximum": maximum, "default": 0,
            "description": description}  # fmt: skip


def _object(properties: dict[str, Any], required: list[str], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def schedule_schemas() -> dict[SchedulerType, tuple[str, dict[str, Any]]]:
    """Per scheduler type: the component name and JSON Schema of its ``schedule_config``."""
    interval = {
        unit: {"type": "integer", "minimum": 0, "maximum": specs.MAX_INTERVAL_SECONDS // factor}
        for unit, factor in specs.INTERVAL_UNITS.items()
    }
    cron = _object(
        {
            "cron_expression": {
                "type": "string",
                "pattern": CRON_PATTERN,
                "maxLength": specs.MAX_TEXT_LENGTHS["cron_expression"],
                "examples": ["*/5 * * * *", "0 9 * * 1"],
            },
            "timezone": {
                "type": "string",
                "enum": TIMEZONES,
                "default": "UTC",
                "description": "an IANA timezone name (any is accepted; these are examples)",
            },
            **_policies(),
            "on_missing_time": _choice("on_missing_time"),
            "on_repeated_time": _choice("on_repeated_time"),
            "exclude": _exclude(),
            "jitter_seconds": _jitter(
                "each fire is sent at a deterministic offset in [0, jitter_seconds) after its "
                "due time"
            ),
        },
        ["cron_expression"],
        "a five-field cron expression (the API also accepts minute, hour, day, month and "
        "day_of_week given apart, instead of cron_expression)",
    )
    return {
        SchedulerType.CRON: ("CronSchedule", cron),
        SchedulerType.INTERVAL: (
            "IntervalSchedule",
            {
                **_object(
                    {**interval, "run_immediately": {"type": "boolean", "default": True}}
                    | _policies()
                    | {"exclude": _exclude()},
                    [],
                    "every so long: the units add up, to at least 1 second and at most "
                    f"{specs.MAX_INTERVAL_SECONDS} seconds (also `jitter_seconds`, 0..3600 and "
                    "less than the interval)",
                ),
                "anyOf": [{"required": [unit]} for unit in specs.INTERVAL_UNITS],
            },
        ),
        SchedulerType.DATE: (
            "DateSchedule",
            _object(
                {
                    "run_date": {
                        "type": "string",
                        "format": "date-time",
                        "pattern": RUN_DATE_PATTERN,
                        "maxLength": specs.MAX_TEXT_LENGTHS["run_date"],
                        "description": "when to run once: not in the past",
                    },
                    **_policies(),
                },
                ["run_date"],
                "once, at run_date",
            ),
        ),
        SchedulerType.MANUAL: (
            "ManualSchedule",
            _object({}, [], "no schedule: runs only when asked"),
        ),
    }


def _parameters_schemas(registry: TaskRegistry, components: dict[str, Any]) -> dict[str, str]:
    """Add each task type's parameters schema (and its ``$defs``) to ``components``; the
    component name per task type."""
    names: dict[str, str] = {}
    for t in registry.all():
        name = f"Parameters.{t.name}"
        schema = t.params_model.model_json_schema(ref_template=f"{SCHEMAS}{name}.{{model}}")
        for def_name, definition in schema.pop("$defs", {}).items():
            components[f"{name}.{def_name}"] = definition
        if not t.extra_parameters:
            schema["additionalProperties"] = False
        components[name] = schema
        names[t.name] = name
    return names


def _task_variant(task_type: str, parameters: str, required: bool) -> dict[str, Any]:
    return {
        "properties": {
            "task_type": {"const": task_type},
            "parameters": {"$ref": f"{SCHEMAS}{parameters}"},
        },
        "required": ["task_type", "parameters"] if required else ["task_type"],
    }


def refine(document: dict[str, Any], registry: TaskRegistry) -> dict[str, Any]:
    """Publish ``ConfigCreate`` as the discriminated union (in place; returns ``document``)."""
    components: dict[str, Any] = document["components"]["schemas"]
    base: dict[str, Any] = components[BODY]
    parameters = _parameters_schemas(registry, components)
    by_task = [
        _task_variant(name, component, bool(components[component].get("required")))
        for name, component in parameters.items()
    ]
    mapping: dict[str, str] = {}
    variants: list[dict[str, Any]] = []
    for kind, (schedule_name, schedule) in schedule_schemas().items():
        components[schedule_name] = schedule
        variant = f"{BODY}.{kind.value}"
        properties = dict(base["properties"])
        properties["scheduler_type"] = {"type": "string", "const": kind.value}
        properties["schedule_config"] = {"$ref": f"{SCHEMAS}{schedule_name}"}
        required = set(base.get("required", []))
        if schedule["required"] or "anyOf" in schedule:
            required.add("schedule_config")
        components[variant] = {
            "type": "object",
            "title": f"ConfigCreate ({kind.value})",
            "properties": properties,
            "required": sorted(required),
            "additionalProperties": False,
            **({"oneOf": by_task} if by_task else {}),
        }
        mapping[kind.value] = f"{SCHEMAS}{variant}"
        variants.append({"$ref": mapping[kind.value]})
    components[BODY] = {
        "title": base.get("title", BODY),
        "oneOf": variants,
        "discriminator": {"propertyName": "scheduler_type", "mapping": mapping},
    }
    return document


def install(app: Any, registry: Callable[[], TaskRegistry]) -> None:
    """Make ``app.openapi()`` publish the refined document (built once, on first ask)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = refine(build(), registry())
        return app.openapi_schema  # type: ignore[no-any-return]

    app.openapi = openapi
