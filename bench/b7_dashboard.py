"""B7 - the dashboard's overview: bytes per refresh and refreshes per second with 1,000 and
1,000,000 executions stored."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from taskplane.db.models import TaskExecution

SEED_CHUNK = 2000  # rows per multi-row INSERT on SQLite (bound-parameter limits)


def _spread(i: int, span_ms: int) -> int:
    """Milliseconds before `until` of seeded row i: spread over the span, deterministic."""
    return (i * 86_399) % span_ms + 1


async def seed_executions(
    engine: AsyncEngine,
    config_id: int,
    count: int,
    *,
    until: datetime,
    span: timedelta,
    first: int = 0,
) -> None:
    """Insert `count` executions of one config started in ``(until - span, until)``, every
    tenth failed: one statement on PostgreSQL (generate_series), multi-row INSERTs on SQLite."""
    span_ms = int(span.total_seconds() * 1000)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(
                text(
                    "INSERT INTO task_execution (config_id, task_id, task_type, trigger,"
                    " is_success, attempt, started_at, completed_at, duration_seconds,"
                    " error_message)"
                    " SELECT :cid, 'seed-' || i, 'echo', 'scheduled', i % 10 <> 0, 1, at, at,"
                    " 0.01, CASE WHEN i % 10 = 0 THEN 'seeded failure' END"
                    " FROM generate_series(CAST(:first AS bigint), :last) AS i,"
                    " LATERAL (SELECT CAST(:until AS timestamptz)"
                    "  - make_interval(secs => ((i * 86399) % :span_ms + 1) / 1000.0) AS at) t"
                ),
                {
                    "cid": config_id,
                    "first": first,
                    "last": first + count - 1,
                    "until": until,
                    "span_ms": span_ms,
                },
            )
            return
        for start in range(first, first + count, SEED_CHUNK):
            rows = []
            for i in range(start, min(start + SEED_CHUNK, first + count)):
                at = until - timedelta(milliseconds=_spread(i, span_ms))
                rows.append(
                    {
                        "config_id": config_id,
                        "task_id": f"seed-{i}",
                        "task_type": "echo",
                        "trigger": "scheduled",
                        "is_success": i % 10 != 0,
                        "attempt": 1,
                        "started_at": at,
                        "completed_at": at,
                        "duration_seconds": 0.01,
                        "error_message": None if i % 10 else "seeded failure",
                    }
                )
            await conn.execute(insert(TaskExecution).values(rows))
