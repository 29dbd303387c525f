"""The Ansible dynamic inventory, read back by the real ``ansible-inventory`` from ansible-core.

The shipped script ``inventory/ansible_plugin/tldops_inventory.py`` is run by Ansible's
``script`` inventory plugin against a demo database on SQLite and on PostgreSQL; its output is
parsed and checked against the database: groups nest like the organisation tree, hosts are the
active devices with a management IP, hostvars carry connection variables, and no secret appears.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from inventory.ansible import build_inventory, connection_vars, unit_group_name
from inventory.db import make_engine, make_sessionmaker
from inventory.demo import PLANS, seed_plan
from inventory.enums import CredentialKind, DeviceKind, DeviceStatus, UnitKind
from inventory.errors import NotFound
from inventory.models import CredentialProfile, Device, Unit
from inventory.secrets import SecretBox
from inventory.service import InventoryService
from ops_cli.cli import app

SCRIPT = (
    Path(__file__).resolve().parents[2] / "inventory" / "ansible_plugin" / "tldops_inventory.py"
)
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"


@pytest.fixture
def seeded(db_url: str) -> Iterator[str]:
    engine = make_engine(db_url)
    seed_plan(engine, plan=PLANS["small"], seed=7)
    engine.dispose()
    yield db_url


def _env(db_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TLDOPS_DATABASE_URL": db_url,
            # The script's shebang may find a Python without tldops; it re-executes with this.
            "TLDOPS_PYTHON": sys.executable,
            "ANSIBLE_INVENTORY_ENABLED": "script",
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
            **extra,
        }
    )
    if "TLDOPS_ANSIBLE_UNIT" not in extra:
        env.pop("TLDOPS_ANSIBLE_UNIT", None)
    return env


def _ansible_inventory(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # A parse failure is only a warning for ansible-inventory; make it a test failure.
    assert "Failed to parse" not in proc.stderr, proc.stderr
    return proc


def _secrets(db_url: str) -> list[str]:
    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    engine = make_engine(db_url)
    with engine.connect() as conn:
        blobs = conn.execute(select(CredentialProfile.secret_blob)).scalars().all()
    engine.dispose()
    values = [str(v) for blob in blobs for v in box.open(blob).values()]
    assert len(values) >= 4
    return values


def _db_tree(db_url: str) -> tuple[dict[int, Any], set[str]]:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        units = {u.id: u for u in s.scalars(select(Unit)).all()}
        hosts = {
            d.hostname or d.asset_tag
            for d in s.scalars(
                select(Device).where(
                    Device.status == DeviceStatus.active, Device.mgmt_ip.is_not(None)
                )
            )
        }
        s.expunge_all()
    engine.dispose()
    return units, hosts


def test_ansible_inventory_reads_the_script(seeded: str, tmp_path: Path) -> None:
    proc = _ansible_inventory(_env(seeded, tmp_path), "--list")
    data = json.loads(proc.stdout)
    units, db_hosts = _db_tree(seeded)
    hostvars = data["_meta"]["hostvars"]
    assert set(hostvars) == db_hosts and len(db_hosts) > 50

    # Unit groups nest like the tree (ansible-inventory drops empty groups from the top level
    # but keeps them as children).
    assert "unit_tld" in data["all"]["children"]
    for unit in units.values():
        kids = {unit_group_name(u.code) for u in units.values() if u.parent_id == unit.id}
        group = data.get(unit_group_name(unit.code), {})
        assert set(group.get("children", [])) == kids, unit.code
    hni = data["unit_hni"]
    assert (
        set(hni["hosts"]) == {h for h, v in hostvars.items() if v["tldops_unit"] == "HNI"}
        and hni["hosts"]
    )
    for group in ("kind_switch", "kind_router", "kind_server", "platform_cisco_ios"):
        assert group in data["all"]["children"] and data[group]["hosts"], group
    assert all(hostvars[h]["tldops_kind"] == "switch" for h in data["kind_switch"]["hosts"])

    # Connection variables follow the platform; passwords are env lookups only.
    cisco = next(v for v in hostvars.values() if v["tldops_platform"] == "cisco_ios")
    assert cisco["ansible_connection"] == "ansible.netcommon.network_cli"
    assert cisco["ansible_network_os"] == "cisco.ios.ios"
    assert cisco["ansible_user"] == "netadmin"
    assert cisco["ansible_password"] == (
        "{{ lookup('ansible.builtin.env', 'TLDOPS_CRED_SSH_NETWORK_PASSWORD') }}"
    )
    linux = next(v for v in hostvars.values() if v["tldops_platform"] == "linux")
    assert linux["ansible_connection"] == "ssh" and "ansible_network_os" not in linux
    assert linux["ansible_user"] == "tldops-ops"
    for name, v in hostvars.items():
        unit = next(u for u in units.values() if u.code == v["tldops_unit"])
        assert v["tldops_unit_path"] == unit.path
        assert v["ansible_host"]
        assert v["tldops_asset_tag"] and v["tldops_site"], name
        assert name.isascii()
        if unit.level >= 2:
            province = units[unit.ancestor_ids()[1]]
            assert v["tldops_province"] == province.code
        else:
            assert v["tldops_province"] is None

    # No secret in clear anywhere, and no ciphertext either.
    everything = proc.stdout + proc.stderr
    for secret in _secrets(seeded):
        assert secret not in everything
    assert "gAAAAA" not in everything and "secret_blob" not in everything


def test_unit_option_limits_to_a_subtree(seeded: str, tmp_path: Path) -> None:
    data = json.loads(
        _ansible_inventory(_env(seeded, tmp_path, TLDOPS_ANSIBLE_UNIT="HNI"), "--list").stdout
    )
    hostvars = data["_meta"]["hostvars"]
    units, _ = _db_tree(seeded)
    hni = next(u for u in units.values() if u.code == "HNI")
    assert hostvars
    assert all(v["tldops_unit_path"].startswith(hni.path) for v in hostvars.values())
    assert "unit_tld" not in data and "unit_nan" not in data
    assert "unit_hni" in data["all"]["children"]

    # The CLI prints the same document as the script.
    runner = CliRunner()
    env = {"TLDOPS_DATABASE_URL": seeded}
    out = runner.invoke(app, ["inventory", "ansible", "--list", "--unit", "HNI"], env=env)
    assert out.exit_code == 0, out.output
    ours = json.loads(out.stdout)
    assert set(ours["_meta"]["hostvars"]) == set(hostvars)
    assert ours["unit_hni"]["children"] == sorted(
        unit_group_name(u.code) for u in units.values() if u.parent_id == hni.id
    )
    unknown = runner.invoke(app, ["inventory", "ansible", "--list", "--unit", "NOPE"], env=env)
    assert unknown.exit_code == 2 and "NOPE" in unknown.output


def test_host_option(seeded: str, tmp_path: Path) -> None:
    env = _env(seeded, tmp_path)
    listing = json.loads(
        subprocess.run(
            [str(SCRIPT), "--list"], env=env, capture_output=True, text=True, timeout=60, check=True
        ).stdout
    )
    name, expected = next(iter(listing["_meta"]["hostvars"].items()))
    by_script = subprocess.run(
        [str(SCRIPT), "--host", name],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(by_script.stdout) == expected
    missing = subprocess.run(
        [str(SCRIPT), "--host", "no-such-host"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(missing.stdout) == {}

    # ansible-inventory --host goes through the same data.
    via_ansible = json.loads(_ansible_inventory(env, "--host", name).stdout)
    assert via_ansible["ansible_host"] == expected["ansible_host"]
    assert via_ansible["tldops_asset_tag"] == expected["tldops_asset_tag"]

    runner = CliRunner()
    cli = runner.invoke(
        app, ["inventory", "ansible", "--host", name], env={"TLDOPS_DATABASE_URL": seeded}
    )
    assert cli.exit_code == 0 and json.loads(cli.stdout) == expected
    gone = runner.invoke(
        app, ["inventory", "ansible", "--host", "nope"], env={"TLDOPS_DATABASE_URL": seeded}
    )
    assert gone.exit_code == 2 and "nope" in gone.output
    neither = runner.invoke(app, ["inventory", "ansible"], env={"TLDOPS_DATABASE_URL": seeded})
    assert neither.exit_code == 2


def test_names_stay_unique_and_ascii(session: Session) -> None:
    """Colliding slugs and hostnames get disambiguated; unknown platforms get no connection."""
    svc = InventoryService(session, actor="tester")
    root = svc.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
    # The service refuses such codes now ([A-Z0-9-] only); rows written before that rule (or by
    # hand) must still get distinct ASCII group names.
    for code, name, kind in (
        ("ĐN-1", "LĐLĐ Đà Nẵng", UnitKind.province_federation),
        ("DN_1", "Công đoàn khác", UnitKind.central_sector_union),
    ):
        legacy = Unit(
            code=code, name=name, slug="x", level=2, kind=kind, parent_id=root.id, path=""
        )
        session.add(legacy)
        session.flush()
        legacy.path = f"{root.path}{legacy.id}/"
    session.flush()
    for tag, unit, host, ip, platform in (
        ("A-1", "ĐN-1", "core", "198.18.5.1", "cisco_ios"),
        ("A-2", "DN_1", "core", "198.18.5.2", "strange_os"),
        ("A-3", "DN_1", None, "198.18.5.3", None),
        ("A-4", "DN_1", "nomgmt", None, "linux"),
    ):
        svc.create_device(
            asset_tag=tag,
            kind=DeviceKind.switch,
            unit_code=unit,
            hostname=host,
            mgmt_ip=ip,
            platform=platform,
        )
    svc.create_credential(
        name="ssh lab",
        kind=CredentialKind.ssh,
        username="lab",
        secret={"password": "pw-lab-1"},
        box=SecretBox([os.environ["TLDOPS_SECRET_KEY"]]),
    )
    svc.attach_credentials("A-1", ssh="ssh lab")
    session.flush()
    inv = build_inventory(session)
    unit_groups = [g for g in inv.groups if g.startswith("unit_")]
    assert len(unit_groups) == len(set(unit_groups)) == 3
    assert all(g.isascii() for g in unit_groups)
    assert set(inv.hostvars) == {"A-1", "A-2", "A-3"}  # "core" is shared, so asset tags
    assert inv.hostvars["A-1"]["ansible_password"] == (
        "{{ lookup('ansible.builtin.env', 'TLDOPS_CRED_SSH_LAB_PASSWORD') }}"
    )
    assert "pw-lab-1" not in inv.to_json()
    assert "ansible_connection" not in inv.hostvars["A-2"]
    assert connection_vars("fortinet")["ansible_connection"] == "ansible.netcommon.httpapi"
    with pytest.raises(NotFound):
        build_inventory(session, unit_code="NOPE")


@pytest.fixture
def seeded_sqlite(sqlite_url: str) -> str:
    engine = make_engine(sqlite_url)
    seed_plan(engine, plan=PLANS["small"], seed=7)
    engine.dispose()
    return sqlite_url


def test_password_lookup_is_rendered_by_ansible(seeded_sqlite: str, tmp_path: Path) -> None:
    """The env-lookup template reaches a task as the runner's value (Ansible trusts it)."""
    env = _env(seeded_sqlite, tmp_path, TLDOPS_CRED_SSH_LINUX_PASSWORD="from-the-runner-env")
    listing = json.loads(_ansible_inventory(env, "--list").stdout)
    host = next(
        h for h, v in listing["_meta"]["hostvars"].items() if v["tldops_platform"] == "linux"
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible"),
            host,
            "-i",
            str(SCRIPT),
            "-m",
            "ansible.builtin.debug",
            "-a",
            "var=ansible_password",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"ansible_password": "from-the-runner-env"' in proc.stdout


def test_inventory_plugin_matches_the_script(seeded_sqlite: str, tmp_path: Path) -> None:
    source = tmp_path / "office.tldops.yml"
    source.write_text("plugin: tldops\nunit: HNI\n", encoding="utf-8")
    env = _env(seeded_sqlite, tmp_path)
    env["ANSIBLE_INVENTORY_PLUGINS"] = str(SCRIPT.parent)
    env["ANSIBLE_INVENTORY_ENABLED"] = "tldops"
    proc = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(source), "--list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and "Failed to parse" not in proc.stderr, proc.stderr
    by_plugin = json.loads(proc.stdout)
    by_script = json.loads(
        _ansible_inventory(
            _env(seeded_sqlite, tmp_path, TLDOPS_ANSIBLE_UNIT="HNI"), "--list"
        ).stdout
    )
    assert by_plugin["_meta"]["hostvars"] == by_script["_meta"]["hostvars"]
    assert by_plugin["_meta"]["hostvars"]
    groups = {k: v for k, v in by_plugin.items() if k != "_meta"}
    assert groups == {k: v for k, v in by_script.items() if k != "_meta"}
