"""``by`` a reporting dimension over HTTP and in the console: accepted when the pipeline in
force lists it, refused naming ``by`` and the accepted groupings otherwise (the CLI's list,
``Pipeline.groupings``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from leadflow.adapters.http.app import create_app
from leadflow.adapters.http.tokens import create_token
from leadflow.adapters.store import open_store


def _token(app: object, scope: str) -> str:
    service = app.state.service  # type: ignore[attr-defined]
    _, secret = create_token(service.engine, name=f"t-{scope}", scope=scope, now=datetime.now(UTC))
    return secret


def test_by_a_dimension_over_http_and_in_the_console(db_url: str) -> None:
    store = open_store(db_url)
    for industry in ("software", "software", "finance", None):
        attributes = {"industry": industry} if industry else {}
        store.capture(email=f"{industry}{store.max_position()}@example.com", attributes=attributes)
    store.close()
    app = create_app(db_url)
    with TestClient(app, follow_redirects=False) as client:
        headers = {"Authorization": f"Bearer {_token(app, 'read')}"}
        answer = client.get("/v1/funnel", params={"by": "industry"}, headers=headers)
        assert answer.status_code == 200
        groups = {g["key"]: g["live_leads"] for g in answer.json()["groups"]}
        assert groups == {"(none)": 1, "finance": 1, "software": 2}

        refused = client.get("/v1/funnel", params={"by": "linkedin"}, headers=headers)
        assert refused.status_code == 422
        assert refused.json()["field"] == "by"
        assert "industry" in refused.json()["detail"]

        client.post("/signin", content=f"token={_token(app, 'manager')}")
        page = client.get("/funnel", params={"by": "industry"})
        assert page.status_code == 200
        assert "software" in page.text
        cell = client.get(
            "/funnel/leads",
            params={"by": "industry", "key": "software", "stage": "lead", "measure": "reached"},
        )
        assert cell.status_code == 200
        refused_page = client.get("/funnel", params={"by": "linkedin"})
        assert refused_page.status_code == 400
        assert "<strong>by</strong>" in refused_page.text
