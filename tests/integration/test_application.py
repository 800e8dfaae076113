"""The application service over a real store (SQLite file and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from leadflow.adapters.store import open_store, persistence_env
from leadflow.domain.lead import Lead
from leadflow.domain.roster import ROSTER_ID
from leadflow.errors import ConcurrencyConflict, IllegalTransition, InvalidInput, LeadNotFound
from leadflow.service.application import CommandResult, Leadflow

from support.clock import FakeClock


def test_capture_normalises_contact_details(app: Leadflow) -> None:
    result = app.capture(email=" Ann@Example.COM ", phone="138 0013 8000", wechat="Ann_Lee88")

    lead = app.get_lead(result.lead_id)
    assert (lead.email, lead.phone, lead.wechat) == (
        "ann@example.com",
        "+8613800138000",
        "ann_lee88",
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"wechat": "1abc"}, "wechat"),
        ({"name": "Ann"}, "contact"),
        ({"email": "a@b.co", "attributes": {"bad key": "x"}}, "attributes.bad key"),
        ({"email": "a@b.co", "stage": "customer"}, "stage"),
    ],
)
def test_invalid_capture_names_the_field_and_writes_nothing(
    app: Leadflow, kwargs: dict[str, object], field: str
) -> None:
    assert app.pipeline  # the first use activates the default pipeline: a write of its own
    before = app.max_position()

    with pytest.raises(InvalidInput) as caught:
        app.capture(**kwargs)  # type: ignore[arg-type]

    assert caught.value.field == field
    assert app.max_position() == before


def test_an_illegal_transition_writes_nothing(app: Leadflow) -> None:
    lead_id = app.capture(email="a@b.co").lead_id
    before = app.max_position()

    with pytest.raises(IllegalTransition):
        app.change_stage(lead_id, "opportunity")

    assert app.max_position() == before
    assert app.get_lead(lead_id).stage == "lead"


def test_a_command_refused_by_automation_writes_none_of_its_events(app: Leadflow) -> None:
    lead_id = app.capture(email="a@b.co").lead_id
    app.change_stage(lead_id, "mql")
    app.change_status(lead_id, "qualified")
    app.convert(lead_id, "customer", "acct-1")
    before = app.max_position()

    with pytest.raises(IllegalTransition):
        app.disqualify(lead_id, "bad fit")  # LeadDisqualified is fine; its automatic move is not

    assert app.max_position() == before


def test_an_unknown_lead_is_not_found(app: Leadflow) -> None:
    with pytest.raises(LeadNotFound):
        app.change_stage(UUID(int=1), "mql")


def test_a_command_returns_the_positions_of_everything_it_recorded(app: Leadflow) -> None:
    lead_id = app.capture(email="a@b.co").lead_id
    app.change_stage(lead_id, "mql")

    result = app.change_status(lead_id, "qualified")

    assert [e.type for e in result.events] == ["StatusChanged", "StageChanged"]
    assert result.events[1].actor == "system:qualified-mql-to-sql"
    assert result.events[0].position < result.events[1].position == app.max_position()
    assert result.version == 4


def interfering_after_read(
    app: Leadflow, monkeypatch: pytest.MonkeyPatch, interference: Callable[[], object]
) -> None:
    """Let another writer act once, between ``app``'s next read of a lead and its write."""
    pending = [interference]
    read = app.find_lead

    def read_then_interfere(lead_id: UUID) -> Lead | None:
        found = read(lead_id)
        if pending:
            pending.pop()()
        return found

    monkeypatch.setattr(app, "find_lead", read_then_interfere)


def test_two_writers_on_one_lead_conflict_instead_of_losing_an_update(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = open_store(db_url, clock=FakeClock(), actor="user:first")
    second = open_store(db_url, clock=FakeClock(), actor="user:second")
    lead_id = first.capture(email="a@b.co").lead_id
    interfering_after_read(first, monkeypatch, lambda: second.record_activity(lead_id, "call"))

    with pytest.raises(ConcurrencyConflict) as caught:
        first.change_stage(lead_id, "mql")

    assert caught.value.lead_id == lead_id
    monkeypatch.undo()
    lead = first.get_lead(lead_id)
    assert (lead.stage, lead.version, lead.last_follow_up_at is not None) == ("lead", 2, True)


def test_retrying_reruns_the_command_on_a_fresh_read(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = open_store(db_url, clock=FakeClock(), actor="user:first")
    second = open_store(db_url, clock=FakeClock(), actor="user:second")
    lead_id = first.capture(email="a@b.co").lead_id
    interfering_after_read(first, monkeypatch, lambda: second.record_activity(lead_id, "call"))
    attempts: list[int] = []

    def change() -> CommandResult:
        attempts.append(1)
        return first.change_stage(lead_id, "mql")

    result = first.retrying(change)

    assert len(attempts) == 2  # the first conflicted, the second read afresh
    assert result.version == 3
    assert [r.type for r in first.read_events(lead_id=lead_id)] == [
        "LeadCaptured",
        "ActivityRecorded",
        "StageChanged",
    ]


def test_the_log_can_be_filtered_by_lead_type_and_business_time(
    app: Leadflow, clock: FakeClock
) -> None:
    ann = app.capture(email="ann@example.com").lead_id
    clock.advance(days=1)
    bob = app.capture(email="bob@example.com").lead_id
    clock.advance(days=1)
    app.change_stage(ann, "mql")
    app.change_stage(bob, "mql", at=clock.now - timedelta(hours=1))

    assert [r.type for r in app.read_events(lead_id=ann)] == ["LeadCaptured", "StageChanged"]
    assert {r.lead_id for r in app.read_events(types=["StageChanged"])} == {ann, bob}
    since = clock.now - timedelta(hours=2)
    assert [(r.lead_id, r.type) for r in app.read_events(since=since)] == [
        (ann, "StageChanged"),
        (bob, "StageChanged"),
    ]
    assert [r.lead_id for r in app.read_events(until=since)] == [ann, bob]


def test_an_unknown_event_type_filter_is_invalid(app: Leadflow) -> None:
    with pytest.raises(InvalidInput) as caught:
        list(app.read_events(types=["LeadTeleported"]))

    assert caught.value.field == "type"


def test_a_stored_version_1_activity_is_read_as_version_2(app: Leadflow) -> None:
    lead_id = app.capture(email="a@b.co").lead_id
    recorded_at = app.clock().isoformat()
    legacy_state = orjson.dumps(
        {
            "occurred_at": recorded_at,
            "recorded_at": recorded_at,
            "actor": "user:legacy",
            "data": {"kind": "meeting", "detail": "on site"},
        }
    )
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=lead_id,
                originator_version=2,
                topic="leadflow.lead:ActivityRecorded",
                state=legacy_state,
            )
        ]
    )

    [record] = app.read_events(types=["ActivityRecorded"])
    lead = app.get_lead(lead_id)

    assert record.version == 2
    assert record.data == {
        "activity": "meeting",
        "category": "follow_up",
        "detail": "on site",
        "ref": None,
    }
    assert lead.last_follow_up_at is not None
    assert lead.version == 2


def test_each_pipeline_version_is_recorded_once(app: Leadflow) -> None:
    from leadflow.domain.pipeline import parse_pipeline
    from leadflow.service.pipeline_files import default_pipeline

    default = default_pipeline()
    document = orjson.loads(default.canonical_json())
    document["stages"]["mql"]["sla"] = "P5D"
    stricter = parse_pipeline(document)

    assert app.pipeline.version == default.version
    assert app.activate_pipeline(stricter) is True
    assert app.activate_pipeline(stricter) is False
    lead_id = app.capture(email="a@b.co").lead_id

    assert app.pipeline_log().history == [default.version, stricter.version]
    assert app.get_lead(lead_id).pipeline_version == stricter.version
    assert app.pipeline_of_version(default.version) == default


def test_a_stale_cached_lead_conflicts_once_then_reads_fresh(db_url: str) -> None:
    second = open_store(db_url, clock=FakeClock(), actor="user:second")
    trusted = persistence_env(db_url) | {"AGGREGATE_CACHE_FASTFORWARD": "n"}
    first = Leadflow(trusted, clock=FakeClock(), actor="user:first")
    lead_id = first.capture(email="a@b.co").lead_id
    first.get_lead(lead_id)  # cached in the first process
    second.record_activity(lead_id, "call")

    with pytest.raises(ConcurrencyConflict):
        first.change_stage(lead_id, "mql")
    first.change_stage(lead_id, "mql")

    assert [r.type for r in second.read_events(lead_id=lead_id)] == [
        "LeadCaptured",
        "ActivityRecorded",
        "StageChanged",
    ]


def test_a_single_writer_trusts_its_roster_and_a_stale_one_is_read_afresh(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like its cached leads and its pipeline log, a single writer process does not read
    the roster's newer events before each command; if another writer did change it, the
    assignment conflicts, and the retry reads it afresh."""
    trusted = persistence_env(db_url) | {"AGGREGATE_CACHE_FASTFORWARD": "n"}
    first = Leadflow(trusted, clock=FakeClock(), actor="user:first")
    first.add_rep("rep:ann")
    read = first.repository.event_store.get
    roster_reads: list[UUID] = []

    def counted(originator_id: UUID, *args: Any, **kwargs: Any) -> Any:
        if originator_id == ROSTER_ID:
            roster_reads.append(originator_id)
        return read(originator_id, *args, **kwargs)

    monkeypatch.setattr(first.repository.event_store, "get", counted)
    owners = [first.capture(email=f"t{i}@example.com").lead_id for i in range(3)]
    assert roster_reads == []
    assert {first.get_lead(lead).owner for lead in owners} == {"rep:ann"}

    second = open_store(db_url, clock=FakeClock(), actor="user:second")
    second.add_rep("rep:bob")
    second.close()
    later = first.capture(email="t9@example.com").lead_id  # conflicts once, then reads afresh

    assert first.get_lead(later).owner in {"rep:ann", "rep:bob"}
    assert set(first.roster().reps) == {"rep:ann", "rep:bob"}
    first.close()


def test_one_leads_events_are_read_by_its_key_not_by_scanning_the_log(app: Leadflow) -> None:
    from leadflow.service.store import IndexedRecorder

    ann = app.capture(email="ann@example.com").lead_id
    app.capture(email="bob@example.com")
    app.record_activity(ann, "call")

    assert isinstance(app.recorder, IndexedRecorder)
    assert [(r.type, r.sequence) for r in app.read_events(lead_id=ann)] == [
        ("LeadCaptured", 1),
        ("ActivityRecorded", 2),
    ]
    first = next(iter(app.read_events(lead_id=ann)))
    assert [r.type for r in app.read_events(lead_id=ann, after=first.position)] == [
        "ActivityRecorded"
    ]
