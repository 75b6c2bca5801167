"""Schedule specs: parse and validate a config's ``schedule_config`` into a ``Spec`` (its
round trip through a registration's labels is ``spec_labels``'s).

Pure: no I/O, no clock unless one is passed (``now`` defaults to the current time only in
``parse``, for the "date not in the past" rule). Every error is ``InvalidInput`` whose loc is
``("schedule_config", field)``, so the API answers 422 naming the field. A spec's fire times
are ``fire_times``' (cron with the DST policy), its words ``words``'.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from taskplane.enums import SchedulerType
from taskplane.errors import FieldError, InvalidInput
from taskplane.instants import parse_instant
from taskplane.scheduling import calendar
from taskplane.scheduling.calendar import Calendar

Misfire = Literal["once", "skip"]
Overlap = Literal["allow", "skip"]
OnMissingTime = Literal["shift", "skip"]
OnRepeatedTime = Literal["first", "both"]

ROOT = "schedule_config"
CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
INTERVAL_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
POLICY_KEYS = frozenset({"misfire", "misfire_grace_seconds", "overlap"})
DST_KEYS = frozenset({"on_missing_time", "on_repeated_time"})
CHOICES: dict[str, tuple[str, str]] = {  # each field's two values, the default first
    "misfire": ("once", "skip"),
    "overlap": ("allow", "skip"),
    "on_missing_time": ("shift", "skip"),
    "on_repeated_time": ("first", "both"),
}
ALLOWED_KEYS: dict[SchedulerType, frozenset[str]] = {
    SchedulerType.CRON: frozenset({"cron_expression", *CRON_FIELDS, "timezone"})
    | POLICY_KEYS
    | DST_KEYS
    | calendar.KEYS,
    SchedulerType.INTERVAL: frozenset({*INTERVAL_UNITS, "run_immediately"})
    | POLICY_KEYS
    | calendar.KEYS,
    SchedulerType.DATE: frozenset({"run_date"}) | POLICY_KEYS,
    SchedulerType.MANUAL: frozenset(),
}
# Longest accepted text per field: far above any real value, and short enough that the
# costly checks after it (croniter, zoneinfo, ISO parsing) stay bounded; an 800 KB cron
# expression took seconds of CPU inside the request before this bound.
MAX_TEXT_LENGTHS: dict[str, int] = {
    "cron_expression": 256,
    **dict.fromkeys(CRON_FIELDS, 128),
    "timezone": 64,
    "run_date": 64,
}
MAX_INTERVAL_SECONDS = 10 * 366 * 86400  # ten years: far enough, and no datetime overflow
MAX_GRACE_SECONDS = 86400
DEFAULT_GRACE_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Spec:
    """A validated schedule. ``run_at`` is aware UTC; ``cron`` has exactly five fields;
    ``calendar``: exclusions and jitter (cron and interval; None when neither is given)."""

    kind: SchedulerType
    cron: str | None = None
    timezone: str = "UTC"
    interval_seconds: int | None = None
    run_at: datetime | None = None
    run_immediately: bool = True
    misfire: Misfire = "once"
    misfire_grace_seconds: int = DEFAULT_GRACE_SECONDS
    overlap: Overlap = "allow"
    on_missing_time: OnMissingTime = "shift"
    on_repeated_time: OnRepeatedTime = "first"
    calendar: Calendar | None = None

    @property
    def is_scheduled(self) -> bool:
        """True for kinds that the scheduler fires (everything but manual)."""
        return self.kind is not SchedulerType.MANUAL


# --- parsing ---------------------------------------------------------------------------


def parse(
    scheduler_type: SchedulerType | str,
    schedule_config: Any,
    *,
    now: datetime | None = None,
    is_stored: bool = False,
) -> Spec:
    """Validate ``schedule_config`` for its kind; every problem found is reported at once.

    ``is_stored``: the config was read back from the database, so it was validated when it
    was written: skip what depends on the clock (a date in the past is still a date) and the
    costly cron check (croniter), which a page of configs would repeat for every row."""
    try:
        kind = SchedulerType(scheduler_type)
    except ValueError:
        raise InvalidInput.field(
            "scheduler_type",
            msg=f"must be one of {', '.join(t.value for t in SchedulerType)}",
            type="enum",
        ) from None
    if not isinstance(schedule_config, Mapping):
        raise InvalidInput.field(ROOT, msg="must be an object", type="dict_type")
    config: Mapping[str, Any] = schedule_config
    errors: list[FieldError] = []
    for key in config:
        if key in ALLOWED_KEYS[kind]:
            continue
        if kind is SchedulerType.MANUAL and key in POLICY_KEYS:
            msg = "policies do not apply to a manual schedule"
        elif key in DST_KEYS:
            msg = f"a DST policy applies to a cron schedule only, not to a {kind} one"
        elif key in calendar.KEYS:
            msg = f"applies to a cron or an interval schedule only, not to a {kind} one"
        else:
            allowed = ", ".join(sorted(ALLOWED_KEYS[kind])) or "none"
            msg = f"unknown field for a {kind} schedule (allowed: {allowed})"
        errors.append(FieldError((ROOT, str(key)), msg, "extra_forbidden"))
    too_long = [
        FieldError((ROOT, key), f"must be at most {limit} characters", "string_too_long")
        for key, limit in MAX_TEXT_LENGTHS.items()
        if key in ALLOWED_KEYS[kind]
        and isinstance(config.get(key), str)
        and len(config[key]) > limit
    ]
    if too_long:  # refused before any costly check reads them
        raise InvalidInput(errors + too_long)

    policies = _parse_policies(config, errors) if kind is not SchedulerType.MANUAL else {}
    spec: Spec | None = None
    if kind is SchedulerType.CRON:
        spec = _parse_cron(config, errors, policies, check=not is_stored)
    elif kind is SchedulerType.INTERVAL:
        spec = _parse_interval(config, errors, policies)
    elif kind is SchedulerType.DATE:
        past = None if is_stored else (now or datetime.now(UTC))
        spec = _parse_date(config, errors, policies, past)
    else:
        spec = Spec(kind=SchedulerType.MANUAL)
    if kind in (SchedulerType.CRON, SchedulerType.INTERVAL):
        interval = spec.interval_seconds if spec is not None else None
        rules = calendar.parse(config, errors, interval)
        spec = spec if spec is None or rules is None else replace(spec, calendar=rules)
    if errors or spec is None:
        raise InvalidInput(errors)
    return spec


def stored(scheduler_type: SchedulerType | str, schedule_config: Any) -> Spec | None:
    """``parse`` of a config read back (``is_stored``); None when it no longer reads."""
    try:
        return parse(scheduler_type, schedule_config, is_stored=True)
    except InvalidInput:
        return None


def _err(errors: list[FieldError], field: str, msg: str, type: str = "value_error") -> None:
    errors.append(FieldError((ROOT, field), msg, type))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_choices(
    config: Mapping[str, Any], errors: list[FieldError], keys: frozenset[str]
) -> dict[str, Any]:
    """The ``CHOICES`` fields among ``keys`` that ``config`` gives."""
    out: dict[str, Any] = {}
    for key, allowed in CHOICES.items():
        if key not in keys or key not in config:
            continue
        if config[key] in allowed:
            out[key] = config[key]
        else:
            _err(errors, key, f"must be {allowed[0]!r} or {allowed[1]!r}", "literal_error")
    return out


def _parse_policies(config: Mapping[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    out = _parse_choices(config, errors, POLICY_KEYS)
    if "misfire_grace_seconds" in config:
        grace = config["misfire_grace_seconds"]
        if not _is_int(grace):
            _err(errors, "misfire_grace_seconds", "must be an integer", "int_type")
        elif not 0 <= grace <= MAX_GRACE_SECONDS:
            _err(errors, "misfire_grace_seconds", f"must be between 0 and {MAX_GRACE_SECONDS}")
        else:
            out["misfire_grace_seconds"] = grace
    return out


def _parse_timezone(value: Any, errors: list[FieldError]) -> str | None:
    if not isinstance(value, str) or not value:
        _err(errors, "timezone", "must be an IANA timezone name, e.g. Europe/Berlin", "string_type")
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        _err(errors, "timezone", f"unknown timezone {value[:64]!r} (use an IANA name)")
        return None
    return value


# croniter's random ('R') and hashed ('H') tokens fire at times that change between
# evaluations: a schedule must have one answer to "when is the next fire".
_NONDETERMINISTIC = re.compile(r"(?i)(^|[,/\-])[rh](\(|$|[,/\-])")


def _cron_ok(expr: str) -> bool:
    if any(_NONDETERMINISTIC.search(part) for part in expr.split()):
        return False
    try:
        if not croniter.is_valid(expr):
            return False
        croniter(expr, datetime(2000, 1, 1)).get_next(datetime)
    except Exception:  # croniter raises several types for bad or never-firing expressions
        return False
    return True


def _parse_cron(
    config: Mapping[str, Any],
    errors: list[FieldError],
    policies: dict[str, Any],
    *,
    check: bool = True,
) -> Spec | None:
    def ok(expr: str) -> bool:
        return _cron_ok(expr) if check else True

    timezone = "UTC"
    if "timezone" in config:
        timezone = _parse_timezone(config["timezone"], errors) or "UTC"
    expr: str | None = None
    given_fields = [f for f in CRON_FIELDS if f in config]
    if "cron_expression" in config:
        raw = config["cron_expression"]
        if given_fields:
            _err(errors, "cron_expression", "give cron_expression or the five fields, not both")
        elif not isinstance(raw, str):
            _err(errors, "cron_expression", "must be a string", "string_type")
        elif len(raw.split()) != 5:
            _err(errors, "cron_expression", "must have exactly 5 fields: m h dom mon dow")
        elif not ok(" ".join(raw.split())):
            _err(errors, "cron_expression", f"invalid cron expression {raw[:100]!r}")
        else:
            expr = " ".join(raw.split())
    else:
        parts: list[str] = []
        bad = False
        for i, field in enumerate(CRON_FIELDS):
            value = config.get(field, "*")
            if _is_int(value):
                value = str(value)
            if not isinstance(value, str) or len(value.split()) != 1:
                _err(errors, field, "must be a single cron field, e.g. '*/5'", "string_type")
                bad = True
                continue
            probe = ["*"] * 5
            probe[i] = value
            if not ok(" ".join(probe)):
                _err(errors, field, f"invalid cron {field} {value[:50]!r}")
                bad = True
            parts.append(value)
        if not bad:
            candidate = " ".join(parts)
            if ok(candidate):
                expr = candidate
            else:  # each field fine alone but never fires together, e.g. 31 February
                _err(errors, "day", f"the fields never match a date: {candidate!r}")
    dst = _parse_choices(config, errors, DST_KEYS)
    if expr is None:
        return None
    return Spec(kind=SchedulerType.CRON, cron=expr, timezone=timezone, **policies, **dst)


def _parse_interval(
    config: Mapping[str, Any], errors: list[FieldError], policies: dict[str, Any]
) -> Spec | None:
    total = 0
    given = False
    ok = True
    for unit, factor in INTERVAL_UNITS.items():
        if unit not in config:
            continue
        given = True
        value = config[unit]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _is_int(value):
            _err(errors, unit, "must be a whole number", "int_type")
            ok = False
        elif value < 0:
            _err(errors, unit, "must not be negative")
            ok = False
        elif value > MAX_INTERVAL_SECONDS:
            _err(errors, unit, "is too large")
            ok = False
        else:
            total += value * factor
    run_immediately = True
    if "run_immediately" in config:
        if isinstance(config["run_immediately"], bool):
            run_immediately = config["run_immediately"]
        else:
            _err(errors, "run_immediately", "must be true or false", "bool_type")
            ok = False
    if not given:
        _err(errors, "seconds", "an interval needs seconds, minutes, hours or days", "missing")
        return None
    if not ok:
        return None
    if total < 1:
        _err(errors, "seconds", "the interval must be at least 1 second")
        return None
    if total > MAX_INTERVAL_SECONDS:
        _err(errors, "seconds", "the interval is too large")
        return None
    return Spec(
        kind=SchedulerType.INTERVAL,
        interval_seconds=total,
        run_immediately=run_immediately,
        **policies,
    )


def _parse_date(
    config: Mapping[str, Any],
    errors: list[FieldError],
    policies: dict[str, Any],
    now: datetime | None,
) -> Spec | None:
    """``now`` None: no "in the past" rule (a stored config, see ``parse``)."""
    if "run_date" not in config:
        _err(errors, "run_date", "field required", "missing")
        return None
    raw = config["run_date"]
    if not isinstance(raw, str):
        _err(errors, "run_date", "must be an ISO 8601 time string", "string_type")
        return None
    try:
        run_at = parse_instant(raw)
    except (ValueError, OverflowError):
        _err(errors, "run_date", "must be an ISO 8601 time, e.g. 2026-12-01T10:00:00+00:00")
        return None
    # the due index counts whole milliseconds: a date is kept at that resolution
    run_at = run_at.replace(microsecond=run_at.microsecond - run_at.microsecond % 1000)
    if now is not None and run_at <= now:
        _err(errors, "run_date", f"{run_at.isoformat()} is in the past")
        return None
    return Spec(kind=SchedulerType.DATE, run_at=run_at, **policies)
