"""Random steps of one lead's life (hours later, what happens) for the sweep properties."""

from __future__ import annotations

from hypothesis import strategies as st

from leadflow.domain.events import ActivityKind

STAGES = ["subscriber", "lead", "mql", "sal", "sql", "opportunity", "disqualified", "customer"]

operation = st.one_of(
    st.tuples(st.just("activity"), st.sampled_from(list(ActivityKind))),
    st.tuples(st.just("assign"), st.sampled_from(["rep:a", "rep:b"])),
    st.tuples(st.just("release")),
    st.tuples(st.just("hand_off"), st.sampled_from(["rep:s", "rep:backup"])),
    st.tuples(st.just("accept_handoff")),
    st.tuples(st.just("reject_handoff")),
    st.tuples(st.just("change_stage"), st.sampled_from(STAGES)),
    st.tuples(st.just("convert"), st.sampled_from(["opportunity", "customer"])),
    st.tuples(st.just("qualify"), st.lists(st.booleans(), min_size=4, max_size=4)),
    st.tuples(st.just("industry"), st.sampled_from(["software", "retail", None])),
    st.tuples(st.just("set_score"), st.integers(0, 120)),
    st.tuples(st.just("sweep")),
)
step = st.tuples(st.integers(0, 24 * 40), operation)  # (hours later, what)
