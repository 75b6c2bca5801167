"""The composition root: the services every process uses, built once from its ``Resources``.

    async with open_resources(settings) as resources:
        services = open_services(resources)   # state, core, scheduler, configs, alerts

The api lifespan, the worker, the scheduler process and the CLI build their services here
and nowhere else, so each process has one schedule state service, one core (its caches),
one ``SchedulerService`` and one ``ConfigService``, on the process's one Redis pool and
engine. Nothing here holds a connection of its own: the resources open and close every pool
(the row reader's too), so there is nothing to close.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskplane.alerts.store import AlertStore
from taskplane.db.rows import RowReader
from taskplane.resources import Resources
from taskplane.scheduling.config_service import ConfigService
from taskplane.scheduling.core import SchedulerCoreService
from taskplane.scheduling.service import SchedulerService
from taskplane.state.audit import AuditLog
from taskplane.state.schedule_state import ScheduleStateService
from taskplane.tasks.registry import TaskRegistry, load_registry


@dataclass(frozen=True, slots=True)
class Services:
    resources: Resources
    registry: TaskRegistry
    state: ScheduleStateService
    core: SchedulerCoreService
    scheduler: SchedulerService
    configs: ConfigService
    alerts: AlertStore

    @property
    def audit(self) -> AuditLog:
        """The audit trail (state/audit.py), the one the state service's scripts write."""
        return self.state.audit

    @property
    def rows(self) -> RowReader:
        """The hot-read row reader (db/rows.py); its pool is the resources'."""
        return self.resources.rows


def open_services(resources: Resources, registry: TaskRegistry | None = None) -> Services:
    """The process's services on ``resources``; the task types are loaded from the settings
    unless ``registry`` is given (a test's, or one the process already loaded)."""
    registry = registry if registry is not None else load_registry(resources.settings)
    settings = resources.settings
    state = ScheduleStateService.from_settings(resources.redis, resources.keys, settings)
    core = SchedulerCoreService(resources.redis, resources.keys, registry)
    scheduler = SchedulerService(resources.redis, resources.keys, registry, state=state, core=core)
    alerts = AlertStore(resources.redis, resources.keys, state)
    return Services(
        resources=resources,
        registry=registry,
        state=state,
        core=core,
        scheduler=scheduler,
        configs=ConfigService(resources.sessions, scheduler, registry, alerts),
        alerts=alerts,
    )
