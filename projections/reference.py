"""The funnel recomputed from the raw log: the definition the read models must match.

It reads every event, so it is slow at scale; it exists to be obviously right. The
fast read models are tested against it (and ``leadflow funnel`` must agree with it).

Definitions, for a point in business time ``as_of`` and, optionally, a point in
recording time ``as_known_at``:

* only events with ``occurred_at <= as_of`` (and ``recorded_at <= as_known_at``) count;
* a lead's stage at ``as_of`` is the stage set by the last such stage-setting event
  (its capture, or a ``StageChanged``), ordered by ``occurred_at`` then position;
* a lead is *live* unless it is a merged duplicate: its last counting ``LeadMerged`` /
  ``LeadUnmerged`` is a ``LeadMerged``. Only live leads count in any figure below (an
  unmerge brings a lead back from then on);
* ``in_stage``: live leads whose stage at ``as_of`` is this stage (summed over all stages:
  the live leads);
* ``reached``: live leads that were in this stage at any time up to ``as_of``;
* ``passed`` (stages on the main path; ``None`` elsewhere): live leads that reached this
  stage or any later stage of the main path (a lead that skipped it has passed it);
* ``conversion_to_next``: ``passed`` of the next stage on the main path divided by
  ``passed`` of this one, in [0, 1] (``None`` off the main path, for its last stage, or
  when ``passed`` is 0).

With the ``strict`` skip policy, a lead passes a stage only by going through it:
``passed`` is ``reached``, and ``conversion_to_next`` is the share of the leads that
reached this stage which entered the next one afterwards (later in their own history).

Restrictions and groups (``leadflow funnel --cohort-from/--cohort-to/--by``):

* a capture cohort keeps the leads whose capture ``occurred_at`` falls on those days
  (UTC, both ends inclusive);
* ``source``, ``campaign``, ``region`` (``attributes.region``) group leads by their
  attribution as captured; ``owner`` by the owner at the instant: the ``owner`` of the
  :class:`~leadflow.domain.lead.Lead` folded from the events that count. A missing
  value is the group ``(none)``; ``cohort`` groups by the capture month (``YYYY-MM``, UTC);
  a reporting dimension (any other name) by the folded lead's attribute of that name.

The public pool (``leadflow pool``, ``lf_leads.in_pool``): the leads folded from the
whole log for which :func:`leadflow.domain.ownership.in_pool` holds, oldest capture
first (then lead id). Who owns a lead is only ever the aggregate's answer here, and
pool membership only ever ownership's: this module restates neither.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from leadflow.domain.events import EVENT_TYPES
from leadflow.domain.lead import Lead
from leadflow.domain.ownership import in_pool
from leadflow.domain.pipeline import Pipeline
from leadflow.service.codec import EventRecord, lead_event

__all__ = [
    "NO_VALUE",
    "SKIP_POLICIES",
    "FunnelRow",
    "counted_histories",
    "funnel_by_from_events",
    "funnel_from_events",
    "leads_from_events",
    "pool_from_events",
]

NO_VALUE = "(none)"

STAGE_SETTING_TYPES = frozenset({"LeadCaptured", "StageChanged"})


SKIP_POLICIES = ("passed", "strict")


@dataclass(frozen=True)
class FunnelRow:
    stage: str
    in_stage: int
    reached: int
    passed: int | None
    """``None`` for a stage off the main path."""
    conversion_to_next: float | None


def funnel_from_events(
    records: Iterable[EventRecord],
    pipeline: Pipeline,
    as_of: datetime,
    as_known_at: datetime | None = None,
    cohort_from: date | None = None,
    cohort_to: date | None = None,
    skip_policy: str = "passed",
) -> list[FunnelRow]:
    groups = funnel_by_from_events(
        records, pipeline, as_of, as_known_at, None, cohort_from, cohort_to, skip_policy
    )
    return groups[0][1] if groups else _rows(pipeline, [], skip_policy)


def funnel_by_from_events(
    records: Iterable[EventRecord],
    pipeline: Pipeline,
    as_of: datetime,
    as_known_at: datetime | None = None,
    by: str | None = None,
    cohort_from: date | None = None,
    cohort_to: date | None = None,
    skip_policy: str = "passed",
) -> list[tuple[str, list[FunnelRow]]]:
    """The funnel per group (sorted by key); one group keyed ``""`` when ``by`` is None."""
    counted: dict[UUID, list[EventRecord]] = {}
    for record in records:
        if record.occurred_at > as_of:
            continue
        if as_known_at is not None and record.recorded_at > as_known_at:
            continue
        counted.setdefault(record.lead_id, []).append(record)
    groups: dict[str, list[list[str]]] = {}
    for events in counted.values():
        events.sort(key=lambda r: (r.occurred_at, r.position))
        captures = [r for r in events if r.type == "LeadCaptured"]
        if captures and not _in_cohort(captures[0], cohort_from, cohort_to):
            continue
        if not captures and (cohort_from or cohort_to):
            continue
        if _merged(events):
            continue
        changes = [r.data["stage"] for r in events if r.type in STAGE_SETTING_TYPES]
        if changes:
            groups.setdefault(_key(by, events, captures), []).append(changes)
    return [(key, _rows(pipeline, groups[key], skip_policy)) for key in sorted(groups)]


def counted_histories(
    records: Iterable[EventRecord],
    as_of: datetime,
    as_known_at: datetime | None = None,
    cohort_from: date | None = None,
    cohort_to: date | None = None,
) -> dict[UUID, list[EventRecord]]:
    """The events of each live lead that count at the instant, in the lead's own order.

    Leads merged into another at the instant are left out, and so are leads without a
    counting capture or, with a cohort, captured outside it."""
    counted: dict[UUID, list[EventRecord]] = {}
    for record in records:
        if record.occurred_at > as_of:
            continue
        if as_known_at is not None and record.recorded_at > as_known_at:
            continue
        counted.setdefault(record.lead_id, []).append(record)
    live = {}
    for lead_id, events in counted.items():
        events.sort(key=lambda r: (r.occurred_at, r.position))
        if events[0].type != "LeadCaptured" or _merged(events):
            continue
        if _in_cohort(events[0], cohort_from, cohort_to):
            live[lead_id] = events
    return live


def _merged(events: list[EventRecord]) -> bool:
    """The lead is a merged duplicate after these events (its own, in order)."""
    merged = False
    for record in events:
        if record.type == "LeadMerged":
            merged = True
        elif record.type == "LeadUnmerged":
            merged = False
    return merged


def _in_cohort(capture: EventRecord, start: date | None, end: date | None) -> bool:
    day = capture.occurred_at.astimezone(UTC).date()
    return (start is None or day >= start) and (end is None or day <= end)


def _key(by: str | None, events: list[EventRecord], captures: list[EventRecord]) -> str:
    if by is None:
        return ""
    if by == "owner":
        # The events that count are a prefix of the lead's history: within a lead both
        # times only grow, so (occurred_at, position) order is the lead's own order.
        lead = _fold(events)
        return (lead.owner if lead else None) or NO_VALUE
    if by == "cohort":
        if not captures:
            return NO_VALUE
        at = captures[0].occurred_at.astimezone(UTC)
        return f"{at.year:04d}-{at.month:02d}"
    if by not in ("source", "campaign", "region"):
        # A reporting dimension: the lead's attribute at the instant (a profile update
        # changes it from then on), as the folded lead holds it.
        folded = _fold(events)
        held = folded.attributes.get(by) if folded else None
        return NO_VALUE if held is None else held
    data: dict[str, Any] = captures[0].data if captures else {}
    value = (data.get("attributes") or {}).get("region") if by == "region" else data.get(by)
    return value or NO_VALUE


def _rows(pipeline: Pipeline, leads: list[list[str]], skip_policy: str) -> list[FunnelRow]:
    """``leads``: each live lead's stages, in the order it entered them."""
    in_stage = dict.fromkeys(pipeline.stages, 0)
    reached = dict.fromkeys(pipeline.stages, 0)
    passed = dict.fromkeys(pipeline.main_path, 0)
    moved_on = dict.fromkeys(pipeline.main_path, 0)
    path = pipeline.main_path
    for changes in leads:
        if changes[-1] in in_stage:
            in_stage[changes[-1]] += 1
        for stage in set(changes):
            if stage in reached:
                reached[stage] += 1
        for i, stage in enumerate(path):
            if any(later in changes for later in path[i:]):
                passed[stage] += 1
            following = path[i + 1] if i + 1 < len(path) else None
            if following is not None and stage in changes:
                first = changes.index(stage)
                if following in changes[first + 1 :]:
                    moved_on[stage] += 1
    rows = []
    for stage in pipeline.stages:
        following = pipeline.next_on_main_path(stage)
        if stage not in passed:
            rows.append(FunnelRow(stage, in_stage[stage], reached[stage], None, None))
            continue
        if skip_policy == "strict":
            through, onward = reached[stage], moved_on[stage]
        else:
            through, onward = passed[stage], passed[following] if following else 0
        conversion = onward / through if following and through else None
        rows.append(FunnelRow(stage, in_stage[stage], reached[stage], through, conversion))
    return rows


def leads_from_events(records: Iterable[EventRecord]) -> dict[UUID, Lead]:
    """Every lead in ``records`` (lead events in log order), folded with ``Lead.evolve``."""
    histories: dict[UUID, list[EventRecord]] = {}
    for record in records:
        if record.type in EVENT_TYPES:
            histories.setdefault(record.lead_id, []).append(record)
    leads = {lead_id: _fold(events) for lead_id, events in histories.items()}
    return {lead_id: lead for lead_id, lead in leads.items() if lead is not None}


def pool_from_events(records: Iterable[EventRecord], closed_stages: Collection[str]) -> list[UUID]:
    """The public pool now: leads ``in_pool``, oldest capture first, then by lead id."""
    waiting = [lead for lead in leads_from_events(records).values() if in_pool(lead, closed_stages)]
    waiting.sort(
        key=lambda lead: (lead.captured_at or datetime.min.replace(tzinfo=UTC), str(lead.id))
    )
    return [lead.id for lead in waiting]


def _fold(events: Iterable[EventRecord]) -> Lead | None:
    """The lead as of its last event here; ``None`` when its capture is not among them."""
    lead: Lead | None = None
    for record in events:
        if lead is None and record.type != "LeadCaptured":
            return None  # a history without its capture: nothing to fold onto
        lead = Lead.evolve(lead, lead_event(record))
    return lead
