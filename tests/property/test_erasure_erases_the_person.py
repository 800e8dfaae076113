"""Erasure erases the whole person, through any sequence of capture, merge, unmerge, erase,
re-capture and profile change (issue 11), on the one-person machine of issue 14:

- a lead merged (directly or through another duplicate) into an erased lead is erased too;
- every erased lead's data key is destroyed, and none of its events reads a contact value;
- no contact key leads to an erased lead;
- and, from the machine it extends, no two live leads share a contact, and a refused
  command writes nothing (an unmerge of an erased person, an erasure of a lead merged away).
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from hypothesis import HealthCheck, settings
from hypothesis.stateful import invariant, rule
from test_one_person_one_lead import EMAILS, PHONES, OnePersonOneLead

from leadflow.adapters.store import open_store
from leadflow.domain.lead import Lead


class ErasureErasesThePerson(OnePersonOneLead):
    def __init__(self) -> None:
        super().__init__()
        self.app.close()  # the same store, opened as users open it: with its keystore
        url = f"sqlite:///{Path(self.dir.name) / 'p.db'}"
        self.app = open_store(url, clock=self.clock, actor="user:machine")

    def root(self, lead: Lead) -> Lead:
        """The lead that survived every merge ``lead`` went into."""
        seen = {lead.id}
        while lead.merged_into is not None and lead.merged_into not in seen:
            seen.add(lead.merged_into)
            lead = self.app.get_lead(lead.merged_into)
        return lead

    @rule(duplicate=OnePersonOneLead.leads, survivor=OnePersonOneLead.leads)
    def merge_then_erase(self, duplicate: UUID, survivor: UUID) -> None:
        """The sequence that matters most, often: a merge, then the erasure of the survivor."""
        self.merge(duplicate, survivor)
        self.erase(survivor)

    @invariant()
    def a_lead_merged_into_an_erased_lead_is_erased(self) -> None:
        for lead_id in self.ids:
            lead = self.app.get_lead(lead_id)
            survivor = self.root(lead)
            assert lead.erased or not survivor.erased, (
                f"{lead_id} was merged into erased {survivor.id} and keeps its data"
            )

    @invariant()
    def an_erased_lead_keeps_no_key_and_reads_no_contact(self) -> None:
        keys = self.app.keys
        assert keys is not None
        for lead_id in self.ids:
            if not self.app.get_lead(lead_id).erased:
                continue
            assert keys.destroyed(lead_id), f"{lead_id} was erased and its data key is kept"
            events = repr([r.data for r in self.app.read_events(lead_id=lead_id)])
            for value in (*EMAILS, *PHONES):
                assert value not in events, f"{value} still reads in erased lead {lead_id}"

    @invariant()
    def no_contact_key_leads_to_an_erased_lead(self) -> None:
        erased: set[UUID] = {i for i in self.ids if self.app.get_lead(i).erased}
        for kind, values in (("email", EMAILS), ("phone", PHONES)):
            for value in values:
                key = self.app.key(self.app.contact_key_id(kind, value))
                if key is not None:
                    assert key.lead_id not in erased, f"{kind} {value} leads to erased lead"


ErasureErasesThePerson.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestErasureErasesThePerson = ErasureErasesThePerson.TestCase
