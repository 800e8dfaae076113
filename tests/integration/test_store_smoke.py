from leadflow.application import Leadflow


def test_a_captured_lead_reads_back_from_the_store(app: Leadflow) -> None:
    result = app.capture(email="Ada@Example.com", source="web")

    lead = app.get_lead(result.lead_id)

    assert lead.email == "ada@example.com"
    assert lead.stage == "lead"
    assert [r.type for r in app.read_events()] == ["LeadCaptured"]
