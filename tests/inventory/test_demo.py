"""The demo generator on both engines: shape of the federation, network rule, determinism,
refusals, deliberate shortfalls the scorecard reports, and the ``tldops inventory demo`` CLI."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from inventory.db import Base, make_engine, make_sessionmaker
from inventory.demo import (
    PLANS,
    PROVINCES,
    DemoDatabaseNotEmpty,
    seed_demo,
    seed_plan,
)
from inventory.enums import (
    ContactRole,
    CredentialKind,
    DeviceKind,
    DeviceStatus,
    LinkStatus,
    SoftwareCategory,
    SoftwareStatus,
    UnitKind,
)
from inventory.errors import ConfigError
from inventory.models import (
    AuditRecord,
    CredentialProfile,
    Custody,
    Device,
    InternetLink,
    Officer,
    Service,
    Site,
    Software,
    Unit,
    UnitContact,
)
from inventory.secrets import SecretBox
from inventory.service import InventoryService
from inventory.targets import (
    AppSoftware,
    EisUsage,
    EquippedOffices,
    IndicatorRegistry,
    OfficersWithComputer,
    compute_report,
)
from ops_cli.cli import app

SAFE_NETS = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("127.0.0.0/8"))
ASCII_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]*$")


def _safe(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in net for net in SAFE_NETS)


def _service_host(target: str) -> str:
    if "://" in target:
        host = urlsplit(target).hostname
        assert host is not None
        return host
    return target.rsplit(":", 1)[0] if ":" in target else target


def _session(engine: Engine) -> Session:
    return make_sessionmaker(engine)()


def test_small_plan_is_consistent_on_both_engines(engine: Engine) -> None:
    summary = seed_plan(engine, plan=PLANS["small"], seed=11)
    with _session(engine) as s:
        units = s.scalars(select(Unit)).all()
        assert summary.units == len(units)
        by_id = {u.id: u for u in units}
        root = next(u for u in units if u.parent_id is None)
        assert (root.code, root.name, root.level, root.kind) == (
            "TLD",
            "Tổng Liên đoàn Lao động Việt Nam",
            1,
            UnitKind.central,
        )
        for u in units:
            assert ASCII_CODE.match(u.code), u.code
            expected = f"{by_id[u.parent_id].path if u.parent_id else '/'}{u.id}/"
            assert u.path == expected
            if u.parent_id:
                assert u.level == by_id[u.parent_id].level + 1
        level2 = [u for u in units if u.level == 2]
        provinces = {u.code: u.name for u in level2 if u.kind is UnitKind.province_federation}
        assert len(provinces) == 34
        assert provinces["HNI"] == "Liên đoàn Lao động thành phố Hà Nội"
        assert provinces["NAN"] == "Liên đoàn Lao động tỉnh Nghệ An"
        assert provinces["HCM"] == "Liên đoàn Lao động Thành phố Hồ Chí Minh"
        assert {u.kind for u in level2} >= {
            UnitKind.central_sector_union,
            UnitKind.corporation_union,
        }
        assert "Công đoàn Giáo dục Việt Nam" in {u.name for u in level2}
        assert "Công đoàn Tập đoàn Điện lực Việt Nam" in {u.name for u in level2}
        assert any(u.level == 4 for u in units)

        # Network rule: nothing in the demo points at a real address.
        ips = [
            ip
            for ip in s.scalars(select(Device.mgmt_ip).where(Device.mgmt_ip.is_not(None)))
            if ip is not None
        ]
        assert ips and all(_safe(ip) for ip in ips)
        # Only the HQ monitoring host shares loopback; every other address is unique.
        routable = [ip for ip in ips if ip != "127.0.0.1"]
        assert len(set(routable)) == len(routable)
        targets = s.scalars(select(Service.target)).all()
        assert {"cong-thong-tin", "thu-dien-tu-smtp", "htttdh-eis", "jitsi-web"} <= set(
            s.scalars(select(Service.name)).all()
        )
        assert all(_safe(_service_host(t)) for t in targets)

        # Officers: Vietnamese names with diacritics, ASCII e-mails, contacts per level-2/3 unit.
        officers = s.scalars(select(Officer)).all()
        assert summary.officers == len(officers)
        emails = [o.email for o in officers]
        assert len(set(emails)) == len(emails)
        assert all(e and e.isascii() and e.endswith("@congdoan.vn") for e in emails)
        assert any(not o.full_name.isascii() for o in officers)
        assert any(o.it_staff for o in officers)
        assert any(not o.full_time for o in officers)
        roles = Counter((c.unit_id, c.role) for c in s.scalars(select(UnitContact)).all())
        for u in units:
            if 2 <= u.level <= 3:
                assert roles[(u.id, ContactRole.leader)] == 1, u.code
                assert roles[(u.id, ContactRole.it)] == 1, u.code

        # Custody: every assigned device has exactly one open custody row for its holder.
        open_rows = s.execute(
            select(Custody.device_id, Custody.officer_id).where(Custody.returned_on.is_(None))
        ).all()
        holders = dict(
            s.execute(
                select(Device.id, Device.assigned_officer_id).where(
                    Device.assigned_officer_id.is_not(None)
                )
            ).all()
        )
        assert holders and dict(open_rows) == holders
        assert len(open_rows) == len({d for d, _ in open_rows})

        # Every unit has an office site; the HQ has the data-integration center.
        assert s.scalar(select(func.count(Site.id))) == summary.sites == len(units) + 1
        dc = s.scalar(select(Site).where(Site.code == "TLD-DC"))
        assert dc is not None and dc.kind.value == "datacenter"
        dc_kinds = set(s.scalars(select(Device.kind).where(Device.site_id == dc.id)).all())
        assert {DeviceKind.server, DeviceKind.storage, DeviceKind.ups} <= dc_kinds

        # Secrets are sealed: they open with the key, and the blob does not contain them.
        box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
        profiles = {p.name: p for p in s.scalars(select(CredentialProfile)).all()}
        snmp = profiles["snmpv3-default"]
        assert snmp.kind is CredentialKind.snmp_v3
        assert snmp.params["security_level"] == "authPriv"
        assert any(p.kind is CredentialKind.ssh for p in profiles.values())
        for p in profiles.values():
            secret = box.open(p.secret_blob)
            assert secret
            for value in secret.values():
                assert value.encode() not in p.secret_blob

        # One summary audit record per table, not one per row.
        audit = s.scalars(select(AuditRecord).where(AuditRecord.action == "seed")).all()
        assert len(audit) == summary.audit_records == 12
        assert {a.entity: a.after["rows"] for a in audit if a.after}["devices"] == summary.devices

    # Explicit ids must not break later inserts (PostgreSQL sequences were moved past them).
    with _session(engine) as s:
        svc = InventoryService(s, actor="tester")
        unit = svc.create_unit(
            code="HNI-NEW",
            name="Công đoàn khu vực Mới",
            level=3,
            kind=UnitKind.district,
            parent_code="HNI",
        )
        svc.create_officer(code="HNI-NEW-CB01", full_name="Nguyễn Văn Mới", unit_code="HNI-NEW")
        svc.create_device(asset_tag="HNI-NEW-PC01", kind=DeviceKind.pc, unit_code="HNI-NEW")
        svc.assign_device("HNI-NEW-PC01", officer_code="HNI-NEW-CB01")
        s.commit()
        assert unit.id > summary.units


def test_refuses_a_database_that_has_units(engine: Engine) -> None:
    with _session(engine) as s:
        InventoryService(s).create_unit(
            code="X", name="Đơn vị thật", level=1, kind=UnitKind.central
        )
        s.commit()
        audit_before = s.scalar(select(func.count(AuditRecord.id)))
    with pytest.raises(DemoDatabaseNotEmpty) as err:
        seed_plan(engine, plan=PLANS["small"])
    assert "1" in err.value.message and err.value.hint and "TLDOPS_DATABASE_URL" in err.value.hint
    with _session(engine) as s:
        assert s.scalar(select(func.count(Unit.id))) == 1
        assert s.scalar(select(func.count(Device.id))) == 0
        assert s.scalar(select(func.count(CredentialProfile.id))) == 0
        assert s.scalar(select(func.count(AuditRecord.id))) == audit_before


def test_needs_the_secret_key(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TLDOPS_SECRET_KEY")
    engine = make_engine(sqlite_url)
    with pytest.raises(ConfigError):
        seed_plan(engine, plan=PLANS["small"])
    with _session(engine) as s:
        assert s.scalar(select(func.count(Unit.id))) == 0
    engine.dispose()


def _dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    out: dict[str, list[tuple[object, ...]]] = {}
    for name in (
        "units",
        "sites",
        "officers",
        "unit_contacts",
        "devices",
        "custody",
        "internet_links",
        "software",
        "prefixes",
        "services",
    ):
        table = Base.metadata.tables[name]
        with engine.connect() as conn:
            out[name] = [tuple(r) for r in conn.execute(select(table).order_by(table.c.id))]
    with engine.connect() as conn:
        out["credential_profiles"] = [
            tuple(r)
            for r in conn.execute(
                select(
                    CredentialProfile.id,
                    CredentialProfile.name,
                    CredentialProfile.username,
                    CredentialProfile.params,
                )
            )
        ]
    return out


def test_same_seed_same_rows(sqlite_template: Path, tmp_path: Path) -> None:
    template, base = sqlite_template, tmp_path
    engines = []
    for name in ("a", "b", "c"):
        shutil.copyfile(template, base / f"{name}.db")
        engines.append(make_engine(f"sqlite:///{base / name}.db"))
    seed_plan(engines[0], plan=PLANS["small"], seed=42)
    seed_plan(engines[1], plan=PLANS["small"], seed=42)
    seed_plan(engines[2], plan=PLANS["small"], seed=43)
    a, b, c = (_dump(e) for e in engines)
    assert a == b
    assert a["officers"] != c["officers"]
    # The sealed secrets differ (Fernet uses a fresh IV) but open to the same values.
    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    secrets = []
    for e in engines[:2]:
        with e.connect() as conn:
            blobs = conn.execute(
                select(CredentialProfile.secret_blob).order_by(CredentialProfile.id)
            ).scalars()
            secrets.append([box.open(blob) for blob in blobs])
    assert secrets[0] == secrets[1]
    for e in engines:
        e.dispose()


def test_demo_size_on_sqlite_has_the_documented_shape_and_shortfalls(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    stages: list[str] = []
    summary = seed_demo(engine, size="demo", progress=lambda st, d, t: stages.append(st))
    assert {"units", "assets", "audit"} <= set(stages)
    assert 2500 <= summary.officers <= 4000
    assert 9000 <= summary.devices <= 12000
    with _session(engine) as s:
        levels = Counter(s.scalars(select(Unit.level)).all())
        assert levels[1] == 1
        assert 55 <= levels[2] <= 65
        assert 600 <= levels[3] <= 800
        assert 0 < levels[4] < 300
        assert len(PROVINCES) == 34
        platforms = set(s.scalars(select(Device.platform).where(Device.platform.is_not(None))))
        assert {"cisco_ios", "mikrotik_routeros", "linux"} <= platforms
        isps = set(s.scalars(select(InternetLink.isp)).all())
        assert isps == {"VNPT", "Viettel", "FPT"}
        assert s.scalar(
            select(func.count(Software.id)).where(
                Software.category == SoftwareCategory.eis, Software.status == SoftwareStatus.active
            )
        ) in range(45, 61)
        assert s.scalar(
            select(func.count(InternetLink.id)).where(InternetLink.status == LinkStatus.terminated)
        )
        assert s.scalar(select(func.count(Device.id)).where(Device.status == DeviceStatus.retired))

        # The scorecard has something to show: every inventory indicator has failing units
        # with reasons, but most units pass.
        registry = IndicatorRegistry()
        for indicator in (EquippedOffices(), OfficersWithComputer(), EisUsage(), AppSoftware()):
            registry.register(indicator)
        report = compute_report(s, registry=registry, as_of=datetime(2026, 11, 25, tzinfo=UTC))
        for result in report.indicators:
            assert result.denominator > 0
            assert result.met is False, result.id
            assert result.failing, result.id
            assert 0.75 <= (result.value or 0) < 1.0, (result.id, result.value)
        reasons = {
            reason.code
            for failing in report.indicator("equipped_offices").failing
            for reason in failing.reasons
        }
        assert {"no_active_printer", "no_active_internet_link", "no_active_computer"} <= reasons
    engine.dispose()


def test_cli_demo_shows_summary_and_refuses_second_run(db_url: str) -> None:
    runner = CliRunner()
    env = {"TLDOPS_DATABASE_URL": db_url}
    first = runner.invoke(app, ["inventory", "demo", "--size", "demo", "--seed", "3"], env=env)
    assert first.exit_code == 0, first.output
    assert "devices" in first.output and "officers" in first.output
    engine = make_engine(db_url)
    with _session(engine) as s:
        devices = s.scalar(select(func.count(Device.id)))
        assert devices is not None and devices > 9000
        assert f"{devices:,}" in first.output
    engine.dispose()
    second = runner.invoke(app, ["inventory", "demo"], env=env)
    assert second.exit_code == 2
    assert "fresh database" in second.output or "TLDOPS_DATABASE_URL" in second.output
    assert "Traceback" not in second.output
    bad = runner.invoke(app, ["inventory", "demo", "--size", "huge"], env=env)
    assert bad.exit_code == 2


def test_cli_demo_without_secret_key_says_how_to_make_one(tmp_path: Path) -> None:
    target = tmp_path / "never-created.db"
    result = CliRunner().invoke(
        app,
        ["inventory", "demo"],
        env={"TLDOPS_DATABASE_URL": f"sqlite:///{target}", "TLDOPS_SECRET_KEY": ""},
    )
    assert result.exit_code == 2
    assert "TLDOPS_SECRET_KEY" in result.output and "secret-key" in result.output
    assert not target.exists()


def test_plan_for_hosts_gives_about_that_many_ansible_hosts(sqlite_url: str) -> None:
    """The benchmark sizes its federation with this plan; the estimate must hold."""
    from inventory.ansible import build_inventory
    from inventory.demo import plan_for_hosts

    engine = make_engine(sqlite_url)
    seed_plan(engine, plan=plan_for_hosts(8000), seed=5)
    with _session(engine) as s:
        hosts = build_inventory(s).hostvars
        assert 7200 <= len(hosts) <= 8800
        assert all(_safe(v["ansible_host"]) for v in hosts.values())
    engine.dispose()


def test_addresses_never_leave_the_safe_ranges() -> None:
    """Past 198.19.0.0/16 (≈65k grassroots routers in the large size) addresses go to loopback."""
    from inventory.demo import _Addresses

    addresses = _Addresses()
    singles = [addresses.single() for _ in range(70_000)]
    assert len(set(singles)) == len(singles)
    assert all(_safe(ip) and not ip.endswith((".0", ".255")) for ip in singles)
    assert singles[0] == "198.19.0.1" and singles[-1].startswith("127.")
    blocks = [addresses.block() for _ in range(1100)]
    assert all(b.prefixlen == 26 and _safe(str(b.network_address)) for b in blocks)
    assert str(blocks[0]) == "198.18.1.0/26" and blocks[-1].network_address.is_loopback
