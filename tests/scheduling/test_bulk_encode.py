"""``core.encode``: the stored registration JSON without pydantic, byte for byte
``registration.dump``'s (the model's dump written compactly: no spaces, and without what a
reader restores, ``registration_text``), which ``decode`` reads back as the same model; the
texts of the previous formats (taskiq's serializer's spaced dump, then that dump without
spaces and null fields) read as the same model too."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from taskiq import ScheduledTask
from taskiq.serializers import JSONSerializer

from taskplane.db.configs import ConfigRow
from taskplane.enums import SchedulerType
from taskplane.errors import NotFound
from taskplane.scheduling import specs
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.registration import Encoder, dump
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.tasks.registry import load_registry
from tests.scheduling.registrations import Config

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
CORE = SchedulerCoreService(
    Redis(), Keys("tp-encode:"), load_registry(Settings(_env_file=None))
)  # never connects: encode and build only


def Cfg(
    id: int,
    scheduler_type: SchedulerType,
    schedule_config: dict[str, Any],
    **fields: Any,
) -> ConfigRow:
    values: dict[str, Any] = {
        "parameters": {"message": "hi"},
        "max_retries": 0,
        "timeout_seconds": None,
        "priority": 0,
        **fields,
    }
    return Config(id, scheduler_type=scheduler_type, schedule_config=schedule_config, **values)


NULL_BY_DEFAULT = {"task_id", "cron", "cron_offset", "time", "interval"}


def built(cfg: ConfigRow) -> ScheduledTask:
    return CORE.build(cfg, specs.parse(cfg.scheduler_type, cfg.schedule_config, now=NOW))


def by_pydantic(cfg: ConfigRow) -> str:
    """The reference: the model's way (``registration.dump``: ``build``'s dump, compacted)."""
    spec = specs.parse(cfg.scheduler_type, cfg.schedule_config, now=NOW)
    return dump(cfg, spec, CORE.task_type(cfg))


def previous_compact(cfg: ConfigRow) -> str:
    """What the previous version stored: the model's JSON dump, compact, every label."""
    dumped = built(cfg).model_dump(mode="json")
    kept = {k: v for k, v in dumped.items() if v is not None or k not in NULL_BY_DEFAULT}
    return json.dumps(kept, separators=(",", ":"))


def previous_format(cfg: ConfigRow) -> str:
    """What the version before stored: taskiq's serializer's dump, every field, spaced."""
    return JSONSerializer().dumpb(built(cfg).model_dump(mode="json")).decode()


def by_encode(cfg: ConfigRow) -> str:
    return CORE.encode(cfg, specs.parse(cfg.scheduler_type, cfg.schedule_config, now=NOW))


SCHEDULES: list[tuple[SchedulerType, dict[str, Any]]] = [
    (SchedulerType.INTERVAL, {"seconds": 10, "run_immediately": False}),
    (SchedulerType.INTERVAL, {"hours": 2, "run_immediately": True, "overlap": "skip"}),
    (SchedulerType.CRON, {"cron_expression": "*/5 * * * *", "timezone": "Europe/Berlin"}),
    (SchedulerType.CRON, {"cron_expression": "0 3 * * 1-5", "misfire": "skip"}),
    (SchedulerType.DATE, {"run_date": "2031-06-01T08:30:00+02:00"}),
    (SchedulerType.DATE, {"run_date": (NOW + timedelta(days=3, microseconds=7)).isoformat()}),
]


@pytest.mark.parametrize(("kind", "schedule"), SCHEDULES)
@pytest.mark.parametrize(("timeout", "retries", "priority"), [(None, 0, 0), (5, 3, 9), (0, 1, -2)])
def test_encode_is_the_pydantic_dump_byte_for_byte(
    kind: SchedulerType,
    schedule: dict[str, Any],
    timeout: int | None,
    retries: int,
    priority: int,
) -> None:
    cfg = Cfg(41, kind, schedule, max_retries=retries, timeout_seconds=timeout, priority=priority)
    assert by_encode(cfg) == by_pydantic(cfg)
    text = by_encode(cfg)
    assert ": " not in text and ", " not in text  # no spaces (none in these values either)
    top = json.loads(text)
    assert None not in top.values() and set(top) >= {"task_name", "labels", "kwargs"}
    assert len(text) < len(previous_compact(cfg)) - 100
    for stored in (text, previous_compact(cfg), previous_format(cfg)):  # every format alike
        decoded = CORE.decode(stored)
        assert decoded == built(cfg)
        assert decoded is not None  # and in build's order: its dump is the same text
        assert json.dumps(decoded.model_dump(mode="json")) == previous_format(cfg)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(parameters=st.dictionaries(st.text(), JSON_VALUES, max_size=5))
def test_any_json_parameters_encode_as_pydantic_dumps_them(parameters: dict[str, Any]) -> None:
    cfg = Cfg(7, SchedulerType.INTERVAL, {"minutes": 5}, parameters=parameters)
    assert by_encode(cfg) == by_pydantic(cfg)
    assert CORE.decode(by_encode(cfg)) == built(cfg)


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        (1, "two"),
        {1: "int key"},
    ],
)
def test_a_parameter_that_is_not_plain_json_is_dumped_as_the_model_dumps_it(value: Any) -> None:
    cfg = Cfg(8, SchedulerType.INTERVAL, {"minutes": 5}, parameters={"v": value, "w": [value]})
    assert by_encode(cfg) == by_pydantic(cfg)


def test_encode_refuses_what_build_refuses() -> None:
    with pytest.raises(NotFound):
        by_encode(Cfg(9, SchedulerType.INTERVAL, {"minutes": 5}, task_type="no_such_type"))
    manual = specs.parse(SchedulerType.MANUAL, {}, now=NOW)
    with pytest.raises(ValueError, match="manual"):
        CORE.encode(Cfg(10, SchedulerType.MANUAL, {}), manual)


def test_the_encoder_of_a_chunk_writes_what_encode_writes() -> None:
    """``registration.Encoder`` (the bulk path's) finds each shape's template once: every
    config's text is still ``encode``'s, whatever shapes, ids and parameters follow."""
    encoder = Encoder(CORE.task_type)
    parsed = {
        i: specs.parse(kind, schedule, now=NOW) for i, (kind, schedule) in enumerate(SCHEDULES)
    }
    configs = [
        Cfg(100 + n, kind, schedule, timeout_seconds=timeout, max_retries=n % 2, parameters=params)
        for n, ((kind, schedule), timeout, params) in enumerate(
            (shape, timeout, params)
            for shape in SCHEDULES
            for timeout in (None, 5)
            for params in ({"message": "hi"}, {"v": float("nan")}, {})
        )
    ]
    for n, cfg in enumerate(configs):
        spec = parsed[SCHEDULES.index((cfg.scheduler_type, cfg.schedule_config))]
        assert encoder(cfg, spec) == CORE.encode(cfg, spec), n
        assert encoder(cfg, spec) == by_pydantic(cfg)
    with pytest.raises(NotFound):
        encoder(Cfg(9, SchedulerType.INTERVAL, {"minutes": 5}, task_type="no_such_type"), parsed[0])
