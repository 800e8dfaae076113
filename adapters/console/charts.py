"""Geometry of the console's SVG drawings, computed on the server.

The templates only place what is computed here (rectangles, lines, text positions), so
the page needs no chart library and draws the same with scripts off. Text goes into
the SVG through the templates' autoescaping, like every other user string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadflow.domain.pipeline import Pipeline
from leadflow.i18n import label_of

__all__ = ["Diagram", "FunnelChart", "funnel_chart", "pipeline_diagram"]

_ROW = 30
_LABEL_WIDTH = 190
_BAR_WIDTH = 420


@dataclass(frozen=True)
class Bar:
    stage: str
    label: str
    y: int
    reached: int
    in_stage: int
    reached_width: float
    in_stage_width: float
    on_main_path: bool


@dataclass(frozen=True)
class FunnelChart:
    width: int
    height: int
    label_width: int
    bars: list[Bar]


def funnel_chart(
    stages: list[dict[str, Any]], labels: dict[str, str], main_path: list[str]
) -> FunnelChart:
    """Horizontal bars per stage: how many reached it, and how many are in it now."""
    largest = max((int(row["reached"]) for row in stages), default=0) or 1
    bars = []
    for index, row in enumerate(stages):
        reached, in_stage = int(row["reached"]), int(row["in_stage"])
        bars.append(
            Bar(
                stage=row["stage"],
                label=labels.get(row["stage"], row["stage"]),
                y=index * _ROW + 10,
                reached=reached,
                in_stage=in_stage,
                reached_width=round(_BAR_WIDTH * reached / largest, 1),
                in_stage_width=round(_BAR_WIDTH * in_stage / largest, 1),
                on_main_path=row["stage"] in main_path,
            )
        )
    return FunnelChart(
        width=_LABEL_WIDTH + _BAR_WIDTH + 90,
        height=len(bars) * _ROW + 20,
        label_width=_LABEL_WIDTH,
        bars=bars,
    )


@dataclass(frozen=True)
class Node:
    stage: str
    label: str
    x: int
    y: int
    width: int
    height: int
    on_main_path: bool


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str
    path: str
    """An SVG path (``d``) from the source box to the target box."""
    label_x: float
    label_y: float


@dataclass(frozen=True)
class Diagram:
    width: int
    height: int
    nodes: list[Node]
    edges: list[Edge]


_NODE_W, _NODE_H, _GAP_X, _ROW_Y = 150, 46, 40, 150


def pipeline_diagram(pipeline: Pipeline, lang: str) -> Diagram:
    """The main path left to right on the top row, the other stages below; an arrow per
    allowed transition, labelled with its kind (advance, recycle, exit …)."""
    main = list(pipeline.main_path)
    others = [stage for stage in pipeline.stages if stage not in main]
    nodes: dict[str, Node] = {}
    for row, names in enumerate((main, others)):
        for column, stage in enumerate(names):
            nodes[stage] = Node(
                stage=stage,
                label=label_of(pipeline.stages[stage], lang),
                x=20 + column * (_NODE_W + _GAP_X),
                y=40 + row * _ROW_Y,
                width=_NODE_W,
                height=_NODE_H,
                on_main_path=row == 0,
            )
    edges = []
    for source, config in pipeline.stages.items():
        for target, kind in config.transitions.items():
            a, b = nodes[source], nodes[target]
            edges.append(_edge(a, b, str(getattr(kind, "value", kind))))
    columns = max(len(main), len(others), 1)
    return Diagram(
        width=40 + columns * (_NODE_W + _GAP_X),
        height=40 + 2 * _ROW_Y,
        nodes=list(nodes.values()),
        edges=edges,
    )


def _edge(a: Node, b: Node, kind: str) -> Edge:
    x1: float
    x2: float
    y1: float
    y2: float
    bend: float
    if a.y == b.y and b.x > a.x and b.x - a.x == _NODE_W + _GAP_X:
        # Next box on the same row: a straight arrow between the boxes.
        x1, y1 = a.x + a.width, a.y + a.height / 2
        x2, y2 = b.x, b.y + b.height / 2
        return Edge(a.stage, b.stage, kind, f"M{x1},{y1} L{x2 - 4},{y2}", (x1 + x2) / 2, y1 - 6)
    # Anything else: a curve from the source's bottom (or top) to the target's.
    x1 = a.x + a.width / 2
    x2 = b.x + b.width / 2
    if a.y == b.y:
        y1 = y2 = a.y + (a.height if b.x < a.x else 0)
        bend = y1 + (45 if b.x < a.x else -35)
    elif a.y < b.y:
        y1, y2 = a.y + a.height, b.y
        bend = (y1 + y2) / 2
    else:
        y1, y2 = a.y, b.y + b.height
        bend = (y1 + y2) / 2
    end = y2 + (4 if y2 > bend else -4)
    path = f"M{x1},{y1} C{x1},{bend} {x2},{bend} {x2},{end}"
    return Edge(a.stage, b.stage, kind, path, (x1 + x2) / 2, bend)
