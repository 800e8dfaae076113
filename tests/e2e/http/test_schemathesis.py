"""Property-based tests from the live OpenAPI schema (schemathesis): thousands of
generated requests, none answered with a 5xx or with a response the schema does not
describe (status, content type, body, headers).

Half of the generated lead ids are swapped for real leads, so that the commands run
past "not found" into the domain's own refusals and successes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from support.server import Server

EXAMPLES = int(os.environ.get("LEADFLOW_SCHEMATHESIS_EXAMPLES", "100"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
SENT: dict[str, int] = {"requests": 0}


@schemathesis.serializer("application/toml")
def _toml(ctx: Any, value: Any) -> bytes:
    """A pipeline is TOML text: the generated string, as it is."""
    return str(value).encode("utf-8", "surrogatepass")


STATUSES: dict[int, int] = {}


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No webhook delivery: generated webhooks may name any host, and this machine sends
    traffic only to itself."""
    running = Server(module_db_url, extra_args=["--no-webhooks"])
    running.start(tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def admin(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token('admin', name='schemathesis')}"}


@pytest.fixture(scope="module")
def leads(server: Server, admin: dict[str, str]) -> list[str]:
    found = []
    with server.client() as client:
        client.headers.update(admin)
        assert client.post("/v1/reps", json={"rep": "rep:ann"}).status_code == 200
        for n in range(5):
            response = client.post("/v1/leads", json={"email": f"fuzz{n}@example.com"})
            found.append(response.json()["lead_id"])
    return found


def _operations(server: Server) -> list[Any]:
    live = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    return [result.ok() for result in live.get_all_operations()]


def test_no_5xx_and_every_response_as_the_schema_says(
    server: Server, admin: dict[str, str], leads: list[str]
) -> None:
    """Each operation of the live schema, EXAMPLES generated requests (schemathesis as a
    library: its pytest plugin does not load under this pytest)."""
    operations = _operations(server)
    assert len(operations) >= 30

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            params = case.path_parameters or {}
            if "lead_id" in params and hash(str(params["lead_id"])) % 2 == 0:
                params["lead_id"] = leads[hash(str(params["lead_id"])) % len(leads)]
            response = case.call_and_validate(
                base_url=server.base_url, headers=admin, checks=CHECKS
            )
            SENT["requests"] += 1
            STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1

        check()
    print(f"schemathesis sent {SENT['requests']} requests; statuses {sorted(STATUSES.items())}")
    assert SENT["requests"] >= len(operations) * EXAMPLES // 2
