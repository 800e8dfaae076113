"""Read model ``handoffs``: the hand-off audit trail.

One row in ``lf_handoffs`` per hand-off (``LeadHandedOff``): who handed which lead to
whom and when, the SLA due time, and how it ended: ``accepted`` or ``rejected`` (by
whom, when, why, how long it took, whether within the SLA) or still ``pending``.
If the lead is later recycled back to marketing (a ``StageChanged`` of kind
``recycle``, or a ``LeadRecycled``, e.g. after a rejection or a lost deal), the
latest hand-off records that too; so does it record an SLA breach and an escalation
(and to whom a breached hand-off was reassigned) while it is pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from leadflow.projections._sql import (
    READ_MODELS,
    RowSet,
    Timestamp,
    as_utc,
    by_lead,
    iso,
    lead_ids_in,
    utc,
)
from leadflow.projections.erasure import erase_columns
from leadflow.projections.log_table import LOG, Sealed, Sql
from leadflow.service.codec import EventRecord, event_id

__all__ = ["HANDOFFS", "HandOffs", "audit_trail"]

HANDOFFS = sa.Table(
    "lf_handoffs",
    READ_MODELS,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("handed_off_sequence", sa.Integer, primary_key=True),
    # The event's id is not stored: ``event_id(lead_id, handed_off_sequence)`` gives it.
    sa.Column("handed_off_position", sa.BigInteger, nullable=False),
    sa.Column("from_owner", sa.Text),
    sa.Column("to_owner", sa.Text, nullable=False),
    sa.Column("handed_off_by", sa.Text, nullable=False),
    sa.Column("handed_off_at", Timestamp, nullable=False),
    sa.Column("handed_off_recorded_at", Timestamp, nullable=False),
    sa.Column("sla_due", Timestamp),
    sa.Column("note", sa.Text),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("decided_at", Timestamp),
    sa.Column("decided_recorded_at", Timestamp),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_position", sa.BigInteger),
    sa.Column("reason", sa.Text),
    sa.Column("response_seconds", sa.Float),
    sa.Column("sla_met", sa.Boolean),
    sa.Column("breached_at", Timestamp),
    sa.Column("escalated_to", sa.Text),
    sa.Column("reassigned_to", sa.Text),
    sa.Column("recycled_at", Timestamp),
    sa.Column("recycled_by", sa.Text),
    sa.Column("recycled_position", sa.BigInteger),
    sa.Column("recycle_reason", sa.Text),
    sa.Index("lf_handoffs_to_owner", "to_owner", "handed_off_at"),
    sa.Index("lf_handoffs_from_owner", "from_owner", "handed_off_at"),
    sa.Index("lf_handoffs_at", "handed_off_at"),
)

_ERASED = ("note", "reason", "recycle_reason")
"""The free text an erasure overwrites."""

_RELEVANT = frozenset(
    {
        "LeadHandedOff",
        "HandOffAccepted",
        "HandOffRejected",
        "StageChanged",
        "LeadRecycled",
        "SlaBreached",
        "HandOffEscalated",
    }
)


class HandOffs:
    name = "handoffs"
    tables = [HANDOFFS]
    version = 4
    """2: an erased lead's notes and reasons read ``[erased]``; 3: the event id derived;
    4: ``decided_recorded_at``."""

    sealed = [
        Sealed(HANDOFFS, "note", ("handed_off_position", "position"), ("LeadHandedOff",), "note"),
        Sealed(
            HANDOFFS, "reason", ("decided_position", "position"), ("HandOffRejected",), "reason"
        ),
        Sealed(
            HANDOFFS,
            "recycle_reason",
            ("recycled_position", "position"),
            ("LeadRecycled", "StageChanged"),
            "reason",
        ),
    ]
    """Columns copied from a personal value: opened after a :meth:`build`."""

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(HANDOFFS.delete())

    def handle(self, conn: sa.Connection, records: Sequence[EventRecord]) -> None:
        grouped = {
            lead: events
            for lead, events in by_lead(records).items()
            if any(r.type in _RELEVANT for r in events)
        }
        rows = RowSet(HANDOFFS)
        latest: dict[str, dict[str, Any]] = {}
        for where in lead_ids_in(HANDOFFS.c.lead_id, grouped):
            for row in rows.load(conn, where):
                current = latest.get(row["lead_id"])
                if current is None or row["handed_off_sequence"] > current["handed_off_sequence"]:
                    latest[row["lead_id"]] = row
        for lead_uuid, events in grouped.items():
            lead_id = str(lead_uuid)
            for record in events:
                kind = record.type
                if kind not in _RELEVANT:
                    continue
                last = latest.get(lead_id)
                if kind == "LeadHandedOff":
                    latest[lead_id] = rows.add(_handed_off(lead_id, record))
                elif kind in ("HandOffAccepted", "HandOffRejected"):
                    if last is None or last["outcome"] != "pending":
                        continue
                    _decide(last, record)
                    rows.touch(last)
                elif kind in ("SlaBreached", "HandOffEscalated"):
                    if last is None or last["outcome"] != "pending":
                        continue
                    if kind == "HandOffEscalated":
                        last["escalated_to"] = record.data.get("to")
                        last["reassigned_to"] = record.data.get("reassigned_to")
                    elif record.data.get("sla") == "handoff" and not last["breached_at"]:
                        last["breached_at"] = utc(record.occurred_at)
                    rows.touch(last)
                elif kind == "LeadRecycled" or record.data.get("kind") == "recycle":
                    if last is None or last["outcome"] == "pending" or last["recycled_at"]:
                        continue
                    last["recycled_at"] = utc(record.occurred_at)
                    last["recycled_by"] = record.actor
                    last["recycled_position"] = record.position
                    last["recycle_reason"] = record.data.get("reason")
                    rows.touch(last)
        rows.flush(conn)
        erase_columns(conn, HANDOFFS, _ERASED, records)

    def forget(self, sql: Sql) -> None:
        """Before a catch-up's :meth:`build` of the leads it touches: their rows go."""
        sql.forget(self.tables)

    def build(self, sql: Sql) -> None:
        """:meth:`handle` of the whole log, in SQL over ``lf_log``. Each hand-off owns the
        lead's events up to the next hand-off: the first decision in them decides it; the
        breach and escalations before that decision are its own; the first recycle after
        the decision is recorded on it."""
        relevant = ", ".join(f"'{t}'" for t in sorted(_RELEVANT - {"StageChanged"}))
        decision = "('HandOffAccepted', 'HandOffRejected')"
        pending = "(d.decided IS NULL OR r.seq < d.decided)"
        sql.run(
            # each relevant event, with the hand-off it belongs to (the lead's latest so far)
            "WITH r AS (SELECT lead, seq, type, sla, max(CASE WHEN type = 'LeadHandedOff' "
            "THEN seq END) OVER (PARTITION BY lead ORDER BY seq ROWS UNBOUNDED PRECEDING) AS g "
            f"FROM {LOG} WHERE type IN ({relevant}) "
            "OR (type = 'StageChanged' AND kind = 'recycle')) "
            f"INSERT INTO {sql.table(HANDOFFS)} (lead_id, handed_off_sequence, "
            "handed_off_position, from_owner, to_owner, handed_off_by, handed_off_at, "
            "handed_off_recorded_at, sla_due, note, outcome, decided_at, decided_recorded_at, "
            "decided_by, decided_position, reason, response_seconds, sla_met, breached_at, "
            "escalated_to, reassigned_to, recycled_at, recycled_by, recycled_position, "
            "recycle_reason) "
            "SELECT h.lead, h.seq, h.position, h.from_owner, h.to_owner, h.actor, h.at, h.rec, "
            "h.sla_due, h.note, CASE dd.type WHEN 'HandOffAccepted' THEN 'accepted' "
            "WHEN 'HandOffRejected' THEN 'rejected' ELSE 'pending' END, dd.at, dd.rec, "
            "CASE WHEN dd.seq IS NOT NULL THEN COALESCE(NULLIF(dd.by_, ''), dd.actor) END, "
            "dd.position, dd.reason, "
            f"CASE WHEN dd.seq IS NOT NULL THEN {sql.seconds('h.at', 'dd.at')} END, "
            "CASE WHEN dd.seq IS NULL OR h.sla_due IS NULL THEN NULL "
            f"WHEN dd.at <= h.sla_due THEN {sql.true} ELSE {sql.false} END, "
            "b.at, e.escalated_to, e.reassigned_to, c.at, c.actor, c.position, c.reason FROM ("
            # per hand-off: its decision, its last escalation, its first breach, its recycle
            "SELECT r.lead, r.g, d.decided, "
            f"max(CASE WHEN r.type = 'HandOffEscalated' AND {pending} THEN r.seq END) AS esc, "
            "min(CASE WHEN r.type = 'SlaBreached' AND r.sla = 'handoff' "
            f"AND {pending} THEN r.seq END) AS breach, "
            "min(CASE WHEN r.type IN ('LeadRecycled', 'StageChanged') AND d.decided IS NOT NULL "
            "AND r.seq > d.decided THEN r.seq END) AS recycle FROM r "
            "JOIN (SELECT lead, g, "
            f"min(CASE WHEN type IN {decision} THEN seq END) AS decided FROM r GROUP BY lead, g) d "
            "ON d.lead = r.lead AND d.g = r.g GROUP BY r.lead, r.g, d.decided) x "
            f"JOIN {LOG} h ON h.lead = x.lead AND h.seq = x.g "
            f"LEFT JOIN {LOG} dd ON dd.lead = x.lead AND dd.seq = x.decided "
            f"LEFT JOIN {LOG} e ON e.lead = x.lead AND e.seq = x.esc "
            f"LEFT JOIN {LOG} b ON b.lead = x.lead AND b.seq = x.breach "
            f"LEFT JOIN {LOG} c ON c.lead = x.lead AND c.seq = x.recycle"
        )
        sql.open_sealed(self.sealed)
        sql.erase(HANDOFFS, _ERASED)


def _handed_off(lead_id: str, record: EventRecord) -> dict[str, Any]:
    data = record.data
    due = data.get("sla_due")
    return {
        "lead_id": lead_id,
        "handed_off_sequence": record.sequence,
        "handed_off_position": record.position,
        "from_owner": data.get("from_owner"),
        "to_owner": data["to_owner"],
        "handed_off_by": record.actor,
        "handed_off_at": utc(record.occurred_at),
        "handed_off_recorded_at": utc(record.recorded_at),
        "sla_due": utc(datetime.fromisoformat(due)) if due else None,
        "note": data.get("note"),
        "outcome": "pending",
        "decided_at": None,
        "decided_recorded_at": None,
        "decided_by": None,
        "decided_position": None,
        "reason": None,
        "response_seconds": None,
        "sla_met": None,
        "breached_at": None,
        "escalated_to": None,
        "reassigned_to": None,
        "recycled_at": None,
        "recycled_by": None,
        "recycled_position": None,
        "recycle_reason": None,
    }


def _decide(row: dict[str, Any], record: EventRecord) -> None:
    at = utc(record.occurred_at)
    row["outcome"] = "accepted" if record.type == "HandOffAccepted" else "rejected"
    row["decided_at"] = at
    row["decided_recorded_at"] = utc(record.recorded_at)
    row["decided_by"] = record.data.get("by") or record.actor
    row["decided_position"] = record.position
    row["reason"] = record.data.get("reason")
    row["response_seconds"] = (at - row["handed_off_at"]).total_seconds()
    row["sla_met"] = at <= row["sla_due"] if row["sla_due"] is not None else None


# -- queries --------------------------------------------------------------------------------


def audit_trail(
    conn: sa.Connection,
    *,
    lead_id: UUID | None = None,
    rep: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The documented JSON shape of ``leadflow audit --json`` (a list, oldest first).

    ``rep`` matches either side of the hand-off (from or to); ``since``/``until``
    bound ``handed_off_at``. A pending hand-off past its due time at ``now`` is
    reported as ``overdue``.
    """
    h = HANDOFFS
    query = sa.select(h).order_by(h.c.handed_off_at, h.c.handed_off_position)
    if lead_id is not None:
        query = query.where(h.c.lead_id == str(lead_id))
    if rep is not None:
        query = query.where(sa.or_(h.c.to_owner == rep, h.c.from_owner == rep))
    if since is not None:
        query = query.where(h.c.handed_off_at >= utc(since))
    if until is not None:
        query = query.where(h.c.handed_off_at <= utc(until))
    result = []
    for row in conn.execute(query).mappings():
        due = as_utc(row["sla_due"])
        result.append(
            {
                "lead_id": row["lead_id"],
                "handoff_event_id": str(event_id(UUID(row["lead_id"]), row["handed_off_sequence"])),
                "position": row["handed_off_position"],
                "from_owner": row["from_owner"],
                "to_owner": row["to_owner"],
                "handed_off_by": row["handed_off_by"],
                "handed_off_at": iso(row["handed_off_at"]),
                "sla_due": iso(due),
                "note": row["note"],
                "outcome": row["outcome"],
                "decided_by": row["decided_by"],
                "decided_at": iso(row["decided_at"]),
                "reason": row["reason"],
                "response_seconds": row["response_seconds"],
                "sla_met": row["sla_met"],
                "breached_at": iso(row["breached_at"]),
                "escalated_to": row["escalated_to"],
                "reassigned_to": row["reassigned_to"],
                "overdue": bool(
                    row["outcome"] == "pending"
                    and due is not None
                    and now is not None
                    and now > due
                ),
                "recycled_at": iso(row["recycled_at"]),
                "recycled_by": row["recycled_by"],
                "recycle_reason": row["recycle_reason"],
            }
        )
    return result
