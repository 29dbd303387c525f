"""The inventory service on both engines: tree paths, custody history, audit, secrets."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.enums import CredentialKind, DeviceKind, DeviceStatus, UnitKind
from inventory.errors import Conflict, NotFound, OpsError, SecretError
from inventory.models import AuditRecord, CredentialProfile
from inventory.secrets import SecretBox, generate_key
from inventory.service import InventoryService


def _tree(svc: InventoryService) -> None:
    svc.create_unit(
        code="TLD", name="Tổng Liên đoàn Lao động Việt Nam", level=1, kind=UnitKind.central
    )
    svc.create_unit(
        code="HN",
        name="LĐLĐ thành phố Hà Nội",
        level=2,
        kind=UnitKind.province_federation,
        parent_code="TLD",
    )
    svc.create_unit(
        code="HN-BD", name="LĐLĐ quận Ba Đình", level=3, kind=UnitKind.district, parent_code="HN"
    )
    svc.create_unit(
        code="HCM",
        name="LĐLĐ Thành phố Hồ Chí Minh",
        level=2,
        kind=UnitKind.province_federation,
        parent_code="TLD",
    )


def test_tree_paths_subtree_and_move(session: Session) -> None:
    svc = InventoryService(session, actor="tester")
    _tree(svc)
    assert [u.code for u in session.scalars(svc.subtree("HN"))] == ["HN", "HN-BD"]
    assert len(session.scalars(svc.subtree()).all()) == 4
    svc.move_unit("HN-BD", new_parent_code="HCM")
    assert [u.code for u in session.scalars(svc.subtree("HCM"))] == ["HCM", "HN-BD"]
    assert svc.unit("HN-BD").path == svc.unit("HCM").path + f"{svc.unit('HN-BD').id}/"
    with pytest.raises(Conflict):
        svc.move_unit("HCM", new_parent_code="HN-BD")
    with pytest.raises(Conflict):
        svc.create_unit(code="X", name="Gốc thứ hai", level=1, kind=UnitKind.central)


def test_search_ignores_diacritics(session: Session) -> None:
    svc = InventoryService(session)
    _tree(svc)
    assert [u.code for u in svc.search_units("ha noi")] == ["HN"]
    assert [u.code for u in svc.search_units("Hồ Chí Minh")] == ["HCM"]
    assert [u.code for u in svc.search_units("ba dinh")] == ["HN-BD"]


def test_custody_history_and_audit(session: Session) -> None:
    svc = InventoryService(session, actor="it.hanoi")
    _tree(svc)
    svc.create_officer(code="O1", full_name="Nguyễn Văn An", unit_code="HN")
    svc.create_officer(code="O2", full_name="Trần Thị Bình", unit_code="HN")
    svc.create_device(asset_tag="PC-1", kind=DeviceKind.pc, unit_code="HN", mgmt_ip="198.18.0.5")
    svc.assign_device("PC-1", officer_code="O1", on=date(2026, 1, 5))
    svc.assign_device("PC-1", officer_code="O2", on=date(2026, 6, 1))
    history = svc.custody_history("PC-1")
    assert [(h.officer.code, h.assigned_on, h.returned_on) for h in history] == [
        ("O1", date(2026, 1, 5), date(2026, 6, 1)),
        ("O2", date(2026, 6, 1), None),
    ]
    svc.update_device("PC-1", status=DeviceStatus.retired)
    assert svc.device("PC-1").assigned_officer_id is None
    assert svc.custody_history("PC-1")[-1].returned_on is not None
    actions = session.scalars(
        select(AuditRecord.action).where(AuditRecord.entity == "device").order_by(AuditRecord.id)
    ).all()
    assert actions == ["create", "assign", "return", "assign", "update", "return"]
    rec = session.scalars(select(AuditRecord).where(AuditRecord.action == "update")).one()
    assert rec.actor == "it.hanoi"
    assert rec.before is not None and rec.before["status"] == "active"
    assert rec.after is not None and rec.after["status"] == "retired"


def test_credentials_encrypted_at_rest(session: Session) -> None:
    svc = InventoryService(session)
    box = SecretBox([generate_key()])
    prof = svc.create_credential(
        name="snmp-hq",
        kind=CredentialKind.snmp_v3,
        username="tldops",
        secret={"auth_key": "authpass123", "priv_key": "privpass123"},
        box=box,
    )
    session.commit()
    raw = session.scalar(
        select(CredentialProfile.secret_blob).where(CredentialProfile.id == prof.id)
    )
    assert raw is not None and b"authpass123" not in raw
    assert box.open(raw)["priv_key"] == "privpass123"
    assert prof.params["auth_protocol"] == "SHA" and prof.params["priv_protocol"] == "AES"
    with pytest.raises(SecretError):
        SecretBox([generate_key()]).open(raw)
    audit = session.scalars(
        select(AuditRecord).where(AuditRecord.entity == "credential_profile")
    ).one()
    assert "secret_blob" not in (audit.after or {})
    assert "authpass123" not in str(audit.after)


def test_not_found_messages_are_bilingual(session: Session) -> None:
    svc = InventoryService(session)
    with pytest.raises(NotFound, match="no unit with code 'NOPE'"):
        svc.unit("NOPE")


def test_vlans_and_prefixes(session: Session) -> None:
    svc = InventoryService(session, actor="it.hanoi")
    _tree(svc)
    svc.create_site(code="HN-VP", name="Trụ sở LĐLĐ Hà Nội", unit_code="HN")
    svc.create_vlan(site_code="HN-VP", vid=10, name="LAN văn phòng")
    with pytest.raises(Conflict):
        svc.create_vlan(site_code="HN-VP", vid=10, name="again")
    with pytest.raises(OpsError, match="1 to 4094"):
        svc.create_vlan(site_code="HN-VP", vid=4095, name="too big")
    svc.create_prefix(prefix="198.18.0.0/16", unit_code="HN")
    svc.create_prefix(prefix="198.18.4.0/24", unit_code="HN-BD", site_code="HN-VP", vlan_vid=10)
    svc.create_prefix(prefix="2001:db8::/48", unit_code="HN")
    with pytest.raises(Conflict):
        svc.create_prefix(prefix="198.18.4.0/24", unit_code="HN")
    with pytest.raises(OpsError) as bad:
        svc.create_prefix(prefix="198.18.4.5/24", unit_code="HN")
    assert bad.value.hint == "did you mean 198.18.4.0/24?"
    with pytest.raises(OpsError, match="valid CIDR"):
        svc.create_prefix(prefix="999.1.1.0/24", unit_code="HN")
    with pytest.raises(NotFound):
        svc.create_prefix(prefix="198.18.5.0/24", unit_code="HN", site_code="HN-VP", vlan_vid=20)
    most_specific = svc.prefix_for("198.18.4.77")
    assert most_specific is not None and most_specific.prefix == "198.18.4.0/24"
    outer = svc.prefix_for("198.18.200.1")
    assert outer is not None and outer.prefix == "198.18.0.0/16"
    v6 = svc.prefix_for("2001:db8::1")
    assert v6 is not None and v6.prefix == "2001:db8::/48"
    assert svc.prefix_for("203.0.113.1") is None
    keys = session.scalars(
        select(AuditRecord.entity_key).where(AuditRecord.entity.in_(["vlan", "prefix"]))
    ).all()
    assert sorted(keys) == ["198.18.0.0/16", "198.18.4.0/24", "2001:db8::/48", "HN-VP/10"]
