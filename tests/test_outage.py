"""outage.py: one warning per outage for all loops, one info line on recovery, capped
back-off with jitter (pure: a fake clock, no I/O)."""

from __future__ import annotations

import logging
import random

import asyncpg
import pytest
from redis import exceptions as redis_errors
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import exc as sa_errors
from sqlalchemy.exc import OperationalError

from taskplane import outage
from taskplane.errors import BackendUnavailable
from taskplane.outage import DATABASE, REDIS, Outages, delay_seconds, store_of


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


@pytest.mark.parametrize(
    ("failures", "ceiling"), [(1, 0.1), (2, 0.2), (3, 0.4), (6, 3.2), (7, 5.0), (50, 5.0)]
)
def test_delay_doubles_from_a_tenth_to_five_seconds_with_equal_jitter(
    failures: int, ceiling: float
) -> None:
    rng = random.Random(7)
    delays = [delay_seconds(failures, rng=rng) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert max(delays) - min(delays) > ceiling / 4  # jittered, not one value


def test_errors_are_told_apart_by_store() -> None:
    assert store_of(RedisConnectionError("closed")) == REDIS
    assert store_of(OperationalError("SELECT 1", {}, OSError("refused"))) == DATABASE
    assert store_of(OSError("refused"), (REDIS, DATABASE)) == DATABASE
    assert store_of(ValueError("bug")) is None


def test_many_loops_failing_through_one_outage_log_one_warning_and_one_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="taskplane.outage")
    clock = Clock()
    outages = Outages(clock=clock)
    loops = [outages.backoff(name, REDIS) for name in ("receive", "heartbeat", "pump")]
    for _ in range(20):  # every loop fails again and again for 10 s
        for loop in loops:
            loop.note(RedisConnectionError("Connection refused"))
        clock.t += 0.5
    assert outages.is_down(REDIS) and outages.quiet_seconds(REDIS) == 0
    for loop in loops:
        loop.ok()
    assert messages(caplog, logging.WARNING) == [
        "store unreachable; every loop backs off until it answers"
    ]
    assert messages(caplog, logging.INFO) == ["store reachable again"]
    info = next(r for r in caplog.records if r.levelno == logging.INFO)
    assert info.__dict__["outage_seconds"] == 10.0
    clock.t += 3
    assert outages.quiet_seconds(REDIS) == 3.0


def test_a_reply_sent_before_the_outage_does_not_end_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="taskplane.outage")
    clock = Clock()
    outages = Outages(clock=clock)
    slow = outages.backoff("receive", REDIS)  # its attempt began at t = 1000
    clock.t += 1
    outages.backoff("heartbeat", REDIS).note(RedisConnectionError("closed"))
    slow.ok()  # its reply was on its way before Redis went
    assert outages.is_down(REDIS)
    clock.t += 1
    slow.ok()  # this attempt began after the outage: Redis answers
    assert not outages.is_down(REDIS)
    assert messages(caplog, logging.INFO) == ["store reachable again"]


def test_stragglers_right_after_a_recovery_are_the_same_outage_but_a_long_one_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="taskplane.outage")
    clock = Clock()
    outages = Outages(clock=clock)
    loop = outages.backoff("heartbeat", REDIS)
    loop.note(RedisConnectionError("closed"))
    clock.t += 1
    loop.ok()
    clock.t += 0.5  # a pooled connection that died with the old server
    loop.note(RedisConnectionError("closed"))
    clock.t += 0.1
    loop.ok()
    assert len(messages(caplog, logging.WARNING)) == 1
    assert len(messages(caplog, logging.INFO)) == 1
    clock.t += 0.5  # soon after: silent at first, but still lost FLAP_SECONDS later
    loop.note(RedisConnectionError("refused"))
    clock.t += outage.FLAP_SECONDS
    loop.note(RedisConnectionError("refused"))
    clock.t += 1
    loop.ok()
    assert len(messages(caplog, logging.WARNING)) == 2
    assert len(messages(caplog, logging.INFO)) == 2


def test_a_bug_is_logged_once_per_run_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="taskplane.outage")
    loop = Outages().backoff("tick", REDIS)
    for _ in range(5):
        loop.note(ValueError("bad reply"))
    loop.ok()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].exc_info is not None
    assert messages(caplog, logging.INFO) == ["loop recovered"]


class _Refusal(Exception):
    """What asyncpg raises while PostgreSQL starts or shuts down (SQLSTATE 57P03)."""

    sqlstate = "57P03"


class _BadStatement(Exception):
    sqlstate = "42601"  # a syntax error: not an outage


def test_a_database_that_refuses_sessions_is_an_outage_not_a_bug() -> None:
    from sqlalchemy.exc import DBAPIError

    from taskplane.api.errors import backend_of

    refusing = DBAPIError("SELECT 1", {}, _Refusal("the database system is shutting down"))
    broken = DBAPIError("SELEC 1", {}, _BadStatement("syntax error"))
    assert outage.database_refuses(refusing)
    assert outage.store_of(refusing) == outage.DATABASE
    assert backend_of(refusing) == "PostgreSQL"  # the api answers 503, not 500
    assert not outage.database_refuses(broken)
    assert outage.store_of(broken) is None
    assert backend_of(broken) is None


def _raised_from(exc: Exception, cause: BaseException) -> Exception:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "stores", "expected"),
    [
        (RedisConnectionError("closed"), (), REDIS),
        (redis_errors.TimeoutError("slow"), (DATABASE,), REDIS),
        (redis_errors.BusyLoadingError("loading"), (), REDIS),
        (redis_errors.ResponseError("WRONGTYPE"), (REDIS,), None),
        # a Redis that cannot take writes now: a failover under way, too few replicas
        (redis_errors.ReadOnlyError("You can't write against a read only replica."), (), REDIS),
        (redis_errors.ResponseError("NOREPLICAS Not enough good replicas to write."), (), REDIS),
        (redis_errors.MasterDownError("Link with MASTER is down"), (), REDIS),
        (redis_errors.ResponseError("ERR NOREPLICAS is not at the start"), (), None),
        (OperationalError("SELECT 1", {}, OSError("refused")), (), DATABASE),
        (sa_errors.TimeoutError("QueuePool limit"), (), DATABASE),
        (sa_errors.IntegrityError("INSERT", {}, ValueError("dup")), (DATABASE,), None),
        # asyncpg used directly (the row reader): its own errors, by SQLSTATE or by kind
        (asyncpg.exceptions.CannotConnectNowError("starting up"), (), DATABASE),
        (asyncpg.exceptions.AdminShutdownError("shutting down"), (), DATABASE),
        (asyncpg.exceptions.TooManyConnectionsError("too many"), (), DATABASE),
        (asyncpg.exceptions.OutOfMemoryError("oom"), (), DATABASE),
        (asyncpg.exceptions.ConnectionDoesNotExistError("gone"), (), DATABASE),
        (asyncpg.exceptions.InterfaceError("connection is closed"), (), DATABASE),
        (asyncpg.exceptions.InternalClientError("protocol state"), (), DATABASE),
        (asyncpg.exceptions.QueryCanceledError("statement timeout"), (DATABASE,), None),
        (asyncpg.exceptions.UniqueViolationError("duplicate"), (DATABASE,), None),
        # a bare socket error or timeout is the database's when the caller uses one
        (OSError("refused"), (), None),
        (OSError("refused"), (REDIS,), REDIS),
        (ConnectionRefusedError("refused"), (REDIS, DATABASE), DATABASE),
        (TimeoutError(), (DATABASE,), DATABASE),
        (_raised_from(RuntimeError("lost"), OSError("reset")), (DATABASE,), DATABASE),
        (_raised_from(RuntimeError("bug"), ValueError("x")), (DATABASE,), None),
        (BackendUnavailable("PostgreSQL"), (), DATABASE),
        (BackendUnavailable("Redis"), (), REDIS),
        (ValueError("bug"), (REDIS, DATABASE), None),
    ],
)
def test_store_of_is_the_one_answer_to_is_a_store_down(
    exc: BaseException, stores: tuple[str, ...], expected: str | None
) -> None:
    from taskplane.api.errors import backend_of

    assert store_of(exc, stores) == expected
    # the api's 503 asks the same question (a bare socket error is the database driver's)
    named = {REDIS: "Redis", DATABASE: "PostgreSQL", None: None}
    assert backend_of(exc) == named[store_of(exc, (DATABASE,))]
