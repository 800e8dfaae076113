"""Read model ``leads``: one row per lead, and who owned it when.

``lf_leads`` is the lead as it stands now (stage, status, owner, score) plus its
attribution as captured (source, campaign, region, capture cohort). It answers the
public pool (``in_pool``, see :func:`pool`), the score ranking and the ``--by`` /
cohort dimensions of the funnel. Personal data (names, emails, phones) is deliberately
not copied: read models need no erasure.

``in_pool`` is :func:`leadflow.domain.ownership.in_pool` of the row, under the closed
stages the projection was built with (the pipeline in force, given by the caller).
They are part of the projection's fingerprint, so a pipeline that closes other stages
rebuilds the table: every row is always the log folded under one rule, and a rebuild
gives the same table as catching up.

``lf_ownership`` holds one row per period a rep owned a lead, with the first
follow-up and the conversion inside that period: rep performance is a ``GROUP BY``
over it (see :func:`rep_performance`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadflow.domain.ownership import in_pool
from leadflow.projections._sql import (
    READ_MODELS,
    RowSet,
    Timestamp,
    as_utc,
    by_lead,
    lead_ids_in,
    utc,
)
from leadflow.projections.log_table import LOG, Sealed, Sql
from leadflow.service.codec import EventRecord
from leadflow.service.pipeline_files import default_pipeline

__all__ = [
    "LEADS",
    "OWNERSHIP",
    "Leads",
    "PoolLead",
    "PoolPage",
    "RepPerformance",
    "pool",
    "rep_performance",
]

LEADS = sa.Table(
    "lf_leads",
    READ_MODELS,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("captured_at", Timestamp, nullable=False),
    sa.Column("captured_recorded_at", Timestamp, nullable=False),
    sa.Column("cohort_month", sa.String(7), nullable=False),
    sa.Column("source", sa.Text),
    sa.Column("campaign", sa.Text),
    sa.Column("region", sa.Text),
    sa.Column("stage", sa.String(64), nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("owner", sa.Text),
    sa.Column("owned_since", Timestamp),
    sa.Column("pending_handoff_to", sa.Text),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("merged_into", sa.String(36)),
    sa.Column("erased", sa.Boolean, nullable=False),
    sa.Column("in_pool", sa.Boolean, nullable=False),
    sa.Column("last_touch_at", Timestamp),
    sa.Column("last_event_at", Timestamp, nullable=False),
    sa.Column("last_position", sa.BigInteger, nullable=False),
    # A rep's leads (with the search's other filters, so an owner's matches are counted
    # and filtered off the index); merged_into last: the planner takes ``IS NULL`` for rare.
    sa.Index(
        "lf_leads_owner",
        "owner",
        "stage",
        "source",
        "status",
        "score",
        "captured_at",
        "merged_into",
    ),
    # The pool's own order: the oldest pool leads are read off the index, and counted from it.
    sa.Index("lf_leads_pool", "in_pool", "captured_at", "lead_id"),
)

_FILTERED = ("merged_into", "stage", "status", "owner", "source")
"""The columns a lead search filters on (but the campaign), held by each search index."""


def _search_indexes() -> None:
    """The orders of ``leadflow leads`` (:mod:`leadflow.projections.lead_search`).

    One index per sort key and direction, ties broken by ``lead_id`` ascending (so a
    descending key has its own index), last touch with nulls last as the expression the
    search orders by. Each also holds the filtered columns, so a page is read in order off
    the index and its filters are checked there, without a table lookup.
    """
    c = LEADS.c
    filtered = [c[name] for name in _FILTERED]
    nulls_last = [c.last_touch_at.is_(None)]
    for name, column, keys, also in (
        ("captured", c.captured_at, [], [c.score]),
        ("score", c.score, [], [c.captured_at]),
        ("touch", c.last_touch_at, nulls_last, [c.score, c.captured_at]),
    ):
        for suffix, key in (("", column), ("_desc", column.desc())):
            sa.Index(f"lf_leads_{name}{suffix}", *keys, key, c.lead_id, *filtered, *also)


_search_indexes()

OWNERSHIP = sa.Table(
    "lf_ownership",
    READ_MODELS,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("started_sequence", sa.Integer, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("how", sa.String(16), nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("started_recorded_at", Timestamp, nullable=False),
    sa.Column("started_position", sa.BigInteger, nullable=False),
    sa.Column("started_by", sa.Text, nullable=False),
    sa.Column("ended_at", Timestamp),
    sa.Column("ended_recorded_at", Timestamp),
    sa.Column("ended_position", sa.BigInteger),
    sa.Column("ended_sequence", sa.Integer),
    sa.Column("first_touch_at", Timestamp),
    sa.Column("first_touch_recorded_at", Timestamp),
    sa.Column("converted_at", Timestamp),
    sa.Column("converted_recorded_at", Timestamp),
    sa.Index("lf_ownership_owner", "owner", "started_at"),
    sa.Index("lf_ownership_open", "lead_id", "ended_position"),
)

_OWNER_CHANGES = {"LeadAssigned": "assigned", "LeadClaimed": "claimed"}
_CHANGES, _BOUNDARIES = "lf_log_owner_changes", "lf_log_ownership"
"""Temporary tables of a :meth:`Leads.build`."""


class Leads:
    """``lf_leads`` and ``lf_ownership``; ``closed_stages`` decide ``in_pool``.

    Pass the pipeline in force's ``assignment.closed_stages`` (the default is the shipped
    pipeline's): the domain's claim and loads use the pipeline in force too.
    """

    name = "leads"
    tables = [LEADS, OWNERSHIP]
    version = 4
    """2: ``in_pool`` and ``last_touch_at``; 3: ownership's ``ended_sequence`` and the
    recording times of the first touch and the conversion (``report reps``); 4: the
    search indexes (one per sort key and direction, holding the filtered columns)."""

    def __init__(self, closed_stages: Collection[str] | None = None) -> None:
        if closed_stages is None:
            closed_stages = default_pipeline().assignment.closed_stages
        self.closed_stages = frozenset(closed_stages)
        self.settings = "closed_stages=" + ",".join(sorted(self.closed_stages))
        """What else the rows depend on; part of the fingerprint (see the runner)."""

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(OWNERSHIP.delete())
        conn.execute(LEADS.delete())

    def handle(self, conn: sa.Connection, records: Sequence[EventRecord]) -> None:
        grouped = by_lead(records)
        leads, ownership = RowSet(LEADS), RowSet(OWNERSHIP)
        for where in lead_ids_in(LEADS.c.lead_id, grouped):
            leads.load(conn, where)
        open_periods: dict[str, dict[str, Any]] = {}
        for where in lead_ids_in(OWNERSHIP.c.lead_id, grouped):
            for row in ownership.load(conn, sa.and_(where, OWNERSHIP.c.ended_position.is_(None))):
                open_periods[row["lead_id"]] = row
        for lead_uuid, events in grouped.items():
            lead_id = str(lead_uuid)
            lead = leads.rows.get((lead_id,))
            for record in events:
                if lead is None:
                    if record.type != "LeadCaptured":
                        continue  # a lead whose capture is not in the log: nothing to attach to
                    lead = leads.add(_captured(lead_id, record))
                    continue
                self._apply(record, lead, open_periods, ownership)
                lead["last_event_at"] = utc(record.occurred_at)
                lead["last_position"] = record.position
                leads.touch(lead)
            if lead is not None:
                # Once per lead and batch: membership depends on the state, not the path.
                lead["in_pool"] = in_pool(_Facts(lead), self.closed_stages)
        leads.flush(conn)
        ownership.flush(conn)

    sealed = [Sealed(LEADS, "region", ("lead_id", "lead"), ("LeadCaptured",), "attributes.region")]
    """Columns copied from a personal value (a region the pipeline declares personal)."""

    def build(self, sql: Sql) -> None:
        """:meth:`handle` of the whole log, in SQL over ``lf_log``.

        Ownership: an assignment or claim with an owner, or an accepted hand-off while one
        is pending, starts a period; the next of those or a release ends it. A hand-off is
        pending from ``LeadHandedOff`` until the first decision after it; an escalation
        that reassigns it while pending changes to whom."""
        decision = "('HandOffAccepted', 'HandOffRejected')"
        to_whom = "type = 'LeadHandedOff' OR (type = 'HandOffEscalated' AND reassigned_to <> '')"
        owners = (
            "'LeadAssigned', 'LeadClaimed', 'HandOffAccepted', 'LeadReleased', "
            "'LeadHandedOff', 'HandOffRejected', 'HandOffEscalated'"
        )
        # o: the events that change the owner or the pending hand-off, each with its hand-off
        # (hg: how many hand-offs so far) and, before it within that hand-off, the decisions
        # and the latest event naming to whom it is pending.
        sql.run(f"DROP TABLE IF EXISTS {_CHANGES}")
        sql.run(
            f"CREATE TEMPORARY TABLE {_CHANGES} AS SELECT lead, seq, type, owner, reassigned_to, "
            "hg, "
            f"count(CASE WHEN type IN {decision} THEN 1 END) OVER w AS decided, "
            f"max(CASE WHEN {to_whom} THEN seq END) OVER w AS named FROM ("
            "SELECT lead, seq, type, owner, reassigned_to, sum(CASE WHEN type = 'LeadHandedOff' "
            "THEN 1 ELSE 0 END) OVER (PARTITION BY lead ORDER BY seq ROWS UNBOUNDED PRECEDING) "
            f"AS hg FROM {LOG} WHERE type IN ({owners})) o WINDOW w AS (PARTITION BY lead, hg "
            "ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        )
        pending_owner = "COALESCE(v.to_owner, v.reassigned_to)"
        # b: the ownership boundaries (starts, with their owner and how; releases)
        sql.run(f"DROP TABLE IF EXISTS {_BOUNDARIES}")
        sql.run(
            f"CREATE TEMPORARY TABLE {_BOUNDARIES} AS SELECT lead, seq, owner, how, "
            "LEAD(seq) OVER (PARTITION BY lead ORDER BY seq) AS until FROM ("
            "SELECT o.lead, o.seq, CASE WHEN o.type = 'HandOffAccepted' THEN "
            f"{pending_owner} ELSE o.owner END AS owner, CASE o.type "
            "WHEN 'LeadAssigned' THEN 'assigned' WHEN 'LeadClaimed' THEN 'claimed' "
            "WHEN 'HandOffAccepted' THEN 'handoff' END AS how "
            f"FROM {_CHANGES} o LEFT JOIN {LOG} v ON o.type = 'HandOffAccepted' AND o.hg > 0 "
            "AND o.decided = 0 AND v.lead = o.lead AND v.seq = o.named "
            "WHERE o.type = 'LeadReleased' "
            "OR (o.type IN ('LeadAssigned', 'LeadClaimed') AND o.owner IS NOT NULL) "
            f"OR (o.type = 'HandOffAccepted' AND {pending_owner} IS NOT NULL)) b"
        )
        sql.run(f"CREATE INDEX {_BOUNDARIES}_key ON {_BOUNDARIES} (lead, seq)")
        sql.run(f"CREATE INDEX {_CHANGES}_key ON {_CHANGES} (lead, hg)")

        def first_in_period(condition: str, column: str = "at") -> str:
            return (
                f"(SELECT a.{column} FROM {LOG} a WHERE a.lead = b.lead AND a.seq > b.seq "
                f"AND (b.until IS NULL OR a.seq < b.until) AND {condition} "
                "ORDER BY a.seq LIMIT 1)"
            )

        follow_up = "a.type = 'ActivityRecorded' AND a.category = 'follow_up'"
        converted = "a.type = 'LeadConverted'"
        sql.run(
            f"INSERT INTO {sql.table(OWNERSHIP)} (lead_id, started_sequence, owner, how, "
            "started_at, started_recorded_at, started_position, started_by, ended_at, "
            "ended_recorded_at, ended_position, ended_sequence, first_touch_at, "
            "first_touch_recorded_at, converted_at, converted_recorded_at) "
            "SELECT b.lead, b.seq, b.owner, b.how, s.at, s.rec, s.position, s.actor, "
            "x.at, x.rec, x.position, x.seq, "
            + first_in_period(follow_up)
            + ", "
            + first_in_period(follow_up, "rec")
            + ", "
            + first_in_period(converted)
            + ", "
            + first_in_period(converted, "rec")
            + f" FROM {_BOUNDARIES} b JOIN {LOG} s ON s.lead = b.lead AND s.seq = b.seq "
            f"LEFT JOIN {LOG} x ON x.lead = b.lead AND x.seq = b.until WHERE b.how IS NOT NULL"
        )
        stage_types = "('LeadCaptured', 'StageChanged')"
        sql.run(
            f"INSERT INTO {sql.table(LEADS)} (lead_id, captured_at, captured_recorded_at, "
            "cohort_month, source, campaign, region, stage, status, owner, owned_since, "
            "pending_handoff_to, score, merged_into, erased, in_pool, last_touch_at, "
            "last_event_at, last_position) "
            f"SELECT c.lead, c.at, c.rec, {sql.month('c.at')}, c.source, c.campaign, c.region, "
            "st.stage, su.status, ob.owner, CASE WHEN ob.owner IS NOT NULL THEN os.at END, "
            f"CASE WHEN p.decided = 0 THEN {pending_owner} END, COALESCE(sc.score, 0.0), "
            "CASE WHEN mg.type = 'LeadMerged' THEN mg.into_lead END, "
            f"CASE WHEN g.erased > 0 THEN {sql.true} ELSE {sql.false} END, {sql.false}, "
            "g.touch, le.at, le.position FROM ("
            f"SELECT lead, max(seq) AS last, max(CASE WHEN type IN {stage_types} THEN seq END) "
            "AS stage, max(CASE WHEN type IN ('LeadCaptured', 'StatusChanged') THEN seq END) "
            "AS status, max(CASE WHEN type = 'LeadScored' THEN seq END) AS score, "
            "max(CASE WHEN type IN ('LeadMerged', 'LeadUnmerged') THEN seq END) AS merge, "
            "sum(CASE WHEN type = 'PersonalDataErased' THEN 1 ELSE 0 END) AS erased, "
            "max(CASE WHEN type = 'ActivityRecorded' THEN at WHEN type = 'TouchRecorded' "
            f"THEN touched_at END) AS touch FROM {LOG} GROUP BY lead) g "
            f"JOIN {LOG} c ON c.lead = g.lead AND c.type = 'LeadCaptured' "
            f"JOIN {LOG} le ON le.lead = g.lead AND le.seq = g.last "
            f"JOIN {LOG} st ON st.lead = g.lead AND st.seq = g.stage "
            f"JOIN {LOG} su ON su.lead = g.lead AND su.seq = g.status "
            f"LEFT JOIN {LOG} sc ON sc.lead = g.lead AND sc.seq = g.score "
            f"LEFT JOIN {LOG} mg ON mg.lead = g.lead AND mg.seq = g.merge "
            # the owner: the last boundary's
            f"LEFT JOIN (SELECT lead, max(seq) AS seq FROM {_BOUNDARIES} GROUP BY lead) lb "
            "ON lb.lead = g.lead "
            f"LEFT JOIN {_BOUNDARIES} ob ON ob.lead = g.lead AND ob.seq = lb.seq "
            f"LEFT JOIN {LOG} os ON os.lead = g.lead AND os.seq = lb.seq "
            # the pending hand-off: the latest hand-off's, unless decided
            f"LEFT JOIN (SELECT lead, hg, count(CASE WHEN type IN {decision} THEN 1 END) "
            f"AS decided, max(CASE WHEN {to_whom} THEN seq END) AS named, "
            "max(hg) OVER (PARTITION BY lead) AS latest "
            f"FROM {_CHANGES} WHERE hg > 0 GROUP BY lead, hg) p "
            "ON p.lead = g.lead AND p.hg = p.latest "
            f"LEFT JOIN {LOG} v ON v.lead = g.lead AND v.seq = p.named"
        )
        sql.run(f"DROP TABLE {_CHANGES}")
        sql.run(f"DROP TABLE {_BOUNDARIES}")
        self._build_pool(sql)
        sql.open_sealed(self.sealed)
        if not sql.partial:
            # The planner's statistics of the first-built table: it then reads a search in
            # its index order rather than through the owner index and a sort (lead_search).
            # Not on a catch-up: the shares of the values change little, and it reads it all.
            sql.run(f"ANALYZE {sql.table(LEADS)}")

    def forget(self, sql: Sql) -> None:
        """Before a catch-up's :meth:`build` of the leads it touches: their rows go."""
        sql.forget([OWNERSHIP, LEADS])

    def _build_pool(self, sql: Sql) -> None:
        """``in_pool`` by the domain's rule, once per distinct combination of its facts."""
        leads = sql.table(LEADS)
        built = sql.only("lead_id")
        facts = sql.conn.exec_driver_sql(
            f"SELECT DISTINCT owner, stage, merged_into, erased FROM {leads} WHERE {built}"
        ).all()
        same = "IS NOT DISTINCT FROM" if sql.postgres else "IS"
        marker = "%s" if sql.postgres else "?"
        pooled = [
            (owner, stage, merged_into, erased)
            for owner, stage, merged_into, erased in facts
            if in_pool(
                _Facts(
                    {"owner": owner, "stage": stage, "merged_into": merged_into, "erased": erased}
                ),
                self.closed_stages,
            )
        ]
        if pooled:
            sql.conn.exec_driver_sql(
                f"UPDATE {leads} SET in_pool = {sql.true} WHERE owner {same} {marker} "
                f"AND stage = {marker} AND merged_into {same} {marker} AND erased = {marker} "
                f"AND {built}",
                pooled,
            )

    @staticmethod
    def _apply(
        record: EventRecord,
        lead: dict[str, Any],
        open_periods: dict[str, dict[str, Any]],
        ownership: RowSet,
    ) -> None:
        kind, data = record.type, record.data
        lead_id = lead["lead_id"]
        if kind == "StageChanged":
            lead["stage"] = data["stage"]
        elif kind == "StatusChanged":
            lead["status"] = data["status"]
        elif kind == "LeadScored":
            lead["score"] = float(data["score"])
        elif kind in _OWNER_CHANGES or kind == "HandOffAccepted":
            if kind == "HandOffAccepted":
                owner, how = lead["pending_handoff_to"], "handoff"
                lead["pending_handoff_to"] = None
            else:
                owner, how = data["owner"], _OWNER_CHANGES[kind]
            if owner is None:
                return
            _end_period(open_periods, ownership, lead_id, record)
            at = utc(record.occurred_at)
            open_periods[lead_id] = ownership.add(
                {
                    "lead_id": lead_id,
                    "started_sequence": record.sequence,
                    "owner": owner,
                    "how": how,
                    "started_at": at,
                    "started_recorded_at": utc(record.recorded_at),
                    "started_position": record.position,
                    "started_by": record.actor,
                    "ended_at": None,
                    "ended_recorded_at": None,
                    "ended_position": None,
                    "ended_sequence": None,
                    "first_touch_at": None,
                    "first_touch_recorded_at": None,
                    "converted_at": None,
                    "converted_recorded_at": None,
                }
            )
            lead["owner"], lead["owned_since"] = owner, at
        elif kind == "LeadReleased":
            _end_period(open_periods, ownership, lead_id, record)
            lead["owner"] = lead["owned_since"] = None
        elif kind == "LeadHandedOff":
            lead["pending_handoff_to"] = data["to_owner"]
        elif kind == "HandOffRejected":
            lead["pending_handoff_to"] = None
        elif kind == "HandOffEscalated":
            if data.get("reassigned_to") and lead["pending_handoff_to"] is not None:
                lead["pending_handoff_to"] = data["reassigned_to"]
        elif kind == "ActivityRecorded":
            _touched(lead, utc(record.occurred_at))
            period = open_periods.get(lead_id)
            if data.get("category") == "follow_up" and period and not period["first_touch_at"]:
                period["first_touch_at"] = utc(record.occurred_at)
                period["first_touch_recorded_at"] = utc(record.recorded_at)
                ownership.touch(period)
        elif kind == "LeadConverted":
            period = open_periods.get(lead_id)
            if period and not period["converted_at"]:
                period["converted_at"] = utc(record.occurred_at)
                period["converted_recorded_at"] = utc(record.recorded_at)
                ownership.touch(period)
        elif kind == "LeadMerged":
            lead["merged_into"] = str(data["into_lead_id"])
        elif kind == "LeadUnmerged":
            lead["merged_into"] = None
        elif kind == "PersonalDataErased":
            lead["erased"] = True
        elif kind == "TouchRecorded":
            # ``touched_at``, not the event time: a touch may be recorded after it happened.
            touched_at = as_utc(datetime.fromisoformat(data["touched_at"]))
            assert touched_at is not None
            _touched(lead, touched_at)


def _touched(lead: dict[str, Any], at: datetime) -> None:
    """``last_touch_at``: the latest activity (behaviour or follow-up) or repeat contact."""
    if lead["last_touch_at"] is None or at > lead["last_touch_at"]:
        lead["last_touch_at"] = at


class _Facts:
    """A row as :class:`~leadflow.domain.ownership.OwnershipFacts`."""

    __slots__ = ("erased", "merged_into", "owner", "stage")

    def __init__(self, row: dict[str, Any]) -> None:
        self.owner: str | None = row["owner"]
        self.stage: str = row["stage"]
        self.merged_into: str | None = row["merged_into"]
        self.erased: bool = bool(row["erased"])


def _captured(lead_id: str, record: EventRecord) -> dict[str, Any]:
    data = record.data
    at = utc(record.occurred_at)
    return {
        "lead_id": lead_id,
        "captured_at": at,
        "captured_recorded_at": utc(record.recorded_at),
        "cohort_month": f"{at.year:04d}-{at.month:02d}",
        "source": data.get("source"),
        "campaign": data.get("campaign"),
        "region": (data.get("attributes") or {}).get("region"),
        "stage": data["stage"],
        "status": data["status"],
        "owner": None,
        "owned_since": None,
        "pending_handoff_to": None,
        "score": 0.0,
        "merged_into": None,
        "erased": False,
        "in_pool": False,
        "last_touch_at": None,
        "last_event_at": at,
        "last_position": record.position,
    }


def _end_period(
    open_periods: dict[str, dict[str, Any]], ownership: RowSet, lead_id: str, record: EventRecord
) -> None:
    period = open_periods.pop(lead_id, None)
    if period is None:
        return
    period["ended_at"] = utc(record.occurred_at)
    period["ended_recorded_at"] = utc(record.recorded_at)
    period["ended_position"] = record.position
    period["ended_sequence"] = record.sequence
    ownership.touch(period)


# -- queries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolLead:
    """What a rep looks at before claiming a lead from the pool."""

    lead_id: str
    source: str | None
    stage: str
    score: float
    captured_at: datetime
    last_touch_at: datetime | None


@dataclass(frozen=True)
class PoolPage:
    count: int
    """How many leads are in the pool."""
    leads: list[PoolLead]
    """The oldest of them (by capture, then lead id), at most the limit asked for."""

    def to_json_dict(self) -> dict[str, Any]:
        """What ``leadflow pool --json`` prints and ``GET /v1/pool`` answers."""
        return {
            "count": self.count,
            "shown": len(self.leads),
            "leads": [
                {
                    "lead_id": lead.lead_id,
                    "source": lead.source,
                    "stage": lead.stage,
                    "score": lead.score,
                    "captured_at": lead.captured_at.isoformat(),
                    "last_touch_at": lead.last_touch_at.isoformat() if lead.last_touch_at else None,
                }
                for lead in self.leads
            ],
        }


def pool(conn: sa.Connection, limit: int) -> PoolPage:
    """The public pool, oldest capture first: ``in_pool`` rows (``lf_leads_pool`` index)."""
    t = LEADS
    count = conn.execute(sa.select(sa.func.count()).where(t.c.in_pool.is_(True))).scalar_one()
    rows = conn.execute(
        sa.select(t.c.lead_id, t.c.source, t.c.stage, t.c.score, t.c.captured_at, t.c.last_touch_at)
        .where(t.c.in_pool.is_(True))
        .order_by(t.c.captured_at, t.c.lead_id)
        .limit(limit)
    )
    leads = []
    for row in rows:
        captured_at = as_utc(row.captured_at)
        assert captured_at is not None
        leads.append(
            PoolLead(
                lead_id=row.lead_id,
                source=row.source,
                stage=row.stage,
                score=float(row.score),
                captured_at=captured_at,
                last_touch_at=as_utc(row.last_touch_at),
            )
        )
    return PoolPage(count=int(count), leads=leads)


@dataclass(frozen=True)
class RepPerformance:
    rep: str
    assigned: int
    """Ownership periods that started in the window (assignments, claims, accepted hand-offs)."""
    touched: int
    """Of those, how many got a follow-up (call, email, meeting, note) while the rep owned it."""
    avg_hours_to_first_touch: float | None
    handoffs_decided: int
    """Hand-offs to this rep that were accepted or rejected."""
    sla_met_pct: float | None
    """Share of decided hand-offs decided by their SLA due time."""
    converted: int
    """Ownership periods during which the lead converted."""


def rep_performance(
    conn: sa.Connection, since: datetime | None = None, until: datetime | None = None
) -> list[RepPerformance]:
    """Per rep: assigned, time to first touch, hand-off SLA met %, converted."""
    from leadflow.projections.handoffs import HANDOFFS

    o = OWNERSHIP
    periods = sa.select(
        o.c.owner,
        sa.func.count().label("assigned"),
        sa.func.count(o.c.first_touch_at).label("touched"),
        sa.func.count(o.c.converted_at).label("converted"),
    ).group_by(o.c.owner)
    if since is not None:
        periods = periods.where(o.c.started_at >= utc(since))
    if until is not None:
        periods = periods.where(o.c.started_at <= utc(until))
    touch_hours: dict[str, list[float]] = {}
    touches = sa.select(o.c.owner, o.c.started_at, o.c.first_touch_at).where(
        o.c.first_touch_at.is_not(None)
    )
    if since is not None:
        touches = touches.where(o.c.started_at >= utc(since))
    if until is not None:
        touches = touches.where(o.c.started_at <= utc(until))
    for owner, started, touched in conn.execute(touches):
        start, touch = as_utc(started), as_utc(touched)
        assert start is not None
        assert touch is not None
        touch_hours.setdefault(owner, []).append((touch - start).total_seconds() / 3600)
    h = HANDOFFS
    decided = (
        sa.select(
            h.c.to_owner,
            sa.func.count(h.c.sla_met).label("decided"),
            sa.func.sum(sa.case((h.c.sla_met.is_(True), 1), else_=0)).label("met"),
        )
        .where(h.c.outcome != "pending")
        .group_by(h.c.to_owner)
    )
    if since is not None:
        decided = decided.where(h.c.handed_off_at >= utc(since))
    if until is not None:
        decided = decided.where(h.c.handed_off_at <= utc(until))
    sla = {row.to_owner: (int(row.decided), int(row.met or 0)) for row in conn.execute(decided)}
    stats = {row.owner: row for row in conn.execute(periods)}
    result = []
    for rep in sorted(set(stats) | set(sla)):
        row = stats.get(rep)
        hours = touch_hours.get(rep)
        n_decided, met = sla.get(rep, (0, 0))
        result.append(
            RepPerformance(
                rep=rep,
                assigned=int(row.assigned) if row else 0,
                touched=int(row.touched) if row else 0,
                avg_hours_to_first_touch=sum(hours) / len(hours) if hours else None,
                handoffs_decided=n_decided,
                sla_met_pct=100.0 * met / n_decided if n_decided else None,
                converted=int(row.converted) if row else 0,
            )
        )
    return result
