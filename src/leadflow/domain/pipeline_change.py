"""What a new pipeline version changes for the leads already in the store, and for readers.

A version that removes (or renames) a stage that leads are in would strand them: every
command on them would name a stage the pipeline no longer knows. :func:`plan_stage_moves`
refuses such a version unless each stranded stage is mapped (``OLD=NEW``) to a stage of the
new version; with the mapping, each stranded lead is moved by its own event. :func:`diff`
lists what changed between two versions, key by key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadflow.domain.pipeline import Pipeline
from leadflow.errors import InvalidInput

__all__ = ["Change", "diff", "parse_mapping", "plan_stage_moves"]


def parse_mapping(items: Sequence[str], old: Pipeline, new: Pipeline) -> dict[str, str]:
    """``["sal=sql", …]`` as ``{"sal": "sql"}``: OLD a stage of ``old``, NEW one of ``new``."""
    mapping: dict[str, str] = {}
    for item in items:
        source, sep, target = (part.strip() for part in item.partition("="))
        if not sep or not source or not target:
            raise InvalidInput("map", f"{item!r} is not OLD=NEW")
        if source not in old.stages:
            raise InvalidInput("map", f"{source!r} is not a stage of the pipeline in force")
        if target not in new.stages:
            raise InvalidInput("map", f"{target!r} is not a stage of the new pipeline")
        if source in new.stages:
            raise InvalidInput(
                "map", f"{source!r} is still a stage of the new pipeline: nothing to map"
            )
        if mapping.get(source, target) != target:
            raise InvalidInput("map", f"{source!r} is mapped twice")
        mapping[source] = target
    return mapping


def plan_stage_moves(
    leads_by_stage: Mapping[str, int], new: Pipeline, mapping: Mapping[str, str]
) -> dict[str, str]:
    """The stage moves activating ``new`` needs: ``{old stage: new stage}``.

    ``leads_by_stage``: how many leads are in each stage now. Refuses (exit 2), naming each
    stranded stage and its number of leads, when a stage with leads in it is not in ``new``
    and not mapped.
    """
    stranded = {stage: n for stage, n in leads_by_stage.items() if n and stage not in new.stages}
    unmapped = {stage: n for stage, n in stranded.items() if stage not in mapping}
    if unmapped:
        listed = ", ".join(
            f"{stage!r} ({n} lead{'s' if n != 1 else ''})" for stage, n in unmapped.items()
        )
        raise InvalidInput(
            "stages",
            f"the new pipeline has no stage {listed}: map each to a stage of the new "
            "pipeline with --map OLD=NEW",
        )
    return {stage: mapping[stage] for stage in stranded}


@dataclass(frozen=True)
class Change:
    key: str
    """Dotted path of the setting, e.g. ``stages.sal.label`` or ``main_path``."""
    before: Any
    """``None``: absent before."""
    after: Any
    """``None``: absent after."""


def diff(a: Pipeline, b: Pipeline) -> list[Change]:
    """Every setting that differs between ``a`` and ``b``, in document order.

    Stages and statuses are compared by name (an added or removed stage is one change,
    keyed ``stages.NAME``); lists (main path, rules) as whole values.
    """
    changes: list[Change] = []
    _compare("", a.model_dump(mode="json"), b.model_dump(mode="json"), changes)
    if list(a.stages) != list(b.stages):  # the order of stages is their display order
        changes.append(Change("stages (order)", list(a.stages), list(b.stages)))
    return changes


def _compare(prefix: str, a: Any, b: Any, changes: list[Change]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in a:
                changes.append(Change(path, None, b[key]))
            elif key not in b:
                changes.append(Change(path, a[key], None))
            else:
                _compare(path, a[key], b[key], changes)
        return
    if a != b:
        changes.append(Change(prefix, a, b))
