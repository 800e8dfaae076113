"""Who may act on a lead, and what happens to a rep's leads when they leave.

Each test here is a bug seen when the product was tried as a new user would: an identity
nobody checked, a rep who left but kept leads and kept acting, a setting cleared by
changing another, an outcome recorded twice.
"""

from __future__ import annotations

from uuid import UUID

import orjson
import pytest
from typer.testing import CliRunner

from leadflow.adapters.cli import app as cli
from leadflow.errors import InvalidInput, NotPermitted
from leadflow.service.application import Leadflow

runner = CliRunner()


def _pool_lead(app: Leadflow, email: str = "ada@example.com") -> UUID:
    """A lead nobody owns yet (captured before any rep is on the roster)."""
    return app.capture(email=email, company="Acme").lead_id


def _team(app: Leadflow) -> None:
    app.define_team("sales_east", ["manager:wu"])
    for rep in ("rep:wang", "rep:li", "rep:zed"):
        app.add_rep(rep, team="sales_east")


def _handed_off_to_wang(app: Leadflow) -> UUID:
    lead = _pool_lead(app)
    _team(app)
    app.assign(lead, "rep:li")
    app.change_stage(lead, "mql", reason="engaged")
    app.hand_off(lead, "rep:wang", actor="rep:li")
    return lead


# -- hand-offs are answered by the rep they are addressed to ---------------------------


def test_only_the_addressee_accepts_a_hand_off_and_a_refusal_writes_nothing(app: Leadflow) -> None:
    lead = _handed_off_to_wang(app)
    before = app.max_position()

    with pytest.raises(NotPermitted) as refused:
        app.accept_handoff(lead, actor="rep:zed")

    assert refused.value.actor == "rep:zed"
    assert refused.value.allowed == ["rep:wang", "manager:wu"]
    assert app.max_position() == before
    assert app.get_lead(lead).handoff is not None


def test_the_addressees_manager_may_answer_for_them(app: Leadflow) -> None:
    lead = _handed_off_to_wang(app)

    app.reject_handoff(lead, "not a fit", actor="manager:wu")

    assert app.get_lead(lead).handoff is None


def test_the_cli_refuses_another_reps_acceptance_with_exit_code_6(db_url: str) -> None:
    from leadflow.adapters.store import open_store

    lf = open_store(db_url, actor="user:ops")
    try:
        lead = _handed_off_to_wang(lf)
        before = lf.max_position()
    finally:
        lf.close()

    result = runner.invoke(
        cli, ["accept", str(lead), "--actor", "rep:zed", "--db", db_url, "--json"]
    )

    assert result.exit_code == 6, result.output
    error = orjson.loads(result.stdout)["error"]
    assert (error["type"], error["actor"]) == ("NotPermitted", "rep:zed")
    assert "rep:wang" in error["allowed"]
    lf = open_store(db_url)
    try:
        assert lf.max_position() == before
    finally:
        lf.close()


def test_a_rep_cannot_hand_a_lead_to_themselves(app: Leadflow) -> None:
    lead = _pool_lead(app)
    _team(app)
    app.assign(lead, "rep:li")
    app.change_stage(lead, "mql")

    with pytest.raises(InvalidInput) as refused:
        app.hand_off(lead, "rep:li", actor="rep:li")

    assert refused.value.field == "to_owner"


def test_a_hand_off_goes_only_to_a_rep_on_the_roster(app: Leadflow) -> None:
    lead = _pool_lead(app)
    _team(app)
    app.change_stage(lead, "mql")

    with pytest.raises(InvalidInput) as refused:
        app.hand_off(lead, "rep:nobody")

    assert refused.value.field == "to_owner"


# -- rep ids, teams, settings ------------------------------------------------------------


@pytest.mark.parametrize("rep", ["rep:Li Wei", "li", "rep:", "rep:LI", "user:li", "rep:li wei"])
def test_a_rep_id_follows_the_documented_pattern(app: Leadflow, rep: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        app.add_rep(rep)

    assert refused.value.field == "rep"
    assert app.roster().reps == {}


def test_a_reps_team_must_exist(app: Leadflow) -> None:
    with pytest.raises(InvalidInput) as refused:
        app.add_rep("rep:li", team="nonexistent")

    assert refused.value.field == "team"
    assert "rep:li" not in app.roster().reps


def test_changing_one_setting_of_a_rep_changes_that_setting_only(app: Leadflow) -> None:
    app.define_team("sales_east", [])
    app.add_rep("rep:li", team="sales_east", weight=2)

    app.add_rep("rep:li", capacity=5)

    info = app.roster().reps["rep:li"]
    assert (info.team, info.capacity, info.weight) == ("sales_east", 5, 2)
    app.add_rep("rep:li", clear=["capacity"])
    assert app.roster().reps["rep:li"].capacity is None


def test_the_cli_changes_one_setting_and_keeps_the_team(db_url: str) -> None:
    for args in (
        ["team", "define", "sales_east"],
        ["rep", "add", "rep:li", "--team", "sales_east"],
        ["rep", "add", "rep:li", "--capacity", "5"],
    ):
        done = runner.invoke(cli, [*args, "--db", db_url])
        assert done.exit_code == 0, done.output

    listed = orjson.loads(runner.invoke(cli, ["rep", "list", "--db", db_url, "--json"]).stdout)

    [li] = listed["reps"]
    assert (li["team"], li["capacity"]) == ("sales_east", 5)


# -- a rep who leaves keeps nothing and does nothing -------------------------------------


def test_every_lead_a_leaving_rep_owns_goes_by_policy(app: Leadflow) -> None:
    open_lead, deal, account = (_pool_lead(app, f"{n}@example.com") for n in "abc")
    _team(app)
    for lead in (open_lead, deal, account):
        app.assign(lead, "rep:zed")
    app.change_stage(deal, "mql")
    app.change_stage(deal, "sql")
    app.convert(deal, "opportunity", "ACC-1")
    app.change_stage(account, "mql")
    app.change_stage(account, "sql")
    app.convert(account, "customer", "ACC-2")

    app.redistribute("rep:zed", "left the company", leave=True)

    owners = {lead: app.get_lead(lead).owner for lead in (open_lead, deal, account)}
    assert owners[deal] == owners[account] == "manager:wu"  # departure_to_manager stages
    assert owners[open_lead] in {"rep:wang", "rep:li"}  # by the assignment rules
    assert "rep:zed" not in app.roster().reps
    assert app.roster().load("rep:zed") == 0


def test_a_rep_who_left_may_no_longer_act(app: Leadflow) -> None:
    lead = _pool_lead(app)
    _team(app)
    app.redistribute("rep:zed", "left the company", leave=True)
    before = app.max_position()

    with pytest.raises(NotPermitted) as refused:
        app.record_activity(lead, "call", actor="rep:zed")

    assert "left the roster" in str(refused.value)
    assert app.max_position() == before


# -- outcomes happen once -----------------------------------------------------------------


def test_a_won_deal_cannot_be_won_again(app: Leadflow) -> None:
    lead = _pool_lead(app)
    app.change_stage(lead, "mql")
    app.change_stage(lead, "sql")
    app.win(lead, amount=100, currency="CNY")
    before = app.max_position()

    with pytest.raises(InvalidInput) as refused:
        app.win(lead, amount=100, currency="CNY")

    assert "won already" in refused.value.reason
    assert app.max_position() == before
    assert [r.type for r in app.read_events(lead_id=lead, types=["DealWon"])] == ["DealWon"]


def test_an_upsell_starts_a_new_deal_that_can_be_won(app: Leadflow) -> None:
    lead = _pool_lead(app)
    app.change_stage(lead, "mql")
    app.change_stage(lead, "sql")
    app.win(lead)
    app.change_stage(lead, "opportunity", reason="upsell")  # customer -> opportunity: upsell

    app.win(lead)

    assert len(list(app.read_events(lead_id=lead, types=["DealWon"]))) == 2


def test_personal_data_is_erased_once(app: Leadflow) -> None:
    lead = _pool_lead(app)
    app.erase_personal_data(lead, "GDPR request 1")
    before = app.max_position()

    with pytest.raises(InvalidInput):
        app.erase_personal_data(lead, "GDPR request 1")

    assert app.max_position() == before


def test_the_cli_refuses_a_second_win_with_exit_code_2(db_url: str) -> None:
    captured = runner.invoke(cli, ["capture", "--email", "a@example.com", "--db", db_url, "--json"])
    lead = orjson.loads(captured.stdout)["lead_id"]
    for args in (["promote", lead, "mql"], ["promote", lead, "sql"], ["win", lead]):
        assert runner.invoke(cli, [*args, "--db", db_url]).exit_code == 0

    assert runner.invoke(cli, ["win", lead, "--db", db_url]).exit_code == 2


# -- the pool and the lifecycle --------------------------------------------------------


def test_a_disqualified_lead_is_not_in_the_pool_and_cannot_be_claimed(app: Leadflow) -> None:
    lead = _pool_lead(app)
    app.disqualify(lead, "student")
    _team(app)

    with pytest.raises(InvalidInput) as refused:
        app.claim(lead, "rep:li")

    assert "closed stage 'disqualified'" in refused.value.reason
    assert app.get_lead(lead).owner is None


def test_bant_answers_that_qualify_an_accepted_lead_make_it_an_sql(app: Leadflow) -> None:
    lead = _handed_off_to_wang(app)
    app.accept_handoff(lead, actor="rep:wang")
    assert app.get_lead(lead).stage == "sal"

    app.qualify(lead, budget=True, authority=True, need=True, actor="rep:wang")

    state = app.get_lead(lead)
    assert (state.stage, state.status) == ("sql", "qualified")
    stage_change = list(app.read_events(lead_id=lead, types=["StageChanged"]))[-1]
    assert stage_change.data["rule"] == "qualified-sal-to-sql"
    app.convert(lead, "opportunity", "ACC-9", actor="rep:wang")  # no manual `promote sql`
    assert app.get_lead(lead).stage == "opportunity"


def test_a_rep_works_only_the_leads_they_own(app: Leadflow) -> None:
    lead = _pool_lead(app)
    _team(app)
    with pytest.raises(NotPermitted, match="in the pool: claim it first"):
        app.record_activity(lead, "call", actor="rep:li")
    app.assign(lead, "rep:li")
    with pytest.raises(NotPermitted, match="owned by rep:li"):
        app.record_activity(lead, "call", actor="rep:wang")
    with pytest.raises(NotPermitted, match="owned by rep:li"):
        app.update_profile(lead, {"company": "Other"}, actor="rep:wang")
    with pytest.raises(NotPermitted, match="owned by rep:li"):
        app.hand_off(lead, "rep:zed", actor="rep:wang")
    assert app.record_activity(lead, "call", actor="rep:li").events
    assert app.record_activity(lead, "call", actor="manager:wu").events
