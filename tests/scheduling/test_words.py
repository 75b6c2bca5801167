"""A spec in words: the short form and the sentence (cron through cron-descriptor)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from taskplane.scheduling import specs, words


def test_describe() -> None:
    assert words.describe(specs.parse("interval", {"minutes": 1})) == "every 60s"
    assert words.describe(specs.parse("cron", {"hour": "3"})) == "cron * 3 * * * (UTC)"


@pytest.mark.parametrize(
    ("kind", "config", "expected"),
    [
        (
            "cron",
            {"cron_expression": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
            "cron 0 9 * * 1-5 (Europe/Berlin)",
        ),
        ("cron", {"minute": "30", "hour": 2}, "cron 30 2 * * * (UTC)"),
        ("interval", {"minutes": 1, "seconds": 30}, "every 90s"),
        # a stored date that has passed still reads as its time (a completed schedule)
        ("date", {"run_date": "2020-01-01T00:00:00Z"}, "at 2020-01-01T00:00:00+00:00"),
        ("manual", {}, "manual"),
        ("interval", {"seconds": 0}, None),  # no longer a schedule: nothing to say
        ("hourly", {}, None),
    ],
)
def test_describe_config_words_a_stored_schedule(
    kind: str, config: dict[str, Any], expected: str | None
) -> None:
    assert words.describe_config(kind, config) == expected


@pytest.mark.parametrize(
    ("kind", "config", "expected"),
    [
        (
            "cron",
            {"cron_expression": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
            "at 09:00, Monday through Friday (Europe/Berlin)",
        ),
        ("cron", {"cron_expression": "*/15 * * * *"}, "every 15 minutes (UTC)"),
        ("cron", {"cron_expression": "* * * * *"}, "every minute (UTC)"),
        ("cron", {"cron_expression": "30 * * * *"}, "at 30 minutes past the hour (UTC)"),
        ("cron", {"cron_expression": "0 */6 * * *"}, "every 6 hours (UTC)"),
        ("cron", {"cron_expression": "0 2 1 * *"}, "at 02:00, on day 1 of the month (UTC)"),
        ("cron", {"cron_expression": "0 0 * * 0,6"}, "at 00:00, only on Sunday and Saturday (UTC)"),
        (
            "cron",
            {"cron_expression": "0 9,18 * * 1,3,5"},
            "at 09:00 and 18:00, only on Monday, Wednesday, and Friday (UTC)",
        ),
        (
            "cron",
            {"cron_expression": "0 0 1 1 *"},
            "at 00:00, on day 1 of the month, only in January (UTC)",
        ),
        ("cron", {"cron_expression": "5-10 * * * *"}, "minutes 5 through 10 past the hour (UTC)"),
        ("cron", {"cron_expression": "0 0 L * *"}, "at 00:00, on the last day of the month (UTC)"),
        (
            "cron",
            {"cron_expression": "0 12 * * 5#2"},
            "at 12:00, on the second Friday of the month (UTC)",
        ),
        ("cron", {"cron_expression": "0 0 * * 7"}, "at 00:00, only on Sunday (UTC)"),
        (
            "cron",
            {
                "cron_expression": "30 2 * * *",
                "timezone": "Europe/Berlin",
                "on_missing_time": "skip",
            },
            "at 02:30 (Europe/Berlin); a time a DST change skips does not fire",
        ),
        ("interval", {"seconds": 30}, "every 30 s"),
        ("interval", {"seconds": 90}, "every 90 s"),
        ("interval", {"minutes": 5}, "every 5 minutes"),
        ("interval", {"hours": 1}, "every hour"),
        ("interval", {"days": 2}, "every 2 days"),
        ("date", {"run_date": "2099-01-01T10:00:00Z"}, "once at 2099-01-01 10:00:00 UTC"),
        ("manual", {}, "manual"),
    ],
)
def test_describe_in_words(kind: str, config: dict[str, object], expected: str) -> None:
    assert words.describe_in_words(specs.parse(kind, config)) == expected


def test_a_cron_expression_without_words_is_said_as_itself() -> None:
    assert words.cron_words("not a cron") == "cron not a cron"


def test_cron_words_are_english_whatever_the_process_locale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import locale

    words.cron_words.cache_clear()
    monkeypatch.setattr(locale, "getlocale", lambda *args: ("de_DE", "UTF-8"))
    assert words.cron_words("0 9 * * 1-5") == "at 09:00, Monday through Friday"
    words.cron_words.cache_clear()


def test_importing_the_api_does_not_import_cron_descriptor() -> None:
    """Only a preview needs it: its import cost is paid on first use, not by every process."""
    code = "import sys, taskplane.api.app; sys.exit('cron_descriptor' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
