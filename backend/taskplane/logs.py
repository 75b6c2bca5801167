"""Logging for every process: a fixed message with facts in fields, secrets redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\",\s]+"),
    re.compile(r"(?i)(token['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9._~+/=-]{8,}"),
    # a URL's password: user:PASSWORD@ or :PASSWORD@ (no user), up to the authority's last @
    re.compile(r"(://[^:/@\s?#]*:)[^\s/?#]*(@)"),
    # a URL's query parameter that carries a secret: ?password=..., &token=..., ...
    re.compile(
        r"(?i)([?&;](?:password|passwd|pwd|pass|secret|token|access_token|api_key|apikey|key"
        r"|auth|sig|signature)=)[^&#;\s]*"
    ),
]
_SECRET_FIELDS = {"token", "authorization", "password", "admin_token", "parameters"}


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(
            lambda m: m.group(1) + "***" + (m.group(2) if m.lastindex == 2 else ""), text
        )
    return text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: ("***" if k.lower() in _SECRET_FIELDS else v)
        for k, v in vars(record).items()
        if k not in _STANDARD and not k.startswith("_")
    }


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        return redact(f"{base} {extra}" if extra else base)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the root logger once per process."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
