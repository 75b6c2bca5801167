"""a config's alert settings

Revision ID: 0005_hB_alerts
Revises: 0004
Create Date: 2026-12-06 23:55:00.000000

``task_config.alerts``: JSON ``{"late_after_seconds", "failures_in_row"}`` or NULL (no
alert). A nullable column added at the end of the table (``ConfigRow`` follows the table's
column order), without batch mode: on SQLite an ADD COLUMN keeps 0003's AUTOINCREMENT.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005_hB_alerts"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "task_config",
        sa.Column("alerts", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("task_config", recreate="never") as batch:
        batch.drop_column("alerts")
