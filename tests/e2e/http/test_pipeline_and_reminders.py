"""The pipeline over HTTP (read it; an admin puts one in force) and a rep's reminders."""

from __future__ import annotations

from leadflow.service.pipeline_files import default_pipeline_text

from support.server import Server


def test_an_admin_puts_a_pipeline_in_force_and_a_reader_sees_it(server: Server) -> None:
    text = default_pipeline_text().replace(
        'stages = ["subscriber", "lead", "mql", "sal", "sql"]',
        'stages = ["subscriber", "lead", "mql", "sal", "sql"]\nremind_before = "1d"',
        1,
    )
    assert 'remind_before = "1d"' in text
    with server.client(server.token("admin", name="pipeline-admin")) as admin:
        put = admin.put("/v1/pipeline", content=text, headers={"Content-Type": "application/toml"})
        assert put.status_code == 200, put.text
        assert put.json()["activated"] is True
        again = admin.put("/v1/pipeline", content=text)
        assert again.json() == {**put.json(), "activated": False}
        bad = admin.put("/v1/pipeline", content=text.replace('after = "5d"', 'after = "soon"'))
        assert bad.status_code == 422
        assert bad.json()["type"] == "urn:leadflow:problem:invalid-pipeline"
    with server.client(server.token("read", name="pipeline-reader")) as reader:
        shown = reader.get("/v1/pipeline").json()
    assert shown["version"] == put.json()["version"]
    assert shown["pipeline"]["recycling"]["no_follow_up"]["remind_before"] == "P1D"


def test_a_rep_token_reads_its_own_reminders(server: Server) -> None:
    with server.client(server.token("manager", name="rem-manager")) as manager:
        lead = manager.post("/v1/leads", json={"email": "rem@example.com"}).json()["lead_id"]
        assert manager.post("/v1/reps", json={"rep": "rep:rem"}).status_code == 200
        assert (
            manager.post(f"/v1/leads/{lead}/assign", json={"owner": "rep:rem"}).status_code == 200
        )
        touch = manager.post("/v1/leads", json={"email": "rem@example.com", "source": "ads"})
        assert touch.status_code == 200
        assert touch.json()["created"] is False
    with server.client(server.token("rep", name="rem-rep", rep="rep:rem")) as rep:
        mine = rep.get("/v1/reminders").json()
    assert mine["rep"] == "rep:rem"
    assert [(t["lead_id"], t["source"]) for t in mine["touches"]] == [(lead, "ads")]
