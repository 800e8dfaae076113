"""The public shape of a lead's current state: what ``leadflow show --json`` prints.

:class:`~leadflow.domain.lead.Lead` holds more than its readers should depend on (the
scoring and recycling bookkeeping); this view names, on purpose, the fields that are a
contract. Adding a field here is a documented change (docs/cli.md); the aggregate's
internals may change freely.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from leadflow.domain.lead import Lead

__all__ = ["IsoTime", "LeadView", "PendingHandOff"]

IsoTime = Annotated[
    datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json")
]
"""A time that serialises as ISO 8601 with a numeric offset (``+00:00``; pydantic's own
serialiser writes ``Z``, unlike every other time leadflow prints)."""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class PendingHandOff(_View):
    """A hand-off to sales that is waiting to be accepted or rejected."""

    from_owner: str | None
    """The owner who handed the lead off (``None``: it sat in the pool)."""
    to_owner: str
    """The sales rep who must accept or reject it."""
    handed_off_at: IsoTime
    """When it was handed off (or reassigned by an escalation)."""
    sla_due: IsoTime | None
    """When the hand-off SLA expires (``None``: no SLA)."""


class LeadView(_View):
    """A lead's current state as derived from its events."""

    lead_id: UUID
    """The lead."""
    version: int
    """How many events the lead has (the sequence number of its latest)."""
    stage: str
    """The stage it is in."""
    status: str
    """Its status within the stage."""
    owner: str | None
    """The rep who owns it (``None``: it waits in the public pool)."""
    owned_since: IsoTime | None
    """Since when the owner has it."""
    email: str | None
    """Normalised email address."""
    phone: str | None
    """Phone number in E.164."""
    wechat: str | None
    """WeChat id."""
    name: str | None
    """The person's name."""
    company: str | None
    """The person's company."""
    source: str | None
    """Where the lead came from."""
    campaign: str | None
    """The campaign that brought it."""
    attributes: dict[str, str] = Field(default_factory=dict)
    """Further profile fields by name (industry, region, …)."""
    score: float
    """The lead's score."""
    captured_at: IsoTime
    """When it was captured (business time)."""
    last_event_at: IsoTime
    """Business time of its latest event."""
    last_activity_at: IsoTime | None
    """When the latest activity (behaviour or follow-up) happened."""
    last_follow_up_at: IsoTime | None
    """When the latest follow-up (call, email, meeting, note) happened."""
    stage_entered_at: IsoTime
    """When it entered its current stage."""
    pending_handoff: PendingHandOff | None
    """The hand-off waiting on sales, if any."""
    merged_into: UUID | None
    """The lead this duplicate was merged into (it then takes no commands)."""
    merged_leads: list[UUID] = Field(default_factory=list)
    """The duplicates merged into this lead, in merge order."""
    erased: bool
    """Whether its personal data was erased."""
    pipeline_version: str | None
    """Content hash of the pipeline its latest stage move was decided under."""
    touches: int
    """How often the same person came in again (``TouchRecorded``)."""
    last_touch_at: IsoTime | None
    """When the latest touch happened."""
    bant: dict[str, bool] = Field(default_factory=dict)
    """The BANT answers recorded so far (budget, authority, need, timeline)."""

    @classmethod
    def of(cls, lead: Lead) -> LeadView:
        """The view of ``lead``, which must have been captured (have events)."""
        if lead.captured_at is None or lead.last_occurred_at is None:
            raise ValueError(f"lead {lead.id} has no events, so no state to show")
        handoff = lead.handoff
        return cls(
            lead_id=lead.id,
            version=lead.version,
            stage=lead.stage,
            status=lead.status,
            owner=lead.owner,
            owned_since=lead.owned_since,
            email=lead.email,
            phone=lead.phone,
            wechat=lead.wechat,
            name=lead.name,
            company=lead.company,
            source=lead.source,
            campaign=lead.campaign,
            attributes=dict(lead.attributes),
            score=lead.score,
            captured_at=lead.captured_at,
            last_event_at=lead.last_occurred_at,
            last_activity_at=lead.last_activity_at,
            last_follow_up_at=lead.last_follow_up_at,
            stage_entered_at=lead.stage_entered_at or lead.captured_at,
            pending_handoff=None
            if handoff is None
            else PendingHandOff(
                from_owner=handoff.from_owner,
                to_owner=handoff.to_owner,
                handed_off_at=handoff.at,
                sla_due=handoff.sla_due,
            ),
            merged_into=lead.merged_into,
            merged_leads=list(lead.merged_leads),
            erased=lead.erased,
            pipeline_version=lead.pipeline_version,
            touches=lead.touches,
            last_touch_at=lead.last_touch_at,
            bant=dict(lead.bant),
        )
