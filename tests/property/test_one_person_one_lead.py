"""One person stays one lead through any sequence of capture, merge, unmerge, erase and
re-capture (issue 14): no two live leads (neither merged away nor erased) ever share a
normalised contact, against a real store.

Once: merge B into A, erase A, capture B's email (a new lead D), unmerge B, and B and D
were both open with the same email, later captures of that person going to D.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from uuid import UUID

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from leadflow.adapters.store import persistence_env
from leadflow.errors import LeadflowError
from leadflow.service.application import Leadflow

from support.clock import FakeClock

EMAILS = ["ann@example.com", "bob@example.com", "cy@example.com"]
PHONES = ["+8613800138000", "+8613900139000"]


class OnePersonOneLead(RuleBasedStateMachine):
    leads = Bundle("leads")

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.clock = FakeClock()
        env = persistence_env(f"sqlite:///{Path(self.dir.name) / 'p.db'}")
        self.app = Leadflow(env, clock=self.clock, actor="user:machine")
        self.ids: set[UUID] = set()

    def teardown(self) -> None:
        self.app.close()
        self.dir.cleanup()

    def attempt(self, command: object) -> None:
        before = self.app.max_position()
        try:
            command()  # type: ignore[operator]
        except LeadflowError:
            assert self.app.max_position() == before, "a refused command wrote events"
        self.clock.advance(minutes=5)

    @rule(
        target=leads, email=st.sampled_from([None, *EMAILS]), phone=st.sampled_from([None, *PHONES])
    )
    def capture(self, email: str | None, phone: str | None) -> UUID:
        if email is None and phone is None:
            email = EMAILS[0]
        lead_id = self.app.capture(email=email, phone=phone).lead_id
        self.ids.add(lead_id)
        self.clock.advance(minutes=5)
        return lead_id

    @rule(duplicate=leads, survivor=leads)
    def merge(self, duplicate: UUID, survivor: UUID) -> None:
        self.attempt(lambda: self.app.merge(duplicate, survivor))

    @rule(lead=leads)
    def unmerge(self, lead: UUID) -> None:
        self.attempt(lambda: self.app.unmerge(lead, reason="not the same person"))

    @rule(lead=leads)
    def erase(self, lead: UUID) -> None:
        self.attempt(lambda: self.app.erase_personal_data(lead, "asked to be forgotten"))

    @rule(lead=leads, email=st.sampled_from(EMAILS))
    def add_email(self, lead: UUID, email: str) -> None:
        self.attempt(lambda: self.app.update_profile(lead, {"email": email}))

    @invariant()
    def no_two_live_leads_share_a_contact(self) -> None:
        holders: dict[tuple[str, str], UUID] = {}
        for lead_id in self.ids:
            lead = self.app.get_lead(lead_id)
            if lead.erased or lead.merged_into is not None:
                continue
            for kind in ("email", "phone", "wechat"):
                value = getattr(lead, kind)
                if value is None:
                    continue
                other = holders.setdefault((kind, value), lead_id)
                assert other == lead_id, f"{kind} {value} is held by {other} and {lead_id}"


OnePersonOneLead.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOnePersonOneLead = OnePersonOneLead.TestCase
