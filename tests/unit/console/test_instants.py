"""The console's instants: a date and time, or a relative choice resolved on the server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadflow.adapters.console.instants import RELATIVE, resolve_instant
from leadflow.errors import InvalidInput

NOW = datetime(2026, 8, 12, 15, 30, tzinfo=UTC)  # a Wednesday in Q3


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("end_of_yesterday", datetime(2026, 8, 11, 23, 59, 59, 999999, tzinfo=UTC)),
        ("end_of_last_week", datetime(2026, 8, 9, 23, 59, 59, 999999, tzinfo=UTC)),
        ("end_of_last_month", datetime(2026, 7, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("end_of_last_quarter", datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)),
        ("end_of_last_year", datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("now", NOW),
    ],
)
def test_a_relative_choice_is_the_last_instant_of_the_period_it_names(
    choice: str, expected: datetime
) -> None:
    assert resolve_instant(None, choice, NOW, "as_of") == expected


def test_the_end_of_last_quarter_in_january_is_the_end_of_december() -> None:
    january = datetime(2026, 1, 5, tzinfo=UTC)
    assert resolve_instant(None, "end_of_last_quarter", january, "as_of") == datetime(
        2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC
    )


@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 31)))
def test_every_relative_choice_is_before_now_and_within_a_year_and_a_quarter(
    naive: datetime,
) -> None:
    now = naive.replace(tzinfo=UTC)
    for choice in RELATIVE:
        at = resolve_instant(None, choice, now, "as_of")
        assert at is not None
        assert at <= now
        assert (now - at).days <= 366 + 92


def test_an_absolute_instant_without_an_offset_is_utc_and_a_bare_date_is_its_end() -> None:
    assert resolve_instant("2026-03-31T12:00:00", None, NOW, "as_of") == datetime(
        2026, 3, 31, 12, tzinfo=UTC
    )
    assert resolve_instant("2026-03-31", None, NOW, "as_of") == datetime(
        2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC
    )
    assert resolve_instant("", "", NOW, "as_of") is None


@pytest.mark.parametrize(
    ("absolute", "relative"), [("yesterday", None), ("x" * 41, None), (None, "last_tuesday")]
)
def test_a_bad_instant_names_its_field(absolute: str | None, relative: str | None) -> None:
    with pytest.raises(InvalidInput) as refused:
        resolve_instant(absolute, relative, NOW, "as_known_at")
    assert refused.value.field in ("as_known_at", "relative")
