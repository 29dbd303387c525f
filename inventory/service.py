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
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, joinedload

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
from inventory.errors import (
    Conflict,
    NotFound,
    OpsError,
    PermissionDenied,
    Problem,
    ValidationFailed,
)
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
from inventory.security import Principal, Role
from inventory.text import bad_char, fold, nfc, slugify

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


class _Unset:
    """Marker for "not given" where ``None`` means "clear this value"."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()

# Codes (units, officers, sites, asset tags) are what people type, files carry and URLs hold:
# upper-case ASCII letters, digits and "-", so "hn-001" and "HN-001" are one code.
CODE_RE = re.compile(r"^[A-Z0-9](?:[A-Z0-9-]{0,62}[A-Z0-9])?$")
# Names of services and credential profiles: lower-case words joined by "-", "_" or ".".
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._ -]{0,126}[A-Za-z0-9])?$")


def _shown(value: str) -> str:
    """``value`` with invisible characters made visible, for an error message."""
    return "".join(
        c if unicodedata.category(c)[0] not in "CZ" or c == " " else f"\\u{ord(c):04x}"
        for c in value
    )


def _problem(entity: str, field: str, value: str, why_vi: str, why_en: str) -> ValidationFailed:
    return ValidationFailed(
        [
            Problem(
                file=entity,
                row=None,
                column=field,
                value=_shown(value),
                why_vi=why_vi,
                why_en=why_en,
            )
        ],
        message=f"Giá trị không hợp lệ ở {field}, không có gì được ghi / "
        f"invalid {field}, nothing was written",
    )


def clean_text(
    value: str, *, entity: str, field: str, max_length: int = 255, blank_ok: bool = False
) -> str:
    """NFC, stripped user text; raises :class:`ValidationFailed` naming the field when it holds
    a control/format character, is blank or too long. Vietnamese letters are of course fine."""
    text = nfc(value).strip()
    c = bad_char(text)
    if c is not None:
        raise _problem(
            entity,
            field,
            value,
            f"có ký tự điều khiển/vô hình U+{ord(c):04X}",
            f"contains the control or invisible character U+{ord(c):04X}",
        )
    if not text and not blank_ok:
        raise _problem(entity, field, value, "không được để trống", "must not be blank")
    if len(text) > max_length:
        raise _problem(
            entity,
            field,
            value[:40] + "…",
            f"dài quá {max_length} ký tự",
            f"longer than {max_length} characters",
        )
    return text


def _opt_text(value: str | None, *, entity: str, field: str, max_length: int = 255) -> str | None:
    if value is None:
        return None
    text = clean_text(value, entity=entity, field=field, max_length=max_length, blank_ok=True)
    return text or None


def clean_code(value: str, *, entity: str, field: str = "code") -> str:
    """The canonical (upper-case) form of a code, or :class:`ValidationFailed`.

    >>> clean_code(" hn-001 ", entity="unit")
    'HN-001'
    """
    text = clean_text(value, entity=entity, field=field, max_length=64)
    code = text.upper()
    if not CODE_RE.match(code):
        raise _problem(
            entity,
            field,
            value,
            "mã chỉ gồm chữ A-Z, số 0-9 và dấu '-' (không dấu, không khoảng trắng)",
            "codes are letters A-Z, digits 0-9 and '-' (no diacritics, no spaces)",
        )
    return code


def clean_name(value: str, *, entity: str, field: str = "name") -> str:
    """A service or credential-profile name: ASCII letters, digits, ``-``, ``_``, ``.``, space."""
    text = clean_text(value, entity=entity, field=field, max_length=128)
    if not NAME_RE.match(text):
        raise _problem(
            entity,
            field,
            value,
            "tên chỉ gồm chữ không dấu, số, '-', '_', '.'",
            "names are ASCII letters, digits, '-', '_', '.'",
        )
    return text


def check_port(value: int, *, entity: str, field: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _problem(
            entity, field, str(value), "cổng phải từ 1 đến 65535", "a port is 1 to 65535"
        )
    return value


def read_secret_source(
    *, value: str | None = None, env: str | None = None, file: str | Path | None = None
) -> str | None:
    """A secret given directly, through an environment variable, or in a file (stripped of the
    final newline; a PEM key keeps its inner lines). None when no source is given.

    Raises :class:`OpsError` when the variable is unset or the file unreadable.
    """
    given = [x for x in (value, env, file) if x is not None]
    if len(given) > 1:
        raise OpsError(
            "Chỉ một nguồn cho mỗi bí mật / give one source per secret (value, env or file)"
        )
    if value is not None:
        return value
    if env is not None:
        found = os.environ.get(env)
        if found is None or not found.strip():
            raise OpsError(
                f"Biến môi trường {env} chưa đặt / environment variable {env} is not set"
            )
        return found.rstrip("\n")
    if file is not None:
        try:
            return Path(file).read_text(encoding="utf-8").rstrip("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise OpsError(f"Không đọc được tệp / cannot read {file}: {exc}") from exc
    return None


SNMP_KINDS = frozenset({CredentialKind.snmp_v2c, CredentialKind.snmp_v3})


def check_platform(platform: str) -> str:
    """A known platform name (netmiko device_type / tldops platform), or ValidationFailed
    listing them; the list is :data:`inventory.ansible.PLATFORM_CONNECTIONS`."""
    from inventory.ansible import PLATFORM_CONNECTIONS

    value = platform.strip().lower()
    if value not in PLATFORM_CONNECTIONS:
        raise _problem(
            "device",
            "platform",
            platform,
            "nền tảng không có trong danh sách",
            f"unknown platform; known: {', '.join(sorted(PLATFORM_CONNECTIONS))}",
        )
    return value


def _spellings(code: str) -> list[str]:
    """A code as given and in its canonical upper case (rows written before codes were
    canonical keep their spelling)."""
    code = code.strip()
    return sorted({code, code.upper()})


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
    """Operations on the inventory for one session and one acting user.

    With a ``principal`` (the web API's caller), every object read or written must lie in the
    principal's subtrees: one outside is reported missing (404) like a code that does not exist,
    and a write needs ``it_staff`` or ``admin`` on the object's unit (403 otherwise). Without
    one (the CLI, jobs) nothing is restricted.
    """

    def __init__(
        self,
        session: Session,
        *,
        actor: str = "system",
        clock: Callable[[], datetime] = utcnow,
        principal: Principal | None = None,
    ) -> None:
        super().__init__(session, actor=actor, clock=clock)
        self.principal = principal

    def _visible(self, path: str, missing: str) -> None:
        if self.principal is not None and not self.principal.can(Role.viewer, path):
            raise NotFound(missing)

    def _writable(self, path: str | None) -> None:
        """The acting principal may change things on the unit at ``path``."""
        if self.principal is None:
            return
        if path is None:
            # Objects tied to no unit (credential profiles) are for admins of the whole tree.
            if not self.principal.can(Role.admin, self.root().path):
                raise PermissionDenied(
                    "Chỉ quản trị toàn hệ thống / only administrators of the whole tree"
                )
            return
        self.principal.require(Role.it_staff, path)

    # -- helpers -----------------------------------------------------------------------------
    def _update(
        self, obj: Any, entity: str, key: str, changes: dict[str, Any], *, clear: bool = False
    ) -> None:
        """Apply ``changes`` to ``obj`` and audit them if anything differs.

        ``None`` means "leave alone", or with ``clear=True`` "empty the column".
        """
        changes = {
            k: v for k, v in changes.items() if (clear or v is not None) and getattr(obj, k) != v
        }
        if not changes:
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
        missing = f"Không có đơn vị mã {code!r} / no unit with code {code!r}"
        found = self.session.scalar(select(Unit).where(Unit.code.in_(_spellings(code))))
        if found is None:
            raise NotFound(missing)
        self._visible(found.path, missing)
        return found

    def _unit_w(self, code: str) -> Unit:
        """``unit(code)`` that the acting principal may also change."""
        unit = self.unit(code)
        self._writable(unit.path)
        return unit

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
        code = clean_code(code, entity="unit")
        name = clean_text(name, entity="unit", field="name")
        if self.session.scalar(select(Unit.id).where(func.upper(Unit.code) == code)) is not None:
            raise Conflict(f"Mã đơn vị {code!r} đã tồn tại / unit code {code!r} already exists")
        parent = self._unit_w(parent_code) if parent_code else None
        if parent is None:
            self._writable(None)
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
        unit = self._unit_w(code)
        changes: dict[str, Any] = {"kind": kind}
        if name is not None:
            changes["name"] = clean_text(name, entity="unit", field="name")
            changes["slug"] = slugify(changes["name"])
        self._update(unit, "unit", code, changes)
        return unit

    def move_unit(self, code: str, *, new_parent_code: str) -> Unit:
        """Re-parent a unit; the paths of its whole subtree follow in one UPDATE."""
        unit, parent = self._unit_w(code), self._unit_w(new_parent_code)
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
        missing = f"Không có địa điểm {code!r} / no site {code!r}"
        found = self.session.scalar(select(Site).where(Site.code.in_(_spellings(code))))
        if found is None:
            raise NotFound(missing)
        self._visible(found.unit.path, missing)
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
        unit = self._unit_w(unit_code)
        code = clean_code(code, entity="site")
        if self.session.scalar(select(Site.id).where(func.upper(Site.code) == code)) is not None:
            raise Conflict(f"Mã địa điểm {code!r} đã tồn tại / site code {code!r} already exists")
        site = Site(
            code=code,
            name=clean_text(name, entity="site", field="name"),
            unit_id=unit.id,
            kind=kind,
            address=_opt_text(address, entity="site", field="address", max_length=500),
        )
        self.session.add(site)
        self.session.flush()
        self._audit(
            "create", "site", code, before=None, after=row_snapshot(site), unit_path=unit.path
        )
        return site

    # -- officers ----------------------------------------------------------------------------
    def officer(self, code: str) -> Officer:
        missing = f"Không có cán bộ mã {code!r} / no officer with code {code!r}"
        found = self.session.scalar(select(Officer).where(Officer.code.in_(_spellings(code))))
        if found is None:
            raise NotFound(missing)
        self._visible(found.unit.path, missing)
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
        code = clean_code(code, entity="officer")
        name = clean_text(full_name, entity="officer", field="full_name")
        unit = self._unit_w(unit_code)
        if self.session.scalar(select(Officer.id).where(func.upper(Officer.code) == code)):
            raise Conflict(f"Mã cán bộ {code!r} đã tồn tại / officer code {code!r} already exists")
        off = Officer(
            code=code,
            full_name=name,
            name_ascii=fold(name),
            unit_id=unit.id,
            position=_opt_text(position, entity="officer", field="position"),
            full_time=full_time,
            email=_opt_text(email, entity="officer", field="email"),
            phone=_opt_text(phone, entity="officer", field="phone", max_length=64),
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
        self._writable(off.unit.path)
        changes: dict[str, Any] = {
            "position": _opt_text(position, entity="officer", field="position"),
            "full_time": full_time,
            "email": _opt_text(email, entity="officer", field="email"),
            "phone": _opt_text(phone, entity="officer", field="phone", max_length=64),
            "it_staff": it_staff,
            "active": active,
        }
        if full_name is not None:
            changes["full_name"] = clean_text(full_name, entity="officer", field="full_name")
            changes["name_ascii"] = fold(changes["full_name"])
        if unit_code is not None:
            changes["unit_id"] = self._unit_w(unit_code).id
        self._update(off, "officer", off.code, changes)
        return off

    def add_contact(self, *, unit_code: str, officer_code: str, role: ContactRole) -> UnitContact:
        """Make an officer a contact of a unit in ``role`` (idempotent); the officer must be
        active."""
        role = ContactRole(role)
        unit, off = self._unit_w(unit_code), self.officer(officer_code)
        if not off.active:
            raise _problem(
                "unit_contact",
                "officer_code",
                officer_code,
                "cán bộ đã nghỉ (không còn hoạt động)",
                "the officer is not active",
            )
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

    def remove_contact(
        self, *, unit_code: str, role: ContactRole, officer_code: str, missing_ok: bool = False
    ) -> None:
        """Remove one contact; NotFound if the officer is not that unit's contact in ``role``
        (unless ``missing_ok``: an HTTP DELETE is idempotent)."""
        role = ContactRole(role)
        unit, off = self._unit_w(unit_code), self.officer(officer_code)
        row = self.session.scalar(
            select(UnitContact).where(
                UnitContact.unit_id == unit.id,
                UnitContact.officer_id == off.id,
                UnitContact.role == role,
            )
        )
        if row is None and missing_ok:
            return
        if row is None:
            raise NotFound(
                f"{off.code} không là đầu mối {role.value} của {unit.code} / "
                f"{off.code} is not a {role.value} contact of {unit.code}"
            )
        before = row_snapshot(row)
        self.session.delete(row)
        self.session.flush()
        self._audit(
            "delete",
            "unit_contact",
            f"{unit.code}/{off.code}/{role.value}",
            before=before,
            after=None,
            unit_path=unit.path,
        )

    def unit_contacts(self, unit_code: str, role: ContactRole | None = None) -> list[UnitContact]:
        """Contacts of one unit (each with ``.officer`` loaded), by role then officer code."""
        unit = self.unit(unit_code)
        q = (
            select(UnitContact)
            .join(Officer, Officer.id == UnitContact.officer_id)
            .where(UnitContact.unit_id == unit.id)
            .options(joinedload(UnitContact.officer))
        )
        if role is not None:
            q = q.where(UnitContact.role == ContactRole(role))
        return list(self.session.scalars(q.order_by(UnitContact.role, Officer.code)).all())

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
        missing = f"Không có thiết bị {asset_tag!r} / no device {asset_tag!r}"
        found = self.session.scalar(
            select(Device).where(Device.asset_tag.in_(_spellings(asset_tag)))
        )
        if found is None:
            raise NotFound(missing)
        self._visible(found.unit.path, missing)
        return found

    def _device_w(self, asset_tag: str) -> Device:
        dev = self.device(asset_tag)
        self._writable(dev.unit.path)
        return dev

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
        asset_tag = clean_code(asset_tag, entity="device", field="asset_tag")
        unit = self._unit_w(unit_code)
        if self.session.scalar(select(Device.id).where(func.upper(Device.asset_tag) == asset_tag)):
            raise Conflict(f"Mã tài sản {asset_tag!r} đã tồn tại / asset tag already exists")
        hostname = _opt_text(hostname, entity="device", field="hostname")
        vendor = _opt_text(vendor, entity="device", field="vendor", max_length=128)
        model = _opt_text(model, entity="device", field="model", max_length=128)
        serial = _opt_text(serial, entity="device", field="serial", max_length=128)
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
        dev = self._device_w(asset_tag)
        if mgmt_ip:
            try:
                mgmt_ip = validate_ip(mgmt_ip)
            except ValueError as exc:
                raise _problem(
                    "device", "mgmt_ip", mgmt_ip, "không phải địa chỉ IP", "not an IP address"
                ) from exc
        changes: dict[str, Any] = {
            "status": status,
            "hostname": _opt_text(hostname, entity="device", field="hostname"),
            "platform": check_platform(platform) if platform else None,
            "warranty_end": warranty_end,
            "mgmt_ip": mgmt_ip or None,
        }
        if unit_code is not None:
            changes["unit_id"] = self._unit_w(unit_code).id
        if site_code is not None:
            changes["site_id"] = self.site(site_code).id
        self._update(dev, "device", dev.asset_tag, changes)
        if status in (DeviceStatus.retired,) and dev.assigned_officer_id is not None:
            self.return_device(asset_tag, note="retired")
        return dev

    def assign_device(
        self, asset_tag: str, *, officer_code: str, on: date | None = None, note: str | None = None
    ) -> Custody:
        """Hand a device to an officer; a previous holder's custody is closed the same day."""
        dev, off = self._device_w(asset_tag), self.officer(officer_code)
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
        dev = self._device_w(asset_tag)
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

    def set_device(
        self,
        asset_tag: str,
        *,
        platform: str | None = UNSET,
        snmp_profile: str | None = UNSET,
        ssh_profile: str | None = UNSET,
        snmp_port: int | None = UNSET,
        monitored: bool = UNSET,
        site_code: str | None = UNSET,
    ) -> Device:
        """Set how a device is reached and watched; an argument left out is left alone and
        ``None`` clears it. Profiles are given by name and must be of the right kind (an SNMP
        profile for ``snmp_profile``, an SSH one for ``ssh_profile``); ``snmp_port`` overrides the
        SNMP profile's port; ``platform`` is one of :data:`inventory.ansible.PLATFORM_CONNECTIONS`.
        Audited with before/after::

            svc.set_device("HN-SW-1", platform="cisco_ios", snmp_profile="snmp-hn",
                           ssh_profile="ssh-net", snmp_port=1161, monitored=True)
        """
        dev = self._device_w(asset_tag)
        changes: dict[str, Any] = {}
        problems: list[Problem] = []

        def field(name: str, make: Callable[[], Any]) -> None:
            # Every bad field is reported at once; nothing is written if any is bad.
            try:
                changes[name] = make()
            except ValidationFailed as err:
                problems.extend(err.problems)

        if platform is not UNSET:
            field("platform", lambda: check_platform(platform) if platform else None)
        if snmp_profile is not UNSET:
            field(
                "snmp_profile_id",
                lambda: (
                    self._profile_of_kind(snmp_profile, SNMP_KINDS, "snmp_profile").id
                    if snmp_profile
                    else None
                ),
            )
        if ssh_profile is not UNSET:
            field(
                "ssh_profile_id",
                lambda: (
                    self._profile_of_kind(ssh_profile, {CredentialKind.ssh}, "ssh_profile").id
                    if ssh_profile
                    else None
                ),
            )
        if snmp_port is not UNSET:
            field(
                "snmp_port",
                lambda: (
                    check_port(snmp_port, entity="device", field="snmp_port")
                    if snmp_port is not None
                    else None
                ),
            )
        if monitored is not UNSET:
            if isinstance(monitored, bool):
                changes["monitored"] = monitored
            else:
                problems.extend(
                    _problem(
                        "device",
                        "monitored",
                        str(monitored),
                        "phải là có/không",
                        "must be yes or no",
                    ).problems
                )
        if site_code is not UNSET:
            field("site_id", lambda: self._site_for(dev, site_code))
        if problems:
            raise ValidationFailed(problems)
        self._update(dev, "device", dev.asset_tag, changes, clear=True)
        return dev

    def _site_for(self, dev: Device, site_code: str | None) -> int | None:
        if site_code is None:
            return None
        site = self.site(site_code)
        if not dev.unit.path.startswith(site.unit.path) and not site.unit.path.startswith(
            dev.unit.path
        ):
            raise _problem(
                "device",
                "site",
                site_code,
                "địa điểm thuộc đơn vị khác nhánh",
                "the site belongs to a unit outside the device's branch",
            )
        return site.id

    def _profile_of_kind(
        self, name: str, kinds: set[CredentialKind] | frozenset[CredentialKind], field: str
    ) -> CredentialProfile:
        prof = self.credential(name)
        if prof.kind not in kinds:
            wanted = "SNMP" if CredentialKind.ssh not in kinds else "SSH"
            raise _problem(
                "device",
                field,
                name,
                f"hồ sơ {name!r} là {prof.kind.value}, cần hồ sơ {wanted}",
                f"profile {name!r} is {prof.kind.value}, an {wanted} profile is needed",
            )
        return prof

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
        unit = self._unit_w(unit_code)  # the principal must be IT staff of the unit
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
        unit = self._unit_w(unit_code)  # the principal must be IT staff of the unit
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

    def credentials(self) -> list[CredentialProfile]:
        """Every credential profile, by name (secrets stay sealed)."""
        return list(
            self.session.scalars(select(CredentialProfile).order_by(CredentialProfile.name))
        )

    def credential_users(self, name: str) -> int:
        """How many devices use the profile (as SNMP or SSH profile)."""
        prof = self.credential(name)
        return int(
            self.session.scalar(
                select(func.count(Device.id)).where(
                    (Device.snmp_profile_id == prof.id) | (Device.ssh_profile_id == prof.id)
                )
            )
            or 0
        )

    def credential_summary(self, name: str) -> dict[str, Any]:
        """What an operator may see of a profile: kind, user, parameters, which secret fields it
        holds (names only, never values) and how many devices use it."""
        prof = self.credential(name)
        params = dict(prof.params or {})
        fields = params.pop("secret_fields", None)
        return {
            "name": prof.name,
            "kind": prof.kind.value,
            "username": prof.username,
            "port": params.get("port"),
            "params": params,
            "secret_fields": list(fields) if fields is not None else None,
            "devices": self.credential_users(name),
            "updated_at": prof.updated_at.isoformat() if prof.updated_at else None,
        }

    def _check_secret(
        self,
        kind: CredentialKind,
        secret: dict[str, Any],
        params: dict[str, Any],
        username: str | None,
    ) -> None:
        for field, value in secret.items():
            if not isinstance(value, str):
                raise _problem("credential_profile", field, "…", "phải là chuỗi", "must be text")
            if field != "private_key" and bad_char(value) is not None:
                raise _problem(
                    "credential_profile",
                    field,
                    "…",
                    "có ký tự điều khiển/vô hình",
                    "contains a control or invisible character",
                )
        if kind is CredentialKind.snmp_v3:
            if not username:
                raise OpsError("SNMPv3 cần tên người dùng / SNMPv3 needs a username")
            missing = {"auth_key", "priv_key"} - set(secret)
            if params.get("security_level") == "authPriv" and missing:
                raise OpsError(f"SNMPv3 authPriv thiếu / missing: {', '.join(sorted(missing))}")
        if kind is CredentialKind.snmp_v2c and "community" not in secret:
            raise OpsError("SNMP v2c cần community / SNMP v2c needs a community")
        if kind is CredentialKind.ssh:
            if not username:
                raise OpsError("SSH cần tên người dùng / SSH needs a username")
            if not ({"password", "private_key"} & set(secret)):
                raise OpsError(
                    "SSH cần mật khẩu hoặc khóa riêng / SSH needs a password or a private key",
                    hint="--password-env VAR, or --private-key-file PATH / --private-key-env VAR",
                )
            key = secret.get("private_key")
            if key is not None and "PRIVATE KEY-----" not in key:
                raise _problem(
                    "credential_profile",
                    "private_key",
                    "…",
                    "không phải khóa riêng dạng PEM/OpenSSH",
                    "not a PEM/OpenSSH private key",
                )
            if "passphrase" in secret and key is None:
                raise OpsError("Mật khẩu khóa cần khóa riêng / a passphrase needs a private key")

    def create_credential(
        self,
        *,
        name: str,
        kind: CredentialKind,
        secret: dict[str, Any],
        box: SecretBox,
        username: str | None = None,
        params: dict[str, Any] | None = None,
        port: int | None = None,
    ) -> CredentialProfile:
        """Store a credential profile; ``secret`` is sealed with ``box`` and never audited.

        Secret fields: ``community`` (SNMP v2c), ``auth_key``/``priv_key`` (SNMP v3),
        ``password`` and/or ``private_key`` (PEM) + ``passphrase`` (SSH). ``port`` is the
        profile's default port (``params["port"]``: SNMP 161, SSH 22 when absent); a device's
        ``snmp_port`` overrides it. SNMP v3 profiles default to authPriv with SHA and AES::

            svc.create_credential(name="snmp-hq", kind=CredentialKind.snmp_v3,
                                  username="tldops", box=box,
                                  secret={"auth_key": "...", "priv_key": "..."})
        """
        self._writable(None)
        kind = CredentialKind(kind)
        name = clean_name(name, entity="credential_profile")
        if self.session.scalar(select(CredentialProfile.id).where(CredentialProfile.name == name)):
            raise Conflict(f"Hồ sơ {name!r} đã tồn tại / profile {name!r} already exists")
        username = _opt_text(
            username, entity="credential_profile", field="username", max_length=128
        )
        params = dict(params or {})
        if port is not None:
            params["port"] = port
        if "port" in params:
            params["port"] = check_port(params["port"], entity="credential_profile")
        if kind is CredentialKind.snmp_v3:
            params.setdefault("auth_protocol", "SHA")
            params.setdefault("priv_protocol", "AES")
            params.setdefault("security_level", "authPriv")
        secret = {k: v for k, v in secret.items() if v is not None}
        self._check_secret(kind, secret, params, username)
        params["secret_fields"] = sorted(secret)
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

    def rotate_credential(
        self,
        name: str,
        *,
        secret: dict[str, Any],
        box: SecretBox,
        username: str | None = UNSET,
        port: int | None = UNSET,
        replace: bool = False,
    ) -> CredentialProfile:
        """Change a profile's secret (and optionally its user or port) in place; devices keep
        using it. Fields given replace those stored; ``replace=True`` drops the others (e.g. an
        SSH password when moving to a key). The audit says which fields changed, never values.
        """
        self._writable(None)
        prof = self.credential(name)
        old = box.open(prof.secret_blob)
        given = {k: v for k, v in secret.items() if v is not None}
        new = dict(given) if replace else {**old, **given}
        params = dict(prof.params or {})
        if port is not UNSET:
            if port is None:
                params.pop("port", None)
            else:
                params["port"] = check_port(port, entity="credential_profile")
        user = (
            prof.username
            if username is UNSET
            else _opt_text(username, entity="credential_profile", field="username", max_length=128)
        )
        self._check_secret(prof.kind, new, params, user)
        params["secret_fields"] = sorted(new)
        before = row_snapshot(prof)
        prof.secret_blob = box.seal(new)
        prof.params = params
        prof.username = user
        prof.updated_at = self.clock()
        self.session.flush()
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        self._audit(
            "rotate",
            "credential_profile",
            prof.name,
            before=before,
            after=row_snapshot(prof),
            note=f"secret fields changed: {', '.join(changed) or 'none'}",
        )
        return prof

    def remove_credential(self, name: str) -> None:
        """Delete a profile no device uses (Conflict naming how many still do)."""
        self._writable(None)
        prof = self.credential(name)
        users = self.credential_users(name)
        if users:
            raise Conflict(
                f"Hồ sơ {prof.name!r} đang được {users} thiết bị dùng / "
                f"profile {prof.name!r} is used by {users} device(s)",
                hint="move them to another profile first: "
                "`tldops inventory device set TAG --snmp-profile OTHER` (or --ssh-profile)",
            )
        before = row_snapshot(prof)
        self.session.delete(prof)
        self.session.flush()
        self._audit("delete", "credential_profile", prof.name, before=before, after=None)

    def attach_credentials(
        self, asset_tag: str, *, snmp: str | None = None, ssh: str | None = None
    ) -> Device:
        """Link profiles to a device (older form of :meth:`set_device`; None leaves alone)."""
        kwargs: dict[str, Any] = {}
        if snmp is not None:
            kwargs["snmp_profile"] = snmp
        if ssh is not None:
            kwargs["ssh_profile"] = ssh
        return self.set_device(asset_tag, **kwargs)

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
    def service(self, name: str) -> Service:
        missing = f"Không có dịch vụ {name!r} / no monitored service {name!r}"
        found = self.session.scalar(select(Service).where(Service.name == nfc(name.strip())))
        if found is None:
            raise NotFound(missing)
        self._visible(found.unit.path, missing)
        return found

    def _service_fields(
        self,
        kind: ServiceKind,
        target: str,
        port: int | None,
        expect: str | int | None,
        params: dict[str, Any],
    ) -> tuple[str, dict[str, Any]]:
        """Validated target and params; ``port``/``expect`` land where the checks read them."""
        target = clean_text(target, entity="service", field="target", max_length=500)
        params = dict(params)
        if port is not None:
            params["port"] = check_port(port, entity="service")
        if expect is not None:
            if kind is ServiceKind.http:
                try:
                    status = int(expect)
                except (TypeError, ValueError) as exc:
                    raise _problem(
                        "service",
                        "expect",
                        str(expect),
                        "HTTP cần mã trạng thái (vd 200)",
                        "HTTP expects a status code such as 200",
                    ) from exc
                if not 100 <= status <= 599:
                    raise _problem(
                        "service",
                        "expect",
                        str(expect),
                        "mã trạng thái từ 100 đến 599",
                        "a status code is 100 to 599",
                    )
                params["expect_status"] = status
            else:
                params["expect"] = clean_text(
                    str(expect), entity="service", field="expect", max_length=255
                )
        if kind in (ServiceKind.http,) and not target.startswith(("http://", "https://")):
            raise _problem(
                "service",
                "target",
                target,
                "HTTP cần URL http:// hoặc https://",
                "an HTTP check needs an http(s):// URL",
            )
        return target, params

    def create_service(
        self,
        *,
        name: str,
        kind: ServiceKind,
        target: str,
        unit_code: str,
        params: dict[str, Any] | None = None,
        site_code: str | None = None,
        port: int | None = None,
        expect: str | int | None = None,
        enabled: bool = True,
    ) -> Service:
        """A service for monitoring to check. ``target``: URL (http), ``host:port`` (tcp, tls,
        smtp), a name (dns) or an address (icmp); ``port`` is the default port when the target
        has none; ``expect`` is the HTTP status (http) or the expected answer (dns, banner)."""
        kind = ServiceKind(kind)
        name = clean_text(name, entity="service", field="name", max_length=128)
        unit = self._unit_w(unit_code)
        if self.session.scalar(select(Service.id).where(Service.name == name)) is not None:
            raise Conflict(f"Dịch vụ {name!r} đã tồn tại / service {name!r} already exists")
        target, params = self._service_fields(kind, target, port, expect, params or {})
        svc = Service(
            name=name,
            kind=kind,
            target=target,
            unit_id=unit.id,
            site_id=self.site(site_code).id if site_code else None,
            params=params,
            enabled=enabled,
        )
        self.session.add(svc)
        self.session.flush()
        self._audit(
            "create", "service", name, before=None, after=row_snapshot(svc), unit_path=unit.path
        )
        return svc

    def add_service(
        self,
        *,
        unit_code: str,
        name: str,
        kind: ServiceKind,
        target: str,
        port: int | None = None,
        expect: str | int | None = None,
        enabled: bool = True,
        params: dict[str, Any] | None = None,
        site_code: str | None = None,
    ) -> Service:
        """:meth:`create_service` with the operator's argument order (CLI, API, web form)."""
        return self.create_service(
            name=name,
            kind=kind,
            target=target,
            unit_code=unit_code,
            params=params,
            site_code=site_code,
            port=port,
            expect=expect,
            enabled=enabled,
        )

    def update_service(
        self,
        name: str,
        *,
        kind: ServiceKind | None = None,
        target: str | None = None,
        unit_code: str | None = None,
        port: int | None = UNSET,
        expect: str | int | None = UNSET,
        enabled: bool | None = None,
        params: dict[str, Any] | None = None,
    ) -> Service:
        """Change a service; ``None`` leaves a field alone, except ``port``/``expect`` where
        ``None`` removes it. ``params`` given are merged into the stored ones."""
        row = self.service(name)
        self._writable(row.unit.path)
        new_kind = ServiceKind(kind) if kind is not None else row.kind
        merged = {**(row.params or {}), **(params or {})}
        if port is None:
            merged.pop("port", None)
        if expect is None:
            merged.pop("expect", None)
            merged.pop("expect_status", None)
        new_target, merged = self._service_fields(
            new_kind,
            target if target is not None else row.target,
            port if port is not UNSET else None,
            expect if expect is not UNSET else None,
            merged,
        )
        changes: dict[str, Any] = {"kind": new_kind, "target": new_target, "params": merged}
        if enabled is not None:
            changes["enabled"] = bool(enabled)
        if unit_code is not None:
            changes["unit_id"] = self._unit_w(unit_code).id
        self._update(row, "service", row.name, changes, clear=True)
        return row

    def remove_service(self, name: str) -> None:
        row = self.service(name)
        self._writable(row.unit.path)
        before, path = row_snapshot(row), row.unit.path
        self.session.delete(row)
        self.session.flush()
        self._audit("delete", "service", row.name, before=before, after=None, unit_path=path)

    def services(self, unit_code: str | None = None, subtree: bool = True) -> list[Service]:
        """Services of a unit (its whole subtree unless ``subtree=False``; default: the root's
        subtree), restricted to what the acting principal may see."""
        q = select(Service).join(Unit, Unit.id == Service.unit_id)
        if unit_code is not None:
            unit = self.unit(unit_code)
            q = q.where(subtree_filter(Unit.path, unit.path) if subtree else Unit.id == unit.id)
        if self.principal is not None:
            q = q.where(self.principal.visible_filter(Unit.path))
        return list(
            self.session.scalars(
                q.options(joinedload(Service.unit)).order_by(Unit.path, Service.name)
            )
        )
