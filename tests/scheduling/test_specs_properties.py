"""Properties of the schedule-spec parser and of fire times, found by hypothesis.

- ``parse`` never fails with anything but ``InvalidInput``, whatever it is given, and every
  error names a field of ``schedule_config`` (or ``scheduler_type``) with a message;
- a spec it accepts survives the labels round trip through JSON, and reading it back as a
  stored config gives the same spec;
- ``next_after`` / ``next_n`` agree with croniter walked on the wall clock of the zone, mapped
  by zoneinfo, wherever no UTC offset change lies between the start and the answer; results
  are strictly increasing everywhere (DST included).

Reproducible and quick: derandomized, no example database, a few hundred examples in all.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskplane.enums import SchedulerType
from taskplane.errors import InvalidInput
from taskplane.scheduling import fire_times, spec_labels, specs, words
from taskplane.scheduling.specs import Spec
from tests.scheduling.strategies import cron_expressions

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KINDS = [k.value for k in SchedulerType]
KNOWN_FIELDS = sorted(set().union(*specs.ALLOWED_KEYS.values()))

PROPERTY = settings(
    max_examples=120,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- arbitrary input ------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()  # nan and infinities included: JSON readers allow them
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
CRON_ALPHABET = string.digits + "*/,-?LW#HR " + "janfebmonthuwedsat"
cron_texts = st.text(alphabet=CRON_ALPHABET, max_size=40)
zone_names = st.sampled_from(sorted(available_timezones()))
zone_like = zone_names | st.text(alphabet=string.ascii_letters + "/_-+.0123456789", max_size=30)
date_texts = st.datetimes(timezones=st.none() | st.timezones()).map(
    lambda d: d.isoformat()
) | st.text(alphabet=string.digits + "-:T+Z. ", max_size=35)
# values shaped for the field they go into, so the deep checks run, not just the type checks
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "cron_expression": cron_texts,
    **dict.fromkeys(specs.CRON_FIELDS, cron_texts | st.integers(-5, 70)),
    "timezone": zone_like,
    "run_date": date_texts,
    **dict.fromkeys(specs.INTERVAL_UNITS, st.integers(-10, 10**12) | st.floats()),
    "run_immediately": st.booleans(),
    "misfire": st.sampled_from(["once", "skip", "never"]),
    "overlap": st.sampled_from(["allow", "skip", "maybe"]),
    "misfire_grace_seconds": st.integers(-10, 10**6),
    "on_missing_time": st.sampled_from(["shift", "skip", "later"]),
    "on_repeated_time": st.sampled_from(["first", "both", "twice"]),
    "exclude": st.fixed_dictionaries(
        {},
        optional={
            "dates": st.lists(st.dates().map(lambda d: d.isoformat()) | st.text(max_size=12)),
            "holidays": st.fixed_dictionaries(
                {"country": st.sampled_from(["DE", "US", "XX"])},
                optional={"subdivision": st.sampled_from(["BY", "CA", "ZZ"])},
            ),
        },
    ),
    "jitter_seconds": st.integers(-5, 4000),
}


@st.composite
def schedule_configs(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:  # sometimes not an object at all
        return draw(json_values)
    known = draw(st.lists(st.sampled_from(KNOWN_FIELDS), unique=True, max_size=5))
    config: dict[str, Any] = {}
    for field in known:
        shaped = draw(st.booleans())
        config[field] = draw(FIELD_VALUES[field] if shaped else json_values)
    config.update(draw(st.dictionaries(st.text(max_size=12), json_values, max_size=2)))
    return config


def check_error(error: InvalidInput, config: Any, *, kind_is_known: bool = True) -> None:
    assert error.errors, "an InvalidInput must name at least one field"
    if not kind_is_known:
        assert [e.loc for e in error.errors] == [("scheduler_type",)]
    json.dumps([[list(e.loc), e.msg, e.type] for e in error.errors])  # the 422 body encodes
    for e in error.errors:
        assert e.msg and e.type
        if e.loc == ("scheduler_type",):
            continue
        assert e.loc[0] == specs.ROOT, e.loc
        if len(e.loc) == 1:
            assert not isinstance(config, dict), e  # only "must be an object" names the root
            continue
        # an exclusion names the entry inside it: ("schedule_config", "exclude", "dates", 3)
        assert len(e.loc) == 2 or e.loc[1] == "exclude", e.loc
        assert e.loc[1] in KNOWN_FIELDS or (isinstance(config, dict) and e.loc[1] in config), e


def check_spec(spec: Spec, config: Any, kind: str) -> None:
    assert spec.kind == kind
    labels = json.loads(json.dumps(spec_labels.to_labels(spec)))
    assert spec_labels.from_labels(labels) == spec
    assert specs.parse(kind, config, is_stored=True) == spec
    assert words.describe(spec)
    said = words.describe_in_words(spec)  # every valid spec can be said, never raises
    assert said and not said.startswith("cron "), said
    times = fire_times.next_n(spec, NOW, 4)
    assert all(t.tzinfo is not None for t in times)
    assert times == sorted(set(times)) and all(t > NOW for t in times)
    if spec.is_scheduled and spec.kind is not SchedulerType.DATE:
        assert len(times) == 4, (spec, times)


@PROPERTY
@given(kind=st.sampled_from(KINDS), config=schedule_configs())
def test_parse_answers_a_spec_or_an_error_naming_the_field(kind: str, config: Any) -> None:
    try:
        spec = specs.parse(kind, config, now=NOW)
    except InvalidInput as error:
        check_error(error, config)
    else:
        check_spec(spec, config, kind)


@PROPERTY
@given(kind=json_values, config=json_values)
def test_parse_of_anything_at_all_is_a_spec_or_invalid_input(kind: Any, config: Any) -> None:
    try:
        kind_is_known = kind in KINDS
    except TypeError:  # an unhashable kind (a list, a dict)
        kind_is_known = False
    try:
        specs.parse(kind, config, now=NOW)
    except InvalidInput as error:
        check_error(error, config, kind_is_known=kind_is_known)


# --- fire times -----------------------------------------------------------------------


instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)
# zones whose offset never changes: every answer must match croniter exactly
FIXED_ZONES = ["UTC", "Etc/GMT+5", "Etc/GMT-9", "Etc/GMT+12", "Etc/GMT-14", "Etc/GMT-3"]


def croniter_next(expr: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The oracle: croniter on the zone's wall clock, the wall time mapped by zoneinfo."""
    local = after.astimezone(zone).replace(tzinfo=None)
    wall: datetime = croniter(expr, local).get_next(datetime)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def offset_is_constant(zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """No UTC offset change in [start - 1 h, end + 1 h], probed every 30 minutes (no zone
    changes its offset twice within an hour)."""
    probe = start - timedelta(hours=1)
    first = probe.astimezone(zone).utcoffset()
    while probe <= end + timedelta(hours=1):
        if probe.astimezone(zone).utcoffset() != first:
            return False
        probe += timedelta(minutes=30)
    return True


def check_fire_times(expr: str, zone_name: str, after: datetime) -> list[bool]:
    spec = specs.parse("cron", {"cron_expression": expr, "timezone": zone_name})
    zone = ZoneInfo(zone_name)
    times = fire_times.next_n(spec, after, 3)
    assert len(times) == 3
    assert all(a < b for a, b in zip([after, *times], times, strict=False)), times
    compared = []
    for start, got in zip([after, *times], times, strict=False):
        assert fire_times.next_after(spec, start) == got
        expected = croniter_next(expr, zone, start)
        if offset_is_constant(zone, start, max(expected, got)):
            assert got == expected, (expr, zone_name, start)
            compared.append(True)
        else:
            compared.append(False)
    return compared


@PROPERTY
@given(expr=cron_expressions, zone=st.sampled_from(FIXED_ZONES), after=instants)
def test_next_fires_in_a_fixed_offset_zone_agree_with_croniter(
    expr: str, zone: str, after: datetime
) -> None:
    assert all(check_fire_times(expr, zone, after))


@settings(PROPERTY, max_examples=60)
@given(
    expr=cron_expressions.filter(lambda e: e.split()[2:4] == ["*", "*"]),  # answers within days
    zone=zone_names,
    after=instants,
)
def test_next_fires_in_any_zone_agree_with_croniter_away_from_offset_changes(
    expr: str, zone: str, after: datetime
) -> None:
    check_fire_times(expr, zone, after)


@PROPERTY
@given(
    seconds=st.integers(1, specs.MAX_INTERVAL_SECONDS // 1000),
    after=instants,
    offset_minutes=st.integers(-14 * 60, 14 * 60),
)
def test_interval_fires_are_evenly_spaced_whatever_the_offset_of_the_start(
    seconds: int, after: datetime, offset_minutes: int
) -> None:
    spec = specs.parse("interval", {"seconds": seconds})
    start = after.astimezone(timezone(timedelta(minutes=offset_minutes)))
    times = fire_times.next_n(spec, start, 3)
    step = timedelta(seconds=seconds)
    assert times == [after + step, after + 2 * step, after + 3 * step]
    assert all(t.utcoffset() == timedelta(0) for t in times)
