"""A schedule's calendar rules (pure: no I/O, no clock): exclusions and jitter.

    schedule_config.exclude = {"dates": ["2026-12-24", ...], "holidays": {"country": "DE",
                                                                          "subdivision": "BY"}}
    schedule_config.jitter_seconds = 0..3600 (and less than an interval's step)

``parse`` validates both (every error names its field under ``schedule_config``);
``Calendar`` is what a ``specs.Spec`` keeps (None when a schedule has neither rule: the
common case costs nothing anywhere). The rules are applied to fire times in one place,
``fire_times.occurrences``; the engine asks ``excluded`` and ``jitter_ms`` per fire of a
schedule that has them.

Exclusions are evaluated on the due time's local date (the schedule's timezone; UTC for an
interval). Public holidays come from the ``holidays`` package, one year of one
country / subdivision at a time, remembered (``HOLIDAY_YEARS_REMEMBERED``): an engine asks a
dict lookup per fire. Jitter is a deterministic offset in ``[0, jitter_seconds)`` (whole
ms) from the config id and the due time (a BLAKE2 hash: the same in every process, unlike
Python's salted ``hash``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import holidays

from taskplane.errors import FieldError

ROOT = "schedule_config"
KEYS = frozenset({"exclude", "jitter_seconds"})
MAX_DATES = 366
MAX_JITTER_SECONDS = 3600
HOLIDAY_YEARS_REMEMBERED = 256
LABEL_DATES = "schedule_exclude_dates"
LABEL_COUNTRY = "schedule_holiday_country"
LABEL_SUBDIVISION = "schedule_holiday_subdivision"
LABEL_JITTER = "schedule_jitter_seconds"


@dataclass(frozen=True, slots=True)
class Calendar:
    """Exclusions (``dates``; the public holidays of ``country`` / ``subdivision``) and
    ``jitter_seconds`` of one schedule."""

    dates: frozenset[date] = frozenset()
    country: str | None = None
    subdivision: str | None = None
    jitter_seconds: int = 0

    @property
    def has_exclusions(self) -> bool:
        return bool(self.dates) or self.country is not None

    @property
    def region(self) -> str | None:
        """'DE-BY', 'DE' or None: the holidays' region as the words say it."""
        if self.country is None:
            return None
        return f"{self.country}-{self.subdivision}" if self.subdivision else self.country


class Exclusion(NamedTuple):
    """Why a due time does not fire: its local ``day``, and the holiday's name (None for a
    date of ``exclude.dates`` that is no holiday)."""

    day: date
    holiday: str | None


# --- the rules ------------------------------------------------------------------------


@functools.lru_cache(maxsize=HOLIDAY_YEARS_REMEMBERED)
def holiday_names(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    """The public holidays of one year of a region: {date: name} (several names joined)."""
    found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return {day: str(name) for day, name in found.items()}


def excluded(calendar: Calendar, day: date) -> Exclusion | None:
    """Whether a local date is excluded, and by which holiday (a dict lookup once the
    year's holidays are known)."""
    holiday: str | None = None
    if calendar.country is not None:
        holiday = holiday_names(calendar.country, calendar.subdivision, day.year).get(day)
    if holiday is not None or day in calendar.dates:
        return Exclusion(day, holiday)
    return None


def jitter_ms(config_id: int, due_ms: int, jitter_seconds: int) -> int:
    """The send offset of a due time, in ``[0, jitter_seconds * 1000)`` ms; 0 without jitter."""
    if jitter_seconds <= 0:
        return 0
    digest = hashlib.blake2b(f"{config_id}:{due_ms}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (jitter_seconds * 1000)


# --- parsing --------------------------------------------------------------------------


def parse(
    config: Mapping[str, Any], errors: list[FieldError], interval_seconds: int | None
) -> Calendar | None:
    """The calendar of a cron / interval ``schedule_config`` (None: no rule given); its
    problems are appended to ``errors``."""
    if "exclude" not in config and not config.get("jitter_seconds"):
        if "jitter_seconds" in config:
            _jitter(config["jitter_seconds"], errors, interval_seconds)  # 0 or a bad value
        return None
    dates: frozenset[date] = frozenset()
    country = subdivision = None
    if "exclude" in config:
        dates, country, subdivision = _exclude(config["exclude"], errors)
    jitter = _jitter(config.get("jitter_seconds", 0), errors, interval_seconds)
    calendar = Calendar(dates, country, subdivision, jitter)
    return calendar if calendar.has_exclusions or jitter else None


def _err(errors: list[FieldError], loc: tuple[str | int, ...], msg: str, type: str) -> None:
    errors.append(FieldError((ROOT, *loc), msg, type))


def _jitter(value: Any, errors: list[FieldError], interval_seconds: int | None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        _err(errors, ("jitter_seconds",), "must be an integer", "int_type")
    elif not 0 <= value <= MAX_JITTER_SECONDS:
        _err(
            errors,
            ("jitter_seconds",),
            f"must be between 0 and {MAX_JITTER_SECONDS}",
            "value_error",
        )
    elif interval_seconds is not None and value >= interval_seconds:
        msg = f"must be less than the interval ({interval_seconds} s)"
        _err(errors, ("jitter_seconds",), msg, "value_error")
    else:
        return value
    return 0


def _exclude(
    value: Any, errors: list[FieldError]
) -> tuple[frozenset[date], str | None, str | None]:
    nothing: tuple[frozenset[date], str | None, str | None] = (frozenset(), None, None)
    if not isinstance(value, Mapping):
        _err(
            errors,
            ("exclude",),
            'must be an object: {"dates": [...], "holidays": {...}}',
            "dict_type",
        )
        return nothing
    for key in value:
        if key not in ("dates", "holidays"):
            msg = "unknown field (allowed: dates, holidays)"
            _err(errors, ("exclude", str(key)), msg, "extra_forbidden")
    dates = _dates(value.get("dates", []), errors)
    country, subdivision = (None, None)
    if value.get("holidays") is not None:
        country, subdivision = _holidays(value["holidays"], errors)
    return dates, country, subdivision


def _dates(value: Any, errors: list[FieldError]) -> frozenset[date]:
    loc: tuple[str | int, ...] = ("exclude", "dates")
    if not isinstance(value, list):
        _err(errors, loc, "must be a list of dates (YYYY-MM-DD)", "list_type")
        return frozenset()
    if len(value) > MAX_DATES:
        _err(errors, loc, f"must hold at most {MAX_DATES} dates", "too_long")
        return frozenset()
    out: set[date] = set()
    for i, raw in enumerate(value):
        try:
            if not isinstance(raw, str) or len(raw) != 10:
                raise ValueError(raw)
            out.add(date.fromisoformat(raw))
        except ValueError:
            _err(
                errors,
                (*loc, i),
                "must be a date YYYY-MM-DD, e.g. 2026-12-24",
                "date_from_datetime_parsing",
            )
    return frozenset(out)


def _holidays(value: Any, errors: list[FieldError]) -> tuple[str | None, str | None]:
    loc: tuple[str | int, ...] = ("exclude", "holidays")
    if not isinstance(value, Mapping):
        _err(errors, loc, 'must be an object: {"country": "DE", "subdivision": "BY"}', "dict_type")
        return None, None
    for key in value:
        if key not in ("country", "subdivision"):
            msg = "unknown field (allowed: country, subdivision)"
            _err(errors, (*loc, str(key)), msg, "extra_forbidden")
    country, subdivision = value.get("country"), value.get("subdivision")
    supported = holidays.list_supported_countries()
    if not isinstance(country, str) or country not in supported:
        shown = repr(country)[:20]
        msg = f"unknown country {shown}: an ISO 3166-1 alpha-2 code the holidays package knows"
        _err(errors, (*loc, "country"), msg, "value_error")
        return None, None
    if subdivision is not None and (
        not isinstance(subdivision, str) or subdivision not in supported[country]
    ):
        known = ", ".join(supported[country][:40]) or "none"
        msg = f"unknown subdivision {repr(subdivision)[:20]} of {country} (known: {known})"
        _err(errors, (*loc, "subdivision"), msg, "value_error")
        return None, None
    return country, subdivision


# --- labels ---------------------------------------------------------------------------


def to_labels(calendar: Calendar | None) -> dict[str, Any]:
    """The calendar as a registration's labels (none without one: a registration of a
    schedule without rules is byte for byte what it was before them)."""
    if calendar is None:
        return {}
    labels: dict[str, Any] = {}
    if calendar.dates:
        labels[LABEL_DATES] = sorted(day.isoformat() for day in calendar.dates)
    if calendar.country is not None:
        labels[LABEL_COUNTRY] = calendar.country
        if calendar.subdivision:
            labels[LABEL_SUBDIVISION] = calendar.subdivision
    if calendar.jitter_seconds:
        labels[LABEL_JITTER] = calendar.jitter_seconds
    return labels


def from_labels(labels: Mapping[str, Any]) -> Calendar | None:
    """Inverse of ``to_labels``; ValueError on a malformed set."""
    dates, country = labels.get(LABEL_DATES), labels.get(LABEL_COUNTRY)
    jitter = labels.get(LABEL_JITTER)
    if dates is None and country is None and not jitter:
        return None
    return Calendar(
        dates=frozenset(date.fromisoformat(str(day)) for day in dates or ()),
        country=str(country) if country is not None else None,
        subdivision=labels.get(LABEL_SUBDIVISION),
        jitter_seconds=int(jitter or 0),
    )


def local_date(moment: datetime, tz: Any) -> date:
    """The date of an instant on the wall clock of ``tz`` (a ZoneInfo, or UTC)."""
    return moment.astimezone(tz).date()
