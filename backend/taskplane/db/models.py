"""ORM models. PostgreSQL holds no schedule status: that lives in Redis (ARCHITECTURE.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from taskplane.enums import Role, SchedulerType, Trigger

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite drops the offset; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; taskplane stores aware UTC instants only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(enum_cls: type[Any], name: str) -> Enum:
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TaskConfig(Base):
    """A task's static configuration: what to run, with what, on which schedule."""

    __tablename__ = "task_config"
    __table_args__ = {"sqlite_autoincrement": True}  # ids never reused (migration 0003)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    task_type: Mapped[str] = mapped_column(String(128), index=True)
    scheduler_type: Mapped[SchedulerType] = mapped_column(
        _enum(SchedulerType, "scheduler_type"), index=True
    )
    schedule_config: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    max_retries: Mapped[int] = mapped_column(Integer, default=0)
    timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # {"late_after_seconds": int | None, "failures_in_row": int | None}; None: no alert
    # (migration 0005_hB_alerts)
    alerts: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)


class TaskConfigCount(Base):
    """The number of task_config rows, one row (id 1) kept exact by triggers (migration
    0002) in the transaction of every insert, delete and truncate: the unfiltered config
    list reads its total here in O(1) instead of counting every row."""

    __tablename__ = "task_config_count"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    total: Mapped[int] = mapped_column(BigInteger)


class TaskExecution(Base):
    """One attempt of one run of a config, written once by the worker's recorder."""

    __tablename__ = "task_execution"
    __table_args__ = (
        UniqueConstraint("task_id", "attempt"),
        Index("ix_task_execution_config_started", "config_id", "started_at"),
        # started_at ranges and the outcome in one index: the histogram never reads the rows
        Index("ix_task_execution_started_outcome", "started_at", "is_success"),
        Index("ix_task_execution_success_started", "is_success", "started_at"),
        Index("ix_task_execution_completed", "completed_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    config_id: Mapped[int] = mapped_column(BigId, ForeignKey("task_config.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(64))
    task_type: Mapped[str] = mapped_column(String(128))
    trigger: Mapped[Trigger] = mapped_column(_enum(Trigger, "trigger"))
    is_success: Mapped[bool] = mapped_column(Boolean)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[float] = mapped_column(Float)
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    error_message: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(255))


class ApiToken(Base):
    """An API token: only its SHA-256 hash is stored, never the token."""

    __tablename__ = "api_token"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
