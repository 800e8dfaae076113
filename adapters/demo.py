"""``leadflow demo``: a deterministic, simulated year of leads through the real engine.

Every lead gets a scripted timeline (capture, behaviour, promotion, hand-off, …);
all timelines are merged and run in time order through the ordinary commands, with
the application's clock set to each step's time, so recorded and business times are
both realistic. Some activity is recorded late (backdated). The same seed always
produces the same history.
"""

from __future__ import annotations

import functools
import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from leadflow.adapters.store import open_store
from leadflow.application import Leadflow
from leadflow.errors import LeadflowError
from leadflow.projections.reference import FunnelRow, funnel_from_events

__all__ = ["register", "run_demo"]

SOURCES = [("web_form", 0.4), ("import", 0.2), ("partner", 0.15), ("event", 0.15), ("webinar", 0.1)]
CAMPAIGNS = ["spring_launch", "summer_webinar_series", "autumn_trade_show", "always_on_seo"]
INDUSTRIES = ["manufacturing", "retail", "finance", "healthcare", "software"]
REGIONS = ["north", "east", "south", "west"]
MARKETING_REPS = ["rep:mei", "rep:tom", "rep:ana"]
SALES_REPS = ["rep:li", "rep:sam", "rep:noor", "rep:kai"]
START = datetime(2025, 7, 1, tzinfo=UTC)

Step = Callable[[Leadflow, datetime], object]


@dataclass(order=True)
class _Scheduled:
    at: datetime
    seq: int
    lead_index: int = field(compare=False)
    step: Step = field(compare=False)


class _SimClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    names, weights = zip(*weighted, strict=True)
    return str(rng.choices(names, weights)[0])


def _tracked(app: Leadflow, at: datetime, *, lead_id: UUID, kind: str) -> object:
    return app.record_activity(lead_id, kind, actor="system:tracking")


def _timeline(rng: random.Random, index: int, ids: list[UUID]) -> Iterator[tuple[datetime, Step]]:
    """One lead's story, as (when, what) steps; later steps may never happen."""
    t = START + timedelta(days=rng.uniform(0, 330), hours=rng.uniform(8, 18))
    source = _pick(rng, SOURCES)
    lead_id = ids[index]
    phone = f"+86138{index:08d}"
    email = f"lead{index}@example{index % 97}.com"

    def capture(app: Leadflow, at: datetime) -> None:
        app.capture(
            lead_id=lead_id,
            email=email,
            phone=phone if rng.random() < 0.7 else None,
            name=f"Lead {index}",
            company=f"Company {index % 400}",
            source=source,
            campaign=rng.choice(CAMPAIGNS),
            attributes={"industry": rng.choice(INDUSTRIES), "region": rng.choice(REGIONS)},
            stage="subscriber" if source == "webinar" else None,
        )

    yield t, capture
    if source == "webinar":
        t += timedelta(days=rng.uniform(1, 20))
        yield t, lambda app, at: app.change_stage(lead_id, "lead", reason="engaged")
    owner = rng.choice(MARKETING_REPS)
    t += timedelta(hours=rng.uniform(1, 48))
    yield t, lambda app, at: app.assign(lead_id, owner, reason="demo round-robin")
    for _ in range(rng.randint(0, 5)):
        t += timedelta(days=rng.uniform(0.5, 10))
        kind = rng.choice(["page_visit", "email_open", "email_click", "download", "webinar"])
        yield t, functools.partial(_tracked, lead_id=lead_id, kind=kind)
    if rng.random() < 0.15:
        t += timedelta(days=rng.uniform(1, 30))
        yield t, lambda app, at: app.disqualify(lead_id, "no budget")
        return
    if rng.random() > 0.55:
        return  # stays a lead
    t += timedelta(days=rng.uniform(1, 14))
    yield t, lambda app, at: app.change_stage(lead_id, "mql", reason="engagement threshold")
    t += timedelta(hours=rng.uniform(2, 72))
    yield (
        t,
        lambda app, at: app.record_activity(
            lead_id, "call", detail="qualification call", actor=owner
        ),
    )
    if rng.random() > 0.8:
        return
    sales_rep = rng.choice(SALES_REPS)
    t += timedelta(hours=rng.uniform(1, 48))
    yield t, lambda app, at: app.hand_off(lead_id, sales_rep, note="ready for sales", actor=owner)
    t += timedelta(hours=rng.uniform(1, 60))
    if rng.random() < 0.25:
        yield t, lambda app, at: app.reject_handoff(lead_id, "not a fit yet", actor=sales_rep)
        return
    yield t, lambda app, at: app.accept_handoff(lead_id, actor=sales_rep)
    t += timedelta(days=rng.uniform(1, 10))
    yield t, lambda app, at: app.record_activity(lead_id, "meeting", actor=sales_rep)
    if rng.random() < 0.3:
        return
    t += timedelta(days=rng.uniform(1, 7))
    yield (
        t,
        lambda app, at: app.change_stage(lead_id, "sql", reason="BANT confirmed", actor=sales_rep),
    )
    if rng.random() < 0.35:
        return
    t += timedelta(days=rng.uniform(3, 20))
    account = f"acct-{index:06d}"
    amount = round(rng.uniform(5, 200)) * 1000.0
    yield (
        t,
        lambda app, at: app.convert(
            lead_id, "opportunity", account, amount=amount, actor=sales_rep
        ),
    )
    if rng.random() < 0.1:
        # A call logged a week late: backdated, but not before the lead's last event.
        late = t + timedelta(days=rng.uniform(0.5, 2))
        t = late + timedelta(days=7)
        yield (
            t,
            lambda app, at: app.record_activity(
                lead_id, "call", detail="logged late", at=late, actor=sales_rep
            ),
        )
    t += timedelta(days=rng.uniform(10, 60))
    if rng.random() < 0.45:
        yield t, lambda app, at: app.lose(lead_id, rng.choice(["price", "competitor", "timing"]))
        return
    yield t, lambda app, at: app.win(lead_id, amount=amount, currency="CNY", actor=sales_rep)
    if rng.random() < 0.12:
        t += timedelta(days=rng.uniform(30, 120))
        yield t, lambda app, at: app.churn(lead_id, "moved to a competitor")
    elif rng.random() < 0.1:
        t += timedelta(days=rng.uniform(30, 120))
        yield t, lambda app, at: app.change_stage(lead_id, "opportunity", reason="upsell")


def run_demo(app: Leadflow, clock: _SimClock, leads: int, seed: int, progress: Progress) -> int:
    rng = random.Random(seed)
    ids = [UUID(int=rng.getrandbits(128), version=4) for _ in range(leads)]
    queue: list[_Scheduled] = []
    timelines = [_timeline(random.Random(f"{seed}/{i}"), i, ids) for i in range(leads)]
    seq = 0
    for i, timeline in enumerate(timelines):
        first = next(timeline)
        heapq.heappush(queue, _Scheduled(first[0], seq, i, first[1]))
        seq += 1
    task = progress.add_task("simulating", total=None)
    steps = 0
    while queue:
        item = heapq.heappop(queue)
        clock.now = item.at
        try:
            item.step(app, item.at)
        except LeadflowError as exc:  # a scripted step the pipeline refuses is skipped
            progress.console.print(f"skipped a step of lead {item.lead_index}: {exc}")
        steps += 1
        progress.update(task, advance=1)
        following = next(timelines[item.lead_index], None)
        if following is not None:
            heapq.heappush(queue, _Scheduled(following[0], seq, item.lead_index, following[1]))
            seq += 1
    return steps


def print_funnel(rows: list[FunnelRow], title: str, console: Console) -> None:
    table = Table(title=title)
    for column in ("stage", "in stage", "reached", "conversion to next"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    for row in rows:
        conversion = f"{row.conversion_to_next:.1%}" if row.conversion_to_next is not None else "-"
        table.add_row(row.stage, str(row.in_stage), str(row.reached), conversion)
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        leads: Annotated[int, typer.Option(help="How many leads to simulate.")] = 300,
        seed: Annotated[int, typer.Option(help="Random seed; same seed, same history.")] = 7,
        db: Annotated[
            str | None, typer.Option("--db", envvar="LEADFLOW_DB", help="Store URL.")
        ] = None,
    ) -> None:
        """Simulate a year of leads through the real engine, then print the funnel."""
        url = db or "sqlite:///leadflow-demo.db"
        if url.startswith("sqlite:///") and not db:
            Path("leadflow-demo.db").unlink(missing_ok=True)
        clock = _SimClock(START)
        lf = open_store(url, clock=clock, actor="user:demo")
        console = Console()
        if lf.max_position() > 0:
            console.print(f"[red]{url} already holds events; demo needs an empty store[/red]")
            raise typer.Exit(2)
        with Progress(console=console, transient=True) as progress:
            steps = run_demo(lf, clock, leads, seed, progress)
        as_of = clock.now
        rows = funnel_from_events(lf.read_events(), lf.pipeline, as_of)
        console.print(f"{leads} leads, {steps} commands, {lf.max_position()} events in {url}")
        print_funnel(rows, f"Funnel as of {as_of.date().isoformat()}", console)
