"""Schedule specs: parse and validate a config's ``schedule_config``, compute fire times.

Pure: no I/O, no clock unless one is passed (``now`` defaults to the current time only in
``parse``, for the "date not in the past" rule). Every error is ``InvalidInput`` whose loc is
``("schedule_config", field)``, so the API answers 422 naming the field.

Cron and DST. A cron expression is evaluated on the wall clock of its timezone, then mapped
to UTC instants by the schedule's DST policy (API.md, "DST policy"):
- a wall time that does not exist (spring forward: 02:30 in Europe/Berlin on the last Sunday
  of March) fires once at the first instant after the gap (03:00 CEST) with
  ``on_missing_time: shift`` (the default), and not at all that day with ``skip``;
- a wall time that occurs twice (fall back) fires once, at its first occurrence, with
  ``on_repeated_time: first`` (the default), and at each occurrence with ``both``.
An instant is never fired twice: several missing wall times that shift to the same instant
fire once.

Interval cadence is anchored: the next due is the previous due + interval (no drift).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from taskplane.enums import SchedulerType
from taskplane.errors import FieldError, InvalidInput

Misfire = Literal["once", "skip"]
Overlap = Literal["allow", "skip"]
OnMissingTime = Literal["shift", "skip"]
OnRepeatedTime = Literal["first", "both"]

ROOT = "schedule_config"
CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
INTERVAL_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
POLICY_KEYS = frozenset({"misfire", "misfire_grace_seconds", "overlap"})
DST_KEYS = frozenset({"on_missing_time", "on_repeated_time"})
ALLOWED_KEYS: dict[SchedulerType, frozenset[str]] = {
    SchedulerType.CRON: frozenset({"cron_expression", *CRON_FIELDS, "timezone"})
    | POLICY_KEYS
    | DST_KEYS,
    SchedulerType.INTERVAL: frozenset({*INTERVAL_UNITS, "run_immediately"}) | POLICY_KEYS,
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
_MAX_CRON_STEPS = 10_000  # candidates examined per next_after; DST skips need only a few
_ONE_SECOND = timedelta(seconds=1)
_MAX_FOLD = timedelta(hours=3)  # longer than any DST shift in the tz database

LABEL_PREFIX = "schedule_"


@dataclass(frozen=True, slots=True)
class Spec:
    """A validated schedule. ``run_at`` is aware UTC; ``cron`` has exactly five fields."""

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
    if errors or spec is None:
        raise InvalidInput(errors)
    return spec


def _err(errors: list[FieldError], field: str, msg: str, type: str = "value_error") -> None:
    errors.append(FieldError((ROOT, field), msg, type))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_policies(config: Mapping[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "misfire" in config:
        if config["misfire"] in ("once", "skip"):
            out["misfire"] = config["misfire"]
        else:
            _err(errors, "misfire", "must be 'once' or 'skip'", "literal_error")
    if "overlap" in config:
        if config["overlap"] in ("allow", "skip"):
            out["overlap"] = config["overlap"]
        else:
            _err(errors, "overlap", "must be 'allow' or 'skip'", "literal_error")
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
    dst = _parse_dst_policy(config, errors)
    if expr is None:
        return None
    return Spec(kind=SchedulerType.CRON, cron=expr, timezone=timezone, **policies, **dst)


def _parse_dst_policy(config: Mapping[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, allowed in (
        ("on_missing_time", ("shift", "skip")),
        ("on_repeated_time", ("first", "both")),
    ):
        if key not in config:
            continue
        if config[key] in allowed:
            out[key] = config[key]
        else:
            _err(errors, key, f"must be {allowed[0]!r} or {allowed[1]!r}", "literal_error")
    return out


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


def parse_instant(value: str) -> datetime:
    """An ISO 8601 time as aware UTC; a naive time is UTC. ValueError if unreadable."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


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


# --- fire times ------------------------------------------------------------------------


def next_after(spec: Spec, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (aware), as aware UTC; None if none."""
    after = _aware(after)
    if spec.kind is SchedulerType.INTERVAL:
        assert spec.interval_seconds is not None
        return datetime.fromtimestamp(after.timestamp() + spec.interval_seconds, UTC)
    if spec.kind is SchedulerType.DATE:
        return spec.run_at if spec.run_at is not None and spec.run_at > after else None
    if spec.kind is SchedulerType.CRON:
        assert spec.cron is not None
        return _next_cron(
            spec.cron, ZoneInfo(spec.timezone), after, spec.on_missing_time, spec.on_repeated_time
        )
    return None


def next_n(spec: Spec, after: datetime, n: int) -> list[datetime]:
    """The next ``n`` fire times strictly after ``after`` (fewer when the schedule ends)."""
    out: list[datetime] = []
    current = _aware(after)
    for _ in range(max(n, 0)):
        nxt = next_after(spec, current)
        if nxt is None:
            break
        out.append(nxt)
        current = nxt
    return out


def first_runs(spec: Spec, now: datetime, n: int) -> list[datetime]:
    """The first ``n`` fires of a schedule started at ``now``: an interval that runs
    immediately fires at ``now`` first (as a start does), everything else from its next
    fire time on; ``[]`` for manual."""
    if spec.kind is SchedulerType.INTERVAL and spec.run_immediately and n > 0:
        start = _aware(now)
        return [start, *next_n(spec, start, n - 1)]
    return next_n(spec, now, n)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(UTC)


def _next_cron(
    expr: str,
    tz: ZoneInfo,
    after: datetime,
    on_missing: OnMissingTime = "shift",
    on_repeated: OnRepeatedTime = "first",
) -> datetime | None:
    # Walk the wall clock (naive local times) with croniter and map each candidate to its
    # instants by the DST policy (``_instants``); keep the first instant strictly after
    # `after`. Filtering on instants makes the result independent of croniter's own DST
    # handling. With "first" the instants rise with the wall clock, so the first one past
    # `after` is the answer. With "both" a repeated hour's second pass comes after later
    # wall times' first pass: near a fall-back the walk starts one fold earlier and keeps
    # the smallest instant of a fold's worth of candidates.
    near_fold = (
        on_repeated == "both"
        and after.astimezone(tz).utcoffset() != (after + _MAX_FOLD).astimezone(tz).utcoffset()
    )
    local = after.astimezone(tz).replace(tzinfo=None, microsecond=0, fold=0)
    start = local - _MAX_FOLD if near_fold else local
    it = croniter(expr, start - _ONE_SECOND)
    best: datetime | None = None
    best_wall: datetime | None = None
    for _ in range(_MAX_CRON_STEPS):
        try:
            wall = it.get_next(datetime)
        except Exception:  # croniter gives up on expressions that stop matching
            return best
        if best_wall is not None and wall > best_wall + _MAX_FOLD:
            return best
        for instant in _instants(wall, tz, on_missing, on_repeated):
            if instant > after and (best is None or instant < best):
                best, best_wall = instant, best_wall or wall
        if best is not None and not near_fold:
            return best
    return best


def _instants(
    wall: datetime, tz: ZoneInfo, on_missing: OnMissingTime, on_repeated: OnRepeatedTime
) -> list[datetime]:
    """The UTC instants at which the naive local ``wall`` fires under the DST policy."""
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():  # an ordinary wall time
        return [first.astimezone(UTC)]
    early, late = sorted((first.astimezone(UTC), second.astimezone(UTC)))
    if early.astimezone(tz).replace(tzinfo=None) == wall:  # repeated: both read back
        return [early, late] if on_repeated == "both" else [early]
    # missing (a gap): zoneinfo reads it with the offset before (fold=0, the later
    # instant) or after (fold=1, the earlier) the change; the gap's end lies between
    if on_missing == "skip":
        return []
    return [_transition(early, late, tz)]


def _transition(early: datetime, late: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (early, late] whose offset is the one after the change."""
    after_offset = late.astimezone(tz).utcoffset()
    lo, hi = early, late
    while hi - lo > _ONE_SECOND:
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


# --- labels ----------------------------------------------------------------------------


def to_labels(spec: Spec) -> dict[str, Any]:
    """The spec as flat JSON scalars, stored in the ScheduledTask's labels."""
    labels: dict[str, Any] = {
        f"{LABEL_PREFIX}kind": str(spec.kind),
        f"{LABEL_PREFIX}timezone": spec.timezone,
        f"{LABEL_PREFIX}run_immediately": spec.run_immediately,
        "misfire": spec.misfire,
        "misfire_grace_seconds": spec.misfire_grace_seconds,
        "overlap": spec.overlap,
    }
    if spec.kind is SchedulerType.CRON:
        labels["on_missing_time"] = spec.on_missing_time
        labels["on_repeated_time"] = spec.on_repeated_time
    if spec.cron is not None:
        labels[f"{LABEL_PREFIX}cron"] = spec.cron
    if spec.interval_seconds is not None:
        labels[f"{LABEL_PREFIX}interval_seconds"] = spec.interval_seconds
    if spec.run_at is not None:
        labels[f"{LABEL_PREFIX}run_at"] = spec.run_at.isoformat()
    return labels


def from_labels(labels: Mapping[str, Any]) -> Spec:
    """Inverse of ``to_labels``; other labels are ignored. No "in the past" check: a
    registered date spec stays readable after its time. ValueError on a malformed set."""
    p = LABEL_PREFIX
    run_at = labels.get(f"{p}run_at")
    interval = labels.get(f"{p}interval_seconds")
    misfire = labels.get("misfire", "once")
    overlap = labels.get("overlap", "allow")
    on_missing = labels.get("on_missing_time", "shift")
    on_repeated = labels.get("on_repeated_time", "first")
    if (
        misfire not in ("once", "skip")
        or overlap not in ("allow", "skip")
        or on_missing not in ("shift", "skip")
        or on_repeated not in ("first", "both")
    ):
        raise ValueError("bad schedule policy labels")
    return Spec(
        kind=SchedulerType(labels[f"{p}kind"]),
        cron=labels.get(f"{p}cron"),
        timezone=str(labels.get(f"{p}timezone", "UTC")),
        interval_seconds=int(interval) if interval is not None else None,
        run_at=parse_instant(run_at) if run_at is not None else None,
        run_immediately=bool(labels.get(f"{p}run_immediately", True)),
        misfire=misfire,
        misfire_grace_seconds=int(labels.get("misfire_grace_seconds", DEFAULT_GRACE_SECONDS)),
        overlap=overlap,
        on_missing_time=on_missing,
        on_repeated_time=on_repeated,
    )


def describe(spec: Spec) -> str:
    """A short human form: 'cron */5 * * * * (Europe/Berlin)', 'every 90s', 'at <iso>'."""
    if spec.kind is SchedulerType.CRON:
        return f"cron {spec.cron} ({spec.timezone})"
    if spec.kind is SchedulerType.INTERVAL:
        return f"every {spec.interval_seconds}s"
    if spec.kind is SchedulerType.DATE:
        assert spec.run_at is not None
        return f"at {spec.run_at.isoformat()}"
    return "manual"


_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_PLAIN = re.compile(r"^\d+$")


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _every(n: int, unit: str) -> str:
    return f"every {unit}" if n == 1 else f"every {n} {unit}s"


def _interval_words(seconds: int) -> str:
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            return _every(seconds // size, unit)
    return f"every {seconds} s"


def _numbers(field: str) -> list[int] | None:
    """A cron field that lists plain numbers ("9", "9,12,18"), else None."""
    parts = field.split(",")
    return [int(p) for p in parts] if all(_PLAIN.match(p) for p in parts) else None


def _days_of_week(field: str) -> str | None:
    if field == "*":
        return ""
    if field in ("1-5", "MON-FRI", "mon-fri"):
        return "on weekdays"
    if field in ("0,6", "6,0", "6-7", "SAT,SUN", "sat,sun"):
        return "on weekends"
    days = _numbers(field)
    if days is None or any(d > 7 for d in days):
        return None
    return "on " + _and([_DAY_NAMES[d % 7] + "s" for d in days])


def _cron_words(expr: str) -> str | None:
    """Common cron shapes in words ("at 09:00 on weekdays"); None for the rest."""
    minute, hour, dom, month, dow = expr.split()
    minutes, hours = _numbers(minute), _numbers(hour)
    if minutes is not None and hours is not None:
        when = "at " + _and([f"{h:02d}:{m:02d}" for h in hours for m in minutes])
    elif minutes is not None and len(minutes) == 1 and hour == "*":
        when = f"every hour at minute {minutes[0]}"
    elif minutes is not None and len(minutes) == 1 and hour.startswith("*/"):
        when = f"{_every(int(hour[2:]), 'hour')} at minute {minutes[0]}"
    elif minute == "*" and hour == "*":
        when = "every minute"
    elif minute.startswith("*/") and _PLAIN.match(minute[2:]) and hour == "*":
        when = _every(int(minute[2:]), "minute")
    else:
        return None
    parts = [when]
    days = _days_of_week(dow)
    if days is None:
        return None
    if dom != "*":
        dates = _numbers(dom)
        if dates is None:
            return None
        parts.append("on day " + _and([str(d) for d in dates]) + " of the month")
    if days:
        parts.append(("or " if dom != "*" else "") + days)
    if month != "*":
        months = _numbers(month)
        if months is None or any(not 1 <= m <= 12 for m in months):
            return None
        parts.append("in " + _and([_MONTH_NAMES[m - 1] for m in months]))
    return " ".join(parts)


def describe_in_words(spec: Spec) -> str:
    """What a person reads: "every 30 s", "at 09:00 on weekdays (Europe/Berlin)", "once at
    2026-12-01 10:00:00 UTC", "manual" (a cron shape without words stays "cron <expr>")."""
    if spec.kind is SchedulerType.INTERVAL:
        assert spec.interval_seconds is not None
        return _interval_words(spec.interval_seconds)
    if spec.kind is SchedulerType.DATE:
        assert spec.run_at is not None
        return f"once at {spec.run_at.strftime('%Y-%m-%d %H:%M:%S')} UTC"
    if spec.kind is SchedulerType.CRON:
        assert spec.cron is not None
        words = f"{_cron_words(spec.cron) or 'cron ' + spec.cron} ({spec.timezone})"
        if spec.on_missing_time == "skip":
            words += "; a time a DST change skips does not fire"
        if spec.on_repeated_time == "both":
            words += "; a time a DST change repeats fires twice"
        return words
    return "manual"


def describe_config(scheduler_type: SchedulerType | str, schedule_config: Any) -> str | None:
    """A stored config's schedule in words, whatever its status: what a paused or stopped
    schedule will do once it runs again (``manual`` for a manual one). None when the stored
    config no longer reads as a schedule (its status is then ``error``)."""
    try:
        return describe(parse(scheduler_type, schedule_config, is_stored=True))
    except InvalidInput:
        return None
