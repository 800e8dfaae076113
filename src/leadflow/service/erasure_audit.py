"""Erasures left unfinished: what ``leadflow doctor`` reports so that an operator erases again.

An erasure is finished when every lead of the person (the erased lead and every lead merged
into it, ``domain.lead.merged_into_person``) records ``PersonalDataErased`` and has its data
key destroyed. It is left unfinished when a process stopped between the append and the key
destruction, or when an older version erased the survivor alone. Erasing the person's lead
again finishes it (``handlers.erase_personal_data``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from leadflow.domain.lead import merged_into_person, survivor_of
from leadflow.service.store import LeadStore

__all__ = ["UnfinishedErasure", "unfinished_erasures"]


@dataclass(frozen=True)
class UnfinishedErasure:
    lead_id: UUID
    """The person's lead: the one to erase again."""
    not_erased: tuple[UUID, ...]
    """Leads of the person with their personal data still readable."""
    keys_left: tuple[UUID, ...]
    """Erased leads whose data key is still in the keystore."""

    def to_json(self) -> dict[str, object]:
        return {
            "lead_id": str(self.lead_id),
            "not_erased": [str(one) for one in self.not_erased],
            "keys_left": [str(one) for one in self.keys_left],
        }


def unfinished_erasures(store: LeadStore) -> Iterator[UnfinishedErasure]:
    """Each person with a recorded erasure that is not finished, once, in log order."""
    reported: set[UUID] = set()
    for record in store.read_events(types=["PersonalDataErased"], redact=True):
        lead = store.find_lead(record.lead_id)
        if lead is None:
            continue
        root = survivor_of(lead, store.find_lead)
        if root.id in reported:
            continue
        reported.add(root.id)
        person = [root, *merged_into_person(root, store.find_lead)]
        keys = store.keys
        left = UnfinishedErasure(
            lead_id=root.id,
            not_erased=tuple(one.id for one in person if not one.erased),
            keys_left=tuple(
                one.id
                for one in person
                if one.erased and keys is not None and not keys.destroyed(one.id)
            ),
        )
        if left.not_erased or left.keys_left:
            yield left
