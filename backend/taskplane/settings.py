"""Process settings: one pydantic-settings class, built once per process at start.

Every setting is read from the environment with the ``TASKPLANE_`` prefix, or from an
optional ``.env`` file. A bad value fails at start with a message naming the setting.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./taskplane.db"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    """All configuration of a taskplane process (api, worker, scheduler, cli)."""

    model_config = SettingsConfigDict(
        env_prefix="TASKPLANE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    database_url: SecretStr = Field(
        default=SecretStr(DEFAULT_DATABASE_URL),
        description="SQLAlchemy async URL: postgresql+asyncpg://... or sqlite+aiosqlite:///...",
    )
    redis_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"),
        description="Redis URL (redis:// or rediss://)",
    )
    redis_sentinels: Annotated[list[tuple[str, int]], NoDecode] = Field(
        default_factory=list,
        description="comma-separated host:port of Redis Sentinels; set, every process finds "
        "the primary through them and follows a failover (redis_url then gives only the "
        "user, password, database number and TLS of the data connections)",
    )
    redis_sentinel_master: str = Field(
        default="", max_length=200, description="the name the Sentinels monitor the primary by"
    )
    redis_sentinel_password: SecretStr | None = Field(
        default=None, description="password of the Sentinels themselves (their requirepass)"
    )
    redis_prefix: str = Field(
        default="taskplane:", min_length=1, max_length=64, description="prefix of every Redis key"
    )
    admin_token: SecretStr | None = Field(default=None, description="bootstrap admin token")
    task_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated modules holding extra task types"
    )
    history_max: int = Field(default=200, ge=1, le=100_000, description="events kept per config")
    history_ttl_seconds: int = Field(
        default=30 * 86400, ge=60, description="TTL of a config's event history"
    )
    audit_max_entries: int = Field(
        default=100_000, ge=1, le=10_000_000, description="audit entries kept (GET /audit)"
    )
    audit_retention_days: int = Field(
        default=90, ge=1, le=3650, description="days an audit entry is kept (GET /audit)"
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR")
    log_format: LogFormat = Field(default=LogFormat.TEXT, description="text or json")
    redis_pool_size: int = Field(default=50, ge=2, le=10_000)
    db_pool_size: int = Field(default=10, ge=1, le=1000)
    db_max_overflow: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="connections opened past db_pool_size under a burst, each closed again "
        "on return (a PostgreSQL connect per checkout); by default a burst waits for a pooled "
        "connection instead (up to 10 s, then 503)",
    )
    broker_idle_timeout_ms: int = Field(
        default=300_000,
        ge=1000,
        description="idle time before a crashed worker's message is re-delivered",
    )
    retry_backoff_seconds: float = Field(
        default=1.0, ge=0, le=3600, description="delay before the first retry; doubles each time"
    )
    retry_backoff_max_seconds: float = Field(
        default=300.0, ge=0, le=86_400, description="longest delay between two attempts"
    )
    scheduler_tick_ms: int = Field(default=100, ge=10, le=5000)
    scheduler_reconcile_at_start: bool = Field(
        default=True, description="reconcile schedules with configs when a scheduler starts"
    )
    scheduler_reconcile_interval_seconds: float = Field(
        default=300, ge=0, description="how often the leading scheduler reconciles (0: never)"
    )
    scheduler_lease_ms: int = Field(default=3000, ge=500, le=60_000)
    scheduler_templates_max: int = Field(
        default=2_000_000,
        ge=1000,
        description="registrations a scheduler keeps parsed (~0.8 KB each); past it, it "
        "starts afresh (every fire parses again until the kept ones are rebuilt)",
    )
    heartbeat_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    heartbeat_stale_seconds: float = Field(default=15.0, gt=0, le=3600)
    events_keepalive_seconds: float = Field(
        default=15.0, gt=0, le=300, description="GET /events: a comment line at least this often"
    )
    events_streams_per_token: int = Field(
        default=5, ge=1, le=10_000, description="GET /events: open streams one token may hold"
    )
    events_streams_total: int = Field(
        default=200, ge=1, le=100_000, description="GET /events: open streams per api process"
    )
    api_head_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="a connection must send a complete request head within this long",
    )
    api_write_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="a client that reads nothing of a response for this long is disconnected",
    )
    api_host: str = Field(default="127.0.0.1")
    api_port: int = Field(default=8000, ge=1, le=65535)
    metrics_host: str = Field(
        default="127.0.0.1",
        description="bind address of the worker's and scheduler's /metrics servers (they "
        "have no token: keep them on loopback unless a network policy guards them)",
    )
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535, description="0 disables")
    scheduler_metrics_port: int = Field(default=9102, ge=0, le=65535, description="0 disables")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="comma-separated browser origins allowed to call the api (empty: CORS off)",
    )
    root_path: str = Field(
        default="",
        max_length=200,
        description="path prefix the api is served under behind a proxy, e.g. /taskplane "
        "(empty: served at /); requests with or without the prefix are both routed",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="when set, the api's /metrics requires 'Authorization: Bearer <it>'",
    )

    alert_webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="comma-separated http(s) URLs every alert is POSTed to (settings only)",
    )
    alert_webhook_secret: SecretStr | None = Field(
        default=None, description="signs each alert POST: X-Taskplane-Signature sha256=<HMAC>"
    )
    alert_check_interval_seconds: float = Field(
        default=5.0, gt=0, le=300, description="how often the leading alert loop checks"
    )
    alert_loop_enabled: bool = Field(
        default=True, description="run the alert loop in this api / scheduler process"
    )
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    alert_webhook_retry_seconds: float = Field(
        default=600.0, gt=0, le=86400, description="how long a failing webhook is retried"
    )
    alert_webhook_backoff_seconds: float = Field(
        default=2.0, gt=0, le=600, description="first retry delay of a failing webhook (doubles)"
    )

    @field_validator("alert_webhook_urls")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        return value

    @field_validator("task_modules", "cors_origins", "alert_webhook_urls", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin like https://ops.example.com")
        return value

    @field_validator("metrics_token", "alert_webhook_secret")
    @classmethod
    def _empty_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("root_path")
    @classmethod
    def _check_root_path(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError("must be empty or a path like /taskplane")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must start with postgresql+asyncpg:// or sqlite+aiosqlite://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _split_sentinels(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        out = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            host, sep, port = part.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{part!r} is not host:port (e.g. sentinel-1:26379)")
            out.append((host.strip("[]"), int(port)))
        return out

    @field_validator("redis_sentinel_password")
    @classmethod
    def _empty_password_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @model_validator(mode="after")
    def _check_sentinel_master(self) -> Settings:
        if self.redis_sentinels and not self.redis_sentinel_master:
            raise ValueError(
                "TASKPLANE_REDIS_SENTINEL_MASTER must name the monitored primary when "
                "TASKPLANE_REDIS_SENTINELS is set"
            )
        if self.redis_sentinels and self.redis_url.get_secret_value().startswith("unix://"):
            raise ValueError(
                "TASKPLANE_REDIS_URL must be redis:// or rediss:// when "
                "TASKPLANE_REDIS_SENTINELS is set (a unix socket cannot fail over)"
            )
        return self

    @field_validator("redis_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if any(ch.isspace() for ch in value) or "*" in value:
            raise ValueError("must not contain whitespace or '*'")
        return value

    @property
    def is_sentinel(self) -> bool:
        """Redis is found through Sentinel (``redis_clients.py``), not at ``redis_url``."""
        return bool(self.redis_sentinels)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.get_secret_value().startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        url = self.database_url.get_secret_value()
        if not url.startswith("sqlite"):
            return None
        return Path(url.split("///", 1)[1]) if "///" in url else None


class SettingsError(Exception):
    """A setting has a bad value; the message names the setting."""


def load_settings(**overrides: object) -> Settings:
    """Build the settings once at process start; a bad value raises SettingsError naming it."""
    from pydantic import ValidationError

    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            # a whole-model check (loc ``()``) names its settings in its message
            f"TASKPLANE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            if err["loc"]
            else err["msg"]
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from exc
    env_file = overrides.get("_env_file", ".env")
    for line in unknown_settings(os.environ, Path(env_file) if isinstance(env_file, str) else None):
        logging.getLogger(__name__).warning(line)
    return settings


UNCHECKED_PREFIX = "TASKPLANE_TEST_"
"""The test suite's own variables (tests/services.py), not settings of a process."""


def unknown_settings(environ: Mapping[str, str], env_file: Path | None) -> list[str]:
    """One line per ``TASKPLANE_*`` name in the environment or ``env_file`` that names no
    setting (a typo, or a setting that does not exist), with the closest real one: such a
    name is otherwise ignored without a word and its default used."""
    known = [f"TASKPLANE_{name.upper()}" for name in Settings.model_fields]
    found = {name.upper(): "environment" for name in environ}
    if env_file is not None and env_file.is_file():
        for name in dotenv_values(env_file):
            found.setdefault(name.upper(), str(env_file))
    lines = []
    for name, where in sorted(found.items()):
        if not name.startswith("TASKPLANE_") or name.startswith(UNCHECKED_PREFIX) or name in known:
            continue
        closest = difflib.get_close_matches(name, known, n=1, cutoff=0.0)
        lines.append(
            f"{name} (in the {where}) is not a taskplane setting and is ignored; "
            f"did you mean {closest[0]}?"
        )
    return lines
