"""Read models on an empty database, once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from leadflow.adapters.store import schema_of, sqlalchemy_url
from leadflow.projections import ProjectionRunner


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def runner(request: pytest.FixtureRequest) -> Iterator[ProjectionRunner]:
    """Read models on an empty database; each example rebuilds them from its history."""
    if request.param == "sqlite":
        engine = sa.create_engine("sqlite://", poolclass=sa.StaticPool)
        projections = ProjectionRunner(engine)
    else:
        url = request.getfixturevalue("postgres_url")
        engine = sa.create_engine(sqlalchemy_url(url))
        schema = schema_of(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        projections = ProjectionRunner(engine, schema=schema)
    projections.ensure_tables()
    yield projections
    engine.dispose()
