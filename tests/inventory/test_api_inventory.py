"""The HTTP side of what an operator sets: ``PATCH /api/devices/{tag}`` connection fields, unit
contacts, monitored services and (read-only) credential profiles — the same service methods as
the CLI, checked here against each other on one database, with the caller's subtree enforced."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from inventory.db import session_scope
from inventory.models import AuditRecord, Device, Officer
from ops_cli.cli import app
from tests.ops_cli.conftest import World, build_world


@pytest.fixture(scope="module")
def world(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, str, str]]:
    target = tmp_path_factory.mktemp("api-inv") / "tldops.db"
    shutil.copyfile(sqlite_template, target)
    key = Fernet.generate_key().decode()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLDOPS_SECRET_KEY", key)
        w = build_world(target)
        yield w, f"sqlite:///{target}", key
    w.engine.dispose()


@pytest.fixture
def client(world: tuple[World, str, str]) -> Iterator[TestClient]:
    with TestClient(world[0].app) as c:
        yield c


def _cli(world: tuple[World, str, str], *args: str) -> str:
    _w, url, key = world
    result = CliRunner().invoke(
        app,
        list(args),
        env={"TLDOPS_DATABASE_URL": url, "TLDOPS_SECRET_KEY": key, "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def _audit_count(w: World) -> int:
    with session_scope(w.engine) as s:
        return int(s.scalar(select(func.count(AuditRecord.id))) or 0)


def test_patch_device_connection_fields(client: TestClient, world: tuple[World, str, str]) -> None:
    w = world[0]
    it = w.headers("it_hni")
    url = f"/api/devices/{w.hni_device}"
    r = client.patch(
        url,
        json={
            "platform": "mikrotik_routeros",
            "snmp_profile": "snmpv3-default",
            "ssh_profile": "ssh-network",
            "snmp_port": 1161,
            "monitored": False,
        },
        headers=it,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["platform"], body["snmp_profile"], body["ssh_profile"]) == (
        "mikrotik_routeros",
        "snmpv3-default",
        "ssh-network",
    )
    assert body["snmp_port"] == 1161 and body["monitored"] is False
    # The CLI sees what the API wrote (one service underneath).
    shown = _cli(world, "inventory", "device", "show", w.hni_device)
    assert "mikrotik_routeros" in shown and "1161" in shown and "không" in shown

    r = client.patch(url, json={"snmp_port": None, "ssh_profile": None}, headers=it)
    assert r.status_code == 200
    assert r.json()["snmp_port"] is None and r.json()["ssh_profile"] is None
    assert r.json()["snmp_profile"] == "snmpv3-default"  # left out: untouched

    before = _audit_count(w)
    bad = client.patch(url, json={"platform": "nope", "ssh_profile": "snmpv3-default"}, headers=it)
    assert bad.status_code == 422
    problems = bad.json()["error"]["problems"]
    assert any("platform" in p for p in problems) and any("ssh_profile" in p for p in problems)
    assert client.get(url, headers=it).json()["platform"] == "mikrotik_routeros"
    assert _audit_count(w) == before
    assert client.patch(url, json={"snmp_port": 0}, headers=it).status_code == 422

    assert (
        client.patch(
            f"/api/devices/{w.hcm_device}", json={"platform": "linux"}, headers=it
        ).status_code
        == 404
    )
    assert (
        client.patch(url, json={"platform": "linux"}, headers=w.headers("viewer_hni")).status_code
        == 403
    )


def test_unit_contacts(client: TestClient, world: tuple[World, str, str]) -> None:
    w = world[0]
    it = w.headers("it_hni")
    base = f"/api/units/{w.hni_unit}/contacts"
    r = client.post(base, json={"role": "meeting", "officer_code": w.hni_officer}, headers=it)
    assert r.status_code == 201, r.text
    assert r.json()["officer_code"] == w.hni_officer and r.json()["role"] == "meeting"
    listed = client.get(base, params={"role": "meeting"}, headers=w.headers("viewer_hni"))
    assert [c["officer_code"] for c in listed.json()] == [w.hni_officer]
    assert w.hni_officer in _cli(world, "inventory", "contact", "list", w.hni_unit)

    # An officer of another province is missing, as is another province's unit.
    other = client.post(base, json={"role": "it", "officer_code": w.hcm_officer}, headers=it)
    assert other.status_code == 404
    assert client.get(f"/api/units/{w.hcm_unit}/contacts", headers=it).status_code == 404
    assert (
        client.post(
            base,
            json={"role": "it", "officer_code": w.hni_officer},
            headers=w.headers("viewer_hni"),
        ).status_code
        == 403
    )

    gone = client.delete(
        base, params={"role": "meeting", "officer_code": w.hni_officer}, headers=it
    )
    assert gone.status_code == 200
    assert all(c["role"] != "meeting" for c in gone.json())


def test_services_crud_and_scope(client: TestClient, world: tuple[World, str, str]) -> None:
    w = world[0]
    it, admin = w.headers("it_hni"), w.headers("admin")
    r = client.post(
        "/api/services",
        json={
            "unit_code": w.hni_unit,
            "name": "Cổng HN thử",
            "kind": "http",
            "target": "http://127.0.0.1:9/",
            "expect": 200,
        },
        headers=it,
    )
    assert r.status_code == 201, r.text
    assert r.json()["expect"] == 200 and r.json()["params"] == {"expect_status": 200}
    # Added through the CLI, read through the API.
    _cli(
        world, "monitor", "service", "add", w.hcm_unit, "hcm-thu", "--kind", "tcp",
        "--target", "127.0.0.1", "--port", "2525",
    )  # fmt: skip
    names = [s["name"] for s in client.get("/api/services", headers=admin).json()["items"]]
    assert {"Cổng HN thử", "hcm-thu"} <= set(names)
    mine = [s["name"] for s in client.get("/api/services", headers=it).json()["items"]]
    assert "Cổng HN thử" in mine and "hcm-thu" not in mine
    assert client.get("/api/services/hcm-thu", headers=it).status_code == 404
    assert (
        client.patch("/api/services/hcm-thu", json={"enabled": False}, headers=it).status_code
        == 404
    )
    assert client.delete("/api/services/hcm-thu", headers=it).status_code == 404
    per_unit = client.get(f"/api/units/{w.hni_unit}/services", headers=it).json()
    assert [s["name"] for s in per_unit] == ["Cổng HN thử"]

    p = client.patch(
        "/api/services/Cổng HN thử", json={"enabled": False, "expect": None}, headers=it
    )
    assert p.status_code == 200 and p.json()["enabled"] is False and p.json()["expect"] is None
    listing = _cli(world, "monitor", "service", "list", "--unit", w.hni_unit)
    assert "Cổng HN" in listing  # the CLI lists what the API wrote
    bad = client.post(
        "/api/services",
        json={"unit_code": w.hni_unit, "name": "x", "kind": "http", "target": "no-scheme"},
        headers=it,
    )
    assert bad.status_code == 422 and "target" in bad.text
    assert client.delete("/api/services/Cổng HN thử", headers=it).status_code == 200
    assert client.get("/api/services/Cổng HN thử", headers=it).status_code == 404
    _cli(world, "monitor", "service", "remove", "hcm-thu")


def test_credentials_read_only_for_admins(
    client: TestClient, world: tuple[World, str, str]
) -> None:
    w = world[0]
    r = client.get("/api/credentials", headers=w.headers("admin"))
    assert r.status_code == 200
    names = {c["name"] for c in r.json()}
    assert {"snmpv3-default", "ssh-network"} <= names
    one = client.get("/api/credentials/ssh-network", headers=w.headers("admin")).json()
    assert one["kind"] == "ssh" and one["devices"] > 0
    assert "secret_blob" not in r.text and 'password":' not in r.text
    for user in ("it_hni", "viewer_hni"):
        assert client.get("/api/credentials", headers=w.headers(user)).status_code == 403
    assert client.get("/api/credentials/nope", headers=w.headers("admin")).status_code == 404


@pytest.mark.parametrize(
    "name", ["Nguyễn\x00An", "Nguyễn\u200bAn", "An\u202eB", "A\x85B", "A\x1bB"]
)
def test_writes_refuse_control_and_invisible_characters(
    client: TestClient, world: tuple[World, str, str], name: str
) -> None:
    w = world[0]
    with session_scope(w.engine) as s:
        before = s.scalar(select(func.count(Officer.id)))
    r = client.post(
        "/api/officers",
        json={"code": "HNI-ZZ-1", "full_name": name, "unit_code": w.hni_unit},
        headers=w.headers("it_hni"),
    )
    assert r.status_code == 422, r.text
    p = client.patch(f"/api/units/{w.hni_unit}", json={"name": name}, headers=w.headers("it_hni"))
    assert p.status_code == 422
    with session_scope(w.engine) as s:
        assert s.scalar(select(func.count(Officer.id))) == before


def test_codes_are_case_folded(client: TestClient, world: tuple[World, str, str]) -> None:
    w = world[0]
    r = client.post(
        "/api/devices",
        json={"asset_tag": "hni-thu-01", "kind": "pc", "unit_code": w.hni_unit},
        headers=w.headers("it_hni"),
    )
    assert r.status_code == 201 and r.json()["asset_tag"] == "HNI-THU-01"
    again = client.post(
        "/api/devices",
        json={"asset_tag": "HNI-THU-01", "kind": "pc", "unit_code": w.hni_unit},
        headers=w.headers("it_hni"),
    )
    assert again.status_code == 409
    with session_scope(w.engine) as s:
        assert s.scalar(select(Device.asset_tag).where(Device.asset_tag == "HNI-THU-01"))
