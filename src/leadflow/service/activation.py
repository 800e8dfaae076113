"""Putting a pipeline version in force, with what it changes for the roster's loads.

A version whose ``assignment.closed_stages`` differ from the one in force changes whom
some leads count for (an opportunity that becomes a closed stage no longer counts toward
its owner). The activation recounts every lead's load under the new stages and saves the
differences with the ``PipelineActivated`` event, in one append, so the roster never counts
by rules that are no longer in force.
"""

from __future__ import annotations

import structlog

from leadflow.domain.context import Context
from leadflow.domain.ownership import counts_for
from leadflow.domain.pipeline import Pipeline
from leadflow.service.store import LeadStore
from leadflow.service.unit_of_work import UnitOfWork, unit_of_work

__all__ = ["activate"]

log = structlog.get_logger("leadflow")


def activate(store: LeadStore, pipeline: Pipeline, ctx: Context) -> bool:
    """Put ``pipeline`` in force; returns False if it already was."""
    before = store.pipeline
    try:
        with unit_of_work(store, "activate_pipeline", ctx, before) as uow:
            plog = store.pipeline_log()
            if not plog.activate(pipeline, ctx):
                return False
            uow.add(plog)
            old, new = before.assignment.closed_stages, pipeline.assignment.closed_stages
            if set(old) != set(new):
                recount_loads(uow, new)
            uow.commit()
    finally:
        store.forget_pipeline_log()
    log.info("pipeline_activated", version=pipeline.version, name=pipeline.name)
    return True


def recount_loads(uow: UnitOfWork, closed_stages: list[str]) -> None:
    """Make the roster's ledger agree with every lead under ``closed_stages``.

    Reads every lead once (an activation that changes the closed stages is rare).
    """
    roster = uow.roster
    store = uow.store
    changed = 0
    for record in store.read_events(types=["LeadCaptured"]):
        lead = store.find_lead(record.lead_id)
        if lead is None:
            continue
        wanted = counts_for(lead, closed_stages)
        if roster.holder.get(lead.id) != wanted:
            roster.track(lead.id, wanted, uow.command, uow.ctx)
            changed += 1
    log.info("loads_recounted", leads_changed=changed)
