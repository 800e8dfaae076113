"""What each API token scope grants (docs/http-api.md lists the same)."""

from __future__ import annotations

import pytest

from leadflow.domain.commands import COMMANDS
from leadflow.domain.permissions import SCOPES, ScopeNotGranted, check_scope


def test_intake_only_captures() -> None:
    assert SCOPES["intake"] == {"capture"}


def test_read_only_reads() -> None:
    assert SCOPES["read"] == {"read"}


def test_each_scope_up_from_rep_grants_what_the_one_below_does() -> None:
    assert SCOPES["read"] < SCOPES["rep"] < SCOPES["manager"] < SCOPES["admin"]
    assert SCOPES["intake"] < SCOPES["admin"]


def test_assignment_and_the_roster_are_for_managers() -> None:
    for action in ("assign", "redistribute", "add_rep", "record_absence", "define_team"):
        assert action not in SCOPES["rep"]
        assert action in SCOPES["manager"]


def test_erasure_pipeline_and_tokens_are_for_admins() -> None:
    for action in ("erase_personal_data", "pipeline", "tokens", "forms", "webhooks"):
        assert action not in SCOPES["manager"]
        assert action in SCOPES["admin"]


def test_admin_may_give_every_command() -> None:
    assert {command.NAME for command in COMMANDS} <= SCOPES["admin"]


def test_a_refusal_names_the_scopes_that_would_do() -> None:
    with pytest.raises(ScopeNotGranted) as refused:
        check_scope("token t1", "rep", "assign")
    assert refused.value.allowed == ["admin", "manager"]
    check_scope("token t1", "manager", "assign")
