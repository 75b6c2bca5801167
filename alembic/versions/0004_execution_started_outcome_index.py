"""executions by start time with their outcome in one index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 20:45:00.000000

``GET /executions/histogram`` counts executions per time bucket and outcome. With
(started_at, is_success) in one index PostgreSQL answers it from the index alone (an
index-only scan of the range), never reading the rows. The composite index serves every
query the single-column ``ix_task_execution_started`` served, so it replaces it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# plain index statements, no batch mode: the table is never rebuilt (on SQLite a rebuild would
# have to keep 0003's AUTOINCREMENT)
def upgrade() -> None:
    op.create_index(
        "ix_task_execution_started_outcome",
        "task_execution",
        ["started_at", "is_success"],
        unique=False,
    )
    op.drop_index("ix_task_execution_started", table_name="task_execution")


def downgrade() -> None:
    op.create_index("ix_task_execution_started", "task_execution", ["started_at"], unique=False)
    op.drop_index("ix_task_execution_started_outcome", table_name="task_execution")
