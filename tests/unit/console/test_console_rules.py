"""Who sees what in the console: the scope rules of ``leadflow.domain.permissions``."""

from __future__ import annotations

import pytest

from leadflow.adapters.console.routes_session import _safe_next
from leadflow.adapters.redaction import HIDDEN, redact_event_data, redact_view
from leadflow.domain.permissions import SCOPES, grants, may_read_personal_data


@pytest.mark.parametrize("scope", list(SCOPES))
def test_grants_is_the_scope_table(scope: str) -> None:
    for action in {a for actions in SCOPES.values() for a in actions}:
        assert grants(scope, action) == (action in SCOPES[scope])
    assert not grants("nobody", "read")


def test_personal_data_is_for_managers_admins_and_the_owning_rep() -> None:
    assert may_read_personal_data("manager", "api:m", None)
    assert may_read_personal_data("admin", "api:a", "rep:kai")
    assert may_read_personal_data("rep", "rep:kai", "rep:kai")
    assert not may_read_personal_data("rep", "rep:kai", "rep:mei")
    assert not may_read_personal_data("rep", "rep:kai", None)
    assert not may_read_personal_data("read", "api:r", None)
    assert not may_read_personal_data("intake", "api:i", None)


def test_redaction_hides_personal_fields_and_keeps_the_rest() -> None:
    view = {
        "name": "Mei",
        "email": "m@example.com",
        "phone": None,
        "source": "web",
        "score": 3,
        "attributes": {"linkedin": "in/mei", "region": "east"},
    }
    assert redact_view(view, ["linkedin"]) == {
        "name": HIDDEN,
        "email": HIDDEN,
        "phone": None,
        "source": "web",
        "score": 3,
        "attributes": {"linkedin": HIDDEN, "region": "east"},
    }
    assert view["attributes"]["linkedin"] == "in/mei"  # the caller's view is left as it was
    data = {"changes": {"email": "x@example.com", "attributes.region": "east"}, "wechat": "w"}
    # the personal paths, as the record lists them (EventRecord.personal)
    assert redact_event_data(data, ["changes.email", "wechat"]) == {
        "changes": {"email": HIDDEN, "attributes.region": "east"},
        "wechat": HIDDEN,
    }


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/leads?stage=mql", "/leads?stage=mql"),
        ("//evil.example/", "/funnel"),
        ("https://evil.example/", "/funnel"),
        ("/\\evil.example", "/funnel"),
        (None, "/funnel"),
    ],
)
def test_sign_in_goes_back_only_to_a_page_of_this_server(target: str | None, expected: str) -> None:
    assert _safe_next(target) == expected
