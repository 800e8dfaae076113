"""Read model ``breaches`` and ``leadflow report sla``: SLA breaches and escalations.

``lf_sla_breaches`` has one row per ``SlaBreached`` (kind ``breach``) and per
``HandOffEscalated`` (kind ``escalation``) of a lead, each with both times:

* ``sla``: ``handoff``, or ``stage:<name>`` for the time allowed in a stage (an escalation
  is always ``handoff``);
* ``owner``: who had to act by the deadline: the breach's ``owner`` (for a hand-off, the
  rep it waited on; for a stage, the lead's owner, ``None`` in the pool); an escalation
  counts against the rep of the hand-off breach it escalates (the one just before it);
* ``escalated_to`` and ``reassigned_to`` (escalations), ``due_at`` and the rule.

As of ``T`` (as known at ``K``), over live leads (merged duplicates left out), optionally
a capture cohort and a period (breaches that occurred in it), ``report sla`` counts
stage-SLA breaches, hand-off-SLA breaches, escalations and the leads they concern:

* **by stage**: the stage the lead was in at the breach (its interval in
  ``lf_stage_intervals`` that contains the event, by sequence);
* **by team**: that stage's ``team`` in the pipeline the answer uses (the version in force
  at ``K``), ``(none)`` for a stage without one or unknown to that version;
* **by rep**: ``owner`` above, ``(none)`` when nobody owned the lead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from leadflow.domain.pipeline import Pipeline
from leadflow.projections._sql import READ_MODELS, RowSet, Timestamp, by_lead, lead_ids_in, utc
from leadflow.projections.funnel import FunnelQuery, _known, _live, in_cohort, query_json
from leadflow.projections.log_table import LOG, Sql
from leadflow.projections.reference import NO_VALUE
from leadflow.projections.stage_history import STAGE_INTERVALS
from leadflow.projections.velocity import _window
from leadflow.service.codec import EventRecord

__all__ = [
    "BREACHES",
    "Breach",
    "Breaches",
    "SlaCounts",
    "SlaReport",
    "sla_report",
    "sla_report_json",
    "tally",
]

BREACHES = sa.Table(
    "lf_sla_breaches",
    READ_MODELS,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("sla", sa.String(80), nullable=False),
    sa.Column("owner", sa.Text),
    sa.Column("escalated_to", sa.Text),
    sa.Column("reassigned_to", sa.Text),
    sa.Column("due_at", Timestamp),
    sa.Column("rule", sa.Text),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("recorded_at", Timestamp, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Index("lf_sla_breaches_at", "at"),
)

_KINDS = {"SlaBreached": "breach", "HandOffEscalated": "escalation"}


class Breaches:
    name = "breaches"
    tables = [BREACHES]

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(BREACHES.delete())

    def handle(self, conn: sa.Connection, records: Sequence[EventRecord]) -> None:
        grouped = {
            lead: events
            for lead, events in by_lead(records).items()
            if any(r.type in _KINDS for r in events)
        }
        rows = RowSet(BREACHES)
        # The rep of each lead's latest hand-off breach: whom its escalation counts against.
        waited_on: dict[str, str | None] = {}
        escalated = [lead for lead, events in grouped.items() if _escalates(events)]
        b = BREACHES
        for where in lead_ids_in(b.c.lead_id, escalated):
            query = (
                sa.select(b.c.lead_id, b.c.owner)
                .where(where, b.c.kind == "breach", b.c.sla == "handoff")
                .order_by(b.c.lead_id, b.c.sequence)
            )
            for lead_id, owner in conn.execute(query):
                waited_on[str(lead_id)] = owner
        for lead_uuid, events in grouped.items():
            lead_id = str(lead_uuid)
            for record in events:
                kind = _KINDS.get(record.type)
                if kind is None:
                    continue
                data = record.data
                if kind == "breach":
                    sla, owner = str(data["sla"]), data.get("owner")
                    if sla == "handoff":
                        waited_on[lead_id] = owner
                else:
                    sla, owner = "handoff", waited_on.get(lead_id)
                due = data.get("due_at")
                rows.add(
                    {
                        "lead_id": lead_id,
                        "sequence": record.sequence,
                        "kind": kind,
                        "sla": sla,
                        "owner": owner,
                        "escalated_to": data.get("to"),
                        "reassigned_to": data.get("reassigned_to"),
                        "due_at": utc(datetime.fromisoformat(due)) if due else None,
                        "rule": data.get("rule"),
                        "at": utc(record.occurred_at),
                        "recorded_at": utc(record.recorded_at),
                        "position": record.position,
                    }
                )
        rows.flush(conn)

    def forget(self, sql: Sql) -> None:
        """Before a catch-up's :meth:`build` of the leads it touches: their rows go."""
        sql.forget(self.tables)

    def build(self, sql: Sql) -> None:
        """:meth:`handle` of the whole log, in SQL over ``lf_log``: an escalation counts
        against the rep of the lead's latest hand-off breach before it."""
        sql.run(
            f"INSERT INTO {sql.table(BREACHES)} (lead_id, sequence, kind, sla, owner, "
            "escalated_to, reassigned_to, due_at, rule, at, recorded_at, position) "
            "SELECT b.lead, b.seq, CASE b.type WHEN 'SlaBreached' THEN 'breach' "
            "ELSE 'escalation' END, CASE WHEN b.type = 'SlaBreached' THEN b.sla "
            "ELSE 'handoff' END, CASE WHEN b.type = 'SlaBreached' THEN b.owner ELSE w.owner END, "
            "b.escalated_to, b.reassigned_to, b.due_at, b.rule, b.at, b.rec, b.position FROM ("
            "SELECT lead, seq, type, sla, owner, escalated_to, reassigned_to, due_at, rule, at, "
            "rec, position, max(CASE WHEN type = 'SlaBreached' AND sla = 'handoff' THEN seq END) "
            "OVER (PARTITION BY lead ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 "
            f"PRECEDING) AS waited FROM {LOG} WHERE type IN ('SlaBreached', 'HandOffEscalated')"
            f") b LEFT JOIN {LOG} w ON w.lead = b.lead AND w.seq = b.waited"
        )


def _escalates(events: list[EventRecord]) -> bool:
    return any(r.type == "HandOffEscalated" for r in events)


# -- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    """One breach or escalation that counts, as the report groups it."""

    lead_id: str
    kind: str
    """``breach`` or ``escalation``."""
    sla: str
    stage: str | None
    """The lead's stage at the event."""
    owner: str | None


@dataclass
class SlaCounts:
    stage_sla_breaches: int = 0
    handoff_sla_breaches: int = 0
    escalations: int = 0
    leads: set[str] = field(default_factory=set)
    """The distinct leads concerned."""

    def add(self, breach: Breach) -> None:
        if breach.kind == "escalation":
            self.escalations += 1
        elif breach.sla == "handoff":
            self.handoff_sla_breaches += 1
        else:
            self.stage_sla_breaches += 1
        self.leads.add(breach.lead_id)

    def to_json(self, key: str | None = None) -> dict[str, Any]:
        counts = {
            "stage_sla_breaches": self.stage_sla_breaches,
            "handoff_sla_breaches": self.handoff_sla_breaches,
            "escalations": self.escalations,
            "leads": len(self.leads),
        }
        return counts if key is None else {"key": key, **counts}


@dataclass(frozen=True)
class SlaReport:
    total: SlaCounts
    by_stage: list[tuple[str, SlaCounts]]
    """In the pipeline's stage order, then any other stage by name; ``(none)`` last."""
    by_team: list[tuple[str, SlaCounts]]
    """Sorted by team."""
    by_rep: list[tuple[str, SlaCounts]]
    """Sorted by rep."""


def tally(pipeline: Pipeline, breaches: Iterable[Breach]) -> SlaReport:
    """The report of the breaches that count (shared with the recomputation from the log)."""
    total = SlaCounts()
    stages: dict[str, SlaCounts] = {}
    teams: dict[str, SlaCounts] = {}
    reps: dict[str, SlaCounts] = {}
    for breach in breaches:
        stage = breach.stage or NO_VALUE
        config = pipeline.stages.get(stage)
        team = (config.team if config is not None else None) or NO_VALUE
        for groups, key in ((stages, stage), (teams, team), (reps, breach.owner or NO_VALUE)):
            groups.setdefault(key, SlaCounts()).add(breach)
        total.add(breach)
    order = {stage: n for n, stage in enumerate(pipeline.stages)}
    return SlaReport(
        total,
        sorted(
            stages.items(),
            key=lambda item: (item[0] == NO_VALUE, order.get(item[0], len(order)), item[0]),
        ),
        sorted(teams.items()),
        sorted(reps.items()),
    )


def sla_report(
    conn: sa.Connection,
    pipeline: Pipeline,
    q: FunnelQuery,
    period: tuple[date, date] | None = None,
) -> SlaReport:
    """Breaches and escalations by stage, team and rep (see the module)."""
    b, i = BREACHES, STAGE_INTERVALS
    at_event = sa.and_(
        i.c.lead_id == b.c.lead_id,
        i.c.entered_sequence < b.c.sequence,
        sa.or_(i.c.exited_sequence.is_(None), i.c.exited_sequence > b.c.sequence),
    )
    select = (
        sa.select(b.c.lead_id, b.c.kind, b.c.sla, i.c.stage, b.c.owner)
        .select_from(b.outerjoin(i, at_event))
        .where(_known(b.c.at, b.c.recorded_at, q), _live(b.c.lead_id, q))
    )
    window = _window(period)
    if window is not None:
        select = select.where(b.c.at >= window[0], b.c.at < window[1])
    rows: Any = conn.execute(in_cohort(select, b.c.lead_id, q))
    return tally(pipeline, (Breach(str(a), k, s, st, o) for a, k, s, st, o in rows))


def sla_report_json(
    q: FunnelQuery, period: tuple[date, date] | None, report: SlaReport
) -> dict[str, Any]:
    """The documented ``leadflow report sla --json`` shape."""
    return {
        **query_json(q),
        "period": [period[0].isoformat(), period[1].isoformat()] if period else None,
        "total": report.total.to_json(),
        "by_stage": [counts.to_json(key) for key, counts in report.by_stage],
        "by_team": [counts.to_json(key) for key, counts in report.by_team],
        "by_rep": [counts.to_json(key) for key, counts in report.by_rep],
    }
