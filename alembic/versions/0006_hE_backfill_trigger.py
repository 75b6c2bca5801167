"""executions' trigger gains 'backfill'

Revision ID: 0006_hE_backfill_trigger
Revises: 0005_hB_alerts
Create Date: 2026-12-07 00:00:00.000000

The trigger column is a non-native enum: a VARCHAR with the CHECK constraint
``ck_task_execution_trigger`` listing the values. PostgreSQL replaces the constraint in
one ALTER TABLE. SQLite cannot alter a constraint, so the table is rebuilt the way SQLite
documents (as 0003 does: every trigger set aside, the new table created from the old one's
SQL with the new list, the rows copied, the old table dropped, the new one renamed, its
indexes and the triggers put back). Downgrade turns ``backfill`` records into ``manual``
ones first (the old list cannot hold them).
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_hE_backfill_trigger"
down_revision: str | None = "0005_hB_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "task_execution"
CONSTRAINT = "ck_task_execution_trigger"
OLD = ("scheduled", "manual", "batch", "immediate")
NEW = (*OLD, "backfill")


def _in_list(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _postgresql(values: Sequence[str]) -> None:
    op.execute(
        f"ALTER TABLE {TABLE} DROP CONSTRAINT {CONSTRAINT}, "
        f'ADD CONSTRAINT {CONSTRAINT} CHECK ("trigger" IN ({_in_list(values)}))'
    )


def _sqlite(old: Sequence[str], new: Sequence[str]) -> None:
    bind = op.get_bind()
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("foreign keys must be off: run this through `taskplane migrate`")
    create = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": TABLE}
    ).scalar_one()
    check = re.compile(rf'(CONSTRAINT {CONSTRAINT} CHECK \("?trigger"? IN \()([^)]*)(\)\))')
    found = check.search(create)
    assert found is not None, f"{TABLE}: unexpected schema {create}"
    listed = tuple(v.strip().strip("'") for v in found.group(2).split(","))
    assert listed == tuple(old), f"{TABLE}: unexpected trigger values {listed}"
    rebuilt = check.sub(lambda m: m.group(1) + _in_list(new) + m.group(3), create, count=1)
    rebuilt = re.sub(rf'^CREATE TABLE "?{TABLE}"? \(', f"CREATE TABLE {TABLE}__rebuilt (", rebuilt)
    assert f"{TABLE}__rebuilt" in rebuilt, rebuilt
    extras = (
        bind.execute(
            sa.text(
                "SELECT sql FROM sqlite_master WHERE tbl_name = :t AND type = 'index'"
                " AND sql IS NOT NULL"
            ),
            {"t": TABLE},
        )
        .scalars()
        .all()
    )
    triggers = bind.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    ).all()
    for name, _ in triggers:
        bind.exec_driver_sql(f'DROP TRIGGER "{name}"')
    bind.exec_driver_sql(rebuilt)
    bind.exec_driver_sql(f"INSERT INTO {TABLE}__rebuilt SELECT * FROM {TABLE}")  # noqa: S608
    bind.exec_driver_sql(f"DROP TABLE {TABLE}")
    bind.exec_driver_sql(f"ALTER TABLE {TABLE}__rebuilt RENAME TO {TABLE}")
    for sql in extras:
        bind.exec_driver_sql(sql)
    for _, sql in triggers:
        bind.exec_driver_sql(sql)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite(OLD, NEW)
    else:
        _postgresql(NEW)


def downgrade() -> None:
    op.execute("UPDATE task_execution SET trigger = 'manual' WHERE trigger = 'backfill'")
    if op.get_bind().dialect.name == "sqlite":
        _sqlite(NEW, OLD)
    else:
        _postgresql(OLD)
