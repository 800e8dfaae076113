"""Personal data sealed per lead: keys, rotation, errors, redaction and the store copy."""

from __future__ import annotations

import stat
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from leadflow.adapters.cli import app as cli
from leadflow.adapters.master_key import default_key_file
from leadflow.adapters.store import open_store, persistence_env
from leadflow.domain.personal_data import ERASED, REDACTED
from leadflow.errors import KeyUnavailable
from leadflow.service.application import Leadflow
from leadflow.service.data_keys import MADE_AHEAD

ADA = {"email": "ada.lovelace@analytical.example", "name": "Ada Lovelace", "company": "Engines"}


def raw(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "leadflow.db"


def url(db: Path) -> str:
    return f"sqlite:///{db}"


def test_the_log_alone_holds_no_personal_data_but_the_key_holder_reads_it(db: Path) -> None:
    lf = open_store(url(db))
    lead = lf.capture(**ADA, attributes={"linkedin": "in/ada-l", "industry": "math"}).lead_id
    lf.record_activity(lead, "note", detail="met Ada at the salon")

    log = raw(db)
    for value in (b"ada.lovelace", b"Lovelace", b"Engines", b"in/ada-l", b"the salon"):
        assert value not in log
    assert b"math" in log  # an attribute that is not personal stays plain JSON
    assert lf.get_lead(lead).name == "Ada Lovelace"
    detail = [r for r in lf.read_events(lead_id=lead) if r.type == "ActivityRecorded"]
    assert detail[0].data["detail"] == "met Ada at the salon"


def test_init_makes_a_key_file_only_its_owner_can_read_and_says_where(db: Path) -> None:
    result = invoke("--db", url(db), "init", "--json")

    assert result.exit_code == 0, result.output
    shown = orjson.loads(result.stdout)
    key_file = default_key_file(url(db))
    assert shown["master_key"] == str(key_file)
    assert shown["keystore"] == str(db.with_name("leadflow.keys.db"))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_without_the_master_key_personal_data_is_a_clear_error_and_redaction_still_works(
    db: Path, tmp_path: Path
) -> None:
    lead = open_store(url(db)).capture(**ADA).lead_id
    default_key_file(url(db)).rename(tmp_path / "elsewhere.key")

    shown = invoke("--db", url(db), "show", str(lead))
    assert shown.exit_code == 6
    assert "no master key" in shown.output
    assert "Lovelace" not in shown.output
    redacted = invoke("--db", url(db), "events", "--redact", "--json")
    assert redacted.exit_code == 0, redacted.output
    captured = orjson.loads(redacted.stdout.splitlines()[0])
    assert captured["data"]["name"] == REDACTED
    assert captured["data"]["stage"] == "lead"


def test_a_wrong_master_key_is_refused_by_its_id(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lead = open_store(url(db)).capture(**ADA).lead_id
    monkeypatch.setenv("LEADFLOW_MASTER_KEY", "A" * 43 + "=")

    with pytest.raises(KeyUnavailable, match="is not the key of the keystore"):
        open_store(url(db)).get_lead(lead)


def test_a_keystore_that_is_not_the_logs_is_an_error_never_garbage(db: Path) -> None:
    lead = open_store(url(db)).capture(**ADA).lead_id
    for path in db.parent.glob("leadflow.keys.db*"):
        path.unlink()
    default_key_file(url(db)).unlink()

    with pytest.raises(KeyUnavailable, match="holds no data key for lead"):
        open_store(url(db)).get_lead(lead)


def test_rotation_rewraps_the_keys_without_touching_the_log_and_dedupe_still_matches(
    db: Path,
) -> None:
    lf = open_store(url(db))
    lead = lf.capture(**ADA).lead_id
    head = lf.max_position()
    key_file = default_key_file(url(db))
    old_key = key_file.read_text()

    result = invoke("--db", url(db), "keys", "rotate", "--json")

    assert result.exit_code == 0, result.output
    # The lead's key and the keys made ahead for leads not captured yet.
    assert orjson.loads(result.stdout)["rewrapped"] == MADE_AHEAD
    assert key_file.read_text() != old_key
    fresh = open_store(url(db))
    assert fresh.max_position() == head  # no event was written
    assert fresh.get_lead(lead).email == ADA["email"]
    assert fresh.capture(email=ADA["email"]).lead_id == lead  # a touch: same contact key


def test_an_erased_lead_reads_erased_everywhere_and_its_address_makes_a_new_lead(db: Path) -> None:
    lf = open_store(url(db))
    lead = lf.capture(**ADA, attributes={"linkedin": "in/ada-l", "region": "emea"}).lead_id

    lf.erase_personal_data(lead, "ticket 7")

    state = lf.get_lead(lead)
    assert (state.email, state.name, state.company, state.attributes) == (
        None,
        None,
        None,
        {"region": "emea"},
    )
    captured = next(r for r in lf.read_events(lead_id=lead) if r.type == "LeadCaptured")
    assert captured.data["email"] == captured.data["name"] == ERASED
    erased = next(r for r in lf.read_events(lead_id=lead) if r.type == "PersonalDataErased")
    assert erased.data == {
        "fields": ["email", "name", "company", "attributes.linkedin"],
        "reason": "ticket 7",
    }
    assert lf.capture(email=ADA["email"]).lead_id != lead


def test_erasing_again_finishes_an_erasure_whose_key_was_not_yet_destroyed(db: Path) -> None:
    lf = open_store(url(db))
    lead = lf.capture(**ADA).lead_id
    assert lf.keys is not None
    keys = lf.keys
    destroy = keys.destroy
    keys.destroy = lambda lead_id: False  # type: ignore[method-assign]  # "crashed" before it
    lf.erase_personal_data(lead, "ticket 8")
    assert lf.get_lead(lead).erased
    keys.destroy = destroy  # type: ignore[method-assign]
    assert not keys.destroyed(lead)

    lf.erase_personal_data(lead, "ticket 8")

    assert keys.destroyed(lead)
    assert len([r for r in lf.read_events(lead_id=lead) if r.type == "PersonalDataErased"]) == 1


def plain_store(path: Path) -> Leadflow:
    """A store as written before personal data was sealed (no keystore)."""
    return Leadflow(persistence_env(f"sqlite:///{path}"), actor="user:old")


def test_a_store_written_before_is_copied_with_sealed_personal_data_and_the_same_funnel(
    tmp_path: Path,
) -> None:
    source = plain_store(tmp_path / "old.db")
    kept = source.capture(**ADA, source="web").lead_id
    source.change_stage(kept, "mql", reason="asked Ada for a demo")
    gone = source.capture(email="grace@hopper.example", name="Grace Hopper").lead_id
    source.erase_personal_data(gone, "ticket 9")
    assert b"Grace Hopper" in raw(tmp_path / "old.db")  # erased in state only, before
    source.close()
    src, dst = f"sqlite:///{tmp_path / 'old.db'}", f"sqlite:///{tmp_path / 'new.db'}"

    refused = invoke("store", "copy", src, dst)
    assert refused.exit_code == 2
    result = invoke("store", "copy", src, dst, "--encrypt-personal-data", "--json")

    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["erased_leads"] == 1
    copied = raw(tmp_path / "new.db")
    for value in (b"Lovelace", b"Grace", b"Hopper", b"hopper.example", b"for a demo"):
        assert value not in copied
    old, new = open_store(src), open_store(dst)
    shape = [(r.id, r.type, r.occurred_at, r.recorded_at, r.actor) for r in old.read_events()]
    assert [(r.id, r.type, r.occurred_at, r.recorded_at, r.actor) for r in new.read_events()] == (
        shape
    )
    funnels = [invoke("--db", u, "funnel", "--json", "--as-of", "2100-01-01") for u in (src, dst)]
    assert all(f.exit_code == 0 for f in funnels), funnels[0].output
    assert orjson.loads(funnels[0].stdout) == orjson.loads(funnels[1].stdout)
    assert new.get_lead(kept).name == "Ada Lovelace"
    grace = next(r for r in new.read_events(lead_id=gone) if r.type == "LeadCaptured")
    assert grace.data["name"] == ERASED
    assert new.capture(email=ADA["email"]).lead_id == kept  # contact keys reserved anew


def test_new_leads_keys_are_made_ahead_many_in_one_keystore_write(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture neither looks its new lead's key up nor writes it alone: keys are made
    ahead (``MADE_AHEAD`` in one durable write) and open in another process."""
    lf = open_store(url(db))
    assert lf.keys is not None
    keystore = lf.keys.keystore
    writes: Counter[str] = Counter()

    def counting(name: str) -> Any:
        real = getattr(keystore, name)

        def counted(*args: Any) -> Any:
            writes[name] += 1
            return real(*args)

        return counted

    for name in ("get", "add", "add_new"):
        monkeypatch.setattr(keystore, name, counting(name))

    leads = [
        lf.capture(email=f"p{i}@example.com", name=f"P {i}").lead_id for i in range(MADE_AHEAD + 6)
    ]

    assert writes == {"add_new": 2}
    lf.close()
    again = open_store(url(db))
    assert [again.get_lead(lead).name for lead in leads] == [f"P {i}" for i in range(len(leads))]
    again.close()
