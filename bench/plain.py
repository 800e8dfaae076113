"""The baseline: the plain eventsourcing library doing what leadflow's commands do.

A minimal lead aggregate written the library's way (``@event`` methods), with no pipeline,
validation or automation, on the library's stock SQLite recorder.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class PlainLead(Aggregate):
    @event("Captured")
    def __init__(self, email: str, source: str | None) -> None:
        self.email = email
        self.source = source
        self.stage = "lead"
        self.activities: list[str] = []

    @event("ActivityRecorded")
    def record_activity(self, activity: str) -> None:
        self.activities.append(activity)

    @event("StageChanged")
    def change_stage(self, stage: str) -> None:
        self.stage = stage


class PlainApp(Application[UUID]):
    name = "plain"

    def capture(self, email: str, source: str | None = None) -> UUID:
        lead = PlainLead(email=email, source=source)
        self.save(lead)
        return lead.id

    def record_activity(self, lead_id: UUID, activity: str) -> None:
        lead: PlainLead = self.repository.get(lead_id)
        lead.record_activity(activity)
        self.save(lead)

    def change_stage(self, lead_id: UUID, stage: str) -> None:
        lead: PlainLead = self.repository.get(lead_id)
        lead.change_stage(stage)
        self.save(lead)


def open_plain(db_path: str, **env: Any) -> PlainApp:
    return PlainApp({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": db_path, **env})
