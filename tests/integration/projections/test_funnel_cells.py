"""Every number of the funnel lists exactly as many leads as it counts.

On a simulated year (``leadflow demo``, SQLite and PostgreSQL), for several instants in business and
recording time, with and without a breakdown: each cell's lead list
(:func:`leadflow.projections.funnel_cells.cell_leads`, what the web console links to)
is as long as the count ``funnel`` reports for it, and the ``in_stage`` cells of one
instant never share a lead.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadflow.adapters.cli_projections import catch_up, projection_runner
from leadflow.adapters.store import open_store
from leadflow.projections import FunnelQuery, funnel, funnel_by
from leadflow.projections.funnel_cells import MEASURES, FunnelCell, cell_leads

from support.cli import invoke

INSTANTS = [
    (datetime(2025, 9, 30, 23, 59, tzinfo=UTC), None),
    (datetime(2026, 3, 31, 23, 59, tzinfo=UTC), datetime(2026, 2, 15, 12, tzinfo=UTC)),
    (datetime(2026, 6, 30, 23, 59, tzinfo=UTC), None),
]


@pytest.fixture(scope="module")
def demo_url(module_db_url: str) -> str:
    """A simulated year of 300 leads, on SQLite and on PostgreSQL."""
    invoke("demo", "--leads", "300", "--db", module_db_url)
    return module_db_url


@pytest.mark.parametrize(("as_of", "known_at"), INSTANTS)
def test_each_cell_lists_as_many_leads_as_it_counts(
    demo_url: str, as_of: datetime, known_at: datetime | None
) -> None:
    lf = open_store(demo_url)
    runner = projection_runner(demo_url, lf)
    catch_up(lf, runner)
    q = FunnelQuery(as_of=as_of, as_known_at=known_at)
    with runner.engine.connect() as conn:
        rows = funnel(conn, lf.pipeline, q)
        in_stage: list[str] = []
        for row in rows:
            for measure in MEASURES:
                if getattr(row, measure) is None:
                    continue  # not counted for this stage (passed: off the main path)
                leads = cell_leads(conn, lf.pipeline, q, FunnelCell(row.stage, measure))
                assert len(leads) == getattr(row, measure), (row, measure)
                assert len(set(leads)) == len(leads)
                if measure == "in_stage":
                    in_stage += leads
    assert len(in_stage) == len(set(in_stage))
    assert sum(row.reached for row in rows) > 0
    lf.close()


@pytest.mark.parametrize("by", ["source", "owner", "cohort"])
def test_each_group_cell_lists_as_many_leads_as_it_counts(demo_url: str, by: str) -> None:
    lf = open_store(demo_url)
    runner = projection_runner(demo_url, lf)
    catch_up(lf, runner)
    q = FunnelQuery(as_of=INSTANTS[1][0], as_known_at=INSTANTS[1][1])
    with runner.engine.connect() as conn:
        groups = funnel_by(conn, lf.pipeline, q, by)
        assert len(groups) > 1
        for key, rows in groups:
            for row in rows:
                for measure in MEASURES:
                    if getattr(row, measure) is None:
                        continue
                    cell = FunnelCell(row.stage, measure, by, key)
                    leads = cell_leads(conn, lf.pipeline, q, cell)
                    assert len(leads) == getattr(row, measure), (key, row, measure)
    lf.close()


def test_a_cell_names_a_stage_of_the_pipeline_and_a_known_measure(demo_url: str) -> None:
    lf = open_store(demo_url)
    runner = projection_runner(demo_url, lf)
    q = FunnelQuery(as_of=INSTANTS[0][0])
    with runner.engine.connect() as conn:
        with pytest.raises(ValueError, match="unknown stage"):
            cell_leads(conn, lf.pipeline, q, FunnelCell("nowhere", "reached"))
        with pytest.raises(ValueError, match="measure"):
            cell_leads(conn, lf.pipeline, q, FunnelCell("lead", "conversion_to_next"))
        with pytest.raises(ValueError, match="both"):
            cell_leads(conn, lf.pipeline, q, FunnelCell("lead", "reached", "source"))
    lf.close()
