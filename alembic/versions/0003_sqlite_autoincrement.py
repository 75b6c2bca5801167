"""ids are never reused on SQLite: AUTOINCREMENT on every table with an id

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 20:45:00.000000

SQLite gives a new row the largest rowid + 1, so deleting the newest config and creating
another reused its id, and a late execution record of the deleted config then showed up as
one of the new config. ``AUTOINCREMENT`` (``sqlite_autoincrement`` in the models) never
hands out an id twice. SQLite cannot add it to a table, so each table is rebuilt the way
SQLite documents (create the new table, copy the rows, drop the old, rename, re-create its
indexes and the triggers from their own SQL, so 0002's counter triggers and every CHECK
constraint stay as they were). Foreign keys are off while migrations run on SQLite
(``db/migrations.py``), or dropping ``task_config`` would cascade to its executions.
PostgreSQL: nothing to do (its identity sequences never go back).
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("task_config", "task_execution", "api_token")


def _rebuild(table: str, *, autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("foreign keys must be off: run this through `taskplane migrate`")
    create = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
    ).scalar_one()
    extras = (
        bind.execute(
            sa.text(
                "SELECT sql FROM sqlite_master WHERE tbl_name = :t AND type IN ('index', 'trigger')"
                " AND sql IS NOT NULL"
            ),
            {"t": table},
        )
        .scalars()
        .all()
    )
    key = f"CONSTRAINT pk_{table} PRIMARY KEY"
    if autoincrement:
        new = re.sub(
            r"\bid INTEGER NOT NULL,", f"id INTEGER NOT NULL {key} AUTOINCREMENT,", create, count=1
        )
        new = re.sub(rf",\s*{key} \(id\)", "", new, count=1)
    else:
        new = re.sub(rf" {key} AUTOINCREMENT,", ",", create, count=1)
        new = re.sub(r"\)\s*$", f", \n\t{key} (id)\n)", new, count=1)
    assert new != create, f"{table}: unexpected schema {create}"
    # a renamed table's SQL names it quoted
    new = re.sub(rf'^CREATE TABLE "?{table}"? \(', f"CREATE TABLE {table}__rebuilt (", new)
    assert f"{table}__rebuilt" in new, new
    bind.exec_driver_sql(new)
    bind.exec_driver_sql(f"INSERT INTO {table}__rebuilt SELECT * FROM {table}")  # noqa: S608 - TABLES
    bind.exec_driver_sql(f"DROP TABLE {table}")
    bind.exec_driver_sql(f"ALTER TABLE {table}__rebuilt RENAME TO {table}")
    for sql in extras:
        bind.exec_driver_sql(sql)


def _rebuild_all(*, autoincrement: bool) -> None:
    """Every trigger is set aside first (0002's restore trigger on ``task_config_count`` names
    ``task_config``, and a rename checks every trigger), then put back as it was."""
    bind = op.get_bind()
    triggers = bind.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    ).all()
    for name, _ in triggers:
        bind.exec_driver_sql(f'DROP TRIGGER "{name}"')
    for table in TABLES:
        _rebuild(table, autoincrement=autoincrement)
    for _, sql in triggers:
        bind.exec_driver_sql(sql)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_all(autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_all(autoincrement=False)
