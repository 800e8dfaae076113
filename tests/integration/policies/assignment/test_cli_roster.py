"""CLI: reps, teams, absences, leaving, the pool, redistribution, merge and unmerge."""

from __future__ import annotations

import orjson

from support.cli import capture, cli, leadflow, runner


def test_reps_are_added_listed_and_given_new_leads(db_url: str) -> None:
    leadflow(db_url, "team", "define", "east", "--manager", "manager:ivy")
    leadflow(db_url, "rep", "add", "rep:a", "--team", "east", "--capacity", "5")
    leadflow(db_url, "rep", "add", "rep:b", "--weight", "2")
    capture(db_url, "--email", "one@example.com")
    capture(db_url, "--email", "two@example.com")

    listed = orjson.loads(leadflow(db_url, "rep", "list", "--json"))

    assert [
        (r["rep"], r["team"], r["capacity"], r["weight"], r["open_leads"]) for r in listed["reps"]
    ] == [
        ("rep:a", "east", 5, 1.0, 1),
        ("rep:b", None, None, 2.0, 1),
    ]


def test_an_absence_is_recorded_and_bad_dates_are_refused(db_url: str) -> None:
    leadflow(db_url, "rep", "add", "rep:a")

    leadflow(db_url, "rep", "absent", "rep:a", "--from", "2030-01-01", "--until", "2030-01-08")
    refused = runner.invoke(
        cli,
        [
            "rep",
            "absent",
            "rep:a",
            "--from",
            "2030-01-08",
            "--until",
            "2030-01-01",
            "--json",
            "--db",
            db_url,
        ],
    )

    assert refused.exit_code == 2
    assert orjson.loads(refused.stdout)["error"]["field"] == "until"
    listed = orjson.loads(leadflow(db_url, "rep", "list", "--json"))
    assert listed["reps"][0]["absences"] == [
        ["2030-01-01T00:00:00+00:00", "2030-01-08T00:00:00+00:00"]
    ]


def test_a_leaving_rep_hands_their_leads_on_and_the_pool_lists_the_rest(db_url: str) -> None:
    leadflow(db_url, "rep", "add", "rep:a")
    held = capture(db_url, "--email", "one@example.com")
    leadflow(db_url, "rep", "add", "rep:b", "--capacity", "0")

    leadflow(db_url, "rep", "leave", "rep:a", "--reason", "left the company")

    pool = orjson.loads(leadflow(db_url, "pool", "--json"))
    assert pool["count"] == 1
    assert pool["leads"][0]["lead_id"] == held
    reps = orjson.loads(leadflow(db_url, "rep", "list", "--json"))["reps"]
    assert [r["rep"] for r in reps] == ["rep:b"]


def test_redistribute_keeps_the_rep_on_the_roster(db_url: str) -> None:
    leadflow(db_url, "rep", "add", "rep:a")
    capture(db_url, "--email", "one@example.com")
    leadflow(db_url, "rep", "add", "rep:b")

    leadflow(db_url, "redistribute", "rep:a", "--reason", "long leave")

    reps = {
        r["rep"]: r["open_leads"]
        for r in orjson.loads(leadflow(db_url, "rep", "list", "--json"))["reps"]
    }
    assert reps == {"rep:a": 0, "rep:b": 1}


def test_a_team_gets_managers(db_url: str) -> None:
    out = orjson.loads(
        leadflow(db_url, "team", "define", "east", "--manager", "user:boss", "--json")
    )

    assert [e["type"] for e in out["events"]] == ["TeamDefined"]


def test_merge_and_unmerge_from_the_command_line(db_url: str) -> None:
    survivor = capture(db_url, "--email", "ada@example.com")
    duplicate = capture(db_url, "--email", "ada.li@work.example")
    leadflow(db_url, "merge", duplicate, survivor)

    out = orjson.loads(leadflow(db_url, "unmerge", duplicate, "--reason", "two people", "--json"))

    assert out["lead_id"] == duplicate
    assert [e["type"] for e in out["events"]][:2] == ["LeadUnmerged", "DuplicateUnmerged"]
    refused = runner.invoke(cli, ["unmerge", duplicate, "--reason", "again", "--db", db_url])
    assert refused.exit_code == 2


def test_a_capture_of_a_known_person_prints_the_existing_lead(db_url: str) -> None:
    first = capture(db_url, "--email", "ada@example.com")

    assert capture(db_url, "--email", "ADA@example.com") == first


def test_the_roster_behind_an_assignment_is_listed_by_its_version(db_url: str) -> None:
    leadflow(db_url, "rep", "add", "rep:a")
    lead = capture(db_url, "--email", "one@example.com")
    leadflow(db_url, "rep", "add", "rep:b")
    assigned = next(
        e
        for e in map(
            orjson.loads, leadflow(db_url, "events", "--json", "--lead", lead).splitlines()
        )
        if e["type"] == "LeadAssigned"
    )

    then = orjson.loads(
        leadflow(
            db_url, "rep", "list", "--json", "--version", str(assigned["data"]["roster_version"])
        )
    )

    assert [r["rep"] for r in then["reps"]] == ["rep:a"]
