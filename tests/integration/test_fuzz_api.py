"""Schemathesis against our own OpenAPI description, with a valid token of every role:
no server error ever, and every error in the single error shape."""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.integration.helpers import drive, open_case

pytestmark = pytest.mark.db
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))


def _check(response) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url,
                                        response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)


@pytest.mark.parametrize("role", ["sec1", "org", "aud", "admin"])
def test_fuzz_every_operation(ctx, world, role):
    case = open_case(world)
    drive(world, case["id"], until="activist_designated")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", ctx)
    headers = world.headers(role)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14

    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(generated=operation.as_strategy())
        def run(generated) -> None:
            _check(generated.call(headers=headers))

        run()
