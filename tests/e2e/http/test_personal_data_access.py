"""Who reads personal values over HTTP: the rule of ``domain.permissions.may_read_personal_data``
(managers, admins, and a rep for the leads it owns), the same rule the console follows.
Every other token reads ``[personal]`` in the lead's view, its explanation and the event log."""

from __future__ import annotations

from typing import Any

import pytest

from support.server import Server

PERSON = {
    "email": "Mei.Lin@Example.com",
    "phone": "+86 138 1234 5678",
    "name": "Mei Lin",
    "company": "Lin Trading",
    "source": "web",
    "attributes": {"linkedin": "in/mei-lin-77", "region": "east"},
}
REASON = "Mei said the budget is approved"
PERSONAL_VALUES = (
    "mei.lin@example.com",
    "+8613812345678",
    "Mei Lin",
    "Lin Trading",
    "in/mei-lin-77",
)


@pytest.fixture(scope="module")
def setup(server: Server) -> dict[str, Any]:
    admin = server.token("admin", name="pd-admin")
    with server.client(admin) as client:
        assert client.post("/v1/reps", json={"rep": "rep:ann"}).status_code == 200
        created = client.post("/v1/leads", json=PERSON)  # round-robin: rep:ann, the only rep
        assert created.status_code == 201, created.text
        lead = created.json()["lead_id"]
        assert client.post("/v1/reps", json={"rep": "rep:bo"}).status_code == 200
        scored = client.post(f"/v1/leads/{lead}/score", json={"score": 40, "reason": REASON})
        assert scored.status_code == 200, scored.text
    return {
        "lead": lead,
        "tokens": {
            "read": server.token("read", name="pd-read"),
            "manager": server.token("manager", name="pd-manager"),
            "owner": server.token("rep", name="pd-ann", rep="rep:ann"),
            "other-rep": server.token("rep", name="pd-bo", rep="rep:bo"),
        },
    }


def _answers(server: Server, token: str, lead: str) -> dict[str, str]:
    with server.client(token) as client:
        answers = {
            "show": client.get(f"/v1/leads/{lead}"),
            "explain": client.get(f"/v1/leads/{lead}/explain"),
            "events": client.get("/v1/events", params={"limit": 1000}),
        }
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.text)
    return {name: response.text for name, response in answers.items()}


@pytest.mark.parametrize("who", ["read", "other-rep"])
def test_a_token_that_may_not_read_personal_data_reads_none(
    server: Server, setup: dict[str, Any], who: str
) -> None:
    answers = _answers(server, setup["tokens"][who], setup["lead"])
    for name, text in answers.items():
        for value in (*PERSONAL_VALUES, REASON):
            assert value not in text, (name, value)
    with server.client(setup["tokens"][who]) as client:
        view = client.get(f"/v1/leads/{setup['lead']}").json()
        steps = client.get(f"/v1/leads/{setup['lead']}/explain").json()["steps"]
    assert view["email"] == view["name"] == view["attributes"]["linkedin"] == "[personal]"
    # what is not personal stays readable
    assert (view["source"], view["attributes"]["region"], view["owner"]) == (
        "web",
        "east",
        "rep:ann",
    )
    assert [step["reason"] for step in steps if step["rule"] is None] == ["[personal]"]


def test_the_owning_rep_reads_its_lead_but_not_the_whole_log(
    server: Server, setup: dict[str, Any]
) -> None:
    answers = _answers(server, setup["tokens"]["owner"], setup["lead"])
    for value in (*PERSONAL_VALUES, REASON):
        assert value in answers["show"] + answers["explain"], value
        assert value not in answers["events"], value


def test_a_manager_reads_every_personal_value(server: Server, setup: dict[str, Any]) -> None:
    answers = _answers(server, setup["tokens"]["manager"], setup["lead"])
    assert REASON in answers["explain"]
    for value in PERSONAL_VALUES:
        assert value in answers["show"], value
        assert value in answers["events"], value
