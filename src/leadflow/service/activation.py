"""Putting a pipeline version in force, with what it changes for the roster's loads.

A version whose ``assignment.closed_stages`` differ from the one in force changes whom
some leads count for (an opportunity that becomes a closed stage no longer counts toward
its owner). The activation recounts every lead's load under the new stages and saves the
differences with the ``PipelineActivated`` event, in one append, so the roster never counts
by rules that are no longer in force.

A version without a stage that leads are in is refused unless that stage is mapped to one
of the new version (``OLD=NEW``, :mod:`leadflow.domain.pipeline_change`); each lead in a
mapped stage is then moved by its own ``StageChanged`` (kind ``remap``), in the same append.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from uuid import UUID

import structlog

from leadflow.domain.context import Context
from leadflow.domain.ownership import counts_for
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.pipeline_change import parse_mapping, plan_stage_moves
from leadflow.service.store import LeadStore
from leadflow.service.unit_of_work import UnitOfWork, unit_of_work

__all__ = ["activate"]

log = structlog.get_logger("leadflow")


def activate(
    store: LeadStore, pipeline: Pipeline, ctx: Context, mapping: Sequence[str] = ()
) -> bool:
    """Put ``pipeline`` in force; returns False if it already was.

    ``mapping``: ``OLD=NEW`` items for stages the new version removes (see the module).
    """
    before = store.pipeline
    moves = parse_mapping(mapping, before, pipeline)
    try:
        with unit_of_work(store, "activate_pipeline", ctx, before) as uow:
            plog = store.pipeline_log()
            if not plog.activate(pipeline, ctx):
                return False
            uow.add(plog)
            moved = move_stranded_leads(uow, pipeline, moves)
            old, new = before.assignment.closed_stages, pipeline.assignment.closed_stages
            if set(old) != set(new):
                recount_loads(uow, new, moved)
            uow.commit()
    finally:
        store.forget_pipeline_log()
    log.info("pipeline_activated", version=pipeline.version, name=pipeline.name)
    return True


def move_stranded_leads(uow: UnitOfWork, new: Pipeline, mapping: dict[str, str]) -> set[UUID]:
    """Refuse ``new`` if it strands leads in a stage not mapped; move the mapped ones.

    Reads every lead only when ``new`` drops a stage of the pipeline in force.
    """
    removed = set(uow.pipeline.stages) - set(new.stages)
    if not removed:
        return set()
    store = uow.store
    stranded: list[UUID] = []
    counts: Counter[str] = Counter()
    for record in store.read_events(types=["LeadCaptured"]):
        lead = store.find_lead(record.lead_id)
        if lead is not None and lead.stage in removed:
            stranded.append(lead.id)
            counts[lead.stage] += 1
    moves = plan_stage_moves(counts, new, mapping)
    for lead_id in stranded:
        lead = uow.lead(lead_id)
        lead.remap_stage(moves[lead.stage], new, uow.ctx)
    log.info("stranded_leads_moved", leads=len(stranded), mapping=moves)
    return set(stranded)


def recount_loads(uow: UnitOfWork, closed_stages: list[str], moved: set[UUID]) -> None:
    """Make the roster's ledger agree with every lead under ``closed_stages``.

    Reads every lead once (an activation that changes the closed stages is rare); the
    leads ``moved`` by this activation as this unit of work holds them.
    """
    roster = uow.roster
    store = uow.store
    changed = 0
    for record in store.read_events(types=["LeadCaptured"]):
        lead = (
            uow.lead(record.lead_id) if record.lead_id in moved else store.find_lead(record.lead_id)
        )
        if lead is None:
            continue
        wanted = counts_for(lead, closed_stages)
        if roster.holder.get(lead.id) != wanted:
            roster.track(lead.id, wanted, uow.command, uow.ctx)
            changed += 1
    log.info("loads_recounted", leads_changed=changed)
