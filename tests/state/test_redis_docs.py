"""docs/redis.md documents every key: the keys a scenario writes, and every key Keys builds."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.actors import CLI
from taskplane.db import configs
from taskplane.enums import SchedulerType, ScheduleStatus
from taskplane.resources import Resources
from taskplane.services import open_services
from taskplane.settings import Settings
from taskplane.state.keys import Keys
from taskplane.state.schedule_records import ExecutionOutcome
from taskplane.tasks.registry import load_registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "redis.md"
_ROW = re.compile(r"^\|\s*`(\{prefix\}[^`]*)`\s*\|")


def documented_patterns(prefix: str) -> list[re.Pattern[str]]:
    patterns = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        template = m.group(1)
        parts = re.split(r"(\{[^}]+\})", template)
        regex = ""
        for part in parts:
            if part == "{prefix}":
                regex += re.escape(prefix)
            elif part.startswith("{") and part.endswith("}"):
                regex += r".+"
            else:
                regex += re.escape(part)
        patterns.append(re.compile(f"^{regex}$"))
    return patterns


def undocumented(keys_seen: set[str], prefix: str) -> set[str]:
    patterns = documented_patterns(prefix)
    return {k for k in keys_seen if not any(p.match(k) for p in patterns)}


def test_doc_has_a_table() -> None:
    assert len(documented_patterns("taskplane:")) >= 10


def test_every_key_keys_can_build_is_documented() -> None:
    keys = Keys("p:")
    built: set[str] = set()
    samples = {
        "config_id": 7,
        "schedule_id": "taskplane-config-7",
        "queue": "default",
        "task_id": "abc",
        "attempt": 1,
        "minute_utc": "2030-01-01T10:00",
        "status": ScheduleStatus.ACTIVE,
    }
    for name, member in inspect.getmembers(Keys):
        if name.startswith("_") or name == "prefix":
            continue
        if isinstance(member, property):
            value = getattr(keys, name)
        elif callable(member):
            params = [p for p in inspect.signature(member).parameters if p != "self"]
            value = getattr(keys, name)(*(samples.get(p, "x") for p in params))
        else:
            continue
        assert isinstance(value, str) and value.startswith("p:")
        if name.endswith("_prefix"):
            continue  # prefixes of documented keys, not keys themselves
        built.add(value)
    assert undocumented(built, "p:") == set()


async def test_keys_written_by_a_scenario_are_documented(
    resources: Resources,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    settings: Settings,
) -> None:
    svc = open_services(resources, load_registry(settings)).scheduler
    run_at = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    made = []
    async with sessions() as session, session.begin():
        for kind, spec in [
            (SchedulerType.CRON, {"cron_expression": "0 * * * *"}),
            (SchedulerType.INTERVAL, {"seconds": 30}),
            (SchedulerType.DATE, {"run_date": run_at}),
            (SchedulerType.MANUAL, {}),
        ]:
            made.append(
                await configs.create(
                    session,
                    name=f"doc-{kind}",
                    task_type="echo",
                    scheduler_type=kind,
                    schedule_config=spec,
                    parameters={"message": "x"},
                )
            )
    cron, interval, date, manual = made
    for c in made:
        await svc.on_created(c, actor=CLI)
    for c in (cron, interval, date):
        await svc.start(c, actor=CLI)
    await svc.pause(cron, actor=CLI)
    await svc.resume(cron, actor=CLI)
    await svc.run_now(manual, actor=CLI)
    await svc.batch_report(made, actor=CLI)
    await svc.state.record_executions([ExecutionOutcome(manual.id, "t1", True, datetime.now(UTC))])
    await svc.infos(made)
    await svc.reconcile(made)

    seen = {k async for k in redis.scan_iter(match=f"{settings.redis_prefix}*", count=1000)}
    # the scenario touched every kind of key the services own
    expected = {
        resources.keys.schedule(cron.id),
        resources.keys.history(cron.id),
        resources.keys.by_status(ScheduleStatus.ACTIVE),
        resources.keys.all_schedules,
        resources.keys.due,
        resources.keys.registration_shapes,
        resources.keys.registration_refs,
        resources.keys.broker_stream("default"),
    }
    assert expected <= seen
    assert not any(
        ":source:cron" in k or ":source:interval" in k or ":source:time:" in k for k in seen
    )
    assert undocumented(seen, settings.redis_prefix) == set()


@pytest.mark.parametrize(
    ("key", "ok"),
    [("p:schedule:1", True), ("p:schedules:all", True), ("p:nope", False), ("q:due", False)],
)
def test_matcher_itself(key: str, ok: bool) -> None:
    assert (not undocumented({key}, "p:")) is ok
