"""Authorisation of EVERY endpoint in the OpenAPI document (the list is generated from
``app.openapi()``, so a router that lands later is covered without editing this file).

For each operation: anonymous → 401; an account without grant sees nothing and changes nothing;
a viewer cannot write; a Hà Nội user can neither read nor change Hồ Chí Minh's objects. Request
bodies are built from the operation's own JSON schema, so writes reach the permission check
instead of failing validation.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from inventory.db import make_engine, session_scope
from inventory.models import Unit, subtree_filter
from ops_cli.web import create_app
from tests.ops_cli.conftest import World

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_counter = itertools.count(1)


def _spec() -> dict[str, Any]:
    return create_app(make_engine("sqlite://"), secure_cookies=False).openapi()


SPEC = _spec()
OPERATIONS = sorted(
    (method.upper(), path)
    for path, ops in SPEC["paths"].items()
    for method in ops
    if method in {"get", "post", "put", "patch", "delete"}
)
IDS = [f"{m} {p}" for m, p in OPERATIONS]
INVENTORY_PREFIXES = ("/api/units", "/api/officers", "/api/devices", "/api/software", "/api/links")


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve(schema["allOf"][0])
    if "anyOf" in schema:
        non_null = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if non_null:
            return _resolve(non_null[0])
    return schema


def _value(name: str, schema: dict[str, Any], side: dict[str, str]) -> Any:
    schema = _resolve(schema)
    lname = name.lower()
    if lname in {"unit_code", "unit", "parent_code"}:
        return side["unit"]
    if lname == "officer_code":
        return side["officer"]
    if lname in {"device", "device_tag"}:
        return side["device"]
    if lname == "level":
        return 4
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return (date.today() + timedelta(days=3)).isoformat()
        if fmt == "date-time":
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(
                days=3, hours=next(_counter)
            )
            return start.isoformat()
        if fmt == "email":
            return "kiem.tra@congdoan.vn"
        if lname in {"code"} or lname.endswith(("_code", "_tag", "code")):
            return f"AZ-{next(_counter)}"
        return f"kiem-tra-{next(_counter)}"
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return float(max(schema.get("minimum", 1), 1))
    if kind == "boolean":
        return False
    if kind == "array":
        n = int(schema.get("minItems", 0))
        return [_value(name, schema.get("items", {}), side) for _ in range(n)]
    if kind == "object":
        return _body(schema, side)
    return "x"


def _body(schema: dict[str, Any], side: dict[str, str]) -> dict[str, Any]:
    schema = _resolve(schema)
    props = schema.get("properties", {})
    wanted = set(schema.get("required", [])) | {
        p for p in props if p in {"unit_code", "officer_code", "parent_code"}
    }
    return {p: _value(p, props[p], side) for p in props if p in wanted}


def _request(
    client: TestClient, method: str, path: str, side: dict[str, str], headers: dict[str, str]
) -> Any:
    op = SPEC["paths"][path][method.lower()]
    url = path
    for name in re.findall(r"{(\w+)}", path):
        url = url.replace("{" + name + "}", str(_path_value(path, name, side)))
    kwargs: dict[str, Any] = {"headers": headers}
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        kwargs["json"] = _body(content["application/json"]["schema"], side)
    params = {
        p["name"]: _value(p["name"], p.get("schema", {}), side)
        for p in op.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }
    return client.request(method, url, params=params, **kwargs)


def _path_value(path: str, name: str, side: dict[str, str]) -> str:
    area = path.split("/")[2]
    if area == "units":
        return side["unit"]
    if area == "officers":
        return side["officer"]
    if area == "devices":
        return side["device"]
    if name.endswith("id"):
        return "1"
    return side["unit"]


def _side(world: World, which: str) -> dict[str, str]:
    if which == "hcm":
        return {"unit": world.hcm_unit, "officer": world.hcm_officer, "device": world.hcm_device}
    return {"unit": world.hni_unit, "officer": world.hni_officer, "device": world.hni_device}


def _is_empty(payload: Any) -> bool:
    if isinstance(payload, dict) and "items" in payload:
        return payload["items"] == [] and payload.get("total", 0) == 0
    return payload in ([], {}, None)


def test_every_expected_endpoint_is_covered() -> None:
    paths = {p for _m, p in OPERATIONS}
    for needed in ("/api/units", "/api/devices", "/api/officers", "/api/targets", "/api/audit"):
        assert needed in paths
    assert len(OPERATIONS) >= 20


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_anonymous_gets_401(client: TestClient, world: World, method: str, path: str) -> None:
    resp = _request(client, method, path, _side(world, "hni"), headers={})
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["message"]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_bad_token_gets_401(client: TestClient, world: World, method: str, path: str) -> None:
    resp = _request(
        client, method, path, _side(world, "hni"), {"Authorization": "Bearer tld_forged"}
    )
    assert resp.status_code == 401, resp.text


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_no_grant_sees_and_changes_nothing(
    client: TestClient, world: World, method: str, path: str
) -> None:
    resp = _request(client, method, path, _side(world, "hni"), world.headers("nogrant"))
    if method == "GET" and resp.status_code == 200:
        assert _is_empty(resp.json()), f"{path} leaked to an account without grant: {resp.text}"
    else:
        # 401 too: machine endpoints (the Jitsi webhook) accept their own credential only.
        assert resp.status_code in {401, 403, 404, 422}, resp.text


@pytest.mark.parametrize(
    ("method", "path"), [op for op in OPERATIONS if op[0] in UNSAFE], ids=lambda x: str(x)
)
def test_viewer_cannot_write(client: TestClient, world: World, method: str, path: str) -> None:
    resp = _request(client, method, path, _side(world, "hni"), world.headers("viewer_hni"))
    assert not (200 <= resp.status_code < 300), f"viewer wrote via {method} {path}: {resp.text}"
    if path.startswith(INVENTORY_PREFIXES):
        assert resp.status_code in {403, 404}, resp.text


@pytest.mark.parametrize(
    ("method", "path"),
    [op for op in OPERATIONS if op[0] in UNSAFE and op[1].startswith(INVENTORY_PREFIXES)],
    ids=lambda x: str(x),
)
def test_province_it_writes_own_province_only(
    client: TestClient, world: World, method: str, path: str
) -> None:
    other = _request(client, method, path, _side(world, "hcm"), world.headers("it_hni"))
    assert other.status_code in {403, 404}, other.text
    own = _request(client, method, path, _side(world, "hni"), world.headers("it_hni"))
    assert 200 <= own.status_code < 300, own.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        op
        for op in OPERATIONS
        if op[0] == "GET" and "{" in op[1] and op[1].startswith(INVENTORY_PREFIXES)
    ],
    ids=lambda x: str(x),
)
def test_province_user_cannot_read_other_province_objects(
    client: TestClient, world: World, method: str, path: str
) -> None:
    other = _request(client, method, path, _side(world, "hcm"), world.headers("viewer_hni"))
    assert other.status_code == 404, other.text
    own = _request(client, method, path, _side(world, "hni"), world.headers("viewer_hni"))
    assert own.status_code == 200, own.text


def _strings(payload: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(payload, str):
        out.add(payload)
    elif isinstance(payload, dict):
        for v in payload.values():
            out |= _strings(v)
    elif isinstance(payload, list):
        for v in payload:
            out |= _strings(v)
    return out


@pytest.mark.parametrize(
    ("method", "path"),
    [op for op in OPERATIONS if op[0] == "GET" and "{" not in op[1]],
    ids=lambda x: str(x),
)
def test_lists_never_show_another_province(
    client: TestClient, world: World, method: str, path: str
) -> None:
    with session_scope(world.engine) as s:
        hcm_path = s.scalar(select(Unit.path).where(Unit.code == "HCM"))
        hcm_codes = set(s.scalars(select(Unit.code).where(subtree_filter(Unit.path, hcm_path))))
    op = SPEC["paths"][path]["get"]
    query_names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    base = {"limit": 500} if "limit" in query_names else {}
    resp = client.get(path, params=base, headers=world.headers("viewer_hni"))
    # A domain may refuse a default scope the caller cannot see (403) instead of narrowing it.
    assert resp.status_code in {200, 403, 404}, resp.text
    if resp.status_code == 200:
        leaked = _strings(resp.json()) & hcm_codes
        assert not leaked, (
            f"{path} shows Hồ Chí Minh units to a Hà Nội viewer: {sorted(leaked)[:5]}"
        )
    if "unit" in query_names:
        asked = client.get(path, params={"unit": "HCM"}, headers=world.headers("viewer_hni"))
        # Refused, or narrowed to nothing -- never Hồ Chí Minh's data.
        assert asked.status_code in {200, 403, 404}, asked.text
        if asked.status_code == 200:
            assert _is_empty(asked.json()) or not _strings(asked.json()) & hcm_codes
        own = client.get(path, params={**base, "unit": "HNI"}, headers=world.headers("viewer_hni"))
        assert own.status_code == 200, own.text
        assert not _strings(own.json()) & hcm_codes


def test_root_admin_reads_other_province(client: TestClient, world: World) -> None:
    resp = client.get(f"/api/devices/{world.hcm_device}", headers=world.headers("admin"))
    assert resp.status_code == 200
    assert resp.json()["asset_tag"] == world.hcm_device
