"""The roster: reps, teams, managers, capacities, absences and who holds which open lead.

One org-level aggregate (:data:`ROSTER_ID`, topic family ``leadflow.team``) records
every change as an event, so the roster as it stood for any past assignment can be
rebuilt (``LeadAssigned.roster_version``). It also keeps the ledger of open leads per
rep and of claims per rep per day. The ledger is never kept by hand: the unit of work
compares whom each lead it changed counts for before and after the command
(:func:`leadflow.domain.ownership.counts_for`) and records a ``LoadChanged`` for each
difference, in the same atomic append as the leads. Two writers deciding on the same
roster conflict in the store; a load is never updated on a stale read.

Rep ids follow :data:`REP_ID` (``rep:`` and a lower-case name); a rep's team must be
defined first (``define_team``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import Field

from leadflow.domain.aggregate import Aggregate
from leadflow.domain.bounds import CAPACITY_MAX, WEIGHT_MAX, check_finite
from leadflow.domain.context import Context
from leadflow.domain.events import Payload, RecordedEvent, register_events
from leadflow.errors import InvalidInput

__all__ = [
    "REP_ID",
    "ROSTER_ID",
    "AbsenceRecorded",
    "ClaimCounted",
    "LoadChanged",
    "RepChanged",
    "RepInfo",
    "RepJoined",
    "RepLeft",
    "Roster",
    "RosterEvent",
    "RosterSnapshot",
    "TeamDefined",
    "is_rep_id",
]

ROSTER_ID = uuid5(NAMESPACE_URL, "https://leadflow.dev/roster")

REP_ID = re.compile(r"^rep:[a-z0-9][a-z0-9._-]{0,62}$")
"""A rep id: ``rep:`` then 1-63 lower-case letters, digits, ``.``, ``_`` or ``-``,
starting with a letter or digit (``rep:li``, ``rep:wang.wei``)."""

REP_SETTINGS = ("team", "capacity", "weight")
"""What ``add_rep`` can set on an existing rep (and ``clear`` can reset)."""


def is_rep_id(actor: str) -> bool:
    """Whether ``actor`` names a rep (``rep:…``), as opposed to a user, manager or rule."""
    return actor.startswith("rep:")


# ---- payloads ----------------------------------------------------------------------------


class RepJoinedData(Payload):
    rep: str
    """The rep's id (e.g. ``rep:li``)."""
    team: str | None = None
    """Their team (``None``: no team)."""
    capacity: int | None = Field(default=None, ge=0)
    """Most open leads this rep may hold; ``None``: the pipeline's ``max_open_leads``."""
    weight: float = Field(default=1.0, gt=0)
    """Share of new leads under the ``weighted`` strategy."""


class RepChangedData(Payload):
    """The rep's settings from now on (all of them, not only what changed)."""

    rep: str
    """The rep's id."""
    team: str | None = None
    """Their team."""
    capacity: int | None = Field(default=None, ge=0)
    """Most open leads (``None``: the pipeline's ``max_open_leads``)."""
    weight: float = Field(default=1.0, gt=0)
    """Share of new leads under the ``weighted`` strategy."""


class RepLeftData(Payload):
    rep: str
    """The rep who left the roster (their open leads were redistributed)."""
    reason: str
    """Why."""


class AbsenceData(Payload):
    rep: str
    """The absent rep."""
    start: datetime
    """First instant of the absence."""
    end: datetime
    """End of the absence (exclusive)."""
    reason: str | None = None
    """Leave, training, …"""


class TeamDefinedData(Payload):
    team: str
    """The team."""
    managers: list[str]
    """User ids of its managers (who may ``assign`` its reps' leads)."""


class LoadChangedData(Payload):
    lead_id: UUID
    """The lead."""
    from_rep: str | None
    """The rep it counted for before (``None``: nobody)."""
    to_rep: str | None
    """The rep it counts for now (``None``: nobody: pooled, closed, merged)."""
    cause: str
    """What moved it: the command (``claim``, ``assign``, ``redistribute`` …; before the unit of
    work derived loads, the lead event type: ``LeadAssigned``, ``LeadReleased`` …)."""
    claim_day: str | None = None
    """For claims: the claim day (``YYYY-MM-DD`` in ``pool.day_timezone``)."""


class ClaimCountedData(Payload):
    rep: str
    """The rep who claimed a lead from the public pool."""
    claim_day: str
    """The claim day (``YYYY-MM-DD`` in ``pool.day_timezone``)."""
    lead_id: UUID
    """The lead claimed."""


# ---- events ------------------------------------------------------------------------------

D = TypeVar("D", bound=Payload)


@dataclass(frozen=True, kw_only=True)
class RosterEvent(RecordedEvent[D]):
    FAMILY = "leadflow.team"


@dataclass(frozen=True, kw_only=True)
class RepJoined(RosterEvent[RepJoinedData]):
    """A rep joined the roster."""

    TYPE = "RepJoined"
    DATA = RepJoinedData


@dataclass(frozen=True, kw_only=True)
class RepChanged(RosterEvent[RepChangedData]):
    """A rep's team, capacity or weight changed."""

    TYPE = "RepChanged"
    DATA = RepChangedData


@dataclass(frozen=True, kw_only=True)
class RepLeft(RosterEvent[RepLeftData]):
    """A rep left the roster; nobody else's counts change."""

    TYPE = "RepLeft"
    DATA = RepLeftData


@dataclass(frozen=True, kw_only=True)
class AbsenceRecorded(RosterEvent[AbsenceData]):
    """A rep will be away: skipped by assignment then, keeping their credit."""

    TYPE = "AbsenceRecorded"
    DATA = AbsenceData


@dataclass(frozen=True, kw_only=True)
class TeamDefined(RosterEvent[TeamDefinedData]):
    """A team and its managers."""

    TYPE = "TeamDefined"
    DATA = TeamDefinedData


@dataclass(frozen=True, kw_only=True)
class LoadChanged(RosterEvent[LoadChangedData]):
    """A lead started or stopped counting toward a rep's open leads."""

    TYPE = "LoadChanged"
    DATA = LoadChangedData


@dataclass(frozen=True, kw_only=True)
class ClaimCounted(RosterEvent[ClaimCountedData]):
    """A claim counted toward the rep's daily claim limit (``pool.daily_claim_limit``)."""

    TYPE = "ClaimCounted"
    DATA = ClaimCountedData


class RepStateData(Payload):
    team: str | None = None
    """The rep's team."""
    capacity: int | None = None
    """Their capacity."""
    weight: float = 1.0
    """Their weight."""
    absences: list[tuple[datetime, datetime]] = Field(default_factory=list)
    """Their absences, ``[start, end)``."""


class RosterStateData(Payload):
    reps: dict[str, RepStateData]
    """Reps on the roster."""
    teams: dict[str, list[str]]
    """Team → managers."""
    open_leads: dict[str, list[UUID]]
    """Rep → the open leads counting for them."""
    last_given: dict[str, int]
    """Rep → roster version of their last lead."""
    claims: dict[str, tuple[str, int]]
    """Rep → (claim day, claims that day)."""
    departed: dict[str, datetime] = Field(default_factory=dict)
    """Rep → when they left the roster."""


@dataclass(frozen=True, kw_only=True)
class RosterSnapshot(RosterEvent[RosterStateData]):
    """The whole roster at a version. Kept in the snapshot table, never in the log: a fresh
    process loads the latest one and only the roster events after it."""

    TYPE = "RosterSnapshot"
    DATA = RosterStateData

    def mutate(self, aggregate: Aggregate[Any] | None) -> Roster:
        """A snapshot replaces the roster whole (it is never appended to the log)."""
        d = self.data
        roster = Roster(id=self.originator_id, version=self.originator_version)
        roster.reps = {
            rep: RepInfo(info.team, info.capacity, info.weight, list(info.absences))
            for rep, info in d.reps.items()
        }
        roster.teams = {team: list(managers) for team, managers in d.teams.items()}
        roster.open_leads = {rep: set(leads) for rep, leads in d.open_leads.items()}
        roster.holder = {lead: rep for rep, leads in d.open_leads.items() for lead in leads}
        roster.last_given = dict(d.last_given)
        roster.claims = dict(d.claims)
        roster.departed = dict(d.departed)
        return roster

    @classmethod
    def take(cls, roster: Roster, at: datetime) -> RosterSnapshot:
        """The roster's state at its current version, taken at instant ``at``."""
        return cls(
            originator_id=roster.id,
            originator_version=roster.version,
            timestamp=at,
            occurred_at=at,
            actor="system:roster-snapshot",
            data=RosterStateData(
                reps={
                    rep: RepStateData(
                        team=info.team,
                        capacity=info.capacity,
                        weight=info.weight,
                        absences=list(info.absences),
                    )
                    for rep, info in roster.reps.items()
                },
                teams={team: list(managers) for team, managers in roster.teams.items()},
                open_leads={
                    rep: sorted(leads, key=str) for rep, leads in roster.open_leads.items() if leads
                },
                last_given=dict(roster.last_given),
                claims=dict(roster.claims),
                departed=dict(roster.departed),
            ),
        )


register_events(
    RepJoined,
    RepChanged,
    RepLeft,
    AbsenceRecorded,
    TeamDefined,
    LoadChanged,
    ClaimCounted,
    RosterSnapshot,
)


# ---- the aggregate -----------------------------------------------------------------------


@dataclass
class RepInfo:
    team: str | None
    capacity: int | None
    weight: float
    absences: list[tuple[datetime, datetime]] = field(default_factory=list)

    def absent_at(self, at: datetime) -> bool:
        return any(start <= at < end for start, end in self.absences)


@dataclass(eq=False)
class Roster(Aggregate[RosterEvent[Any]]):
    """Reps, teams and managers, and the ledger of each rep's open leads and daily claims."""

    FAMILY: ClassVar[str] = "leadflow.team"

    id: UUID = ROSTER_ID
    reps: dict[str, RepInfo] = field(default_factory=dict)
    """Reps on the roster now (a rep who left is gone; their open leads stay counted)."""
    teams: dict[str, list[str]] = field(default_factory=dict)
    """Team → its managers."""
    holder: dict[UUID, str] = field(default_factory=dict)
    """Open lead → the rep it counts for."""
    open_leads: dict[str, set[UUID]] = field(default_factory=dict)
    last_given: dict[str, int] = field(default_factory=dict)
    """Rep → roster version at which they last received a lead (the round-robin tie-break)."""
    claims: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Rep → (claim day, claims that day)."""
    departed: dict[str, datetime] = field(default_factory=dict)
    """Rep → when they left the roster (a rep who left may no longer act)."""

    # -- reading --------------------------------------------------------------------------

    def load(self, rep: str) -> int:
        return len(self.open_leads.get(rep, ()))

    def claims_on(self, rep: str, day: str) -> int:
        last_day, count = self.claims.get(rep, ("", 0))
        return count if last_day == day else 0

    def members(self, team: str | None) -> list[str]:
        """Reps of ``team`` (every rep when ``None``), in a stable order."""
        return sorted(r for r, info in self.reps.items() if team is None or info.team == team)

    def managers_of(self, rep: str) -> list[str]:
        info = self.reps.get(rep)
        if info is None or info.team is None:
            return []
        return list(self.teams.get(info.team, []))

    def managers(self) -> set[str]:
        """Everyone who manages a team."""
        return {manager for managers in self.teams.values() for manager in managers}

    def require_rep(self, rep: str, field_name: str = "rep") -> RepInfo:
        info = self.reps.get(rep)
        if info is None:
            known = ", ".join(sorted(self.reps)) or "none yet (add one with `leadflow rep add`)"
            raise InvalidInput(field_name, f"{rep!r} is not on the roster; reps: {known}")
        return info

    # -- state evolution ------------------------------------------------------------------

    def _apply(self, event: RosterEvent[Any]) -> None:
        d: Any = event.data
        match event:
            case RepJoined():
                self.reps[d.rep] = RepInfo(d.team, d.capacity, d.weight)
            case RepChanged():
                info = self.reps[d.rep]
                info.team, info.capacity, info.weight = d.team, d.capacity, d.weight
            case RepLeft():
                del self.reps[d.rep]
                self.departed[d.rep] = event.occurred_at
            case AbsenceRecorded():
                self.reps[d.rep].absences.append((d.start, d.end))
            case TeamDefined():
                self.teams[d.team] = list(d.managers)
            case LoadChanged():
                if d.from_rep is not None:
                    self.open_leads.get(d.from_rep, set()).discard(d.lead_id)
                    self.holder.pop(d.lead_id, None)
                if d.to_rep is not None:
                    self.open_leads.setdefault(d.to_rep, set()).add(d.lead_id)
                    self.holder[d.lead_id] = d.to_rep
                    self.last_given[d.to_rep] = event.originator_version
                if d.claim_day is not None and d.to_rep is not None:  # before ClaimCounted
                    count = self.claims_on(d.to_rep, d.claim_day)
                    self.claims[d.to_rep] = (d.claim_day, count + 1)
            case ClaimCounted():
                self.claims[d.rep] = (d.claim_day, self.claims_on(d.rep, d.claim_day) + 1)
            case _:
                raise TypeError(f"no roster change defined for {type(event).__name__}")

    # -- commands -------------------------------------------------------------------------

    def add_rep(
        self,
        rep: str,
        ctx: Context,
        *,
        team: str | None = None,
        capacity: int | None = None,
        weight: float | None = None,
        clear: Collection[str] = (),
    ) -> None:
        """Put a rep on the roster, or change the settings given (the others stay).

        ``None`` leaves a setting as it is; ``clear`` names settings to reset (``team``:
        no team, ``capacity``: the pipeline's ``max_open_leads``, ``weight``: 1).
        """
        if not REP_ID.fullmatch(rep):
            raise InvalidInput(
                "rep",
                f"{rep!r} is not a rep id: write rep: and a lower-case name of letters, "
                "digits, . _ or - (e.g. rep:li, rep:wang.wei)",
            )
        for name in clear:
            if name not in REP_SETTINGS:
                raise InvalidInput("clear", f"{name!r} is not one of: {', '.join(REP_SETTINGS)}")
            if {"team": team, "capacity": capacity, "weight": weight}[name] is not None:
                raise InvalidInput("clear", f"{name} is both set and cleared")
        if team is not None and team not in self.teams:
            known = (
                ", ".join(sorted(self.teams)) or "none yet (define one with `leadflow team define`)"
            )
            raise InvalidInput("team", f"no team {team!r}; teams: {known}")
        _check_numbers(capacity, weight)
        info = self.reps.get(rep)
        if info is None:
            self._trigger(
                RepJoined,
                RepJoinedData(
                    rep=rep, team=team, capacity=capacity, weight=1.0 if weight is None else weight
                ),
                ctx,
            )
            return
        wanted = (
            None if "team" in clear else team if team is not None else info.team,
            None if "capacity" in clear else capacity if capacity is not None else info.capacity,
            1.0 if "weight" in clear else weight if weight is not None else info.weight,
        )
        if wanted == (info.team, info.capacity, info.weight):
            raise InvalidInput("rep", f"{rep!r} is already on the roster with these settings")
        self._trigger(
            RepChanged,
            RepChangedData(rep=rep, team=wanted[0], capacity=wanted[1], weight=wanted[2]),
            ctx,
        )

    def remove_rep(self, rep: str, reason: str, ctx: Context) -> None:
        _require("reason", reason)
        self.require_rep(rep)
        self._trigger(RepLeft, RepLeftData(rep=rep, reason=reason), ctx)

    def record_absence(
        self, rep: str, start: datetime, end: datetime, ctx: Context, *, reason: str | None = None
    ) -> None:
        self.require_rep(rep)
        if end <= start:
            raise InvalidInput(
                "until", f"the absence must end after it starts ({start.isoformat()})"
            )
        self._trigger(
            AbsenceRecorded, AbsenceData(rep=rep, start=start, end=end, reason=reason), ctx
        )

    def define_team(self, team: str, managers: list[str], ctx: Context) -> None:
        _require("team", team)
        for i, manager in enumerate(managers):
            _require(f"managers[{i}]", manager)
        self._trigger(TeamDefined, TeamDefinedData(team=team, managers=list(managers)), ctx)

    def count_claim(self, rep: str, day: str, lead_id: UUID, ctx: Context) -> None:
        """Count one claim by ``rep`` on claim day ``day`` (see ``leadflow.domain.pool``)."""
        self._trigger(ClaimCounted, ClaimCountedData(rep=rep, claim_day=day, lead_id=lead_id), ctx)

    def track(
        self,
        lead_id: UUID,
        to_rep: str | None,
        cause: str,
        ctx: Context,
        *,
        claim_day: str | None = None,
    ) -> bool:
        """Make ``lead_id`` count for ``to_rep`` (``None``: for nobody); False if it did."""
        from_rep = self.holder.get(lead_id)
        if from_rep == to_rep and claim_day is None:
            return False
        self._trigger(
            LoadChanged,
            LoadChangedData(
                lead_id=lead_id, from_rep=from_rep, to_rep=to_rep, cause=cause, claim_day=claim_day
            ),
            ctx,
        )
        return True


def _require(field_name: str, value: str) -> None:
    if not value or not value.strip():
        raise InvalidInput(field_name, "must not be empty")


def _check_numbers(capacity: int | None, weight: float | None) -> None:
    if capacity is not None:
        check_finite("capacity", capacity, 0, CAPACITY_MAX)
    if weight is not None:
        check_finite("weight", weight, 0, WEIGHT_MAX)
        if not weight > 0:
            raise InvalidInput("weight", "must be more than 0")
