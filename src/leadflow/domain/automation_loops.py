"""Automation rules that would trigger each other for ever, found when a pipeline is
validated (rather than when a lead first walks into the loop).

A rule fires after an event when its ``when`` holds, and records a ``StageChanged``
and/or ``StatusChanged`` (only for what it actually changes). Rule B can follow rule A
when A records an event B listens to, A leaves the lead in a state B's ``when`` accepts,
and B then changes something A did not leave as B wants it. A cycle of such rules is a
loop. The check is conservative where A leaves something unknown (a stage it does not
set could be any stage), so it may refuse a pipeline whose loop no lead can reach; it
never misses one. The runtime limit (``automation.MAX_AUTOMATION_STEPS``) stays as a
backstop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadflow.domain.pipeline import AutomationRule

__all__ = ["automation_loops"]


def _follows(first: AutomationRule, then: AutomationRule) -> bool:
    produced = set()
    if first.then.stage is not None:
        produced.add("StageChanged")
    if first.then.status is not None:
        produced.add("StatusChanged")
    if then.when.event is not None and then.when.event not in produced:
        return False
    for name in ("stage", "status"):
        wanted = getattr(then.when, name)
        left = getattr(first.then, name)
        if wanted is not None and left is not None and wanted != left:
            return False
    changes_stage = then.then.stage is not None and then.then.stage != first.then.stage
    changes_status = then.then.status is not None and then.then.status != first.then.status
    return changes_stage or changes_status


def automation_loops(rules: Sequence[AutomationRule]) -> list[list[str]]:
    """Each loop as the ids of its rules in firing order, from the one listed first
    (an empty list: no loop)."""
    graph = {i: [j for j, b in enumerate(rules) if _follows(a, b)] for i, a in enumerate(rules)}
    loops: list[list[str]] = []
    seen: set[frozenset[int]] = set()
    state: dict[int, int] = {}  # 1: on the current path, 2: done

    def visit(node: int, path: list[int]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                if frozenset(cycle) not in seen:
                    first = cycle.index(min(cycle))  # start at the rule the file lists first
                    loops.append([rules[i].id for i in cycle[first:] + cycle[:first]])
                    seen.add(frozenset(cycle))
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    return loops
