"""What an operator sets on the inventory, through the service the CLI and the API share:
device connection settings, unit contacts, monitored services, credential profiles, and the
rules every write keeps (codes, invisible characters, the caller's subtree, audit)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from inventory.db import import_all_models
from inventory.enums import ContactRole, CredentialKind, DeviceKind, ServiceKind, UnitKind
from inventory.errors import ConfigError, Conflict, NotFound, PermissionDenied, ValidationFailed
from inventory.models import AuditRecord, Unit
from inventory.secrets import SecretBox, load_secret_key
from inventory.security import Grant, Principal, Role
from inventory.service import InventoryService

PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox([os.environ["TLDOPS_SECRET_KEY"]])


@pytest.fixture
def svc(session: Session, box: SecretBox) -> InventoryService:
    s = InventoryService(session, actor="tester")
    s.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
    for code in ("HN", "HCM"):
        s.create_unit(
            code=code,
            name=f"LĐLĐ {code}",
            level=2,
            kind=UnitKind.province_federation,
            parent_code="TLD",
        )
        s.create_officer(code=f"{code}-001", full_name="Nguyễn Thị Hà", unit_code=code)
        s.create_device(
            asset_tag=f"{code}-SW-1",
            kind=DeviceKind.switch,
            unit_code=code,
            hostname=f"{code.lower()}-sw1",
            mgmt_ip="127.0.0.1",
        )
        s.create_site(code=f"{code}-VP", name="Văn phòng", unit_code=code)
    s.create_credential(
        name="snmp-lab", kind=CredentialKind.snmp_v2c, secret={"community": "c-77"}, box=box
    )
    s.create_credential(
        name="ssh-lab",
        kind=CredentialKind.ssh,
        username="ops",
        secret={"password": "pw-1"},
        box=box,
        port=2222,
    )
    session.flush()
    return s


def _audits(session: Session, entity: str) -> list[AuditRecord]:
    return list(
        session.scalars(
            select(AuditRecord).where(AuditRecord.entity == entity).order_by(AuditRecord.id)
        )
    )


# -- devices ----------------------------------------------------------------------------------
def test_set_device_sets_clears_and_audits(svc: InventoryService, session: Session) -> None:
    dev = svc.set_device(
        "hn-sw-1",  # codes are case-folded
        platform="cisco_ios",
        snmp_profile="snmp-lab",
        ssh_profile="ssh-lab",
        snmp_port=1161,
        monitored=False,
        site_code="HN-VP",
    )
    assert (dev.platform, dev.snmp_port, dev.monitored) == ("cisco_ios", 1161, False)
    assert dev.snmp_profile_id == svc.credential("snmp-lab").id
    assert dev.ssh_profile_id == svc.credential("ssh-lab").id
    rec = _audits(session, "device")[-1]
    assert rec.action == "update" and rec.entity_key == "HN-SW-1"
    assert rec.before is not None and rec.after is not None
    assert rec.before["snmp_port"] is None and rec.after["snmp_port"] == 1161
    assert rec.before["monitored"] is True and rec.after["monitored"] is False

    n = len(_audits(session, "device"))
    svc.set_device("HN-SW-1", snmp_port=1161)  # no change, no audit record
    assert len(_audits(session, "device")) == n
    svc.set_device("HN-SW-1", snmp_profile=None, snmp_port=None)  # None clears
    assert dev.snmp_profile_id is None and dev.snmp_port is None
    assert dev.ssh_profile_id is not None  # not given: untouched


def test_set_device_reports_every_bad_field_and_writes_nothing(
    svc: InventoryService, session: Session
) -> None:
    before = len(_audits(session, "device"))
    with pytest.raises(ValidationFailed) as err:
        svc.set_device(
            "HN-SW-1",
            platform="windows_98",
            snmp_profile="ssh-lab",  # an SSH profile where an SNMP one is needed
            ssh_profile="snmp-lab",
            snmp_port=70000,
            site_code="HCM-VP",  # another province's site
        )
    columns = [p.column for p in err.value.problems]
    assert columns == ["platform", "snmp_profile", "ssh_profile", "snmp_port", "site"]
    assert "cisco_ios" in err.value.problems[0].why_en  # the known platforms are listed
    dev = svc.device("HN-SW-1")
    assert (dev.platform, dev.snmp_profile_id, dev.snmp_port) == (None, None, None)
    assert len(_audits(session, "device")) == before
    with pytest.raises(NotFound):
        svc.set_device("HN-SW-1", snmp_profile="no-such-profile")
    with pytest.raises(ValidationFailed):
        svc.set_device("HN-SW-1", snmp_port=0)


# -- contacts ---------------------------------------------------------------------------------
def test_contacts_add_list_remove_audited(svc: InventoryService, session: Session) -> None:
    svc.create_officer(code="HN-002", full_name="Trần Văn Bình", unit_code="HN")
    svc.add_contact(unit_code="HN", officer_code="HN-001", role=ContactRole.it)
    svc.add_contact(unit_code="HN", officer_code="HN-002", role=ContactRole.leader)
    again = svc.add_contact(unit_code="HN", officer_code="HN-001", role=ContactRole.it)
    rows = svc.unit_contacts("HN")
    assert [(c.role, c.officer.code) for c in rows] == [
        (ContactRole.it, "HN-001"),
        (ContactRole.leader, "HN-002"),
    ]
    assert again.id in {c.id for c in rows}
    assert [c.officer.full_name for c in svc.unit_contacts("HN", ContactRole.it)] == [
        "Nguyễn Thị Hà"
    ]
    svc.remove_contact(unit_code="HN", role=ContactRole.it, officer_code="HN-001")
    assert [c.role for c in svc.unit_contacts("HN")] == [ContactRole.leader]
    with pytest.raises(NotFound):
        svc.remove_contact(unit_code="HN", role=ContactRole.it, officer_code="HN-001")
    actions = [(r.action, r.entity_key) for r in _audits(session, "unit_contact")]
    assert actions == [
        ("create", "HN/HN-001/it"),
        ("create", "HN/HN-002/leader"),
        ("delete", "HN/HN-001/it"),
    ]
    svc.update_officer("HN-002", active=False)
    with pytest.raises(ValidationFailed):
        svc.add_contact(unit_code="HN", officer_code="HN-002", role=ContactRole.meeting)


# -- services ---------------------------------------------------------------------------------
def test_services_add_update_remove_list(svc: InventoryService, session: Session) -> None:
    svc.add_service(
        unit_code="HN",
        name="Cổng thông tin HN",
        kind=ServiceKind.http,
        target="https://hn.congdoan.vn/",
        expect="200",
    )
    svc.add_service(
        unit_code="HCM", name="thu-hcm", kind=ServiceKind.smtp, target="127.0.0.1", port=2525
    )
    assert [s.name for s in svc.services()] == ["Cổng thông tin HN", "thu-hcm"]
    assert [s.name for s in svc.services("HN")] == ["Cổng thông tin HN"]
    assert svc.services("TLD", subtree=False) == []
    row = svc.service("Cổng thông tin HN")
    assert row.params == {"expect_status": 200}
    svc.update_service("thu-hcm", port=25, enabled=False)
    assert svc.service("thu-hcm").params == {"port": 25} and not svc.service("thu-hcm").enabled
    svc.update_service("thu-hcm", port=None)
    assert svc.service("thu-hcm").params == {}
    with pytest.raises(Conflict):
        svc.add_service(unit_code="HN", name="thu-hcm", kind=ServiceKind.tcp, target="x:1")
    with pytest.raises(ValidationFailed):
        svc.add_service(unit_code="HN", name="web", kind=ServiceKind.http, target="hn.vn")
    with pytest.raises(ValidationFailed):
        svc.add_service(
            unit_code="HN", name="web", kind=ServiceKind.http, target="http://a/", expect="ok"
        )
    svc.remove_service("thu-hcm")
    with pytest.raises(NotFound):
        svc.service("thu-hcm")
    assert [r.action for r in _audits(session, "service")] == [
        "create",
        "create",
        "update",
        "update",
        "delete",
    ]


# -- credential profiles ----------------------------------------------------------------------
def test_credentials_summary_rotate_remove(
    svc: InventoryService, session: Session, box: SecretBox
) -> None:
    svc.create_credential(
        name="ssh-key",
        kind=CredentialKind.ssh,
        username="netops",
        secret={"private_key": PEM, "passphrase": "pp-9"},
        box=box,
    )
    assert [p.name for p in svc.credentials()] == ["snmp-lab", "ssh-key", "ssh-lab"]
    summary = svc.credential_summary("ssh-lab")
    assert summary["port"] == 2222 and summary["secret_fields"] == ["password"]
    assert summary["devices"] == 0 and "pw-1" not in repr(summary)
    assert svc.credential_summary("ssh-key")["secret_fields"] == ["passphrase", "private_key"]

    svc.set_device("HN-SW-1", ssh_profile="ssh-lab")
    svc.set_device("HCM-SW-1", ssh_profile="ssh-lab")
    with pytest.raises(Conflict) as err:
        svc.remove_credential("ssh-lab")
    assert "2" in err.value.message

    svc.rotate_credential("ssh-lab", secret={"password": "pw-2"}, box=box, port=22)
    prof = svc.credential("ssh-lab")
    assert box.open(prof.secret_blob) == {"password": "pw-2"}
    assert prof.params["port"] == 22
    rec = _audits(session, "credential_profile")[-1]
    assert rec.action == "rotate" and rec.note == "secret fields changed: password"
    assert "pw-2" not in repr((rec.before, rec.after, rec.note))

    svc.rotate_credential("ssh-lab", secret={"private_key": PEM}, box=box, replace=True)
    assert set(box.open(svc.credential("ssh-lab").secret_blob)) == {"private_key"}
    with pytest.raises(ValidationFailed):
        svc.rotate_credential("ssh-lab", secret={"private_key": "not a key"}, box=box)

    svc.remove_credential("ssh-key")
    with pytest.raises(NotFound):
        svc.credential("ssh-key")
    with pytest.raises(Exception, match="needs a password or a private key"):
        svc.create_credential(
            name="ssh-empty", kind=CredentialKind.ssh, username="u", secret={}, box=box
        )
    with pytest.raises(ValidationFailed):
        svc.create_credential(
            name="snmp-port",
            kind=CredentialKind.snmp_v2c,
            secret={"community": "x"},
            box=box,
            port=65536,
        )
    # Nothing secret ever reached the audit log.
    for r in session.scalars(select(AuditRecord)):
        assert "pw-1" not in repr((r.before, r.after)) and "BEGIN" not in repr((r.before, r.after))


# -- codes and text ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    ["HN\x00X", "HN\u200b", "HN\u202e1", "HÀ-NỘI", "HN_1", "HN 1", "-HN", "H\x85N"],
)
def test_codes_are_upper_ascii_words(svc: InventoryService, session: Session, bad: str) -> None:
    units = session.query(Unit).count()
    with pytest.raises(ValidationFailed) as err:
        svc.create_unit(code=bad, name="Đơn vị", level=3, kind=UnitKind.district, parent_code="HN")
    assert err.value.problems[0].column == "code"
    assert session.query(Unit).count() == units


def test_code_case_folded_unique_and_names_keep_vietnamese(svc: InventoryService) -> None:
    unit = svc.create_unit(
        code="hn-bd", name="LĐLĐ quận Ba Đình", level=3, kind=UnitKind.district, parent_code="HN"
    )
    assert unit.code == "HN-BD" and unit.name == "LĐLĐ quận Ba Đình"
    assert svc.unit("hn-bd").id == unit.id
    with pytest.raises(Conflict):
        svc.create_unit(
            code="HN-BD", name="Khác", level=3, kind=UnitKind.district, parent_code="HN"
        )
    with pytest.raises(Conflict):
        svc.create_device(asset_tag="hn-sw-1", kind=DeviceKind.pc, unit_code="HN")


@pytest.mark.parametrize("bad", ["Nguyễn\x00An", "Nguyễn\u200dAn", "An\u202e", "A\x1bB", "A\x9bB"])
def test_names_refuse_control_and_invisible_characters(svc: InventoryService, bad: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        svc.create_officer(code="HN-009", full_name=bad, unit_code="HN")
    assert err.value.problems[0].column == "full_name"
    assert "U+" in err.value.problems[0].why_en
    with pytest.raises(ValidationFailed):
        svc.update_unit("HN", name=bad)
    with pytest.raises(ValidationFailed):
        svc.add_service(unit_code="HN", name=bad, kind=ServiceKind.icmp, target="127.0.0.1")


# -- the caller's subtree ---------------------------------------------------------------------
def test_principal_outside_subtree_is_not_found(svc: InventoryService, session: Session) -> None:
    hn = svc.unit("HN")
    it_hn = InventoryService(
        session, actor="it.hn", principal=Principal("it.hn", (Grant(Role.it_staff, hn.path),))
    )
    it_hn.set_device("HN-SW-1", platform="linux")
    for call in (
        lambda: it_hn.set_device("HCM-SW-1", platform="linux"),
        lambda: it_hn.add_contact(unit_code="HCM", officer_code="HCM-001", role=ContactRole.it),
        lambda: it_hn.add_contact(unit_code="HN", officer_code="HCM-001", role=ContactRole.it),
        lambda: it_hn.add_service(
            unit_code="HCM", name="x", kind=ServiceKind.icmp, target="127.0.0.1"
        ),
        lambda: it_hn.create_officer(code="HCM-009", full_name="A", unit_code="HCM"),
        lambda: it_hn.set_device("HN-SW-1", site_code="HCM-VP"),
    ):
        with pytest.raises(NotFound):
            call()
    svc.add_service(unit_code="HCM", name="hcm-ping", kind=ServiceKind.icmp, target="127.0.0.1")
    assert it_hn.services() == []
    with pytest.raises(NotFound):
        it_hn.remove_service("hcm-ping")
    with pytest.raises(PermissionDenied):  # profiles are not tied to a unit: root admins only
        it_hn.remove_credential("snmp-lab")

    viewer = InventoryService(
        session, actor="v", principal=Principal("v", (Grant(Role.viewer, hn.path),))
    )
    assert viewer.device("HN-SW-1").platform == "linux"
    with pytest.raises(PermissionDenied):
        viewer.set_device("HN-SW-1", platform="cisco_ios")


# -- schema and secret key --------------------------------------------------------------------
def test_models_and_migrations_agree(engine: Engine) -> None:
    """``alembic revision --autogenerate`` would produce an empty migration."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, import_all_models())
    assert diff == []
    with engine.connect() as conn:
        cols = {c["name"]: c for c in inspect(conn).get_columns("devices")}
    assert not cols["monitored"]["nullable"] and cols["snmp_port"]["nullable"]
    # Rows that existed before the column (or are inserted without it) are monitored.
    assert cols["monitored"]["default"] is not None


def test_load_secret_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TLDOPS_SECRET_KEY", "from-env")
    assert load_secret_key(tmp_path, create=True) == "from-env"
    assert not (tmp_path / "secret.key").exists()
    monkeypatch.delenv("TLDOPS_SECRET_KEY")
    assert load_secret_key(tmp_path, create=False) is None
    key = load_secret_key(tmp_path / "var", create=True)
    path = tmp_path / "var" / "secret.key"
    assert key and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.environ["TLDOPS_SECRET_KEY"] == key
    SecretBox([key])  # a valid Fernet key
    monkeypatch.delenv("TLDOPS_SECRET_KEY")
    assert load_secret_key(tmp_path / "var", create=False) == key  # reused, not regenerated
    monkeypatch.delenv("TLDOPS_SECRET_KEY")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_secret_key(tmp_path / "var", create=False)
    path.chmod(0o600)
    path.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        load_secret_key(tmp_path / "var", create=False)
