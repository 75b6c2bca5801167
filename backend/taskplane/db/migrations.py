"""Run the alembic migrations from code (the CLI's `migrate`, `dev`, and the tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from taskplane.settings import Settings

_ROOT = Path(__file__).resolve().parents[3]


def alembic_config(settings: Settings) -> Config:
    """The alembic config of the source tree, or of the installed package's copy."""
    ini = _ROOT / "alembic.ini"
    cfg = Config(str(ini)) if ini.exists() else Config()
    script_location = _ROOT / "alembic"
    if not script_location.exists():
        script_location = Path(__file__).resolve().parent / "alembic"
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["settings"] = settings
    cfg.attributes["configure_logger"] = False
    return cfg


async def upgrade(engine: AsyncEngine, settings: Settings, revision: str = "head") -> None:
    await _run(engine, settings, lambda cfg: command.upgrade(cfg, revision))


async def downgrade(engine: AsyncEngine, settings: Settings, revision: str = "base") -> None:
    await _run(engine, settings, lambda cfg: command.downgrade(cfg, revision))


async def _run(engine: AsyncEngine, settings: Settings, action: object) -> None:
    cfg = alembic_config(settings)

    def _sync(connection: object) -> None:
        cfg.attributes["connection"] = connection
        action(cfg)  # type: ignore[operator]

    async with migration_connection(engine) as connection:
        await connection.run_sync(_sync)


@asynccontextmanager
async def migration_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for migrations, committed at the end. On SQLite foreign keys are off
    while it runs (a pragma that only takes effect outside a transaction): a migration that
    rebuilds a table (0003) drops the old one, which would otherwise cascade to the rows
    that reference it."""
    sqlite = engine.dialect.name == "sqlite"
    async with engine.connect() as connection:
        if sqlite:
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.commit()
        try:
            yield connection
            await connection.commit()
        finally:
            if sqlite:
                await connection.rollback()
                await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                await connection.commit()
