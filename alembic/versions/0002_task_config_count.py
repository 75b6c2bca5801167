"""task_config row counter kept exact by triggers

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 05:55:00.000000

The unfiltered config list's total was ``count(*)`` over every row (PostgreSQL reads
them all: 2x the first page's latency at 100,000 configs). ``task_config_count`` holds
that number in one row, changed by triggers in the transaction of each change, so it is
exact and commits or rolls back with it. PostgreSQL: one UPDATE per statement (transition
tables: a 100,000-row insert is one update), TRUNCATE sets 0. SQLite: row triggers.
An executemany is one statement per row (one update each): bulk loads use multi-row
statements.

The counter heals itself: deleting (or truncating) its row puts it back, counted from
``task_config`` (the test suite wipes every table of the models, this one too).

SQLite drops a table's triggers with the table: a later migration that rebuilds
``task_config`` with batch_alter_table (move and copy) must create them again
(``_create_sqlite_triggers``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RESTORE = (
    "INSERT INTO task_config_count (id, total) SELECT 1, count(*) FROM task_config"
    " WHERE true ON CONFLICT (id) DO NOTHING"
)

_PG_FUNCTIONS = {
    # One UPDATE per statement, and none (no row lock) for a statement that changed nothing.
    "task_config_count_insert": """
        DECLARE n bigint;
        BEGIN
            SELECT count(*) INTO n FROM inserted_rows;
            IF n > 0 THEN
                UPDATE task_config_count SET total = total + n WHERE id = 1;
            END IF;
            RETURN NULL;
        END""",
    "task_config_count_delete": """
        DECLARE n bigint;
        BEGIN
            SELECT count(*) INTO n FROM deleted_rows;
            IF n > 0 THEN
                UPDATE task_config_count SET total = total - n WHERE id = 1;
            END IF;
            RETURN NULL;
        END""",
    # Upsert: a TRUNCATE of both tables in one statement has already emptied the counter.
    "task_config_count_truncate": """
        BEGIN
            INSERT INTO task_config_count (id, total) VALUES (1, 0)
            ON CONFLICT (id) DO UPDATE SET total = 0;
            RETURN NULL;
        END""",
    "task_config_count_restore": f"""
        BEGIN
            {_RESTORE};
            RETURN NULL;
        END""",
}

_PG_TRIGGERS = {
    "task_config_count_insert": (
        "AFTER INSERT ON task_config REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT"
    ),
    "task_config_count_delete": (
        "AFTER DELETE ON task_config REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT"
    ),
    "task_config_count_truncate": "AFTER TRUNCATE ON task_config FOR EACH STATEMENT",
    "task_config_count_restore": (
        "AFTER DELETE OR TRUNCATE ON task_config_count FOR EACH STATEMENT"
    ),
}

_SQLITE_TRIGGERS = {
    "task_config_count_insert": (
        "AFTER INSERT ON task_config FOR EACH ROW BEGIN"
        " UPDATE task_config_count SET total = total + 1 WHERE id = 1; END"
    ),
    "task_config_count_delete": (
        "AFTER DELETE ON task_config FOR EACH ROW BEGIN"
        " UPDATE task_config_count SET total = total - 1 WHERE id = 1; END"
    ),
    "task_config_count_restore": (
        f"AFTER DELETE ON task_config_count FOR EACH ROW BEGIN {_RESTORE}; END"
    ),
}


def upgrade() -> None:
    op.create_table(
        "task_config_count",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_task_config_count_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_config_count")),
    )
    if _dialect() == "postgresql":
        # No change to task_config between the count and the triggers' creation.
        op.execute("LOCK TABLE task_config IN SHARE ROW EXCLUSIVE MODE")
        _create_pg_triggers()
    else:
        _create_sqlite_triggers()
    op.execute("INSERT INTO task_config_count (id, total) SELECT 1, count(*) FROM task_config")


def downgrade() -> None:
    for name in _PG_TRIGGERS if _dialect() == "postgresql" else _SQLITE_TRIGGERS:
        table = "task_config_count" if name.endswith("_restore") else "task_config"
        if _dialect() == "postgresql":
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}()")
        else:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("task_config_count")


def _dialect() -> str:
    return str(op.get_context().dialect.name)


def _create_pg_triggers() -> None:
    for name, body in _PG_FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}\n$$")
        op.execute(f"CREATE TRIGGER {name} {_PG_TRIGGERS[name]} EXECUTE FUNCTION {name}()")


def _create_sqlite_triggers() -> None:
    for name, body in _SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
