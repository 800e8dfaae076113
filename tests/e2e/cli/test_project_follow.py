"""``leadflow project --follow`` as a long-running process keeps the read models current."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from leadflow.adapters.store import open_store
from leadflow.projections import LEADS, POSITIONS

READ_MODELS = (
    "leads",
    "stage_history",
    "handoffs",
    "merges",
    "passes",
    "deals",
    "breaches",
    "dimensions",
)


def test_project_follow_keeps_the_read_models_up_with_new_events(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'follow.db'}"
    app = open_store(url)
    app.capture(email="first@example.com")
    leadflow_bin = Path(sys.executable).with_name("leadflow")
    follower = subprocess.Popen(
        [str(leadflow_bin), "project", "--follow", "--interval", "0.1", "--db", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        later = app.capture(email="second@example.com").lead_id
        app.change_stage(later, "mql")
        head = app.max_position()
        engine = sa.create_engine(url)
        deadline = time.monotonic() + 30
        positions: dict[str, int] = {}
        while time.monotonic() < deadline:
            try:
                with engine.connect() as conn:
                    positions = dict(
                        conn.execute(sa.select(POSITIONS.c.name, POSITIONS.c.position)).all()
                    )
            except sa.exc.OperationalError:
                positions = {}
            if positions and min(positions.values()) == head:
                break
            time.sleep(0.1)
        assert positions == dict.fromkeys(READ_MODELS, head)
        with engine.connect() as conn:
            stage = conn.execute(
                sa.select(LEADS.c.stage).where(LEADS.c.lead_id == str(later))
            ).scalar_one()
        assert stage == "mql"
        engine.dispose()
    finally:
        follower.terminate()
        follower.wait(timeout=10)
