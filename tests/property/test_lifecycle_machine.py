"""Random command sequences against a real store keep the log's invariants.

* the state rebuilt from the log equals the live state after every command;
* every stage change follows an allowed transition of the pipeline version in force;
* ``occurred_at`` never decreases within a lead; log positions strictly increase;
* a refused command writes nothing.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from leadflow.adapters.store import persistence_env
from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import parse_pipeline
from leadflow.errors import LeadflowError
from leadflow.service.application import Leadflow
from leadflow.service.pipeline_files import default_pipeline

from support.clock import FakeClock

DEFAULT = default_pipeline()
STAGES = list(DEFAULT.stages)
STATUSES = list(DEFAULT.statuses)
REPS = ["rep:a", "rep:b", "rep:c"]


def variant_pipeline() -> Any:
    """A stricter pipeline: no direct mql -> sql, and leads may skip to sal."""
    document = orjson.loads(DEFAULT.canonical_json())
    del document["stages"]["mql"]["transitions"]["sql"]
    document["stages"]["lead"]["transitions"]["sal"] = "promotion"
    document["automation"] = [
        r for r in document["automation"] if r["id"] != "qualified-mql-to-sql"
    ]
    return parse_pipeline(document)


VARIANT = variant_pipeline()


class LeadLifecycle(RuleBasedStateMachine):
    leads = Bundle("leads")

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        env = persistence_env(f"sqlite:///{Path(self.dir.name) / 'm.db'}")
        self.clock = FakeClock()
        live_env = {**env, "AGGREGATE_CACHE_MAXSIZE": "10000", "AGGREGATE_CACHE_FASTFORWARD": "n"}
        self.app = Leadflow(live_env, clock=self.clock, actor="user:machine")
        self.replayer = Leadflow(env, clock=self.clock)
        self.touched: set[UUID] = set()

    def teardown(self) -> None:
        self.app.close()
        self.replayer.close()
        self.dir.cleanup()

    def attempt(self, command: Any) -> None:
        before = self.app.max_position()
        try:
            result = command()
        except LeadflowError:
            assert self.app.max_position() == before, "a refused command wrote events"
        else:
            self.touched.add(result.lead_id)

    @rule(
        target=leads, contact=st.sampled_from(["email", "phone", "wechat"]), n=st.integers(0, 10**6)
    )
    def capture(self, contact: str, n: int) -> UUID:
        value = {"email": f"p{n}@example.com", "phone": f"+86138{n:08d}", "wechat": f"wx_{n:06d}"}[
            contact
        ]
        stage = "subscriber" if n % 3 == 0 else None
        lead_id = self.app.capture(**{contact: value}, stage=stage).lead_id
        self.touched.add(lead_id)
        return lead_id

    @rule(lead=leads, stage=st.sampled_from(STAGES))
    def change_stage(self, lead: UUID, stage: str) -> None:
        self.attempt(lambda: self.app.change_stage(lead, stage, reason="test"))

    @rule(lead=leads, status=st.sampled_from(STATUSES))
    def change_status(self, lead: UUID, status: str) -> None:
        self.attempt(lambda: self.app.change_status(lead, status))

    @rule(
        lead=leads, rep=st.sampled_from(REPS), how=st.sampled_from(["assign", "claim", "release"])
    )
    def ownership(self, lead: UUID, rep: str, how: str) -> None:
        commands = {
            "assign": lambda: self.app.assign(lead, rep),
            "claim": lambda: self.app.claim(lead, rep),
            "release": lambda: self.app.release(lead, "reshuffle"),
        }
        self.attempt(commands[how])

    @rule(
        lead=leads, rep=st.sampled_from(REPS), outcome=st.sampled_from(["accept", "reject", "none"])
    )
    def hand_off(self, lead: UUID, rep: str, outcome: str) -> None:
        self.attempt(lambda: self.app.hand_off(lead, rep))
        if outcome == "accept":
            self.attempt(lambda: self.app.accept_handoff(lead, actor=rep))
        elif outcome == "reject":
            self.attempt(lambda: self.app.reject_handoff(lead, "not now", actor=rep))

    @rule(
        lead=leads,
        what=st.sampled_from(["opportunity", "customer", "win", "lose", "churn", "disqualify"]),
    )
    def outcome(self, lead: UUID, what: str) -> None:
        commands = {
            "opportunity": lambda: self.app.convert(lead, "opportunity", "acct"),
            "customer": lambda: self.app.convert(lead, "customer", "acct"),
            "win": lambda: self.app.win(lead),
            "lose": lambda: self.app.lose(lead, "price"),
            "churn": lambda: self.app.churn(lead, "left"),
            "disqualify": lambda: self.app.disqualify(lead, "spam"),
        }
        self.attempt(commands[what])

    @rule(
        lead=leads,
        kind=st.sampled_from(["page_visit", "call", "meeting", "unsubscribe"]),
        back=st.integers(0, 120),
    )
    def activity(self, lead: UUID, kind: str, back: int) -> None:
        at = self.clock.now - timedelta(minutes=back)
        self.attempt(lambda: self.app.record_activity(lead, kind, at=at))

    @rule(lead=leads, other=leads)
    def merge(self, lead: UUID, other: UUID) -> None:
        self.attempt(lambda: self.app.merge(lead, other))

    @rule(minutes=st.integers(1, 60 * 24 * 20))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    @rule(which=st.sampled_from(["default", "variant"]))
    def activate_pipeline(self, which: str) -> None:
        self.app.activate_pipeline(DEFAULT if which == "default" else VARIANT)

    @invariant()
    def rebuilt_state_equals_live_state(self) -> None:
        for lead_id in self.touched:
            live = self.app.get_lead(lead_id)
            rebuilt = self.replayer.get_lead(lead_id)
            assert isinstance(live, Lead)
            assert rebuilt == live
        self.touched.clear()

    @invariant()
    def the_log_keeps_its_invariants(self) -> None:
        last_position = 0
        stage: dict[UUID, str] = {}
        last_occurred: dict[UUID, Any] = {}
        for record in self.replayer.read_events():
            assert record.position > last_position
            last_position = record.position
            previous = last_occurred.get(record.lead_id)
            assert previous is None or record.occurred_at >= previous
            last_occurred[record.lead_id] = record.occurred_at
            if record.type == "LeadCaptured":
                stage[record.lead_id] = record.data["stage"]
            elif record.type == "StageChanged":
                data = record.data
                in_force = self.replayer.pipeline_of_version(data["pipeline_version"])
                assert data["from_stage"] == stage[record.lead_id]
                assert data["stage"] in in_force.stages[data["from_stage"]].transitions
                assert (
                    data["kind"] == in_force.stages[data["from_stage"]].transitions[data["stage"]]
                )
                stage[record.lead_id] = data["stage"]


LeadLifecycle.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_lead_lifecycle = LeadLifecycle.TestCase
