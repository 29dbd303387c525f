"""HTTP API of the inventory and the plan targets (mounted by the web app in ``ops_cli``).

Everything is filtered to the caller's unit subtrees; writes need ``it_staff`` (or ``admin``) on
the unit concerned::

    GET  /api/units?q=ha%20noi            units whose name folds to "ha noi" (diacritics ignored)
    GET  /api/devices?unit=HN&kind=pc     devices in Hà Nội's subtree
    POST /api/devices/HN-PC-1/assign      {"officer_code": "HN-001"}
    GET  /api/targets?unit=HN             the plan scorecard of Hà Nội
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from inventory.api_deps import Page, PageDep, PrincipalDep, SessionDep, paginate
from inventory.config import TIMEZONE
from inventory.db import session_scope
from inventory.enums import (
    ContactRole,
    CredentialKind,
    DeviceKind,
    DeviceStatus,
    LinkStatus,
    ServiceKind,
    SiteKind,
    SoftwareCategory,
    SoftwareStatus,
    UnitKind,
)
from inventory.errors import NotFound, PermissionDenied
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
    subtree_filter,
)
from inventory.security import Principal, Role
from inventory.service import UNSET, InventoryService
from inventory.text import bad_char, fold, slugify


def _no_invisible(value: str) -> str:
    """Refuse control and format characters beyond C0 (C1, zero-width, bidi overrides): they
    break XLSX exports and make different values look alike."""
    c = bad_char(value)
    if c is not None:
        raise ValueError(f"contains the control or invisible character U+{ord(c):04X}")
    return value


# Free text from users: no control characters (PostgreSQL refuses NUL), not blank.
Text = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$"
    ),
    AfterValidator(_no_invisible),
]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


def _check_ip(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError as exc:
        raise ValueError("not an IPv4/IPv6 address") from exc


# -- schemas ------------------------------------------------------------------------------------
class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UnitOut(_Out):
    code: str
    name: str
    level: int
    kind: UnitKind
    parent_code: str | None
    path: str

    @classmethod
    def of(cls, unit: Unit, parent_code: str | None = None) -> UnitOut:
        return cls(
            code=unit.code,
            name=unit.name,
            level=unit.level,
            kind=unit.kind,
            parent_code=parent_code
            if parent_code is not None
            else (unit.parent.code if unit.parent is not None else None),
            path=unit.path,
        )


class UnitIn(BaseModel):
    code: Code
    name: Text
    level: int = Field(ge=1, le=4)
    kind: UnitKind
    parent_code: Code


class UnitPatch(BaseModel):
    name: Text | None = None
    kind: UnitKind | None = None


class OfficerOut(_Out):
    code: str
    full_name: str
    unit_code: str
    position: str | None
    full_time: bool
    email: str | None
    phone: str | None
    it_staff: bool
    active: bool

    @classmethod
    def of(cls, off: Officer) -> OfficerOut:
        return cls(
            code=off.code,
            full_name=off.full_name,
            unit_code=off.unit.code,
            position=off.position,
            full_time=off.full_time,
            email=off.email,
            phone=off.phone,
            it_staff=off.it_staff,
            active=off.active,
        )


class OfficerIn(BaseModel):
    code: Code
    full_name: Text
    unit_code: Code
    position: Text | None = None
    full_time: bool = True
    email: Text | None = None
    phone: Annotated[str, StringConstraints(max_length=64, pattern=r"^[0-9 +().-]*$")] | None = None
    it_staff: bool = False


class OfficerPatch(BaseModel):
    position: Text | None = None
    full_time: bool | None = None
    email: Text | None = None
    it_staff: bool | None = None
    active: bool | None = None


class DeviceOut(_Out):
    asset_tag: str
    kind: DeviceKind
    unit_code: str
    status: DeviceStatus
    hostname: str | None
    vendor: str | None
    model: str | None
    serial: str | None
    mgmt_ip: str | None
    assigned_officer_code: str | None
    purchase_date: date | None
    cost_vnd: int | None
    platform: str | None = None
    site_code: str | None = None
    snmp_profile: str | None = None
    ssh_profile: str | None = None
    snmp_port: int | None = None
    monitored: bool = True

    @classmethod
    def of(cls, dev: Device) -> DeviceOut:
        session = Session.object_session(dev)

        def profile(pid: int | None) -> str | None:
            if pid is None or session is None:
                return None
            prof = session.get(CredentialProfile, pid)
            return prof.name if prof is not None else None

        return cls(
            asset_tag=dev.asset_tag,
            kind=dev.kind,
            unit_code=dev.unit.code,
            status=dev.status,
            hostname=dev.hostname,
            vendor=dev.vendor,
            model=dev.model,
            serial=dev.serial,
            mgmt_ip=dev.mgmt_ip,
            assigned_officer_code=dev.assigned_officer.code if dev.assigned_officer else None,
            purchase_date=dev.purchase_date,
            cost_vnd=dev.cost_vnd,
            platform=dev.platform,
            site_code=dev.site.code if dev.site is not None else None,
            snmp_profile=profile(dev.snmp_profile_id),
            ssh_profile=profile(dev.ssh_profile_id),
            snmp_port=dev.snmp_port,
            monitored=dev.monitored,
        )


class DeviceIn(BaseModel):
    asset_tag: Code
    kind: DeviceKind
    unit_code: Code
    status: DeviceStatus = DeviceStatus.active
    hostname: Code | None = None
    vendor: Text | None = None
    model: Text | None = None
    serial: Text | None = None
    mgmt_ip: str | None = Field(default=None, max_length=64)
    purchase_date: date | None = None
    cost_vnd: int | None = Field(default=None, ge=0, le=10**13)

    _ip = field_validator("mgmt_ip")(_check_ip)


class DevicePatch(BaseModel):
    """Fields left out are left alone. For the connection fields (``platform``, profiles,
    ``snmp_port``, ``site_code``) an explicit ``null`` clears the value."""

    status: DeviceStatus | None = None
    unit_code: Code | None = None
    hostname: Code | None = None
    mgmt_ip: str | None = Field(default=None, max_length=64)
    platform: Code | None = None
    snmp_profile: Text | None = None
    ssh_profile: Text | None = None
    snmp_port: int | None = Field(default=None, ge=1, le=65535)
    monitored: bool | None = None
    site_code: Code | None = None

    _ip = field_validator("mgmt_ip")(_check_ip)


SET_FIELDS = ("platform", "snmp_profile", "ssh_profile", "snmp_port", "monitored", "site_code")


class ContactOut(BaseModel):
    unit_code: str
    role: ContactRole
    officer_code: str
    officer_name: str
    email: str | None
    phone: str | None
    active: bool


class ContactIn(BaseModel):
    role: ContactRole
    officer_code: Code


class ServiceOut(BaseModel):
    name: str
    unit_code: str
    kind: ServiceKind
    target: str
    port: int | None
    expect: str | int | None
    enabled: bool
    params: dict[str, Any]

    @classmethod
    def of(cls, row: Service) -> ServiceOut:
        params = dict(row.params or {})
        return cls(
            name=row.name,
            unit_code=row.unit.code,
            kind=row.kind,
            target=row.target,
            port=params.get("port"),
            expect=params.get("expect_status", params.get("expect")),
            enabled=row.enabled,
            params=params,
        )


Target = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(_no_invisible)
]


# What a check expects: an HTTP status (number) or a text such as a DNS answer.
Expect = (
    Annotated[str, StringConstraints(max_length=255), AfterValidator(_no_invisible)] | int | None
)


class ServiceIn(BaseModel):
    unit_code: Code
    name: Annotated[Text, StringConstraints(max_length=128)]
    kind: ServiceKind
    target: Target
    port: int | None = Field(default=None, ge=1, le=65535)
    expect: Expect = None
    enabled: bool = True


class ServicePatch(BaseModel):
    """Fields left out are left alone; ``port``/``expect`` set to ``null`` are removed."""

    unit_code: Code | None = None
    kind: ServiceKind | None = None
    target: Target | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    expect: Expect = None
    enabled: bool | None = None


class CredentialOut(BaseModel):
    name: str
    kind: CredentialKind
    username: str | None
    port: int | None
    params: dict[str, Any]
    secret_fields: list[str] | None = Field(description="names of the stored secret fields")
    devices: int


class AssignIn(BaseModel):
    officer_code: Code
    on: date | None = None
    note: Text | None = None


class CustodyOut(BaseModel):
    asset_tag: str
    officer_code: str
    officer_name: str
    assigned_on: date
    returned_on: date | None
    note: str | None

    @classmethod
    def of(cls, row: Custody) -> CustodyOut:
        return cls(
            asset_tag=row.device.asset_tag,
            officer_code=row.officer.code,
            officer_name=row.officer.full_name,
            assigned_on=row.assigned_on,
            returned_on=row.returned_on,
            note=row.note,
        )


class SiteOut(BaseModel):
    code: str
    name: str
    kind: SiteKind
    unit_code: str
    address: str | None


class SoftwareOut(BaseModel):
    unit_code: str
    product: str
    category: SoftwareCategory
    seats: int | None
    status: SoftwareStatus
    licence_expires: date | None


class SoftwareIn(BaseModel):
    unit_code: Code
    product: Text
    category: SoftwareCategory
    seats: int | None = Field(default=None, ge=0, le=10**7)
    status: SoftwareStatus = SoftwareStatus.active
    licence_expires: date | None = None


class LinkOut(BaseModel):
    unit_code: str
    isp: str
    kind: str
    bandwidth_mbps: int
    status: LinkStatus


class LinkIn(BaseModel):
    unit_code: Code
    isp: Text
    kind: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    ]
    bandwidth_mbps: int = Field(ge=1, le=10**6)
    status: LinkStatus = LinkStatus.active


class AuditOut(_Out):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_key: str
    unit_path: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None


class ReasonOut(BaseModel):
    code: str
    vi: str
    en: str


class FailingOut(BaseModel):
    kind: Literal["unit", "officer"]
    code: str
    name: str
    unit_code: str
    reasons: list[ReasonOut]


class ChildResultOut(BaseModel):
    unit_code: str
    unit_name: str
    numerator: int
    denominator: int
    value: float | None
    met: bool | None


class IndicatorOut(BaseModel):
    id: str
    title: str
    title_en: str
    target: float
    numerator: int
    denominator: int
    value: float | None
    met: bool | None
    failing: list[FailingOut]
    failing_total: int = Field(description="failing units/officers before failing_limit")
    children: list[ChildResultOut]


class UnitRef(BaseModel):
    code: str
    name: str


class TargetReportOut(BaseModel):
    unit: UnitRef
    as_of: datetime
    indicators: list[IndicatorOut]


class IndicatorInfo(BaseModel):
    id: str
    title: str
    title_en: str
    target: float


# -- helpers -------------------------------------------------------------------------------------
def _unit(session: Session, code: str) -> Unit:
    return InventoryService(session).unit(code)


def _visible_unit(
    session: Session, principal: Principal, code: str, role: Role = Role.viewer
) -> Unit:
    """The unit ``code`` if the principal may act as ``role`` on it.

    An invisible unit is reported as missing (404), not forbidden, so codes of other provinces
    cannot be probed; a visible unit without the needed role is a 403.
    """
    unit = InventoryService(session).unit(code)
    if not principal.can(Role.viewer, unit.path):
        raise NotFound(f"Không có đơn vị mã {code!r} / no unit with code {code!r}")
    principal.require(role, unit.path)
    return unit


def _scope(session: Session, principal: Principal, unit: str | None) -> Any:
    """Condition on ``Unit.path``: the caller's visible subtrees, narrowed to ``unit``'s."""
    cond = principal.visible_filter(Unit.path)
    if unit:
        top = _visible_unit(session, principal, unit)
        cond = cond & subtree_filter(Unit.path, top.path)
    return cond


def _svc(session: Session, principal: Principal) -> InventoryService:
    return InventoryService(session, actor=f"web:{principal.name}", principal=principal)


units = APIRouter(prefix="/api/units", tags=["inventory"])
officers = APIRouter(prefix="/api/officers", tags=["inventory"])
devices = APIRouter(prefix="/api/devices", tags=["inventory"])
sites = APIRouter(prefix="/api/sites", tags=["inventory"])
software = APIRouter(prefix="/api/software", tags=["inventory"])
links = APIRouter(prefix="/api/links", tags=["inventory"])
audit_router = APIRouter(prefix="/api/audit", tags=["audit"])
services_router = APIRouter(prefix="/api/services", tags=["inventory"])
credentials_router = APIRouter(prefix="/api/credentials", tags=["inventory"])
targets = APIRouter(prefix="/api/targets", tags=["targets"])


# -- units ----------------------------------------------------------------------------------------
@units.get("", response_model=Page[UnitOut], summary="List units (subtree, search)")
def list_units(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: Annotated[
        str | None, Query(description="only this unit's subtree", max_length=64)
    ] = None,
    parent: Annotated[
        str | None, Query(description="only direct children of", max_length=64)
    ] = None,
    q: Annotated[
        str | None, Query(description="search, diacritics ignored", max_length=100)
    ] = None,
    level: Annotated[int | None, Query(ge=1, le=4)] = None,
) -> Page[UnitOut]:
    """Units the caller may see. ``q=ha noi`` finds "Hà Nội" (the search folds diacritics)."""
    query: Select[Any] = select(Unit).where(_scope(session, principal, unit))
    if parent:
        query = query.where(Unit.parent_id == _visible_unit(session, principal, parent).id)
    if q and q.strip():
        needle = slugify(q)
        query = query.where(or_(Unit.slug.contains(needle), Unit.code.ilike(f"%{q.strip()}%")))
    if level is not None:
        query = query.where(Unit.level == level)
    return paginate(session, query.order_by(Unit.level, Unit.path), page, UnitOut.of)


@units.get("/{code}", response_model=UnitOut, summary="One unit")
def get_unit(code: str, session: SessionDep, principal: PrincipalDep) -> UnitOut:
    return UnitOut.of(_visible_unit(session, principal, code))


@units.post("", response_model=UnitOut, status_code=201, summary="Create a unit")
def create_unit(body: UnitIn, session: SessionDep, principal: PrincipalDep) -> UnitOut:
    _visible_unit(session, principal, body.parent_code, Role.it_staff)
    unit = _svc(session, principal).create_unit(
        code=body.code,
        name=body.name,
        level=body.level,
        kind=body.kind,
        parent_code=body.parent_code,
    )
    return UnitOut.of(unit, parent_code=body.parent_code)


def _contact_out(unit_code: str, c: Any) -> ContactOut:
    return ContactOut(
        unit_code=unit_code,
        role=c.role,
        officer_code=c.officer.code,
        officer_name=c.officer.full_name,
        email=c.officer.email,
        phone=c.officer.phone,
        active=c.officer.active,
    )


@units.get("/{code}/contacts", response_model=list[ContactOut], summary="Contacts of a unit")
def list_contacts(
    code: str,
    session: SessionDep,
    principal: PrincipalDep,
    role: ContactRole | None = None,
) -> list[ContactOut]:
    unit = _visible_unit(session, principal, code)
    return [_contact_out(unit.code, c) for c in _svc(session, principal).unit_contacts(code, role)]


@units.post(
    "/{code}/contacts", response_model=ContactOut, status_code=201, summary="Add a unit contact"
)
def add_contact(
    code: str, body: ContactIn, session: SessionDep, principal: PrincipalDep
) -> ContactOut:
    unit = _visible_unit(session, principal, code, Role.it_staff)
    svc = _svc(session, principal)
    row = svc.add_contact(unit_code=unit.code, officer_code=body.officer_code, role=body.role)
    return _contact_out(unit.code, row)


@units.delete(
    "/{code}/contacts",
    response_model=list[ContactOut],
    summary="Remove a unit contact (idempotent); answers the contacts that remain",
)
def remove_contact(
    code: str,
    session: SessionDep,
    principal: PrincipalDep,
    role: ContactRole,
    officer_code: Annotated[str, Query(max_length=64)],
) -> list[ContactOut]:
    unit = _visible_unit(session, principal, code, Role.it_staff)
    svc = _svc(session, principal)
    svc.remove_contact(unit_code=unit.code, role=role, officer_code=officer_code, missing_ok=True)
    return [_contact_out(unit.code, c) for c in svc.unit_contacts(unit.code)]


@units.get("/{code}/services", response_model=list[ServiceOut], summary="Services of a unit")
def unit_services(
    code: str, session: SessionDep, principal: PrincipalDep, subtree: bool = True
) -> list[ServiceOut]:
    _visible_unit(session, principal, code)
    return [ServiceOut.of(r) for r in _svc(session, principal).services(code, subtree=subtree)]


@units.patch("/{code}", response_model=UnitOut, summary="Rename a unit or change its kind")
def patch_unit(code: str, body: UnitPatch, session: SessionDep, principal: PrincipalDep) -> UnitOut:
    _visible_unit(session, principal, code, Role.it_staff)
    return UnitOut.of(_svc(session, principal).update_unit(code, name=body.name, kind=body.kind))


# -- officers -------------------------------------------------------------------------------------
@officers.get("", response_model=Page[OfficerOut], summary="List officers")
def list_officers(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(description="name, diacritics ignored", max_length=100)] = None,
    full_time: bool | None = None,
) -> Page[OfficerOut]:
    query: Select[Any] = select(Officer).join(Unit).where(_scope(session, principal, unit))
    if q and q.strip():
        query = query.where(or_(Officer.name_ascii.contains(fold(q)), Officer.code == q.strip()))
    if full_time is not None:
        query = query.where(Officer.full_time.is_(full_time))
    return paginate(session, query.order_by(Officer.code), page, OfficerOut.of)


def _visible_officer(
    session: Session, principal: Principal, code: str, role: Role = Role.viewer
) -> Officer:
    off = session.scalar(select(Officer).where(Officer.code == code))
    if off is None or not principal.can(Role.viewer, off.unit.path):
        raise NotFound(f"Không có cán bộ mã {code!r} / no officer with code {code!r}")
    principal.require(role, off.unit.path)
    return off


@officers.get("/{code}", response_model=OfficerOut, summary="One officer")
def get_officer(code: str, session: SessionDep, principal: PrincipalDep) -> OfficerOut:
    return OfficerOut.of(_visible_officer(session, principal, code))


@officers.get(
    "/{code}/custody", response_model=list[CustodyOut], summary="Devices the officer held"
)
def officer_custody(code: str, session: SessionDep, principal: PrincipalDep) -> list[CustodyOut]:
    off = _visible_officer(session, principal, code)
    rows = session.scalars(
        select(Custody)
        .where(Custody.officer_id == off.id)
        .order_by(Custody.assigned_on, Custody.id)
    ).all()
    return [CustodyOut.of(r) for r in rows]


@officers.post("", response_model=OfficerOut, status_code=201, summary="Create an officer")
def create_officer(body: OfficerIn, session: SessionDep, principal: PrincipalDep) -> OfficerOut:
    _visible_unit(session, principal, body.unit_code, Role.it_staff)
    off = _svc(session, principal).create_officer(**body.model_dump())
    return OfficerOut.of(off)


@officers.patch("/{code}", response_model=OfficerOut, summary="Update an officer")
def patch_officer(
    code: str, body: OfficerPatch, session: SessionDep, principal: PrincipalDep
) -> OfficerOut:
    _visible_officer(session, principal, code, Role.it_staff)
    off = _svc(session, principal).update_officer(code, **body.model_dump())
    return OfficerOut.of(off)


# -- devices --------------------------------------------------------------------------------------
@devices.get("", response_model=Page[DeviceOut], summary="List devices")
def list_devices(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    kind: DeviceKind | None = None,
    status: DeviceStatus | None = None,
    q: Annotated[
        str | None, Query(description="asset tag or hostname contains", max_length=100)
    ] = None,
) -> Page[DeviceOut]:
    query: Select[Any] = select(Device).join(Unit).where(_scope(session, principal, unit))
    if kind is not None:
        query = query.where(Device.kind == kind)
    if status is not None:
        query = query.where(Device.status == status)
    if q and q.strip():
        needle = f"%{q.strip()}%"
        query = query.where(or_(Device.asset_tag.ilike(needle), Device.hostname.ilike(needle)))
    return paginate(session, query.order_by(Device.asset_tag), page, DeviceOut.of)


def _visible_device(
    session: Session, principal: Principal, tag: str, role: Role = Role.viewer
) -> Device:
    dev = session.scalar(select(Device).where(Device.asset_tag == tag))
    if dev is None or not principal.can(Role.viewer, dev.unit.path):
        raise NotFound(f"Không có thiết bị {tag!r} / no device {tag!r}")
    principal.require(role, dev.unit.path)
    return dev


@devices.get("/{asset_tag}", response_model=DeviceOut, summary="One device")
def get_device(asset_tag: str, session: SessionDep, principal: PrincipalDep) -> DeviceOut:
    return DeviceOut.of(_visible_device(session, principal, asset_tag))


@devices.get("/{asset_tag}/custody", response_model=list[CustodyOut], summary="Custody history")
def device_custody(
    asset_tag: str, session: SessionDep, principal: PrincipalDep
) -> list[CustodyOut]:
    _visible_device(session, principal, asset_tag)
    return [CustodyOut.of(r) for r in InventoryService(session).custody_history(asset_tag)]


@devices.post("", response_model=DeviceOut, status_code=201, summary="Register a device")
def create_device(body: DeviceIn, session: SessionDep, principal: PrincipalDep) -> DeviceOut:
    _visible_unit(session, principal, body.unit_code, Role.it_staff)
    dev = _svc(session, principal).create_device(**body.model_dump())
    return DeviceOut.of(dev)


@devices.patch("/{asset_tag}", response_model=DeviceOut, summary="Update a device")
def patch_device(
    asset_tag: str, body: DevicePatch, session: SessionDep, principal: PrincipalDep
) -> DeviceOut:
    _visible_device(session, principal, asset_tag, Role.it_staff)
    if body.unit_code is not None:
        _visible_unit(session, principal, body.unit_code, Role.it_staff)
    given = body.model_fields_set
    svc = _svc(session, principal)
    basic = {k: v for k, v in body.model_dump().items() if k not in SET_FIELDS}
    dev = svc.update_device(asset_tag, **basic)
    settings = {k: getattr(body, k) for k in SET_FIELDS if k in given}
    if settings.get("monitored", True) is None:
        settings.pop("monitored")
    if settings:
        dev = svc.set_device(dev.asset_tag, **settings)
    return DeviceOut.of(dev)


@devices.post(
    "/{asset_tag}/assign", response_model=CustodyOut, summary="Hand a device to an officer"
)
def assign_device(
    asset_tag: str, body: AssignIn, session: SessionDep, principal: PrincipalDep
) -> CustodyOut:
    _visible_device(session, principal, asset_tag, Role.it_staff)
    _visible_officer(session, principal, body.officer_code)
    row = _svc(session, principal).assign_device(
        asset_tag, officer_code=body.officer_code, on=body.on, note=body.note
    )
    return CustodyOut.of(row)


@devices.post("/{asset_tag}/return", response_model=DeviceOut, summary="Take a device back")
def return_device(asset_tag: str, session: SessionDep, principal: PrincipalDep) -> DeviceOut:
    _visible_device(session, principal, asset_tag, Role.it_staff)
    svc = _svc(session, principal)
    svc.return_device(asset_tag)
    return DeviceOut.of(svc.device(asset_tag))


# -- sites, software, links -----------------------------------------------------------------------
@sites.get("", response_model=Page[SiteOut], summary="List sites")
def list_sites(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[SiteOut]:
    query: Select[Any] = select(Site).join(Unit).where(_scope(session, principal, unit))
    return paginate(
        session,
        query.order_by(Site.code),
        page,
        lambda s: SiteOut(
            code=s.code, name=s.name, kind=s.kind, unit_code=s.unit.code, address=s.address
        ),
    )


def _software_out(s: Software) -> SoftwareOut:
    return SoftwareOut(
        unit_code=s.unit.code,
        product=s.product,
        category=s.category,
        seats=s.seats,
        status=s.status,
        licence_expires=s.licence_expires,
    )


@software.get("", response_model=Page[SoftwareOut], summary="List software records")
def list_software(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    category: SoftwareCategory | None = None,
) -> Page[SoftwareOut]:
    query: Select[Any] = select(Software).join(Unit).where(_scope(session, principal, unit))
    if category is not None:
        query = query.where(Software.category == category)
    return paginate(session, query.order_by(Unit.path, Software.product), page, _software_out)


@software.put("", response_model=SoftwareOut, summary="Create or update a software record")
def put_software(body: SoftwareIn, session: SessionDep, principal: PrincipalDep) -> SoftwareOut:
    _visible_unit(session, principal, body.unit_code, Role.it_staff)
    return _software_out(_svc(session, principal).upsert_software(**body.model_dump()))


def _link_out(link: InternetLink) -> LinkOut:
    return LinkOut(
        unit_code=link.unit.code,
        isp=link.isp,
        kind=link.kind,
        bandwidth_mbps=link.bandwidth_mbps,
        status=link.status,
    )


@links.get("", response_model=Page[LinkOut], summary="List internet links")
def list_links(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[LinkOut]:
    query: Select[Any] = select(InternetLink).join(Unit).where(_scope(session, principal, unit))
    return paginate(session, query.order_by(Unit.path, InternetLink.isp), page, _link_out)


@links.put("", response_model=LinkOut, summary="Create or update an internet link")
def put_link(body: LinkIn, session: SessionDep, principal: PrincipalDep) -> LinkOut:
    _visible_unit(session, principal, body.unit_code, Role.it_staff)
    return _link_out(_svc(session, principal).upsert_link(**body.model_dump()))


# -- monitored services ---------------------------------------------------------------------------
@services_router.get("", response_model=Page[ServiceOut], summary="List monitored services")
def list_services(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    subtree: bool = True,
) -> Page[ServiceOut]:
    query: Select[Any] = select(Service).join(Unit, Unit.id == Service.unit_id)
    query = query.where(principal.visible_filter(Unit.path))
    if unit:
        top = _visible_unit(session, principal, unit)
        query = query.where(subtree_filter(Unit.path, top.path) if subtree else Unit.id == top.id)
    return paginate(session, query.order_by(Unit.path, Service.name), page, ServiceOut.of)


@services_router.get("/{name}", response_model=ServiceOut, summary="One monitored service")
def get_service(name: str, session: SessionDep, principal: PrincipalDep) -> ServiceOut:
    return ServiceOut.of(_svc(session, principal).service(name))


@services_router.post("", response_model=ServiceOut, status_code=201, summary="Add a service")
def create_service(body: ServiceIn, session: SessionDep, principal: PrincipalDep) -> ServiceOut:
    _visible_unit(session, principal, body.unit_code, Role.it_staff)
    return ServiceOut.of(_svc(session, principal).add_service(**body.model_dump()))


@services_router.patch("/{name}", response_model=ServiceOut, summary="Change a service")
def patch_service(
    name: str, body: ServicePatch, session: SessionDep, principal: PrincipalDep
) -> ServiceOut:
    given = body.model_fields_set
    kwargs: dict[str, Any] = {
        k: getattr(body, k) for k in ("unit_code", "kind", "target", "enabled")
    }
    kwargs["port"] = body.port if "port" in given else UNSET
    kwargs["expect"] = body.expect if "expect" in given else UNSET
    return ServiceOut.of(_svc(session, principal).update_service(name, **kwargs))


@services_router.delete("/{name}", response_model=ServiceOut, summary="Delete a service")
def delete_service(name: str, session: SessionDep, principal: PrincipalDep) -> ServiceOut:
    """Deletes the service and answers what it was."""
    svc = _svc(session, principal)
    gone = ServiceOut.of(svc.service(name))
    svc.remove_service(name)
    return gone


# -- credential profiles (read-only, admins) ------------------------------------------------------
def _require_root_admin(session: Session, principal: Principal) -> InventoryService:
    svc = _svc(session, principal)
    if not principal.can(Role.admin, svc.root().path):
        raise PermissionDenied("Chỉ quản trị toàn hệ thống / only administrators of the whole tree")
    return svc


def _credential_out(svc: InventoryService, name: str) -> CredentialOut:
    s = svc.credential_summary(name)
    return CredentialOut(
        name=s["name"],
        kind=s["kind"],
        username=s["username"],
        port=s["port"],
        params=s["params"],
        secret_fields=s["secret_fields"],
        devices=s["devices"],
    )


@credentials_router.get("", response_model=list[CredentialOut], summary="Credential profiles")
def list_credentials(session: SessionDep, principal: PrincipalDep) -> list[CredentialOut]:
    """Every profile with the names of its secret fields, never their values (admins)."""
    svc = _require_root_admin(session, principal)
    return [_credential_out(svc, p.name) for p in svc.credentials()]


@credentials_router.get("/{name}", response_model=CredentialOut, summary="One credential profile")
def get_credential(name: str, session: SessionDep, principal: PrincipalDep) -> CredentialOut:
    svc = _require_root_admin(session, principal)
    return _credential_out(svc, name)


# -- audit ----------------------------------------------------------------------------------------
@audit_router.get("", response_model=Page[AuditOut], summary="Audit log (IT staff and admins)")
def list_audit(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    entity: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
) -> Page[AuditOut]:
    """Changes inside the caller's subtrees where they hold ``it_staff`` or ``admin``; records
    not tied to a unit (accounts) only for an admin of the whole tree."""
    query: Select[Any] = select(AuditRecord)
    root_path = session.scalar(select(Unit.path).where(Unit.parent_id.is_(None)).limit(1))
    if root_path is None or not principal.can(Role.admin, root_path):
        query = query.where(principal.visible_filter(AuditRecord.unit_path, Role.it_staff))
    if entity:
        query = query.where(AuditRecord.entity == entity)
    if actor:
        query = query.where(AuditRecord.actor == actor)
    return paginate(session, query.order_by(AuditRecord.id.desc()), page, AuditOut.model_validate)


# -- targets --------------------------------------------------------------------------------------
class ReportCache:
    """Target reports per (unit, data version, local day), shared by the API and the dashboard.

    The data version is the newest audit record id: every change through a service writes one,
    so a new id means the numbers may have moved. It is re-read at most every
    ``version_every`` seconds, so a hot scorecard costs dictionary lookups, not queries. ``ttl``
    bounds staleness from writers that bypass the services (bulk loaders). One lock per key, so
    a burst of identical requests computes the report once. The API's JSON bytes are cached
    too: at the root of a large federation, serialising costs more than looking up.
    """

    def __init__(
        self,
        *,
        ttl: float = 300.0,
        version_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.version_every = version_every
        self.clock = clock
        self._data: dict[tuple[str, int, str], tuple[float, bytes]] = {}
        self._json: dict[tuple[tuple[str, int, str], int], bytes] = {}
        self._locks: dict[tuple[str, int, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self._version: tuple[float, int] | None = None
        self._paths: dict[str, str] = {}  # unit code -> path, of units reports were made for
        self._root: tuple[str, str] | None = None  # (code, path)

    def _current_version(self, session: Session) -> int:
        now = self.clock()
        if self._version is None or now - self._version[0] >= self.version_every:
            version = int(session.scalar(select(func.max(AuditRecord.id))) or 0)
            self._version = (now, version)
        return self._version[1]

    def _key(self, session: Session, unit: Unit) -> tuple[str, int, str]:
        self._paths[unit.code] = unit.path
        if unit.parent_id is None:
            self._root = (unit.code, unit.path)
        day = datetime.now(TIMEZONE).date().isoformat()
        return (unit.code, self._current_version(session), day)

    def report(self, session: Session, unit: Unit) -> dict[str, Any]:
        """The report of ``unit`` as ``TargetReport.to_dict()``."""
        return self._report(session, unit, self._key(session, unit))

    def _report(self, session: Session, unit: Unit, key: tuple[str, int, str]) -> dict[str, Any]:
        from inventory.targets import compute_report

        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._data.get(key)
            if hit is not None and self.clock() - hit[0] < self.ttl:
                cached: dict[str, Any] = json.loads(hit[1])
                return cached
            data: dict[str, Any] = compute_report(session, unit_code=unit.code).to_dict()
            with self._guard:
                # Older versions of this unit are dead weight once a newer one is cached.
                for k in [k for k in self._data if k[0] == unit.code and k != key]:
                    self._data.pop(k, None)
                    self._locks.pop(k, None)
                for jk in [jk for jk in self._json if jk[0][0] == unit.code and jk[0] != key]:
                    self._json.pop(jk, None)
                # Kept as compact JSON, not dicts: thousands of long-lived small objects would be
                # rescanned by every full GC collection and stall requests (the p99 tail).
                self._data[key] = (self.clock(), json.dumps(data, separators=(",", ":")).encode())
            return data

    def report_json(self, session: Session, unit: Unit, *, failing_limit: int) -> bytes:
        """The API body (``TargetReportOut``) with at most ``failing_limit`` failing entries per
        indicator, serialised once per data version."""
        key = self._key(session, unit)
        cached = self._cached_json(key, failing_limit)
        if cached is not None:
            return cached
        data = self._report(session, unit, key)
        trimmed = {
            **data,
            "indicators": [
                {
                    **ind,
                    "failing": ind["failing"][:failing_limit],
                    "failing_total": len(ind["failing"]),
                }
                for ind in data["indicators"]
            ],
        }
        body = TargetReportOut.model_validate(trimmed).model_dump_json().encode("utf-8")
        with self._guard:
            self._json[(key, failing_limit)] = body
        return body

    def _cached_json(self, key: tuple[str, int, str], failing_limit: int) -> bytes | None:
        body = self._json.get((key, failing_limit))
        hit = self._data.get(key)
        if body is None or hit is None or self.clock() - hit[0] >= self.ttl:
            return None
        return body

    def fast_json(
        self, principal: Principal, unit_code: str | None, *, failing_limit: int
    ) -> bytes | None:
        """The cached body without touching the database, or ``None`` (then take the slow
        path, which also does every permission check that can fail)."""
        version = self._version
        if version is None or self.clock() - version[0] >= self.version_every:
            return None
        if unit_code is None:
            roots = principal.visible_paths()
            if not roots or self._root is None:
                return None
            if "/" in roots or roots[0] == self._root[1]:
                unit_code = self._root[0]
            else:
                return None
        path = self._paths.get(unit_code)
        if path is None or not principal.can(Role.viewer, path):
            return None
        key = (unit_code, version[1], datetime.now(TIMEZONE).date().isoformat())
        return self._cached_json(key, failing_limit)


REPORTS = ReportCache()


def default_unit(session: Session, principal: Principal) -> Unit:
    """The unit a scorecard opens on: the root if visible, else the caller's first subtree."""
    roots = principal.visible_paths()
    if not roots:
        raise PermissionDenied(
            "Tài khoản chưa được cấp quyền trên đơn vị nào / the account has no grant",
            hint="ask an administrator: `tldops user grant USER viewer UNIT`",
        )
    if "/" in roots:
        return InventoryService(session).root()
    unit = session.scalar(select(Unit).where(Unit.path == roots[0]))
    if unit is None:
        raise NotFound("Không có đơn vị / the granted unit no longer exists")
    return unit


def _targets_json(engine: Any, principal: Principal, unit: str | None, failing_limit: int) -> bytes:
    with session_scope(engine) as session:
        top = _visible_unit(session, principal, unit) if unit else default_unit(session, principal)
        return REPORTS.report_json(session, top, failing_limit=failing_limit)


@targets.get("", response_model=TargetReportOut, summary="Plan-target scorecard of a unit")
async def get_targets(
    request: Request,
    principal: PrincipalDep,
    unit: Annotated[
        str | None, Query(description="unit code (default: your top unit)", max_length=64)
    ] = None,
    failing_limit: Annotated[
        int, Query(ge=0, le=1_000_000, description="at most this many failing entries each")
    ] = 100,
) -> Response:
    """Every indicator over the unit's subtree, with one result per direct child unit and the
    failing units/officers (``failing_total`` counts them all). Cached per unit until the data
    changes; a cached report is served without a database round trip."""
    body = REPORTS.fast_json(principal, unit, failing_limit=failing_limit)
    if body is None:
        body = await run_in_threadpool(
            _targets_json, request.app.state.engine, principal, unit, failing_limit
        )
    return Response(body, media_type="application/json")


@targets.get("/indicators", response_model=list[IndicatorInfo], summary="The registered indicators")
def list_indicators(principal: PrincipalDep) -> list[IndicatorInfo]:
    from inventory.targets import default_registry

    if not principal.visible_paths():
        raise PermissionDenied("Tài khoản chưa được cấp quyền / the account has no grant")
    return [
        IndicatorInfo(id=i.id, title=i.title, title_en=i.title_en, target=i.target)
        for i in default_registry().all()
    ]


router = APIRouter()
for _r in (
    units,
    officers,
    devices,
    sites,
    software,
    links,
    services_router,
    credentials_router,
    audit_router,
    targets,
):
    router.include_router(_r)
