"""Read models: projections of the log that can be dropped and rebuilt at any time.

The public contract (used by the CLI and by the Kafka consumer):

* :class:`Projection`: ``name``, ``tables``, ``handle(conn, records)`` (apply a batch
  inside the caller's transaction; correct for any interleaving of different leads'
  events as long as each lead's events stay in order) and ``reset(conn)``.
* :class:`ProjectionRunner`: ``catch_up(read)``, ``positions()``, ``rebuild(read)``;
  positions live in ``lf_projection_positions`` and move in the same transaction as
  the rows they describe.
* :func:`all_projections`: the built-in read models.

This package never imports ``leadflow.adapters``: callers hand it an
``sqlalchemy.Engine`` (and the PostgreSQL schema, if any).
"""

from leadflow.projections.funnel import FunnelQuery, funnel, funnel_by, funnel_json, live_leads
from leadflow.projections.handoffs import HANDOFFS, HandOffs, audit_trail
from leadflow.projections.leads import LEADS, OWNERSHIP, Leads, rep_performance
from leadflow.projections.reference import FunnelRow
from leadflow.projections.runner import (
    POSITIONS,
    Projection,
    ProjectionRunner,
    Read,
    all_projections,
)
from leadflow.projections.stage_history import (
    STAGE_INTERVALS,
    STAGE_REACHED,
    StageHistory,
    lead_history,
)

__all__ = [
    "HANDOFFS",
    "LEADS",
    "OWNERSHIP",
    "POSITIONS",
    "STAGE_INTERVALS",
    "STAGE_REACHED",
    "FunnelQuery",
    "FunnelRow",
    "HandOffs",
    "Leads",
    "Projection",
    "ProjectionRunner",
    "Read",
    "StageHistory",
    "all_projections",
    "audit_trail",
    "funnel",
    "funnel_by",
    "funnel_json",
    "lead_history",
    "live_leads",
    "rep_performance",
]
