"""executions by start time with their outcome in one index

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 20:45:00.000000

``GET /executions/histogram`` counts executions per time bucket and outcome. With
(started_at, is_success) in one index PostgreSQL answers it from the index alone (an
index-only scan of the range), never reading the rows. The composite index serves every
query the single-column ``ix_task_execution_started`` served, so it replaces it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task_execution", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_execution_started_outcome", ["started_at", "is_success"], unique=False
        )
        batch_op.drop_index("ix_task_execution_started")


def downgrade() -> None:
    with op.batch_alter_table("task_execution", schema=None) as batch_op:
        batch_op.create_index("ix_task_execution_started", ["started_at"], unique=False)
        batch_op.drop_index("ix_task_execution_started_outcome")
