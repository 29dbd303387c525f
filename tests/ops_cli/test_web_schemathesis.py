"""Property-based API tests with schemathesis against the live OpenAPI document: for every
operation, generated requests (bounded examples) must never produce a server error and every
response must match the documented status codes and schemas.

Requests carry an admin's API token, so they reach the handlers instead of stopping at 401.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inventory.db import make_engine
from ops_cli.web import create_app
from tests.ops_cli.conftest import World

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# The operation list comes from the app itself, so routers that land later are covered.
_SPEC = create_app(make_engine("sqlite://"), secure_cookies=False).openapi()
OPERATIONS = sorted(
    (method.upper(), path)
    for path, ops in _SPEC["paths"].items()
    for method in ops
    if method in {"get", "post", "put", "patch", "delete"}
)


@pytest.fixture(scope="module")
def api_schema(world: World) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", world.app)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_conforms(api_schema: Any, world: World, method: str, path: str) -> None:
    operation = api_schema[path][method]
    headers = world.headers("admin")

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(hypothesis.HealthCheck),
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_openapi_document_is_complete(world: World) -> None:
    spec = world.app.openapi()
    assert spec["openapi"].startswith("3.")
    schemes = spec["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyCookie"} <= set(schemes)
    for path, ops in spec["paths"].items():
        assert path.startswith("/api/"), path
        for method, op in ops.items():
            assert "200" in op["responses"] or "201" in op["responses"], (method, path)
            assert "401" in op["responses"], f"{method} {path} does not document 401"
            assert op.get("summary"), (method, path)
