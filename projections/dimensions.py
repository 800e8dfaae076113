"""Read model ``dimensions``: each lead's value of each reporting dimension, over time.

The pipeline's ``[reporting] dimensions`` (``industry``, …) are attributes that reports and
``funnel --by`` may group by. ``lf_lead_dimensions`` has one row per period a lead held a
value of a dimension: set by its capture or a ``ProfileUpdated`` naming
``attributes.<dimension>``, ended by the next such change (another value, or cleared).
Within a lead both times only grow, so the lead's value at ``(T, K)`` is the row whose set
counts and whose end does not, exactly as for owners (``lf_ownership``).

Only the dimensions of the pipeline in force are kept: they are this projection's
``settings``, so activating a pipeline that lists other dimensions rebuilds it from the
whole log (a dimension added later is answered for the past too), and no attribute that is
not a dimension is ever copied. A dimension is never personal under the pipeline that lists
it (:meth:`~leadflow.domain.pipeline.Pipeline._dimensions_allowed`); a value that was sealed
as personal when it was recorded (an earlier pipeline called the attribute personal) is
kept as ``[personal]``, never as the value, so nothing here is erased with the person.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from leadflow.domain.bounds import ATTRIBUTE_VALUE_MAX, DIMENSION_NAME_MAX, dimension_problem
from leadflow.domain.personal_data import REDACTED
from leadflow.projections._sql import READ_MODELS, RowSet, Timestamp, by_lead, lead_ids_in, utc
from leadflow.projections.log_table import LOG, Sql
from leadflow.service.codec import EventRecord

__all__ = ["LEAD_DIMENSIONS", "Dimensions"]

LEAD_DIMENSIONS = sa.Table(
    "lf_lead_dimensions",
    READ_MODELS,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("dimension", sa.String(DIMENSION_NAME_MAX), primary_key=True),
    sa.Column("set_sequence", sa.Integer, primary_key=True),
    sa.Column("value", sa.String(ATTRIBUTE_VALUE_MAX), nullable=False),
    sa.Column("set_at", Timestamp, nullable=False),
    sa.Column("set_recorded_at", Timestamp, nullable=False),
    sa.Column("ended_sequence", sa.Integer),
    sa.Column("ended_at", Timestamp),
    sa.Column("ended_recorded_at", Timestamp),
)

_TYPES = frozenset({"LeadCaptured", "ProfileUpdated"})


def _changes(record: EventRecord, dimensions: Sequence[str]) -> dict[str, str | None]:
    """Dimension → the value this event sets (``None``: clears), for those it names; a
    value sealed as personal when recorded reads ``[personal]``."""
    if record.type == "LeadCaptured":
        given: dict[str, Any] = record.data.get("attributes") or {}
        prefix = "attributes."
        found = {d: given.get(d) for d in dimensions if d in given}
    else:
        given = record.data.get("changes") or {}
        prefix = "changes.attributes."
        found = {d: given[f"attributes.{d}"] for d in dimensions if f"attributes.{d}" in given}
    personal = set(record.personal)
    return {
        d: (REDACTED if f"{prefix}{d}" in personal and value is not None else value)
        for d, value in found.items()
    }


class Dimensions:
    name = "dimensions"

    def __init__(self, dimensions: Sequence[str] | None = None) -> None:
        if dimensions is None:
            from leadflow.service.pipeline_files import default_pipeline

            dimensions = default_pipeline().reporting.dimensions
        for name in dimensions:  # they go into SQL and JSON paths: pipeline-valid names only
            if dimension_problem(name) is not None:
                raise ValueError(f"not a dimension name: {name!r}")
        self.dimensions = list(dimensions)
        self.settings = "dimensions=" + ",".join(self.dimensions)
        """What else the rows depend on; part of the fingerprint (see the runner)."""
        self.tables = [LEAD_DIMENSIONS]

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(LEAD_DIMENSIONS.delete())

    def handle(self, conn: sa.Connection, records: Sequence[EventRecord]) -> None:
        if not self.dimensions:
            return
        grouped = {
            lead: changes
            for lead, events in by_lead(records).items()
            if (changes := [r for r in events if r.type in _TYPES])
        }
        if not grouped:
            return
        t = LEAD_DIMENSIONS
        rows = RowSet(t)
        for where in lead_ids_in(t.c.lead_id, grouped):
            rows.load(conn, sa.and_(where, t.c.ended_sequence.is_(None)))
        current: dict[tuple[str, str], dict[str, Any]] = {
            (row["lead_id"], row["dimension"]): row for row in rows.rows.values()
        }
        for lead_uuid, events in grouped.items():
            lead_id = str(lead_uuid)
            for record in events:
                for dimension, value in _changes(record, self.dimensions).items():
                    held = current.pop((lead_id, dimension), None)
                    if held is not None:
                        held.update(
                            ended_sequence=record.sequence,
                            ended_at=utc(record.occurred_at),
                            ended_recorded_at=utc(record.recorded_at),
                        )
                        rows.touch(held)
                    if value is None:
                        continue
                    current[(lead_id, dimension)] = rows.add(
                        {
                            "lead_id": lead_id,
                            "dimension": dimension,
                            "set_sequence": record.sequence,
                            "value": str(value),
                            "set_at": utc(record.occurred_at),
                            "set_recorded_at": utc(record.recorded_at),
                            "ended_sequence": None,
                            "ended_at": None,
                            "ended_recorded_at": None,
                        }
                    )
        rows.flush(conn)

    def build(self, sql: Sql) -> None:
        """:meth:`handle` of the whole log, in SQL: each event that names a dimension sets
        (or clears) it, and the next one for the same lead and dimension ends it."""
        if not self.dimensions:
            return
        parts = []
        for name in self.dimensions:
            captured, changed = f"attributes.{name}", f"changes.attributes.{name}"
            if sql.postgres:
                in_capture, of_capture = f"(attrs::jsonb) ? '{name}'", f"(attrs::jsonb)->>'{name}'"
                in_change = f"(changes::jsonb) ? 'attributes.{name}'"
                of_change = f"(changes::jsonb)->>'attributes.{name}'"
            else:
                in_capture = f"json_type(attrs, '$.{name}') IS NOT NULL"
                of_capture = f"json_extract(attrs, '$.{name}')"
                in_change = f"json_type(changes, '$.\"attributes.{name}\"') IS NOT NULL"
                of_change = f"json_extract(changes, '$.\"attributes.{name}\"')"
            sealed_capture = f"(sealed IS NOT NULL AND {sql.contains('sealed', captured)})"
            sealed_change = f"(sealed IS NOT NULL AND {sql.contains('sealed', changed)})"
            value = (
                f"CASE WHEN type = 'LeadCaptured' THEN CASE WHEN {sealed_capture} "
                f"THEN '{REDACTED}' ELSE {of_capture} END "
                f"ELSE CASE WHEN {sealed_change} THEN '{REDACTED}' ELSE {of_change} END END"
            )
            parts.append(
                f"SELECT lead, seq, at, rec, '{name}' AS dim, {value} AS value FROM {LOG} "
                f"WHERE (type = 'LeadCaptured' AND ({in_capture} OR {sealed_capture})) "
                f"OR (type = 'ProfileUpdated' AND ({in_change} OR {sealed_change}))"
            )
        sql.run(
            f"INSERT INTO {sql.table(LEAD_DIMENSIONS)} (lead_id, dimension, set_sequence, value, "
            "set_at, set_recorded_at, ended_sequence, ended_at, ended_recorded_at) "
            "SELECT lead, dim, seq, value, at, rec, n_seq, n_at, n_rec FROM ("
            "SELECT lead, dim, seq, value, at, rec, LEAD(seq) OVER w AS n_seq, "
            "LEAD(at) OVER w AS n_at, LEAD(rec) OVER w AS n_rec "
            f"FROM ({' UNION ALL '.join(parts)}) s "
            "WINDOW w AS (PARTITION BY lead, dim ORDER BY seq)) d WHERE value IS NOT NULL"
        )


def value_at(
    lead_id: sa.ColumnElement[Any], dimension: str, counts: Any, not_yet: Any
) -> tuple[sa.FromClause, sa.ColumnElement[bool]]:
    """``lf_lead_dimensions`` aliased for one dimension, and the condition that joins it
    to ``lead_id``'s row that holds at the instant (``counts(at, recorded)`` /
    ``not_yet(at, recorded)``: see :mod:`leadflow.projections.funnel`)."""
    d = LEAD_DIMENSIONS.alias(f"dim_{dimension}")
    on = sa.and_(
        d.c.lead_id == lead_id,
        d.c.dimension == dimension,
        counts(d.c.set_at, d.c.set_recorded_at),
        not_yet(d.c.ended_at, d.c.ended_recorded_at),
    )
    return d, on
