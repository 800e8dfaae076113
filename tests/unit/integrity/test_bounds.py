"""The one boundary: every value that would enter an event is within documented bounds,
or the command is refused naming the field and the reason (``docs/cli.md``, Limits).

Each case here was accepted once and then broke a read model, a report or a later
command (issue 14): NaN and infinite scores, weights and amounts, times before 1970,
unbounded strings, control characters, unknown currencies, empty reasons.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pycountry
import pytest

from leadflow.domain import bounds
from leadflow.domain.commands import (
    AddRep,
    AssignLead,
    CaptureLead,
    ChangeStage,
    Command,
    ConvertLead,
    DefineTeam,
    RecordAbsence,
    RecordActivity,
    ReleaseLead,
    SetScore,
    UpdateProfile,
    WinDeal,
    validate_command,
)
from leadflow.domain.context import Context
from leadflow.errors import InvalidInput

LEAD = str(uuid4())
NOW = datetime(2026, 3, 1, tzinfo=UTC)

REFUSED: list[tuple[type[Command], dict[str, Any], str]] = [
    (SetScore, {"lead_id": LEAD, "score": float("nan"), "reason": "x"}, "score"),
    (SetScore, {"lead_id": LEAD, "score": float("inf"), "reason": "x"}, "score"),
    (SetScore, {"lead_id": LEAD, "score": -float("inf"), "reason": "x"}, "score"),
    (SetScore, {"lead_id": LEAD, "score": 1.7e308, "reason": "x"}, "score"),
    (SetScore, {"lead_id": LEAD, "score": bounds.SCORE_MAX + 1, "reason": "x"}, "score"),
    (SetScore, {"lead_id": LEAD, "score": 5, "reason": ""}, "reason"),
    (SetScore, {"lead_id": LEAD, "score": 5, "reason": "   "}, "reason"),
    (SetScore, {"lead_id": LEAD, "score": 5, "reason": "a\x00b"}, "reason"),
    (SetScore, {"lead_id": LEAD, "score": 5, "reason": "x" * 2001}, "reason"),
    (ReleaseLead, {"lead_id": LEAD, "reason": "\ud800"}, "reason"),
    (AddRep, {"rep": "rep:x", "weight": float("inf")}, "weight"),
    (AddRep, {"rep": "rep:x", "weight": float("nan")}, "weight"),
    (AddRep, {"rep": "rep:x", "weight": 0}, "weight"),
    (AddRep, {"rep": "rep:x", "capacity": 99999999999999999999}, "capacity"),
    (AddRep, {"rep": "rep:x", "capacity": -1}, "capacity"),
    (AddRep, {"rep": "rep:" + "x" * 300}, "rep"),
    (
        ConvertLead,
        {"lead_id": LEAD, "target": "customer", "account_ref": "a", "amount": -1},
        "amount",
    ),
    (
        ConvertLead,
        {"lead_id": LEAD, "target": "customer", "account_ref": "a", "amount": float("nan")},
        "amount",
    ),
    (WinDeal, {"lead_id": LEAD, "amount": float("inf")}, "amount"),
    (WinDeal, {"lead_id": LEAD, "amount": -0.01}, "amount"),
    (WinDeal, {"lead_id": LEAD, "amount": 10, "currency": "ZZZ"}, "currency"),
    (WinDeal, {"lead_id": LEAD, "amount": 10, "currency": "dollars"}, "currency"),
    (
        CaptureLead,
        {"email": "a@x.com", "occurred_at": datetime.fromisoformat("0001-01-01T00:00:00+01:00")},
        "occurred_at",
    ),
    (
        CaptureLead,
        {"email": "a@x.com", "occurred_at": datetime(1969, 12, 31, tzinfo=UTC)},
        "occurred_at",
    ),
    (CaptureLead, {"email": "a@x.com", "occurred_at": datetime(2026, 1, 1)}, "occurred_at"),
    (CaptureLead, {"email": "a@x.com", "attributes": {"k": "v" * 1_000_001}}, "attributes.k"),
    (
        CaptureLead,
        {"email": "a@x.com", "attributes": {f"k{i}": "v" for i in range(20_000)}},
        "attributes",
    ),
    (CaptureLead, {"email": "a@x.com", "name": "Ann\x1b[31m"}, "name"),
    (CaptureLead, {"email": "a@x.com", "name": "Ann\x00"}, "name"),
    (CaptureLead, {"email": "a@x.com", "name": "Ann\nBob"}, "name"),
    (CaptureLead, {"email": "a@x.com", "name": "A" * 201}, "name"),
    (CaptureLead, {"email": "a@x.com", "source": "s" * 101}, "source"),
    (CaptureLead, {"email": "a" * 65 + "@example.com"}, "email"),
    (CaptureLead, {"email": "a@x.com", "attributes": {"ok\x1b": "v"}}, "attributes.ok\x1b"),
    (UpdateProfile, {"lead_id": LEAD, "changes": {"name": "N" * 201}}, "name"),
    (UpdateProfile, {"lead_id": LEAD, "changes": {"attributes.k": "v" * 1001}}, "attributes.k"),
    (UpdateProfile, {"lead_id": LEAD, "changes": {"attributes.k": "a\x1bb"}}, "attributes.k"),
    (RecordActivity, {"lead_id": LEAD, "activity": "call", "ref": "r" * 501}, "ref"),
    (RecordActivity, {"lead_id": LEAD, "activity": "call", "detail": "d" * 2001}, "detail"),
    (AssignLead, {"lead_id": LEAD, "owner": "rep:x", "reason": ""}, "reason"),
    (AssignLead, {"lead_id": LEAD, "owner": "o" * 201}, "owner"),
    (ChangeStage, {"lead_id": LEAD, "stage": "mql", "reason": ""}, "reason"),
    (DefineTeam, {"team": "t\x07"}, "team"),
    (RecordAbsence, {"rep": "rep:x", "start": datetime(1, 1, 1, tzinfo=UTC), "end": NOW}, "start"),
    (
        RecordAbsence,
        {"rep": "rep:x", "start": NOW, "end": datetime(9999, 12, 31, tzinfo=UTC)},
        "end",
    ),
]


@pytest.mark.parametrize(("model", "data", "field"), REFUSED)
def test_a_value_outside_the_bounds_is_refused_naming_the_field(
    model: type[Command], data: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_command(model, data)
    assert refused.value.field == field
    assert refused.value.reason  # a reason a person can act on, never empty


ACCEPTED: list[tuple[type[Command], dict[str, Any]]] = [
    (SetScore, {"lead_id": LEAD, "score": bounds.SCORE_MAX, "reason": "x"}),
    (SetScore, {"lead_id": LEAD, "score": -bounds.SCORE_MAX, "reason": "line one\nline two\ttab"}),
    (AddRep, {"rep": "rep:x", "weight": bounds.WEIGHT_MAX, "capacity": bounds.CAPACITY_MAX}),
    (WinDeal, {"lead_id": LEAD, "amount": 0, "currency": "cny"}),
    (WinDeal, {"lead_id": LEAD, "amount": bounds.AMOUNT_MAX, "currency": "EUR"}),
    (CaptureLead, {"email": "a" * 64 + "@example.com", "name": "N" * 200}),
    (CaptureLead, {"email": "a@x.com", "occurred_at": bounds.EARLIEST}),
    (CaptureLead, {"email": "a@x.com", "attributes": {f"k{i}": "v" * 1000 for i in range(100)}}),
    (CaptureLead, {"email": "a@x.com", "name": "李雷 [/] [bold]x[/bold]"}),
]


@pytest.mark.parametrize(("model", "data"), ACCEPTED)
def test_a_value_at_the_bounds_is_accepted(model: type[Command], data: dict[str, Any]) -> None:
    validate_command(model, data)


def test_a_currency_is_upper_cased() -> None:
    command = validate_command(WinDeal, {"lead_id": LEAD, "amount": 1, "currency": "usd"})
    assert command.currency == "USD"


def test_the_currency_list_is_iso_4217_as_pycountry_ships_it() -> None:
    shipped = {currency.alpha_3 for currency in pycountry.currencies} - {"XTS", "XXX"}
    assert shipped == bounds.CURRENCIES


@pytest.mark.parametrize(
    ("actor", "occurred_at", "field"),
    [
        ("u" * 201, NOW, "actor"),
        ("user:a\x1b]0;pwned\x07", NOW, "actor"),
        ("user:a", datetime.fromisoformat("0001-01-01T00:00:00+01:00"), "occurred_at"),
        ("user:a", datetime(1969, 1, 1, tzinfo=UTC), "occurred_at"),
    ],
)
def test_who_acts_and_when_are_bounded_too(actor: str, occurred_at: datetime, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Context(actor=actor, occurred_at=occurred_at, recorded_at=NOW)
    assert refused.value.field == field


def test_an_error_carries_the_field_and_the_reason_apart() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_command(SetScore, {"lead_id": LEAD, "score": float("nan"), "reason": "x"})
    assert (refused.value.field, refused.value.reason) == (
        "score",
        "Input should be a finite number",
    )


def test_a_business_time_may_run_ahead_of_now_by_the_clock_skew_and_no_more() -> None:
    at_the_limit = Context(actor="user:a", occurred_at=NOW + bounds.CLOCK_SKEW, recorded_at=NOW)
    assert at_the_limit.occurred_at == NOW + bounds.CLOCK_SKEW

    with pytest.raises(InvalidInput) as refused:
        Context(
            actor="user:a",
            occurred_at=NOW + bounds.CLOCK_SKEW + timedelta(seconds=1),
            recorded_at=NOW,
        )
    assert refused.value.field == "occurred_at"
    assert "in the future" in refused.value.reason
