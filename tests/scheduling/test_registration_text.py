"""The stored registration text leaves out what a reader restores (``registration_text``):
the texts of typical configs, written alike by the template path (``encode``, ``Encoder``)
and the model path (``dump``), and every reader (``decode``, ``parsed``, the engine's
``templates.Registrations``) sees the registration as ``build`` makes it, from the new text
and from the texts of the previous formats alike."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from taskiq import ScheduledTask
from taskiq.serializers import JSONSerializer

from taskplane.db.configs import ConfigRow
from taskplane.scheduling import registration, specs
from taskplane.scheduling.registration_text import compact_labels, full_labels, full_task
from taskplane.scheduling.templates import Registrations
from tests.scheduling.registrations import Config

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class TaskType:
    name: str = "echo"
    queue: str = "default"
    timeout_seconds: int | None = 60


ECHO = TaskType()


def cfg(id: int, kind: str, schedule: dict[str, Any], **fields: Any) -> ConfigRow:
    values = {"max_retries": 0, "timeout_seconds": None, "priority": 0, **fields}
    return Config(id, scheduler_type=kind, schedule_config=schedule, **values)


def spec_of(config: ConfigRow) -> specs.Spec:
    return specs.parse(config.scheduler_type, config.schedule_config, now=NOW)


def encoded(config: ConfigRow, task_type: TaskType = ECHO) -> str:
    """The stored text, held equal across the three writers (template, bulk, model)."""
    spec = spec_of(config)
    text = registration.encode(config, spec, task_type)
    assert registration.Encoder(lambda _: task_type)(config, spec) == text
    assert registration.dump(config, spec, task_type) == text
    return text


def previous_texts(task: ScheduledTask) -> list[str]:
    """The texts earlier versions stored: every label, compact (no spaces, no null field),
    and before that taskiq's serializer's spaced dump with every field."""
    dumped = task.model_dump(mode="json")
    kept = {k: v for k, v in dumped.items() if v is not None}
    return [json.dumps(kept, separators=(",", ":")), JSONSerializer().dumpb(dumped).decode()]


TYPICAL = [
    (
        cfg(1, "interval", {"seconds": 10}, parameters={"message": "bench-1"}),
        '{"task_name":"taskplane:echo","labels":{"config_id":1,"timeout_seconds":60},'
        '"kwargs":{"message":"bench-1"},"interval":10}',
    ),
    (
        cfg(2, "interval", {"seconds": 10, "run_immediately": False}, timeout_seconds=5),
        '{"task_name":"taskplane:echo","labels":{"config_id":2,"timeout_seconds":5,'
        '"schedule_run_immediately":false},"kwargs":{},"interval":10}',
    ),
    (
        cfg(3, "cron", {"cron_expression": "*/5 * * * *", "timezone": "Europe/Berlin"}),
        '{"task_name":"taskplane:echo","labels":{"config_id":3,"timeout_seconds":60},'
        '"kwargs":{},"cron":"*/5 * * * *","cron_offset":"Europe/Berlin"}',
    ),
    (
        cfg(4, "date", {"run_date": "2031-06-01T08:30:00+02:00"}),
        '{"task_name":"taskplane:echo","labels":{"config_id":4,"timeout_seconds":60},'
        '"kwargs":{},"time":"2031-06-01T06:30:00Z"}',
    ),
    (
        cfg(
            5,
            "cron",
            {
                "cron_expression": "0 9 * * 1-5",
                "exclude": {"dates": ["2030-12-24"], "holidays": {"country": "DE"}},
                "jitter_seconds": 30,
            },
        ),
        '{"task_name":"taskplane:echo","labels":{"config_id":5,"timeout_seconds":60,'
        '"schedule_exclude_dates":["2030-12-24"],"schedule_holiday_country":"DE",'
        '"schedule_jitter_seconds":30},"kwargs":{},"cron":"0 9 * * 1-5","cron_offset":"UTC"}',
    ),
    (
        cfg(
            6,
            "cron",
            {
                "cron_expression": "30 2 * * *",
                "timezone": "Europe/Berlin",
                "misfire": "skip",
                "misfire_grace_seconds": 120,
                "overlap": "skip",
                "on_missing_time": "skip",
                "on_repeated_time": "both",
            },
            max_retries=3,
            priority=-2,
            timeout_seconds=0,
        ),
        '{"task_name":"taskplane:echo","labels":{"config_id":6,"max_retries":3,"priority":-2,'
        '"timeout_seconds":60,"misfire":"skip","misfire_grace_seconds":120,"overlap":"skip",'
        '"on_missing_time":"skip","on_repeated_time":"both"},"kwargs":{},'
        '"cron":"30 2 * * *","cron_offset":"Europe/Berlin"}',
    ),
]


@pytest.mark.parametrize(("config", "text"), TYPICAL, ids=[str(c.id) for c, _ in TYPICAL])
def test_the_stored_text_of_a_typical_config(config: ConfigRow, text: str) -> None:
    assert encoded(config) == text
    assert registration.decode(text) == registration.build(config, spec_of(config), ECHO)


def test_a_queue_other_than_the_default_and_a_type_without_timeout_stay() -> None:
    mailer = TaskType(name="mail", queue="emails", timeout_seconds=None)
    text = encoded(cfg(7, "interval", {"minutes": 1}, task_type="mail"), mailer)
    assert text == (
        '{"task_name":"taskplane:mail","labels":{"config_id":7,"queue":"emails"},'
        '"kwargs":{},"interval":60}'
    )


SCHEDULES: list[tuple[str, dict[str, Any]]] = [
    ("interval", {"seconds": 10}),
    ("interval", {"hours": 2, "run_immediately": False, "overlap": "skip", "jitter_seconds": 5}),
    ("interval", {"days": 1, "misfire": "skip", "misfire_grace_seconds": 60}),
    ("cron", {"cron_expression": "*/5 * * * *", "timezone": "America/New_York"}),
    ("cron", {"cron_expression": "0 3 * * *", "on_repeated_time": "both", "overlap": "skip"}),
    ("cron", {"cron_expression": "0 3 * * *", "exclude": {"dates": ["2030-01-02"]}}),
    ("date", {"run_date": "2031-06-01T08:30:00.000007+02:00"}),
    ("date", {"run_date": "2031-06-01T08:30:00Z", "misfire_grace_seconds": 3600}),
]
RUN_SETTINGS = [(0, 0, None), (2, 3, 30), (1, -1, 0)]  # retries, priority, timeout
TASK_TYPES = [ECHO, TaskType(name="mail", queue="emails", timeout_seconds=None)]
MATRIX = list(itertools.product(SCHEDULES, RUN_SETTINGS, TASK_TYPES))


@pytest.mark.parametrize(("schedule", "run", "task_type"), MATRIX)
def test_every_reader_reads_every_format_as_build_made_it(
    schedule: tuple[str, dict[str, Any]],
    run: tuple[int, int, int | None],
    task_type: TaskType,
) -> None:
    retries, priority, timeout = run
    config = cfg(
        41,
        schedule[0],
        schedule[1],
        task_type=task_type.name,
        max_retries=retries,
        priority=priority,
        timeout_seconds=timeout,
        parameters={"message": "hi", "n": [1, 2.5, None]},
    )
    built = registration.build(config, spec_of(config), task_type)
    text = encoded(config, task_type)
    previous = previous_texts(built)
    assert len(text) < len(previous[0]) - 150
    prepared = {}
    for stored in [text, *previous]:
        task, spec = registration.parsed(stored)
        assert task is not None and json.dumps(task.model_dump(mode="json")) == previous[1]
        assert spec == spec_of(config)
        p = Registrations().read(41, stored)
        prepared[stored] = (p.spec, p.queue, p.step_ms, p.body("41-1", "2030-01-01T12:00:00"))
    assert len(set(prepared.values())) == 1


def test_a_label_is_left_out_only_when_it_is_restored_exactly() -> None:
    top = {"task_name": "taskplane:echo", "interval": 10}
    labels = {
        "config_id": 1,
        "task_type": "other",  # not the task name's type
        "attempt": True,  # 1 in Python, not in JSON
        "priority": 0.0,
        "schedule_timezone": "Europe/Berlin",  # an interval's zone is UTC
        "schedule_interval_seconds": 20,  # not the top-level interval
        "schedule_cron": None,  # None restores nothing
        "max_retries": 0,
        "schedule_kind": "interval",
    }
    kept = compact_labels(labels, top)
    assert kept == {k: v for k, v in labels.items() if k not in ("max_retries", "schedule_kind")}
    assert full_labels(kept, top) == {**full_labels({}, top), **labels}
    assert full_labels(kept, top)["attempt"] is True


def test_a_date_spelled_otherwise_keeps_its_label() -> None:
    top = {"task_name": "taskplane:echo", "time": "2031-06-01T06:30:00Z"}
    assert compact_labels({"schedule_run_at": "2031-06-01T06:30:00+00:00"}, top) == {}
    assert compact_labels({"schedule_run_at": "2031-06-01T06:30:00Z"}, top) != {}


def test_restoring_keeps_every_present_label_and_refuses_what_is_no_registration() -> None:
    full = {"config_id": 3, "max_retries": 5, "queue": "q", "schedule_kind": "cron"}
    restored = full_task({"task_name": "taskplane:echo", "labels": full, "interval": 10})
    assert restored["labels"].items() >= full.items()
    assert restored["schedule_id"] == "taskplane-config-3" and restored["args"] == []
    bad: Any
    for bad in ([], {"labels": []}, {"task_name": "x"}, "text"):
        with pytest.raises(ValueError):
            full_task(bad)
        assert registration.decode(json.dumps(bad)) is None


def test_the_engine_refuses_a_text_it_cannot_fire_even_of_a_known_shape() -> None:
    """A registration of a known shape is not validated again: its kwargs still are."""
    engine = Registrations()
    good = TYPICAL[0][1]
    engine.read(1, good)
    no_kwargs = good.replace('"kwargs":{"message":"bench-1"}', '"kwargs":[]')
    for bad in ("[]", '{"labels":[]}', no_kwargs, "{not json"):
        with pytest.raises((ValueError, TypeError)):
            engine.read(2, bad)
    assert 2 not in engine and engine.read(2, good).config_id == 2
