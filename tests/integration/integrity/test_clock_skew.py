"""A business time may run a little ahead of the store's clock, and no more.

The machine that sends a lead (a web form's server, a laptop running an import) may have
a clock a little ahead of the store's: ``occurred_at`` up to now +
:data:`~leadflow.domain.bounds.CLOCK_SKEW` is accepted; past it the command is refused
naming ``occurred_at`` (exit 2 on the command line) and nothing is written. "Now" is the
application's clock (here a fake one, or the real one for the CLI), never the domain's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from leadflow.domain.bounds import CLOCK_SKEW
from leadflow.errors import InvalidInput
from leadflow.service.application import Leadflow

from support.cli import invoke, leadflow
from support.clock import FakeClock

SECOND = timedelta(seconds=1)


def test_a_capture_up_to_the_skew_ahead_is_accepted(app: Leadflow, clock: FakeClock) -> None:
    lead = app.capture(email="ann@example.com", at=clock.now + CLOCK_SKEW).lead_id

    app.record_activity(lead, "call", at=clock.now + CLOCK_SKEW)

    assert app.lead(lead).captured_at == clock.now + CLOCK_SKEW


@pytest.mark.parametrize("command", ["capture", "activity"])
def test_a_time_past_the_skew_is_refused_naming_the_field_and_nothing_is_written(
    app: Leadflow, clock: FakeClock, command: str
) -> None:
    lead = app.capture(email="ann@example.com").lead_id
    before = app.max_position()
    late = clock.now + CLOCK_SKEW + SECOND
    calls = {
        "capture": lambda: app.capture(email="bob@example.com", at=late),
        "activity": lambda: app.record_activity(lead, "call", at=late),
    }

    with pytest.raises(InvalidInput) as refused:
        calls[command]()

    assert refused.value.field == "occurred_at"
    assert "in the future" in refused.value.reason
    assert app.max_position() == before


def test_on_the_command_line_past_the_skew_exits_2_naming_the_field(db_url: str) -> None:
    leadflow(db_url, "init")
    soon = datetime.now(UTC) + CLOCK_SKEW / 2
    later = datetime.now(UTC) + CLOCK_SKEW + timedelta(minutes=1)

    leadflow(db_url, "capture", "--email", "ann@example.com", "--at", soon.isoformat())
    result = invoke(
        "capture", "--email", "bob@example.com", "--at", later.isoformat(),
        "--json", "--db", db_url, expect=2,
    )  # fmt: skip

    assert json.loads(result.stdout)["error"]["field"] == "occurred_at"
    assert json.loads(leadflow(db_url, "funnel", "--json"))  # the store still answers
