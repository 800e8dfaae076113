"""The funnel recomputed from the raw log: the definition the read models must match.

It reads every event, so it is slow at scale; it exists to be obviously right. The
fast read models are tested against it (and ``leadflow funnel`` must agree with it).

Definitions, for a point in business time ``as_of`` and, optionally, a point in
recording time ``as_known_at``:

* only events with ``occurred_at <= as_of`` (and ``recorded_at <= as_known_at``) count;
* a lead's stage at ``as_of`` is the stage set by the last such stage-setting event
  (its capture, or a ``StageChanged``), ordered by ``occurred_at`` then position;
* ``in_stage``: leads whose stage at ``as_of`` is this stage;
* ``reached``: leads that were in this stage at any time up to ``as_of``;
* ``conversion_to_next``: ``reached`` of the next stage on the main path divided by
  ``reached`` of this one (``None`` for the last stage, or when nothing reached it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from leadflow.codec import EventRecord
from leadflow.pipeline import Pipeline

__all__ = ["FunnelRow", "funnel_from_events"]

STAGE_SETTING_TYPES = frozenset({"LeadCaptured", "StageChanged"})


@dataclass(frozen=True)
class FunnelRow:
    stage: str
    in_stage: int
    reached: int
    conversion_to_next: float | None


def funnel_from_events(
    records: Iterable[EventRecord],
    pipeline: Pipeline,
    as_of: datetime,
    as_known_at: datetime | None = None,
) -> list[FunnelRow]:
    stage_events: dict[UUID, list[tuple[datetime, int, str]]] = {}
    for record in records:
        if record.type not in STAGE_SETTING_TYPES or record.occurred_at > as_of:
            continue
        if as_known_at is not None and record.recorded_at > as_known_at:
            continue
        stage_events.setdefault(record.lead_id, []).append(
            (record.occurred_at, record.position, record.data["stage"])
        )
    in_stage = dict.fromkeys(pipeline.stages, 0)
    reached = dict.fromkeys(pipeline.stages, 0)
    for changes in stage_events.values():
        changes.sort()
        in_stage[changes[-1][2]] += 1
        for stage in {stage for _, _, stage in changes}:
            reached[stage] += 1
    rows = []
    for stage in pipeline.stages:
        following = pipeline.next_on_main_path(stage)
        conversion = reached[following] / reached[stage] if following and reached[stage] else None
        rows.append(FunnelRow(stage, in_stage[stage], reached[stage], conversion))
    return rows
