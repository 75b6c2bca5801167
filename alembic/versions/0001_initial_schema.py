"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 03:39:30.864181
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "api_token",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin", "viewer", name="role", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "task_config",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("task_type", sa.String(length=128), nullable=False),
        sa.Column(
            "scheduler_type",
            sa.Enum(
                "cron",
                "interval",
                "date",
                "manual",
                name="scheduler_type",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "schedule_config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_config")),
        sa.UniqueConstraint("name", name=op.f("uq_task_config_name")),
    )
    with op.batch_alter_table("task_config", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_task_config_scheduler_type"), ["scheduler_type"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_task_config_task_type"), ["task_type"], unique=False)

    op.create_table(
        "task_execution",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "config_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("task_type", sa.String(length=128), nullable=False),
        sa.Column(
            "trigger",
            sa.Enum(
                "scheduled",
                "manual",
                "batch",
                "immediate",
                name="trigger",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("is_success", sa.Boolean(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["task_config.id"],
            name=op.f("fk_task_execution_config_id_task_config"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_execution")),
        sa.UniqueConstraint("task_id", "attempt", name=op.f("uq_task_execution_task_id_attempt")),
    )
    with op.batch_alter_table("task_execution", schema=None) as batch_op:
        batch_op.create_index("ix_task_execution_completed", ["completed_at"], unique=False)
        batch_op.create_index(
            "ix_task_execution_config_started", ["config_id", "started_at"], unique=False
        )
        batch_op.create_index("ix_task_execution_started", ["started_at"], unique=False)
        batch_op.create_index(
            "ix_task_execution_success_started", ["is_success", "started_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("task_execution", schema=None) as batch_op:
        batch_op.drop_index("ix_task_execution_success_started")
        batch_op.drop_index("ix_task_execution_started")
        batch_op.drop_index("ix_task_execution_config_started")
        batch_op.drop_index("ix_task_execution_completed")

    op.drop_table("task_execution")
    with op.batch_alter_table("task_config", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_config_task_type"))
        batch_op.drop_index(batch_op.f("ix_task_config_scheduler_type"))

    op.drop_table("task_config")
    op.drop_table("api_token")
