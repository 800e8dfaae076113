"""The CLI's one human time format, one duration format and one ISO format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from leadflow.adapters.formatting import human_duration, human_time, iso_time

SHANGHAI = timezone(timedelta(hours=8))


def test_a_human_time_is_minutes_in_utc_whatever_the_offset() -> None:
    assert human_time(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) == "2026-01-05 09:00 UTC"
    assert human_time(datetime(2026, 1, 5, 17, 0, tzinfo=SHANGHAI)) == "2026-01-05 09:00 UTC"


def test_a_human_time_shows_seconds_only_when_there_are_some() -> None:
    assert human_time(datetime(2026, 1, 5, 9, 0, 7, 500, tzinfo=UTC)) == "2026-01-05 09:00:07 UTC"


def test_a_time_without_an_offset_is_read_as_utc() -> None:
    assert human_time(datetime(2026, 1, 5, 9, 0)) == "2026-01-05 09:00 UTC"
    assert iso_time(datetime(2026, 1, 5, 9, 0)) == "2026-01-05T09:00:00+00:00"


@pytest.mark.parametrize(
    ("duration", "shown"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(days=2, hours=3), "2d 3h"),
        (timedelta(minutes=45), "45m"),
        (timedelta(seconds=30), "30s"),
        (timedelta(days=1, minutes=30), "1d 30m"),
        (timedelta(days=2, hours=3, minutes=14, seconds=7), "2d 3h"),
        (timedelta(0), "0s"),
        (-timedelta(hours=2), "-2h"),
    ],
)
def test_a_duration_is_its_two_largest_units_never_pythons_days_and_clock(
    duration: timedelta, shown: str
) -> None:
    assert human_duration(duration) == shown
    assert "day" not in human_duration(duration)


def test_an_iso_time_has_a_numeric_offset_and_seconds_unless_there_are_microseconds() -> None:
    assert iso_time(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) == "2026-01-05T09:00:00+00:00"
    assert iso_time(datetime(2026, 1, 5, 9, 0, 0, 250, tzinfo=UTC)) == (
        "2026-01-05T09:00:00.000250+00:00"
    )
    assert iso_time(datetime(2026, 1, 5, 17, 0, tzinfo=SHANGHAI)) == "2026-01-05T17:00:00+08:00"
