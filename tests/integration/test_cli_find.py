"""Finding and editing leads: ``leadflow leads``, id prefixes, ``leadflow update``."""

from __future__ import annotations

from uuid import UUID

from leadflow.adapters.store import open_store

from support.cli import as_json, capture, invoke, leadflow


def test_leads_email_finds_a_lead_captured_with_another_spelling(db_url: str) -> None:
    ann = capture(db_url, "--email", "Ann.Lee@Example.COM", "--name", "Ann")
    capture(db_url, "--email", "bob@example.com")

    found = as_json("leads", "--email", "  ann.lee@example.com ", "--db", db_url)

    assert found["count"] == 1
    assert [lead["lead_id"] for lead in found["leads"]] == [ann]
    assert found["leads"][0] == as_json("show", ann, "--db", db_url)


def test_leads_phone_and_wechat_are_normalised_like_dedupe(db_url: str) -> None:
    mei = capture(db_url, "--phone", "+86 138 0013 8000", "--wechat", "Mei_Wang88")
    capture(db_url, "--phone", "13900139000")

    assert as_json("leads", "--phone", "13800138000", "--db", db_url)["count"] == 1
    by_wechat = as_json("leads", "--wechat", "mei_wang88", "--db", db_url)
    assert [lead["lead_id"] for lead in by_wechat["leads"]] == [mei]
    none = as_json("leads", "--phone", "13700137000", "--db", db_url)
    assert none == {"count": 0, "leads": []}
    result = invoke("leads", "--email", "not-an-email", "--db", db_url, expect=2)
    assert "email" in result.stderr


def test_leads_filters_sort_and_page(db_url: str) -> None:
    ids = [capture(db_url, "--email", f"p{i}@example.com", "--source", "web") for i in range(5)]
    other = capture(db_url, "--email", "q@example.com", "--source", "event")
    for i, lead in enumerate(ids):
        leadflow(db_url, "score", lead, str(10 * i), "--reason", "test")
    leadflow(db_url, "promote", ids[4], "mql")

    web = as_json("leads", "--source", "web", "--sort", "-score", "--db", db_url)
    assert web["count"] == 5
    assert [lead["lead_id"] for lead in web["leads"]] == list(reversed(ids))
    page = as_json(
        "leads",
        "--source",
        "web",
        "--sort",
        "-score",
        "--limit",
        "2",
        "--offset",
        "2",
        "--db",
        db_url,
    )
    assert page["count"] == 5
    assert [lead["lead_id"] for lead in page["leads"]] == [ids[2], ids[1]]
    ranged = as_json("leads", "--score-min", "15", "--score-max", "35", "--db", db_url)
    assert {lead["lead_id"] for lead in ranged["leads"]} == {ids[2], ids[3]}
    assert [
        lead["lead_id"] for lead in as_json("leads", "--stage", "mql", "--db", db_url)["leads"]
    ] == [ids[4]]
    unowned = as_json("leads", "--owner", "none", "--source", "event", "--db", db_url)
    assert [lead["lead_id"] for lead in unowned["leads"]] == [other]
    invoke("leads", "--stage", "nowhere", "--db", db_url, expect=2)
    invoke("leads", "--sort", "name", "--db", db_url, expect=2)
    invoke("leads", "--limit", "0", "--db", db_url, expect=2)


def test_leads_filters_by_status_campaign_and_capture_window(db_url: str) -> None:
    march = capture(
        db_url, "--email", "m@example.com", "--campaign", "spring", "--at", "2026-03-10"
    )
    april = capture(
        db_url, "--email", "a@example.com", "--campaign", "spring", "--at", "2026-04-02"
    )
    capture(db_url, "--email", "o@example.com", "--campaign", "autumn", "--at", "2026-04-03")
    leadflow(db_url, "status", april, "contacted")

    def found(*options: str) -> list[str]:
        answer = as_json("leads", *options, "--sort", "captured", "--db", db_url)
        assert answer["count"] == len(answer["leads"])
        return [lead["lead_id"] for lead in answer["leads"]]

    assert found("--campaign", "spring") == [march, april]
    assert found("--status", "contacted") == [april]
    assert found("--captured-from", "2026-03-01", "--captured-to", "2026-03-31") == [march]
    assert found("--captured-from", "2026-04-02", "--campaign", "spring") == [april]
    assert found("--captured-to", "2026-04-02") == [march, april]  # the whole last day
    invoke("leads", "--status", "nowhere", "--db", db_url, expect=2)
    invoke("leads", "--captured-from", "April", "--db", db_url, expect=2)


def test_every_command_taking_a_lead_accepts_a_unique_prefix_of_8_or_more(db_url: str) -> None:
    lead = capture(db_url, "--email", "a@example.com")

    assert as_json("show", lead[:8], "--db", db_url)["lead_id"] == lead
    assert as_json("show", lead[:13].upper(), "--db", db_url)["lead_id"] == lead
    leadflow(db_url, "promote", lead[:8], "mql")
    assert as_json("history", lead[:8], "--db", db_url)["lead_id"] == lead
    assert invoke("show", lead[:7], "--db", db_url, expect=2).stderr
    unknown = "ffffffff" if not lead.startswith("ffffffff") else "00000000"
    invoke("show", unknown, "--db", db_url, expect=4)


def test_an_ambiguous_prefix_exits_2_listing_the_candidates(db_url: str) -> None:
    app = open_store(db_url)
    first = UUID("22047efe-0000-4000-8000-000000000001")
    second = UUID("22047efe-0000-4000-8000-000000000002")
    app.capture(email="one@example.com", lead_id=first)
    app.capture(email="two@example.com", lead_id=second)
    app.close()

    result = invoke("show", "22047efe", "--db", db_url, expect=2)

    assert "ambiguous" in result.stderr
    assert str(first) in result.stderr.replace("\n", "")
    assert str(second) in result.stderr.replace("\n", "")
    longer = as_json("show", "22047efe-0000-4000-8000-000000000002", "--db", db_url)
    assert longer["lead_id"] == str(second)


def test_update_changes_the_profile_through_the_dedupe_checks(db_url: str) -> None:
    ann = capture(db_url, "--email", "ann@example.com")
    bob = capture(db_url, "--email", "bob@example.com")

    leadflow(
        db_url,
        "update",
        ann[:8],
        "--name",
        "Ann Lee",
        "--company",
        "Acme",
        "--email",
        "ANN.LEE@example.com",
        "--attr",
        "industry=retail",
    )

    shown = as_json("show", ann, "--db", db_url)
    assert (shown["name"], shown["company"], shown["email"]) == (
        "Ann Lee",
        "Acme",
        "ann.lee@example.com",
    )
    assert shown["attributes"]["industry"] == "retail"
    found = as_json("leads", "--email", "Ann.Lee@Example.com", "--db", db_url)
    assert [lead["lead_id"] for lead in found["leads"]] == [ann]
    taken = invoke("update", ann, "--email", "Bob@example.com", "--db", db_url, expect=2)
    assert "email" in taken.stderr
    assert bob in taken.stderr.replace("\n", "")
    assert as_json("show", ann, "--db", db_url)["email"] == "ann.lee@example.com"
    invoke("update", ann, "--db", db_url, expect=2)  # nothing to change
    invoke("update", ann, "--phone", "12", "--db", db_url, expect=2)
