"""The SchedulerService over the test's resources, and configs made through it."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taskplane.resources import Resources
from taskplane.scheduling.service import SchedulerService
from taskplane.services import open_services
from taskplane.settings import Settings
from taskplane.tasks.registry import TaskRegistry, load_registry
from tests.scheduling.configs import MakeConfig, config_maker


@pytest.fixture(scope="module")
def registry() -> TaskRegistry:
    return load_registry(Settings(_env_file=None))


@pytest.fixture
def svc(resources: Resources, registry: TaskRegistry) -> SchedulerService:
    return open_services(resources, registry).scheduler


@pytest.fixture
def make_config(sessions: async_sessionmaker[AsyncSession], svc: SchedulerService) -> MakeConfig:
    return config_maker(sessions, svc)
