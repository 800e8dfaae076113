"""The leads behind one number of the funnel: a cell is (stage, measure[, group]).

A cell lists exactly the leads its count counts, because it is the same query with the
same conditions (:mod:`leadflow.projections.funnel`'s ``_known`` / ``_not_yet`` /
``_grouped``), selecting lead ids instead of counting them:

* ``in_stage``: the leads with an interval in the stage entered by the instant and not
  yet left;
* ``reached``: the leads whose first entry into the stage counts at the instant;
* ``passed`` (main path only, where the funnel has it): the leads that reached this stage
  or a later one of the main path (with ``skip_policy="strict"``: ``reached``).

Only live leads count (not merged duplicates at the instant), where the funnel says so.

The web console links every cell to this list; ``tests/integration/projections/
test_funnel_cells.py`` checks, cell by cell, that each list is as long as its count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadflow.domain.pipeline import Pipeline
from leadflow.projections import funnel as _funnel
from leadflow.projections.funnel import FunnelQuery, _grouped, _known, _not_yet
from leadflow.projections.stage_history import STAGE_INTERVALS, STAGE_REACHED

__all__ = ["MEASURES", "FunnelCell", "cell_leads"]

_live: Callable[[Any, FunnelQuery], Any] | None = getattr(_funnel, "_live", None)
"""The funnel's "not a merged duplicate at the instant" condition, where the funnel has
one (the definitions with ``passed``); every cell applies it exactly when the counts do."""
_PASSED = "skip_policy" in {f.name for f in dataclasses.fields(FunnelQuery)}

MEASURES: tuple[str, ...] = (
    ("in_stage", "reached", "passed") if _PASSED else ("in_stage", "reached")
)
"""The per-stage counts of ``funnel --json`` that are numbers of leads."""


@dataclass(frozen=True)
class FunnelCell:
    stage: str
    measure: str
    by: str | None = None
    """A grouping of ``funnel --by`` (``None``: the whole funnel)."""
    key: str | None = None
    """The group's key (``(none)`` for a missing value); with ``by`` only."""


def _selection(pipeline: Pipeline, q: FunnelQuery, cell: FunnelCell) -> sa.Select[Any]:
    if cell.stage not in pipeline.stages:
        raise ValueError(f"unknown stage {cell.stage!r}")
    if (cell.by is None) != (cell.key is None):
        raise ValueError("a group cell names both by and key")
    if cell.measure == "in_stage":
        i = STAGE_INTERVALS
        select = (
            sa.select(i.c.lead_id)
            .select_from(i)
            .where(
                i.c.stage == cell.stage,
                _known(i.c.entered_at, i.c.entered_recorded_at, q),
                _not_yet(i.c.exited_at, i.c.exited_recorded_at, q),
            )
        )
        lead_id: Any = i.c.lead_id
    elif cell.measure == "reached" or (
        cell.measure == "passed" and getattr(q, "skip_policy", "passed") == "strict"
    ):
        r = STAGE_REACHED
        select = (
            sa.select(r.c.lead_id)
            .select_from(r)
            .where(
                r.c.stage == cell.stage,
                _known(r.c.first_entered_at, r.c.first_entered_recorded_at, q),
            )
        )
        lead_id = r.c.lead_id
    elif cell.measure == "passed" and _PASSED:
        path = list(pipeline.main_path)
        if cell.stage not in path:
            raise ValueError(f"passed is counted on the main path only, not {cell.stage!r}")
        r = STAGE_REACHED
        select = (
            sa.select(r.c.lead_id)
            .select_from(r)
            .where(
                r.c.stage.in_(path[path.index(cell.stage) :]),
                _known(r.c.first_entered_at, r.c.first_entered_recorded_at, q),
            )
        )
        lead_id = r.c.lead_id
    else:
        raise ValueError(f"measure must be one of {MEASURES}")
    if _live is not None:
        select = select.where(_live(lead_id, q))
    select, key = _grouped(select, lead_id, q, cell.by)
    if cell.key is not None:
        select = select.where(key == cell.key)
    return select


def cell_leads(
    conn: sa.Connection, pipeline: Pipeline, q: FunnelQuery, cell: FunnelCell
) -> list[str]:
    """The ids of the leads the cell counts, sorted."""
    select = _selection(pipeline, q, cell)
    return sorted({str(row[0]) for row in conn.execute(select)})
