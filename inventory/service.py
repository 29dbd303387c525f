"""Inventory operations: the only code that writes inventory tables.

Every change writes an :class:`~inventory.models.AuditRecord` (who, when, what, before/after)::

    svc = InventoryService(session, actor="admin")
    root = svc.create_unit(code="TLD", name="Tổng Liên đoàn Lao động Việt Nam", level=1,
                           kind=UnitKind.central)
    hn = svc.create_unit(code="HN", name="LĐLĐ thành phố Hà Nội", level=2,
                         kind=UnitKind.province_federation, parent_code="TLD")
    svc.create_officer(code="HN-001", full_name="Nguyễn Văn An", unit_code="HN")
    svc.create_device(asset_tag="HN-PC-1", kind=DeviceKind.pc, unit_code="HN")
    svc.assign_device("HN-PC-1", officer_code="HN-001")
    session.commit()

The service flushes but never commits: the caller owns the transaction, so a multi-step change
(an import, a booking) is all-or-nothing.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from inventory.db import utcnow
from inventory.enums import (
    ContactRole,
    CredentialKind,
    DeviceKind,
    DeviceStatus,
    LinkStatus,
    ServiceKind,
    Severity,
    SiteKind,
    SoftwareCategory,
    SoftwareStatus,
    UnitKind,
)
from inventory.errors import Conflict, NotFound, OpsError
from inventory.models import (
    AuditRecord,
    CredentialProfile,
    Custody,
    Device,
    InternetLink,
    Officer,
    OpsEvent,
    Prefix,
    Service,
    Site,
    Software,
    Unit,
    UnitContact,
    Vlan,
    subtree_filter,
)
from inventory.secrets import SecretBox
from inventory.text import fold, nfc, slugify

# Columns never copied into audit records or exports.
SECRET_COLUMNS = frozenset({"secret_blob"})


def row_snapshot(obj: Any) -> dict[str, Any]:
    """JSON-safe dict of a row's columns (secrets left out), for audit before/after."""
    out: dict[str, Any] = {}
    for col in obj.__table__.columns:
        if col.key in SECRET_COLUMNS:
            continue
        value = getattr(obj, col.key)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, date | datetime):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = None
        out[col.key] = value
    return out


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_key: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    unit_path: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append one audit record. Other domains call this for their own changes."""
    rec = AuditRecord(
        at=at or utcnow(),
        actor=actor,
        action=action,
        entity=entity,
        entity_key=entity_key,
        before=before,
        after=after,
        unit_path=unit_path,
        note=note,
    )
    session.add(rec)
    return rec


def record_event(
    session: Session,
    *,
    source: str,
    kind: str,
    message: str,
    severity: Severity = Severity.info,
    unit_id: int | None = None,
    device_id: int | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> OpsEvent:
    """Record an operational event for monitoring (config changed, backup failed, ...).

    >>> record_event(session, source="playbooks.config_backup", kind="config_changed",
    ...              message="HN-SW-1: 3 lines changed", device_id=dev.id, unit_id=dev.unit_id)
    """
    event = OpsEvent(
        at=at or utcnow(),
        source=source,
        kind=kind,
        severity=severity,
        unit_id=unit_id,
        device_id=device_id,
        message=message,
        data=data or {},
    )
    session.add(event)
    session.flush()
    return event


def validate_ip(value: str) -> str:
    """Return the canonical text of an IPv4/IPv6 address or raise ``ValueError``."""
    return str(ipaddress.ip_address(value.strip()))


class AuditedService:
    """Base of every domain service: one session, one acting user, one clock.

    ``_audit`` appends an :class:`AuditRecord` stamped with that user and clock, so services in
    other domains (training, conferences, ...) audit their changes the same way::

        class TrainingService(AuditedService):
            def add_course(self, ...):
                ...
                self._audit("create", "course", code, after=row_snapshot(course))
    """

    def __init__(
        self,
        session: Session,
        *,
        actor: str = "system",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session = session
        self.actor = actor
        self.clock = clock

    def _audit(
        self,
        action: str,
        entity: str,
        key: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        unit_path: str | None = None,
        note: str | None = None,
    ) -> None:
        audit(
            self.session,
            actor=self.actor,
            action=action,
            entity=entity,
            entity_key=key,
            before=before,
            after=after,
            unit_path=unit_path,
            note=note,
            at=self.clock(),
        )


class InventoryService(AuditedService):
    """Operations on the inventory for one session and one acting user."""

    # -- helpers -----------------------------------------------------------------------------
    def _update(self, obj: Any, entity: str, key: str, changes: dict[str, Any]) -> None:
        """Apply non-None ``changes`` to ``obj`` and audit them if anything differs."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if all(getattr(obj, k) == v for k, v in changes.items()):
            return
        before = row_snapshot(obj)
        for k, v in changes.items():
            setattr(obj, k, v)
        self.session.flush()
        self._audit(
            "update",
            entity,
            key,
            before=before,
            after=row_snapshot(obj),
            unit_path=self._path_of(obj),
        )

    def _path_of(self, obj: Any) -> str | None:
        if isinstance(obj, Unit):
            return obj.path
        unit_id = getattr(obj, "unit_id", None)
        if unit_id is None:
            return None
        unit = self.session.get(Unit, unit_id)
        return unit.path if unit else None

    # -- units -------------------------------------------------------------------------------
    def unit(self, code: str) -> Unit:
        found = self.session.scalar(select(Unit).where(Unit.code == code))
        if found is None:
            raise NotFound(f"Không có đơn vị mã {code!r} / no unit with code {code!r}")
        return found

    def root(self) -> Unit:
        found = self.session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
        if found is None:
            raise NotFound(
                "Chưa có cây tổ chức / the organisation tree is empty",
                hint="import units (`tldops inventory import --kind units FILE`) "
                "or seed the demo (`tldops inventory demo`)",
            )
        return found

    def create_unit(
        self,
        *,
        code: str,
        name: str,
        level: int,
        kind: UnitKind,
        parent_code: str | None = None,
    ) -> Unit:
        """Add a unit under ``parent_code`` (None only for the root)."""
        code, name = nfc(code.strip()), nfc(name.strip())
        if self.session.scalar(select(Unit.id).where(Unit.code == code)) is not None:
            raise Conflict(f"Mã đơn vị {code!r} đã tồn tại / unit code {code!r} already exists")
        parent = self.unit(parent_code) if parent_code else None
        if parent is None and self.session.scalar(select(Unit.id).limit(1)) is not None:
            raise Conflict(
                "Đã có đơn vị gốc / the tree already has a root",
                hint="give a parent_code",
            )
        if parent is not None and level <= parent.level:
            raise Conflict(
                f"Cấp {level} phải lớn hơn cấp của đơn vị cha ({parent.level}) / "
                f"level {level} must be deeper than the parent's level {parent.level}"
            )
        unit = Unit(
            code=code,
            name=name,
            slug=slugify(name),
            level=level,
            kind=kind,
            parent_id=parent.id if parent else None,
            path="",
        )
        self.session.add(unit)
        self.session.flush()
        unit.path = f"{parent.path if parent else '/'}{unit.id}/"
        self.session.flush()
        self._audit(
            "create", "unit", code, before=None, after=row_snapshot(unit), unit_path=unit.path
        )
        return unit

    def update_unit(
        self, code: str, *, name: str | None = None, kind: UnitKind | None = None
    ) -> Unit:
        unit = self.unit(code)
        changes: dict[str, Any] = {"kind": kind}
        if name is not None:
            changes["name"] = nfc(name.strip())
            changes["slug"] = slugify(changes["name"])
        self._update(unit, "unit", code, changes)
        return unit

    def move_unit(self, code: str, *, new_parent_code: str) -> Unit:
        """Re-parent a unit; the paths of its whole subtree follow in one UPDATE."""
        unit, parent = self.unit(code), self.unit(new_parent_code)
        if parent.path.startswith(unit.path):
            raise Conflict(
                f"Không thể chuyển {code} vào chính cây con của nó / "
                f"cannot move {code} under its own subtree"
            )
        before = row_snapshot(unit)
        old_path, new_path = unit.path, f"{parent.path}{unit.id}/"
        self.session.execute(
            update(Unit)
            .where(subtree_filter(Unit.path, old_path))
            .values(path=new_path + func.substr(Unit.path, len(old_path) + 1))
            .execution_options(synchronize_session=False)
        )
        unit.parent_id = parent.id
        self.session.flush()
        self.session.expire_all()
        unit = self.unit(code)
        self._audit(
            "move", "unit", code, before=before, after=row_snapshot(unit), unit_path=unit.path
        )
        return unit

    def subtree(self, code: str | None = None) -> Select[Unit]:
        """SELECT of every unit in the subtree of ``code`` (default: root), itself included."""
        top = self.unit(code) if code else self.root()
        return select(Unit).where(subtree_filter(Unit.path, top.path)).order_by(Unit.path)

    def children(self, code: str) -> Sequence[Unit]:
        parent = self.unit(code)
        return self.session.scalars(
            select(Unit).where(Unit.parent_id == parent.id).order_by(Unit.code)
        ).all()

    def search_units(self, query: str, *, limit: int = 20) -> Sequence[Unit]:
        """Units whose name or code contains ``query``, ignoring case and diacritics."""
        needle = fold(query)
        if not needle:
            return []
        slug_needle = slugify(query)
        return self.session.scalars(
            select(Unit)
            .where((Unit.slug.contains(slug_needle)) | (Unit.code.ilike(f"%{query.strip()}%")))
            .order_by(Unit.level, Unit.code)
            .limit(limit)
        ).all()

    # -- sites -------------------------------------------------------------------------------
    def site(self, code: str) -> Site:
        found = self.session.scalar(select(Site).where(Site.code == code))
        if found is None:
            raise NotFound(f"Không có địa điểm {code!r} / no site {code!r}")
        return found

    def create_site(
        self,
        *,
        code: str,
        name: str,
        unit_code: str,
        kind: SiteKind = SiteKind.office,
        address: str | None = None,
    ) -> Site:
        unit = self.unit(unit_code)
        site = Site(
            code=code,
            name=nfc(name),
            unit_id=unit.id,
            kind=kind,
            address=nfc(address) if address else None,
        )
        self.session.add(site)
        self.session.flush()
        self._audit(
            "create", "site", code, before=None, after=row_snapshot(site), unit_path=unit.path
        )
        return site

    # -- officers ----------------------------------------------------------------------------
    def officer(self, code: str) -> Officer:
        found = self.session.scalar(select(Officer).where(Officer.code == code))
        if found is None:
            raise NotFound(f"Không có cán bộ mã {code!r} / no officer with code {code!r}")
        return found

    def create_officer(
        self,
        *,
        code: str,
        full_name: str,
        unit_code: str,
        position: str | None = None,
        full_time: bool = True,
        email: str | None = None,
        phone: str | None = None,
        it_staff: bool = False,
    ) -> Officer:
        unit = self.unit(unit_code)
        if self.session.scalar(select(Officer.id).where(Officer.code == code)) is not None:
            raise Conflict(f"Mã cán bộ {code!r} đã tồn tại / officer code {code!r} already exists")
        name = nfc(full_name.strip())
        off = Officer(
            code=code,
            full_name=name,
            name_ascii=fold(name),
            unit_id=unit.id,
            position=nfc(position) if position else None,
            full_time=full_time,
            email=email,
            phone=phone,
            it_staff=it_staff,
        )
        self.session.add(off)
        self.session.flush()
        self._audit(
            "create", "officer", code, before=None, after=row_snapshot(off), unit_path=unit.path
        )
        return off

    def update_officer(
        self,
        code: str,
        *,
        full_name: str | None = None,
        unit_code: str | None = None,
        position: str | None = None,
        full_time: bool | None = None,
        email: str | None = None,
        phone: str | None = None,
        it_staff: bool | None = None,
        active: bool | None = None,
    ) -> Officer:
        """Change an officer; ``unit_code`` moves them to another unit."""
        off = self.officer(code)
        changes: dict[str, Any] = {
            "position": nfc(position) if position else None,
            "full_time": full_time,
            "email": email,
            "phone": phone,
            "it_staff": it_staff,
            "active": active,
        }
        if full_name is not None:
            changes["full_name"] = nfc(full_name.strip())
            changes["name_ascii"] = fold(changes["full_name"])
        if unit_code is not None:
            changes["unit_id"] = self.unit(unit_code).id
        self._update(off, "officer", code, changes)
        return off

    def add_contact(self, *, unit_code: str, officer_code: str, role: ContactRole) -> UnitContact:
        unit, off = self.unit(unit_code), self.officer(officer_code)
        existing = self.session.scalar(
            select(UnitContact).where(
                UnitContact.unit_id == unit.id,
                UnitContact.officer_id == off.id,
                UnitContact.role == role,
            )
        )
        if existing is not None:
            return existing
        contact = UnitContact(unit_id=unit.id, officer_id=off.id, role=role)
        self.session.add(contact)
        self.session.flush()
        self._audit(
            "create",
            "unit_contact",
            f"{unit_code}/{officer_code}/{role.value}",
            before=None,
            after=row_snapshot(contact),
            unit_path=unit.path,
        )
        return contact

    def contacts(self, unit_code: str, *, role: ContactRole | None = None) -> Sequence[Officer]:
        """Officers who answer for the unit (in ``role`` if given)."""
        unit = self.unit(unit_code)
        q = (
            select(Officer)
            .join(UnitContact, UnitContact.officer_id == Officer.id)
            .where(UnitContact.unit_id == unit.id, Officer.active.is_(True))
        )
        if role is not None:
            q = q.where(UnitContact.role == role)
        return self.session.scalars(q.order_by(Officer.code).distinct()).all()

    # -- devices -----------------------------------------------------------------------------
    def device(self, asset_tag: str) -> Device:
        found = self.session.scalar(select(Device).where(Device.asset_tag == asset_tag))
        if found is None:
            raise NotFound(f"Không có thiết bị {asset_tag!r} / no device {asset_tag!r}")
        return found

    def create_device(
        self,
        *,
        asset_tag: str,
        kind: DeviceKind,
        unit_code: str,
        status: DeviceStatus = DeviceStatus.active,
        hostname: str | None = None,
        vendor: str | None = None,
        model: str | None = None,
        serial: str | None = None,
        mgmt_ip: str | None = None,
        platform: str | None = None,
        site_code: str | None = None,
        purchase_date: date | None = None,
        cost_vnd: int | None = None,
        warranty_end: date | None = None,
    ) -> Device:
        unit = self.unit(unit_code)
        if self.session.scalar(select(Device.id).where(Device.asset_tag == asset_tag)):
            raise Conflict(f"Mã tài sản {asset_tag!r} đã tồn tại / asset tag already exists")
        if mgmt_ip:
            try:
                mgmt_ip = validate_ip(mgmt_ip)
            except ValueError as exc:
                raise OpsError(f"Địa chỉ IP không hợp lệ / bad IP address: {mgmt_ip!r}") from exc
        if cost_vnd is not None and cost_vnd < 0:
            raise OpsError("Giá trị (VND) không được âm / cost_vnd must not be negative")
        dev = Device(
            asset_tag=asset_tag,
            kind=kind,
            unit_id=unit.id,
            status=status,
            hostname=hostname,
            vendor=vendor,
            model=model,
            serial=serial,
            mgmt_ip=mgmt_ip,
            platform=platform,
            site_id=self.site(site_code).id if site_code else None,
            purchase_date=purchase_date,
            cost_vnd=cost_vnd,
            warranty_end=warranty_end,
        )
        self.session.add(dev)
        self.session.flush()
        self._audit(
            "create", "device", asset_tag, before=None, after=row_snapshot(dev), unit_path=unit.path
        )
        return dev

    def update_device(
        self,
        asset_tag: str,
        *,
        status: DeviceStatus | None = None,
        unit_code: str | None = None,
        hostname: str | None = None,
        mgmt_ip: str | None = None,
        platform: str | None = None,
        site_code: str | None = None,
        warranty_end: date | None = None,
    ) -> Device:
        dev = self.device(asset_tag)
        changes: dict[str, Any] = {
            "status": status,
            "hostname": hostname,
            "platform": platform,
            "warranty_end": warranty_end,
            "mgmt_ip": validate_ip(mgmt_ip) if mgmt_ip else None,
        }
        if unit_code is not None:
            changes["unit_id"] = self.unit(unit_code).id
        if site_code is not None:
            changes["site_id"] = self.site(site_code).id
        self._update(dev, "device", asset_tag, changes)
        if status in (DeviceStatus.retired,) and dev.assigned_officer_id is not None:
            self.return_device(asset_tag, note="retired")
        return dev

    def assign_device(
        self, asset_tag: str, *, officer_code: str, on: date | None = None, note: str | None = None
    ) -> Custody:
        """Hand a device to an officer; a previous holder's custody is closed the same day."""
        dev, off = self.device(asset_tag), self.officer(officer_code)
        day = on or self.clock().date()
        if dev.assigned_officer_id == off.id:
            open_row = self._open_custody(dev.id)
            if open_row is not None:
                return open_row
        if dev.assigned_officer_id is not None:
            self.return_device(asset_tag, on=day)
        before = row_snapshot(dev)
        row = Custody(device_id=dev.id, officer_id=off.id, assigned_on=day, note=note)
        self.session.add(row)
        dev.assigned_officer_id = off.id
        self.session.flush()
        self._audit(
            "assign",
            "device",
            asset_tag,
            before=before,
            after=row_snapshot(dev),
            unit_path=self._path_of(dev),
            note=f"→ {officer_code}",
        )
        return row

    def return_device(
        self, asset_tag: str, *, on: date | None = None, note: str | None = None
    ) -> Custody | None:
        """Close the current custody of a device (no-op if nobody holds it)."""
        dev = self.device(asset_tag)
        row = self._open_custody(dev.id)
        before = row_snapshot(dev)
        if row is not None:
            row.returned_on = on or self.clock().date()
            if note:
                row.note = note
        if dev.assigned_officer_id is None and row is None:
            return None
        dev.assigned_officer_id = None
        self.session.flush()
        self._audit(
            "return",
            "device",
            asset_tag,
            before=before,
            after=row_snapshot(dev),
            unit_path=self._path_of(dev),
        )
        return row

    def _open_custody(self, device_id: int) -> Custody | None:
        return self.session.scalar(
            select(Custody).where(Custody.device_id == device_id, Custody.returned_on.is_(None))
        )

    def custody_history(self, asset_tag: str) -> Sequence[Custody]:
        dev = self.device(asset_tag)
        return self.session.scalars(
            select(Custody)
            .where(Custody.device_id == dev.id)
            .order_by(Custody.assigned_on, Custody.id)
        ).all()

    # -- internet links and software ---------------------------------------------------------
    def upsert_link(
        self,
        *,
        unit_code: str,
        isp: str,
        kind: str,
        bandwidth_mbps: int,
        status: LinkStatus = LinkStatus.active,
    ) -> InternetLink:
        unit = self.unit(unit_code)
        isp, kind = nfc(isp.strip()), kind.strip()
        link = self.session.scalar(
            select(InternetLink).where(
                InternetLink.unit_id == unit.id, InternetLink.isp == isp, InternetLink.kind == kind
            )
        )
        if link is None:
            link = InternetLink(
                unit_id=unit.id, isp=isp, kind=kind, bandwidth_mbps=bandwidth_mbps, status=status
            )
            self.session.add(link)
            self.session.flush()
            self._audit(
                "create",
                "internet_link",
                f"{unit_code}/{isp}/{kind}",
                before=None,
                after=row_snapshot(link),
                unit_path=unit.path,
            )
        else:
            self._update(
                link,
                "internet_link",
                f"{unit_code}/{isp}/{kind}",
                {"bandwidth_mbps": bandwidth_mbps, "status": status},
            )
        return link

    def upsert_software(
        self,
        *,
        unit_code: str,
        product: str,
        category: SoftwareCategory,
        seats: int | None = None,
        status: SoftwareStatus = SoftwareStatus.active,
        licence_expires: date | None = None,
    ) -> Software:
        unit = self.unit(unit_code)
        product = nfc(product.strip())
        sw = self.session.scalar(
            select(Software).where(Software.unit_id == unit.id, Software.product == product)
        )
        if sw is None:
            sw = Software(
                unit_id=unit.id,
                product=product,
                category=category,
                seats=seats,
                status=status,
                licence_expires=licence_expires,
            )
            self.session.add(sw)
            self.session.flush()
            self._audit(
                "create",
                "software",
                f"{unit_code}/{product}",
                before=None,
                after=row_snapshot(sw),
                unit_path=unit.path,
            )
        else:
            self._update(
                sw,
                "software",
                f"{unit_code}/{product}",
                {
                    "category": category,
                    "seats": seats,
                    "status": status,
                    "licence_expires": licence_expires,
                },
            )
        return sw

    # -- credentials -------------------------------------------------------------------------
    def credential(self, name: str) -> CredentialProfile:
        found = self.session.scalar(select(CredentialProfile).where(CredentialProfile.name == name))
        if found is None:
            raise NotFound(f"Không có hồ sơ xác thực {name!r} / no credential profile {name!r}")
        return found

    def create_credential(
        self,
        *,
        name: str,
        kind: CredentialKind,
        secret: dict[str, Any],
        box: SecretBox,
        username: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> CredentialProfile:
        """Store a credential profile; ``secret`` is sealed with ``box`` and never audited.

        SNMP v3 profiles default to authPriv with SHA and AES::

            svc.create_credential(name="snmp-hq", kind=CredentialKind.snmp_v3,
                                  username="tldops", box=box,
                                  secret={"auth_key": "...", "priv_key": "..."})
        """
        if self.session.scalar(select(CredentialProfile.id).where(CredentialProfile.name == name)):
            raise Conflict(f"Hồ sơ {name!r} đã tồn tại / profile {name!r} already exists")
        params = dict(params or {})
        if kind is CredentialKind.snmp_v3:
            params.setdefault("auth_protocol", "SHA")
            params.setdefault("priv_protocol", "AES")
            params.setdefault("security_level", "authPriv")
            if not username:
                raise OpsError("SNMPv3 cần tên người dùng / SNMPv3 needs a username")
            missing = {"auth_key", "priv_key"} - set(secret)
            if params["security_level"] == "authPriv" and missing:
                raise OpsError(f"SNMPv3 authPriv thiếu / missing: {', '.join(sorted(missing))}")
        if kind is CredentialKind.snmp_v2c and "community" not in secret:
            raise OpsError("SNMP v2c cần community / SNMP v2c needs a community")
        prof = CredentialProfile(
            name=name, kind=kind, username=username, params=params, secret_blob=box.seal(secret)
        )
        self.session.add(prof)
        self.session.flush()
        self._audit(
            "create",
            "credential_profile",
            name,
            before=None,
            after=row_snapshot(prof),
            unit_path=None,
        )
        return prof

    def attach_credentials(
        self, asset_tag: str, *, snmp: str | None = None, ssh: str | None = None
    ) -> Device:
        changes: dict[str, Any] = {}
        if snmp is not None:
            changes["snmp_profile_id"] = self.credential(snmp).id
        if ssh is not None:
            changes["ssh_profile_id"] = self.credential(ssh).id
        dev = self.device(asset_tag)
        self._update(dev, "device", asset_tag, changes)
        return dev

    # -- networks ----------------------------------------------------------------------------
    def create_vlan(self, *, site_code: str, vid: int, name: str) -> Vlan:
        """Declare VLAN ``vid`` (1–4094) at a site; VLAN ids are unique per site."""
        site = self.site(site_code)
        if not 1 <= vid <= 4094:
            raise OpsError(f"VLAN {vid} ngoài khoảng 1–4094 / VLAN id must be 1 to 4094")
        if self.session.scalar(select(Vlan.id).where(Vlan.site_id == site.id, Vlan.vid == vid)):
            raise Conflict(f"VLAN {vid} đã có tại {site_code} / VLAN {vid} exists at {site_code}")
        vlan = Vlan(site_id=site.id, vid=vid, name=nfc(name.strip()))
        self.session.add(vlan)
        self.session.flush()
        self._audit(
            "create",
            "vlan",
            f"{site_code}/{vid}",
            after=row_snapshot(vlan),
            unit_path=site.unit.path,
        )
        return vlan

    def create_prefix(
        self,
        *,
        prefix: str,
        unit_code: str,
        site_code: str | None = None,
        vlan_vid: int | None = None,
        description: str | None = None,
    ) -> Prefix:
        """Record an IP prefix (IPv4 or IPv6 CIDR) used by a unit, optionally at a site's VLAN.

        Prefixes nest (a province's /16 contains its districts' /24s); the same prefix twice is a
        conflict, and host bits must be zero::

            svc.create_prefix(prefix="198.18.4.0/24", unit_code="HN-BD", site_code="HN-BD-VP",
                              vlan_vid=10, description="LAN văn phòng")
        """
        try:
            net = ipaddress.ip_network(prefix.strip(), strict=True)
        except ValueError as exc:
            hint = None
            with contextlib.suppress(ValueError):  # "198.18.4.5/24": suggest the network
                hint = f"did you mean {ipaddress.ip_network(prefix.strip(), strict=False)}?"
            raise OpsError(
                f"Dải địa chỉ không hợp lệ / not a valid CIDR prefix: {prefix!r}", hint=hint
            ) from exc
        unit = self.unit(unit_code)
        text = str(net)
        if self.session.scalar(select(Prefix.id).where(Prefix.prefix == text)):
            raise Conflict(f"Dải {text} đã được khai báo / prefix {text} already exists")
        site = self.site(site_code) if site_code else None
        vlan_id = None
        if vlan_vid is not None:
            if site is None:
                raise OpsError("VLAN cần địa điểm / a VLAN needs --site", hint="give site_code")
            vlan_id = self.session.scalar(
                select(Vlan.id).where(Vlan.site_id == site.id, Vlan.vid == vlan_vid)
            )
            if vlan_id is None:
                raise NotFound(f"Không có VLAN {vlan_vid} tại {site_code} / no such VLAN")
        row = Prefix(
            prefix=text,
            unit_id=unit.id,
            site_id=site.id if site else None,
            vlan_id=vlan_id,
            description=nfc(description) if description else None,
        )
        self.session.add(row)
        self.session.flush()
        self._audit("create", "prefix", text, after=row_snapshot(row), unit_path=unit.path)
        return row

    def prefix_for(self, address: str) -> Prefix | None:
        """The most specific recorded prefix containing ``address`` (None if none does)."""
        ip = ipaddress.ip_address(address.strip())
        best: tuple[int, Prefix] | None = None
        for row in self.session.scalars(select(Prefix)):
            net = ipaddress.ip_network(row.prefix)
            if (
                ip.version == net.version
                and ip in net
                and (best is None or net.prefixlen > best[0])
            ):
                best = (net.prefixlen, row)
        return best[1] if best else None

    # -- services ----------------------------------------------------------------------------
    def create_service(
        self,
        *,
        name: str,
        kind: ServiceKind,
        target: str,
        unit_code: str,
        params: dict[str, Any] | None = None,
        site_code: str | None = None,
    ) -> Service:
        unit = self.unit(unit_code)
        svc = Service(
            name=name,
            kind=kind,
            target=target,
            unit_id=unit.id,
            site_id=self.site(site_code).id if site_code else None,
            params=params or {},
        )
        self.session.add(svc)
        self.session.flush()
        self._audit(
            "create", "service", name, before=None, after=row_snapshot(svc), unit_path=unit.path
        )
        return svc
