"""Celery beat with RedBeat, the usual Redis-backed Celery scheduler, as B1 runs it:

    celery -A bench.celery_app beat -S redbeat.RedBeatScheduler --loglevel WARNING

Broker and RedBeat on the bench's Redis (BENCH_PEER_REDIS_URL), every key under the run's
prefix (BENCH_PEER_PREFIX): RedBeat's entries, its lock, kombu's bindings and the queue (a
Redis list). Nothing consumes the queue; each message carries its send time in a header
(``bench_sent``, the beat's clock just before kombu's LPUSH, set by the one hook below)."""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery
from celery.signals import before_task_publish

ECHO_TASK = "bench.echo"
SENT_HEADER = "bench_sent"


QUEUE = "b1-beat"  # its Redis list is <prefix>b1-beat (kombu's global_keyprefix)


def make_app(url: str | None = None, prefix: str | None = None) -> Celery:
    url = url or os.environ.get("BENCH_PEER_REDIS_URL", "redis://127.0.0.1:6379/9")
    prefix = prefix or os.environ.get("BENCH_PEER_PREFIX", "bench:peer:")
    celery = Celery("bench", broker=url, set_as_current=False)
    celery.conf.update(
        task_default_queue=QUEUE,
        broker_transport_options={"global_keyprefix": prefix},
        redbeat_redis_url=url,
        redbeat_key_prefix=f"{prefix}redbeat:",
        redbeat_redis_options={},
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
    )

    celery.task(name=ECHO_TASK)(_echo)
    return celery


def _echo(schedule: str) -> str:
    return schedule


def _stamp(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers[SENT_HEADER] = time.time()


before_task_publish.connect(_stamp)


app = make_app()
