"""``leadflow demo``: a deterministic, simulated year of leads through the real engine.

The demo is a small world of people and reps acting on the application service, on a
simulated clock: people are captured (some twice, under other formatting), visit pages,
download, attend webinars, open mails, unsubscribe; reps follow up, claim from the pool,
qualify, hand off, accept or reject, convert, win and lose. It never decides what the
engine decides: assignment is the pipeline's strategies over a roster built with the
roster commands, MQL promotion is the scoring threshold, and releases, SLA breaches,
decay and stalled recycles come from ``sweep``, run every simulated evening. People react
to what the engine did (a rep works the leads they own *now*).

Everything random comes from the seed (lead ids too), and the clock drives recorded
times, so the same seed writes the same log.
"""

from __future__ import annotations

import functools
import heapq
import random
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.table import Table

from leadflow.adapters.cli_projections import funnel_table
from leadflow.domain.events import EVENT_TYPES
from leadflow.domain.lead import Lead
from leadflow.domain.ownership import counts_for, in_pool
from leadflow.domain.pipeline import Pipeline, parse_pipeline
from leadflow.errors import InvalidInput, LeadflowError
from leadflow.projections.reference import FunnelRow, funnel_from_events
from leadflow.service.application import Leadflow
from leadflow.service.pipeline_files import default_pipeline_text

__all__ = ["DemoResult", "demo_pipeline", "run_demo"]

START = datetime(2025, 7, 1, tzinfo=UTC)
DAYS = 365
END = START + timedelta(days=DAYS)
CAPTURE_DAYS = 330
"""Captures stop a month before the end, so the last leads still have a story."""

SOURCES = [("web_form", 0.35), ("newsletter", 0.15), ("partner", 0.15), ("event", 0.15)]
SOURCES += [("webinar", 0.1), ("paid_search", 0.1)]
CAMPAIGNS = ["spring_launch", "summer_webinar_series", "autumn_trade_show", "always_on_seo"]
INDUSTRIES = ["manufacturing", "retail", "finance", "healthcare", "software", "logistics"]
REGIONS = ["north", "east", "south", "west"]
FIRST_NAMES = ["Wei", "Fang", "Lei", "Ana", "Omar", "Priya", "Jonas", "Mia", "Chen", "Yuki"]
LAST_NAMES = ["Li", "Wang", "Zhang", "Silva", "Haddad", "Patel", "Berg", "Rossi", "Liu", "Sato"]
COMPANY_WORDS = ["Blue", "River", "Peak", "Jade", "North", "Star", "Iron", "Lotus", "Delta"]

SDR_TEAMS = ("inside_east", "inside_west", "key_accounts")
SALES_TEAMS = {"east": "sales_east", "north": "sales_east", "south": "sales_west"}
SALES_TEAMS["west"] = "sales_west"
TRACKING = "system:tracking"
MARKETING_OPS = "user:marketing-ops"
CLOSED = frozenset({"customer", "disqualified", "churned"})


def demo_pipeline() -> Pipeline:
    """The shipped pipeline, with the demo organisation's assignment rules."""
    data: dict[str, Any] = tomllib.loads(default_pipeline_text())
    data["name"] = "B2B default (demo organisation)"
    data["assignment"] = {
        "on_capture": True,
        "strategy": "weighted",
        "default_team": "inside_east",
        "closed_stages": sorted(CLOSED),
        "require_manager": True,
        "rules": [
            {
                "id": "finance-to-key-accounts",
                "description": "Finance prospects go to the key accounts desk.",
                "when": {"industry": "finance"},
                "team": "key_accounts",
            },
            {
                "id": "east-north",
                "when": {"region": ["east", "north"]},
                "team": "inside_east",
            },
            {
                "id": "south-west",
                "when": {"region": ["south", "west"]},
                "team": "inside_west",
            },
        ],
    }
    # a signal for managers: MQLs and SALs left waiting past their stage's `sla`
    data["sla"]["stage"] = {"id": "stage-sla", "stages": ["mql", "sal"]}
    data["sla"]["handoff"]["escalate_to"] = "user:head-of-sales"  # when a team has no manager
    return parse_pipeline(data, "demo pipeline")


class SimClock:
    """The application's clock: whatever the simulation says it is."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Person:
    """Someone the demo captures: their profile and how they will behave."""

    index: int
    lead_id: UUID
    rng: random.Random
    interest: str  # hot, warm, cold
    source: str
    campaign: str
    industry: str
    region: str
    name: str
    company: str
    email: str
    phone: str | None
    behaviours_left: int
    mql_handled_at: datetime | None = None
    stopped: bool = False


@dataclass
class DemoResult:
    leads: int
    commands: int
    sweeps: int
    as_of: datetime
    refused: Counter[str] = field(default_factory=Counter)
    """Commands the engine refused, by reason kind (claims past the daily limit, …)."""
    sweep_seconds: float = 0.0
    """Wall time spent in ``sweep`` (not part of the history: for the operator)."""


Action = Callable[[], None]


@dataclass(order=True)
class _Scheduled:
    at: datetime
    seq: int
    action: Action = field(compare=False)


class Simulation:
    """The world: a time-ordered queue of what people and reps do next."""

    def __init__(self, app: Leadflow, clock: SimClock, leads: int, seed: int) -> None:
        self.app = app
        self.clock = clock
        self.leads = leads
        self.seed = seed
        self.rng = random.Random(f"{seed}/world")
        self.queue: list[_Scheduled] = []
        self.seq = 0
        self.commands = 0
        self.sweeps = 0
        self.sweep_seconds = 0.0
        self.refused: Counter[str] = Counter()
        self.people: dict[UUID, Person] = {}
        self.pool: dict[UUID, None] = {}  # ordered: oldest in the pool first
        self.observed = 0
        # SDR capacity scales with the run, so caps bite late in the year at any size
        self.sdr_capacity = max(25, leads // 9)

    # -- the queue ------------------------------------------------------------------------

    def at(self, when: datetime, action: Action) -> None:
        when = when.replace(microsecond=0)  # times as people write them
        if when <= END:
            heapq.heappush(self.queue, _Scheduled(when, self.seq, action))
            self.seq += 1

    def run(self, on_day: Callable[[int], None] | None = None) -> DemoResult:
        self._plan()
        day = 0
        while self.queue:
            item = heapq.heappop(self.queue)
            self.clock.now = item.at
            item.action()
            if on_day is not None and (item.at - START).days > day:
                day = (item.at - START).days
                on_day(day)
        return DemoResult(
            self.leads, self.commands, self.sweeps, END, self.refused, self.sweep_seconds
        )

    def _do(self, kind: str, command: Callable[[], Any]) -> Any:
        """Run one engine command; a refusal is counted, as a person would shrug it off."""
        self.commands += 1
        try:
            return command()
        except InvalidInput as exc:
            why = exc.field
            for setting in ("daily_claim_limit", "reclaim_after"):
                if setting in str(exc):
                    why = f"pool.{setting}"
            self.refused[f"{kind}: {why}"] += 1
        except LeadflowError as exc:
            self.refused[f"{kind}: {type(exc).__name__}"] += 1
        return None

    def _lead(self, person: Person) -> Lead | None:
        lead = self.app.get_lead(person.lead_id)
        if lead.merged_into is not None or lead.erased:
            return None
        return lead

    # -- the year's plan ------------------------------------------------------------------

    def _plan(self) -> None:
        app = self.app
        app.activate_pipeline(demo_pipeline(), actor="user:demo-admin")
        self.at(START, self._set_up_roster)
        for day in range(DAYS + 1):
            evening = START + timedelta(days=day, hours=20)
            self.at(min(evening, END), self._sweep)
            self.at(START + timedelta(days=day, hours=1, minutes=30), self._claim_round)
        roster_changes: list[tuple[int, Action]] = [
            (95, lambda: self._absence("rep:tom", 100, 121, "parental leave")),
            (130, lambda: self._add("rep:raj", "inside_west", self.sdr_capacity, 1.2)),
            (180, lambda: self._add("rep:mei", "inside_east", self.sdr_capacity * 3 // 2, 1.0)),
            (200, lambda: self._absence("rep:sam", 203, 217, "trade fair")),
            (250, self._ana_leaves),
        ]
        for day, action in roster_changes:
            self.at(START + timedelta(days=day, hours=8), action)
        for index in range(self.leads):
            rng = random.Random(f"{self.seed}/lead/{index}")
            when = START + timedelta(days=rng.uniform(0.5, CAPTURE_DAYS), hours=rng.uniform(0, 10))
            person = self._person(index, rng)
            self.people[person.lead_id] = person
            self.at(when, functools.partial(self._capture, person))

    def _person(self, index: int, rng: random.Random) -> Person:
        interest = rng.choices(["hot", "warm", "cold"], [0.22, 0.38, 0.40])[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_WORDS)} {index % 700}"
        domain = company.lower().replace(" ", "-") + ".example.com"
        names, weights = zip(*SOURCES, strict=True)
        return Person(
            index=index,
            lead_id=UUID(int=rng.getrandbits(128), version=4),
            rng=rng,
            interest=interest,
            source=rng.choices(names, weights)[0],
            campaign=rng.choice(CAMPAIGNS),
            industry=rng.choice(INDUSTRIES),
            region=rng.choice(REGIONS),
            name=f"{first} {last}",
            company=company,
            email=f"{first}.{last}.{index}@{domain}".lower(),
            phone=f"138{index:08d}" if rng.random() < 0.75 else None,
            behaviours_left={"hot": rng.randint(5, 12), "warm": rng.randint(3, 8)}.get(
                interest, rng.randint(0, 3)
            ),
        )

    # -- the roster -----------------------------------------------------------------------

    def _set_up_roster(self) -> None:
        app = self.app
        admin = "user:demo-admin"
        for team, managers in [
            ("inside_east", ["manager:ivy"]),
            ("inside_west", ["manager:omar"]),
            ("key_accounts", ["manager:ivy"]),
            ("sales_east", ["manager:lena"]),
            ("sales_west", ["manager:ravi"]),
        ]:
            app.define_team(team, managers, actor=admin)
        cap = self.sdr_capacity
        for rep, team, capacity, weight in [
            ("rep:mei", "inside_east", cap, 1.0),
            ("rep:tom", "inside_east", cap, 1.5),
            ("rep:ana", "inside_west", cap, 1.0),
            ("rep:jun", "inside_west", cap, 1.0),
            ("rep:zoe", "key_accounts", cap // 2, 1.0),
            ("rep:li", "sales_east", None, 1.0),
            ("rep:sam", "sales_east", None, 1.0),
            ("rep:noor", "sales_west", None, 1.0),
            ("rep:kai", "sales_west", None, 1.0),
        ]:
            app.add_rep(rep, team=team, capacity=capacity, weight=weight, actor=admin)
        self.commands += 14

    def _add(self, rep: str, team: str, capacity: int, weight: float) -> None:
        self._do(
            "rep add",
            lambda: self.app.add_rep(
                rep, team=team, capacity=capacity, weight=weight, actor="user:demo-admin"
            ),
        )

    def _absence(self, rep: str, first_day: int, last_day: int, reason: str) -> None:
        start = START + timedelta(days=first_day)
        end = START + timedelta(days=last_day)
        self._do(
            "rep absent",
            lambda: self.app.record_absence(rep, start, end, reason=reason, actor="manager:ivy"),
        )

    def _ana_leaves(self) -> None:
        self._do(
            "rep leave",
            lambda: self.app.redistribute(
                "rep:ana", "left the company", leave=True, actor="manager:omar"
            ),
        )

    # -- people ---------------------------------------------------------------------------

    def _capture(self, p: Person) -> None:
        rng = p.rng
        now = self.clock.now
        result = self._do(
            "capture",
            lambda: self.app.capture(
                lead_id=p.lead_id,
                email=p.email,
                phone=p.phone,
                name=p.name,
                company=p.company if rng.random() < 0.85 else None,
                source=p.source,
                campaign=p.campaign,
                attributes={"industry": p.industry, "region": p.region},
                stage="subscriber" if p.source in ("newsletter", "webinar") else None,
                actor="system:web" if p.source in ("web_form", "newsletter") else MARKETING_OPS,
            ),
        )
        if result is None or result.lead_id != p.lead_id:
            return
        if not any(ref.type == "LeadAssigned" for ref in result.events):
            self.pool[p.lead_id] = None  # no rep could take it (all at their cap)
        self.at(now + timedelta(hours=rng.uniform(1, 72)), lambda: self._behave(p))
        self._follow_up_later(p, now)
        roll = rng.random()
        if roll < 0.07:  # the same person again, formatted differently, from elsewhere
            self.at(now + timedelta(days=rng.uniform(2, 90)), lambda: self._recapture(p))
        elif roll < 0.085:  # the same person under a new address: a duplicate to merge
            self.at(now + timedelta(days=rng.uniform(2, 60)), lambda: self._second_identity(p))

    def _recapture(self, p: Person) -> None:
        rng = p.rng
        phone = None
        if p.phone is not None:
            d = p.phone
            phone = rng.choice(
                [f"+86 {d[:3]} {d[3:7]} {d[7:]}", f"({d[:3]}) {d[3:7]}-{d[7:]}", f"+86{d}"]
            )
        email = p.email.upper() if rng.random() < 0.5 else f"  {p.email.title()} "
        self._do(
            "capture",
            lambda: self.app.capture(
                email=email if phone is None or rng.random() < 0.5 else None,
                phone=phone,
                name=p.name,
                source=rng.choice(["event", "partner", "paid_search"]),
                campaign=rng.choice(CAMPAIGNS),
                actor=MARKETING_OPS,
            ),
        )

    def _second_identity(self, p: Person) -> None:
        rng = p.rng
        duplicate_id = UUID(int=rng.getrandbits(128), version=4)
        personal = f"{p.name.replace(' ', '.').lower()}.{p.index}@mail.example.net"
        result = self._do(
            "capture",
            lambda: self.app.capture(
                lead_id=duplicate_id,
                email=personal,
                name=p.name,
                company=p.company,
                source="event",
                campaign=rng.choice(CAMPAIGNS),
                attributes={"industry": p.industry, "region": p.region},
                actor=MARKETING_OPS,
            ),
        )
        if result is None or result.lead_id != duplicate_id:
            return
        self.at(
            self.clock.now + timedelta(days=rng.uniform(1, 20)),
            lambda: self._merge(p, duplicate_id),
        )

    def _merge(self, p: Person, duplicate_id: UUID) -> None:
        """A manager spots the duplicate; now and then the merge was a mistake and is undone."""
        manager = "manager:ivy" if p.region in ("east", "north") else "manager:omar"
        merged = self._do("merge", lambda: self.app.merge(duplicate_id, p.lead_id, actor=manager))
        if merged is not None and p.rng.random() < 0.1:
            self.at(
                self.clock.now + timedelta(days=p.rng.uniform(1, 10)),
                lambda: self._do(
                    "unmerge",
                    lambda: self.app.unmerge(
                        duplicate_id, reason="a namesake, not the same person", actor=manager
                    ),
                ),
            )

    def _behave(self, p: Person) -> None:
        """One thing the person does on their own (tracked by marketing systems)."""
        rng = p.rng
        lead = self._lead(p)
        if lead is None or p.stopped or p.behaviours_left <= 0:
            return
        p.behaviours_left -= 1
        if lead.stage in CLOSED and lead.stage != "customer":
            return
        if p.interest == "hot":
            kinds = ["download", "webinar", "email_click", "page_visit", "form_submit"]
            weights = [0.25, 0.2, 0.2, 0.25, 0.1]
            gap = rng.uniform(1, 8)
        elif p.interest == "warm":
            kinds = ["page_visit", "email_open", "email_click", "download", "webinar"]
            weights = [0.35, 0.3, 0.15, 0.12, 0.08]
            gap = rng.uniform(5, 30)
        else:
            kinds = ["email_open", "page_visit", "email_bounce", "unsubscribe"]
            weights = [0.5, 0.36, 0.07, 0.07]
            gap = rng.uniform(10, 60)
        kind = rng.choices(kinds, weights)[0]
        result = self._do(
            "activity", lambda: self.app.record_activity(p.lead_id, kind, actor=TRACKING)
        )
        now = self.clock.now
        if kind in ("unsubscribe", "email_bounce"):
            p.stopped = True
            if rng.random() < 0.5:
                self.at(now + timedelta(days=rng.uniform(1, 10)), lambda: self._disqualify(p))
            return
        moved = result is not None and any(ref.type == "StageChanged" for ref in result.events)
        if moved:  # the scoring rule promoted it: read what the engine decided
            lead = self._lead(p)
            if lead is None:
                return
            self._react_to_mql(p, lead)
        elif lead.stage == "subscriber" and kind == "form_submit":
            self._do(
                "promote",
                lambda: self.app.change_stage(
                    p.lead_id, "lead", reason="filled in a form", actor=MARKETING_OPS
                ),
            )
        self.at(now + timedelta(days=gap), lambda: self._behave(p))

    def _react_to_mql(self, p: Person, lead: Lead) -> None:
        """The scoring rule promoted the lead: its owner works it soon."""
        if lead.stage == "mql" and lead.stage_entered_at != p.mql_handled_at:
            p.mql_handled_at = lead.stage_entered_at
            self.at(self.clock.now + timedelta(hours=p.rng.uniform(4, 60)), lambda: self._mql(p))

    def _disqualify(self, p: Person) -> None:
        lead = self._lead(p)
        if lead is None or lead.stage in CLOSED:
            return
        actor = lead.owner or MARKETING_OPS
        reason = "unsubscribed" if p.rng.random() < 0.5 else "contact unreachable"
        self._do("disqualify", lambda: self.app.disqualify(p.lead_id, reason, actor=actor))
        if p.rng.random() < 0.1:  # months later they come back
            self.at(
                self.clock.now + timedelta(days=p.rng.uniform(30, 150)),
                lambda: self._re_enter(p),
            )

    def _re_enter(self, p: Person) -> None:
        lead = self._lead(p)
        if lead is None or lead.stage != "disqualified":
            return
        self._do(
            "re-entry",
            lambda: self.app.change_stage(
                p.lead_id, "lead", reason="asked for a demo again", actor=MARKETING_OPS
            ),
        )
        p.stopped = False
        p.behaviours_left += p.rng.randint(2, 6)
        self.at(self.clock.now + timedelta(days=p.rng.uniform(1, 10)), lambda: self._behave(p))

    # -- reps -----------------------------------------------------------------------------

    def _follow_up_later(self, p: Person, since: datetime, chance: float = 0.78) -> None:
        """A rep who just got the lead calls or mails it (or lets it slip)."""
        rng = p.rng
        if rng.random() > chance:
            return  # forgotten: the no-follow-up rule will put it back in the pool
        delay = timedelta(hours=rng.uniform(2, 100))
        late = rng.random() < 0.06  # logged days after it happened
        if late:
            self.at(
                since + delay + timedelta(days=rng.uniform(1.5, 6)),
                lambda: self._follow_up(p, since + delay),
            )
        else:
            self.at(since + delay, lambda: self._follow_up(p, None))

    def _follow_up(self, p: Person, happened: datetime | None) -> None:
        lead = self._lead(p)
        owner = counts_for(lead, CLOSED) if lead is not None else None
        if lead is None or owner is None:
            return  # nobody is working it
        at = None
        if happened is not None:
            # Backdated, but never before the lead's latest event (the engine refuses that).
            latest = lead.last_occurred_at or happened
            at = max(happened.replace(microsecond=0), latest)
        kind = p.rng.choice(["call", "email", "call", "meeting"])
        self._do(
            "activity",
            lambda: self.app.record_activity(
                p.lead_id, kind, detail="first contact", at=at, actor=owner
            ),
        )
        self._react_to_mql(p, lead)  # promoted while nobody owned it

    def _mql(self, p: Person) -> None:
        lead = self._lead(p)
        if lead is None or lead.stage != "mql" or lead.handoff is not None:
            return
        rng = p.rng
        owner = lead.owner
        if owner is None:
            p.mql_handled_at = None  # in the pool: whoever claims it will work it
            return
        if rng.random() < 0.2:
            # Qualified on the phone by the SDR: BANT makes it an SQL, a manager gives it to sales.
            answers = [rng.random() < 0.8 for _ in range(4)]
            self._do(
                "qualify",
                lambda: self.app.qualify(
                    p.lead_id,
                    budget=answers[0],
                    authority=answers[1],
                    need=answers[2],
                    timeline=answers[3],
                    note="discovery call",
                    actor=owner,
                ),
            )
            lead = self._lead(p)
            if lead is not None and lead.stage == "sql":
                rep = self._sales_rep(p)
                if rep is not None:
                    self._do(
                        "assign",
                        functools.partial(
                            self.app.assign,
                            p.lead_id,
                            rep,
                            reason="qualified by SDR",
                            actor=self._manager_of(rep),
                        ),
                    )
                    self._follow_up_later(p, self.clock.now, chance=0.95)
                    self.at(
                        self.clock.now + timedelta(days=rng.uniform(3, 15)), lambda: self._sql(p)
                    )
            return
        rep = self._sales_rep(p)
        if rep is None:
            return
        self._do(
            "handoff",
            lambda: self.app.hand_off(p.lead_id, rep, note="engaged, ready for sales", actor=owner),
        )
        now = self.clock.now
        roll = rng.random()
        if roll < 0.1:  # nobody answers in time: the sweep records the breach
            self.at(now + timedelta(days=rng.uniform(2.5, 6)), lambda: self._answer(p, True))
        elif roll < 0.32:
            self.at(now + timedelta(hours=rng.uniform(2, 40)), lambda: self._answer(p, False))
        else:
            self.at(now + timedelta(hours=rng.uniform(1, 40)), lambda: self._answer(p, True))

    def _manager_of(self, rep: str) -> str:
        managers = self.app.roster().managers_of(rep)
        return managers[0] if managers else "user:head-of-sales"

    def _sales_rep(self, p: Person) -> str | None:
        """The least-loaded available rep of the person's regional sales team."""
        roster = self.app.roster()
        now = self.clock.now
        team = SALES_TEAMS[p.region]
        available = [r for r in roster.members(team) if not roster.reps[r].absent_at(now)]
        if not available:
            available = [r for t in set(SALES_TEAMS.values()) for r in roster.members(t)]
        if not available:
            return None
        return min(sorted(available), key=roster.load)

    def _answer(self, p: Person, accept: bool) -> None:
        lead = self._lead(p)
        if lead is None or lead.handoff is None:
            return
        rep = lead.handoff.to_owner
        rng = p.rng
        if not accept:
            reason = rng.choice(["no budget this year", "not the decision maker", "timing"])
            self._do("reject", lambda: self.app.reject_handoff(p.lead_id, reason, actor=rep))
            if p.interest != "cold":  # nurtured: they keep reading
                p.behaviours_left += rng.randint(1, 4)
                self.at(
                    self.clock.now + timedelta(days=rng.uniform(5, 30)), lambda: self._behave(p)
                )
            return
        if self._do("accept", lambda: self.app.accept_handoff(p.lead_id, actor=rep)) is None:
            return
        now = self.clock.now
        self._follow_up_later(p, now, chance=0.93)
        self.at(now + timedelta(days=rng.uniform(1, 7)), lambda: self._sal(p))

    def _sal(self, p: Person) -> None:
        lead = self._lead(p)
        if lead is None or lead.stage != "sal" or lead.owner is None:
            return
        rng = p.rng
        owner = lead.owner
        answers = [rng.random() < (0.85 if p.interest == "hot" else 0.6) for _ in range(4)]
        self._do(
            "qualify",
            lambda: self.app.qualify(
                p.lead_id,
                budget=answers[0],
                authority=answers[1],
                need=answers[2],
                timeline=answers[3],
                actor=owner,
            ),
        )
        if sum(answers) >= 3:
            # The BANT rule qualifies the lead and the pipeline's qualified-sal-to-sql
            # automation makes it an SQL: nobody promotes it by hand.
            self.at(self.clock.now + timedelta(days=rng.uniform(3, 20)), lambda: self._sql(p))
        elif rng.random() < 0.5:
            self._do(
                "disqualify", lambda: self.app.disqualify(p.lead_id, "BANT not met", actor=owner)
            )
        else:
            self._do(
                "promote",
                lambda: self.app.change_stage(p.lead_id, "lead", reason="not ready", actor=owner),
            )

    def _sql(self, p: Person) -> None:
        lead = self._lead(p)
        if lead is None or lead.stage != "sql":
            return
        rng = p.rng
        owner = lead.owner or "user:head-of-sales"
        roll = rng.random()
        account = f"acct-{self.seed}-{p.index:06d}"
        if roll < 0.72:
            amount = float(rng.randint(5, 200) * 1000)
            self._do(
                "convert",
                lambda: self.app.convert(
                    p.lead_id,
                    "opportunity",
                    account,
                    opportunity_ref=f"opp-{p.index}",
                    amount=amount,
                    actor=owner,
                ),
            )
            self._opportunity(p, amount)
        elif roll < 0.8:
            self._do(
                "convert", lambda: self.app.convert(p.lead_id, "customer", account, actor=owner)
            )
            self._customer(p)
        elif roll < 0.9:
            self._do(
                "disqualify",
                lambda: self.app.disqualify(p.lead_id, "went with a competitor", actor=owner),
            )

    def _opportunity(self, p: Person, amount: float) -> None:
        rng = p.rng
        now = self.clock.now
        if rng.random() < 0.18:
            return  # goes silent: the stalled-opportunity rule recycles it
        t = now
        for _ in range(rng.randint(1, 4)):
            t += timedelta(days=rng.uniform(5, 25))
            self.at(t, lambda: self._deal_activity(p))
        self.at(t + timedelta(days=rng.uniform(2, 30)), lambda: self._close(p, amount))

    def _deal_activity(self, p: Person) -> None:
        lead = self._lead(p)
        if lead is None or lead.stage != "opportunity" or lead.owner is None:
            return
        owner = lead.owner
        kind = p.rng.choice(["meeting", "call", "email"])
        if p.rng.random() < 0.08:  # a meeting logged days late
            latest = lead.last_occurred_at or self.clock.now
            at = max(latest, self.clock.now - timedelta(days=p.rng.randint(2, 5)))
            self._do(
                "activity",
                lambda: self.app.record_activity(
                    p.lead_id, kind, detail="logged late", at=at, actor=owner
                ),
            )
            return
        self._do("activity", lambda: self.app.record_activity(p.lead_id, kind, actor=owner))

    def _close(self, p: Person, amount: float) -> None:
        lead = self._lead(p)
        if lead is None or lead.stage != "opportunity":
            return
        rng = p.rng
        owner = lead.owner or "user:head-of-sales"
        at = None
        if rng.random() < 0.15:  # the rep updates the CRM days after the deal was decided
            latest = lead.last_occurred_at or self.clock.now
            at = max(latest, self.clock.now - timedelta(days=rng.randint(2, 6)))
        if rng.random() < (0.55 if p.interest == "hot" else 0.35):
            self._do(
                "win",
                lambda: self.app.win(p.lead_id, amount=amount, currency="CNY", at=at, actor=owner),
            )
            self._customer(p)
        else:
            reason = rng.choice(["price", "competitor", "no decision"])
            self._do("lose", lambda: self.app.lose(p.lead_id, reason, at=at, actor=owner))

    def _customer(self, p: Person) -> None:
        rng = p.rng
        roll = rng.random()
        later = self.clock.now + timedelta(days=rng.uniform(30, 200))
        if roll < 0.15:
            self.at(later, lambda: self._churn(p))
        elif roll < 0.32:
            self.at(later, lambda: self._upsell(p))

    def _churn(self, p: Person) -> None:
        lead = self._lead(p)
        if lead is None or lead.stage != "customer":
            return
        reason = p.rng.choice(["moved to a competitor", "budget cut", "company acquired"])
        self._do("churn", lambda: self.app.churn(p.lead_id, reason, actor="user:cs-team"))

    def _upsell(self, p: Person) -> None:
        lead = self._lead(p)
        if lead is None or lead.stage != "customer":
            return
        owner = lead.owner or "user:cs-team"
        self._do(
            "upsell",
            lambda: self.app.change_stage(
                p.lead_id, "opportunity", reason="upsell: more seats", actor=owner
            ),
        )
        self._opportunity(p, float(p.rng.randint(2, 50) * 1000))

    # -- the daily routine ----------------------------------------------------------------

    def _sweep(self) -> None:
        started = time.monotonic()
        result = self.app.sweep(self.clock.now)
        self.sweep_seconds += time.monotonic() - started
        self.sweeps += 1
        for error in result.failed.values():
            self.refused[f"sweep: {error}"] += 1
        self._observe()

    def _observe(self) -> None:
        """Read what was recorded since the last look: who is in the pool, what got promoted."""
        for record in self.app.read_events(
            after=self.observed,
            types=["LeadReleased", "LeadAssigned", "LeadClaimed", "HandOffAccepted", "LeadMerged"],
        ):
            if record.type == "LeadReleased":
                self.pool[record.lead_id] = None
            else:
                self.pool.pop(record.lead_id, None)
        self.observed = self.app.max_position()

    def _claim_round(self) -> None:
        """Each SDR at work claims a few pool leads (an eager one sometimes tries too many)."""
        roster = self.app.roster()
        now = self.clock.now
        reps = [
            r for t in SDR_TEAMS for r in roster.members(t) if not roster.reps[r].absent_at(now)
        ]
        waiting = list(self.pool)
        for rep in reps:
            wanted = self.rng.choice([0, 1, 2, 3, 4])
            if rep == "rep:mei" and self.rng.random() < 0.04:
                wanted = 24  # past pool.daily_claim_limit: the engine refuses the rest
            info = roster.reps[rep]
            if info.capacity is not None:  # a sensible rep does not claim past their cap
                wanted = min(wanted, max(0, info.capacity - roster.load(rep)))
            taken = 0
            while taken < wanted and waiting:
                lead_id = waiting.pop(0)
                person = self.people.get(lead_id)
                if person is None:
                    continue
                lead = self._lead(person)
                if lead is None or not in_pool(lead, CLOSED):
                    self.pool.pop(lead_id, None)
                    continue
                result = self._do("claim", functools.partial(self.app.claim, lead_id, rep))
                taken += 1
                if result is None:
                    continue
                self.pool.pop(lead_id, None)
                self._follow_up_later(person, now, chance=0.85)
                claimed = self._lead(person)
                if claimed is not None:
                    self._react_to_mql(person, claimed)


def run_demo(
    app: Leadflow,
    clock: SimClock,
    leads: int,
    seed: int,
    on_day: Callable[[int], None] | None = None,
) -> DemoResult:
    """Simulate a year of ``leads`` people through ``app`` (an empty store)."""
    return Simulation(app, clock, leads, seed).run(on_day)


# ---- the report -------------------------------------------------------------------------


def funnel(app: Leadflow, as_of: datetime) -> list[FunnelRow]:
    """The funnel recomputed from the raw log (the reference the read models are tested on)."""
    return funnel_from_events(app.read_events(), app.pipeline, as_of)


def print_funnel(rows: list[FunnelRow], title: str, console: Console, live: int) -> None:
    console.print(funnel_table(rows, title, live))


def print_summary(app: Leadflow, result: DemoResult, console: Console, waiting: int) -> None:
    """``waiting``: how many leads are in the public pool (``lf_leads``: ``leadflow pool``)."""
    by_type: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    moves: Counter[str] = Counter()
    left: dict[str, str] = {}
    for record in app.read_events(include_org=True):
        if record.type == "RepLeft":
            left[str(record.data["rep"])] = record.occurred_at.date().isoformat()
        if record.type not in EVENT_TYPES:
            continue  # roster and pipeline bookkeeping
        by_type[record.type] += 1
        if record.type == "StageChanged":
            moves[str(record.data["kind"])] += 1
        if record.actor.startswith("system:") and record.type in (
            "LeadReleased",
            "LeadRecycled",
            "SlaBreached",
            "LeadAssigned",
        ):
            by_rule[f"{record.type} by {record.actor.removeprefix('system:')}"] += 1
    events = Table(title="Events by type")
    events.add_column("type")
    events.add_column("count", justify="right")
    for name, count in by_type.most_common():
        events.add_row(name, str(count))
    console.print(events)
    rules = Table(title="Automatic decisions (assignments, releases, recycles, SLA breaches)")
    rules.add_column("decision")
    rules.add_column("count", justify="right")
    for name, count in sorted(by_rule.items()):
        rules.add_row(name, str(count))
    console.print(rules)
    console.print(
        "stage changes by kind: "
        + ", ".join(f"{kind} {n}" for kind, n in sorted(moves.items()))
        + f"; leads waiting in the public pool at the end: {waiting}"
    )
    roster = app.roster()
    reps = Table(title=f"Reps' open leads on {result.as_of.date().isoformat()}")
    for column in ("rep", "team", "capacity", "weight", "open leads"):
        reps.add_column(column, justify="left" if column in ("rep", "team") else "right")
    for rep in sorted(set(roster.reps) | set(roster.open_leads) | set(left)):
        info = roster.reps.get(rep)
        reps.add_row(
            rep,
            (info.team or "-") if info else f"(left on {left.get(rep, '?')})",
            str(info.capacity) if info and info.capacity is not None else "-",
            f"{info.weight:g}" if info else "-",
            str(roster.load(rep)),
        )
    console.print(reps)
    if result.refused:
        refused = ", ".join(f"{kind}: {n}" for kind, n in sorted(result.refused.items()))
        console.print(f"refused by the engine (as in real life): {refused}")
