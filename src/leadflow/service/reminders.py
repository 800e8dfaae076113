"""What a rep must act on (``leadflow reminders --rep REP``): the deadlines a sweep
reminded them of (``FollowUpDue``) that are still ahead, and the duplicate touches on
their leads (``TouchRecorded`` naming them in ``notify``) since a given time.

Both come from the log: a reminder is still due while the lead is as it was when the
reminder was recorded (:func:`leadflow.domain.timers.upcoming`); acting on the lead (a
follow-up, leaving the stage, answering the hand-off) makes it disappear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from leadflow.domain.timers import upcoming
from leadflow.service.store import LeadStore

__all__ = ["Reminders", "reminders_for"]


@dataclass(frozen=True)
class Reminders:
    rep: str
    due: list[dict[str, Any]]
    touches: list[dict[str, Any]]

    def to_json_dict(self) -> dict[str, Any]:
        """The documented shape of ``leadflow reminders --json`` and ``GET /v1/reminders``."""
        return {"rep": self.rep, "due": self.due, "touches": self.touches}


def reminders_for(store: LeadStore, rep: str, now: datetime, since: datetime) -> Reminders:
    reminded: dict[UUID, datetime] = {}
    touches: list[dict[str, Any]] = []
    for record in store.read_events(types=["FollowUpDue", "TouchRecorded"]):
        if record.type == "FollowUpDue" and record.data.get("rep") == rep:
            reminded[record.lead_id] = record.occurred_at
        elif (
            record.type == "TouchRecorded"
            and record.data.get("notify") == rep
            and record.occurred_at >= since
        ):
            touches.append(
                {
                    "lead_id": str(record.lead_id),
                    "position": record.position,
                    "touched_at": record.occurred_at.isoformat(),
                    "source": record.data.get("source"),
                    "campaign": record.data.get("campaign"),
                    "matched_on": record.data.get("matched_on", []),
                }
            )
    pipeline = store.pipeline
    due = []
    for lead_id, reminded_at in reminded.items():
        lead = store.find_lead(lead_id)
        if lead is None:
            continue
        for pending in upcoming(lead, pipeline, now):
            if pending.rep == rep:
                due.append(
                    {
                        "lead_id": str(lead_id),
                        "deadline": pending.deadline.value,
                        "deadline_at": pending.deadline_at.isoformat(),
                        "reminded_at": reminded_at.isoformat(),
                    }
                )
    due.sort(key=lambda row: (row["deadline_at"], row["lead_id"]))
    return Reminders(rep, due, touches)
