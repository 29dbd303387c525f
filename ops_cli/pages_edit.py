"""Edit forms of the inventory pages: units, officers, devices, and a unit's internet links,
software, contacts and monitored services.

Every form works alike:

- GET shows it filled from what is stored;
- POST reads the fields and saves through :class:`~inventory.service.InventoryService` acting as
  ``web:<username>`` with the user's principal, then answers 303 to the object's page with
  ``?saved=1`` (the page shows "Đã lưu");
- a problem re-renders the same form (422) with the posted values and each message beside its
  field (or above the form), after rolling the transaction back: nothing is written, not even
  the steps of the form that had succeeded.

The CSRF token of every cookie-authenticated POST is checked before any handler runs
(:func:`ops_cli.web.authenticate`). Objects outside the user's subtrees are 404 (the service's
rule); visible objects the user may not change are 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from inventory.ansible import PLATFORM_CONNECTIONS
from inventory.api_deps import SessionDep
from inventory.enums import (
    ContactRole,
    CredentialKind,
    DeviceStatus,
    LinkStatus,
    ServiceKind,
    SoftwareCategory,
    SoftwareStatus,
)
from inventory.errors import NotFound, OpsError, ValidationFailed
from inventory.models import (
    CredentialProfile,
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
from inventory.service import SNMP_KINDS, InventoryService, clean_text
from ops_cli.i18n import enum_label, enum_options, translator
from ops_cli.pages import PagePrincipal, _breadcrumb, lang_of, render, templates

router = APIRouter(include_in_schema=False)

# Messages of the form checks made here (the service words its own).
REQUIRED = "không được để trống / must not be blank"
NOT_INT = "phải là số nguyên / must be a whole number"
NOT_DATE = "ngày không hợp lệ (dd/mm/yyyy) / not a date (dd/mm/yyyy)"
NOT_CHOICE = "không phải một lựa chọn trong danh sách / not one of the choices"
NO_CLEAR = (
    "chưa xoá trống được ô này trên web: nhập giá trị mới hoặc giữ giá trị cũ / "
    "this value cannot be emptied here yet: enter a new value or keep the old one"
)

# Link kinds are free text; the usual ones get a readable name.
LINK_KINDS: dict[str, tuple[str, str]] = {
    "ftth": ("Cáp quang FTTH", "FTTH fibre"),
    "leased_line": ("Kênh thuê riêng", "Leased line"),
    "adsl": ("ADSL", "ADSL"),
    "4g": ("Di động 4G", "4G mobile"),
    "5g": ("Di động 5G", "5G mobile"),
}


def fmt_vnd(value: int | None) -> str:
    """``5480000`` → ``'5.480.000 VND'`` (Vietnamese thousands separator)."""
    return "" if value is None else f"{value:,} VND".replace(",", ".")


def link_kind_label(value: str | None, lang: str = "vi") -> str:
    pair = LINK_KINDS.get((value or "").lower())
    return (value or "") if pair is None else pair[1 if lang == "en" else 0]


def may_write(identity: Any, unit_path: str) -> bool:
    """May the signed-in user change things on the unit at ``unit_path`` (shows "Sửa")?"""
    if identity is None or getattr(identity, "must_change_password", False):
        return False
    principal: Principal = identity.principal
    return principal.can(Role.it_staff, unit_path)


templates.env.filters["vnd"] = fmt_vnd
templates.env.filters["link_kind"] = link_kind_label
templates.env.globals["may_write"] = may_write


# -- form machinery --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """One form field. ``label``/``hint`` are MESSAGES keys; ``kind`` is an <input> type, or
    ``select``, ``checkbox``, ``readonly`` (shown, not posted). ``locked``: posted but not
    changeable (the key of a row being edited)."""

    name: str
    label: str
    kind: str = "text"
    options: Sequence[tuple[str, str]] = ()
    required: bool = False
    hint: str | None = None
    datalist: Sequence[tuple[str, str]] = ()
    locked: bool = False
    attrs: Mapping[str, str] = field(default_factory=dict)


Groups = list[tuple[str, list[Field]]]


class Problems:
    """What is wrong with one posted form: messages per field, the rest for the top."""

    ALIASES = {"site_code": "site", "unit_code": "unit"}

    def __init__(self, fields: Iterable[str] = ()) -> None:
        self.known = set(fields)
        self.fields: dict[str, list[str]] = {}
        self.top: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.fields or self.top)

    def add(self, name: str | None, message: str) -> None:
        if name is not None and name in self.known:
            self.fields.setdefault(name, []).append(message)
        else:
            self.top.append(message)

    def error(self, err: OpsError, name: str | None = None) -> None:
        """A service error: each Problem beside its column's field, anything else at ``name``."""
        if isinstance(err, ValidationFailed) and err.problems:
            for p in err.problems:
                column = self.ALIASES.get(p.column or "", p.column)
                self.add(column if column in self.known else name, f"{p.why_vi} / {p.why_en}")
            return
        self.add(name, err.message + (f" — {err.hint}" if err.hint else ""))

    def run(self, name: str | None, step: Callable[[], object]) -> None:
        """One service call; its OpsError becomes a message. The form's other steps still run,
        so every problem shows at once; the caller rolls everything back if there is any."""
        try:
            step()
        except OpsError as err:
            self.error(err, name)


def fields_of(groups: Groups) -> list[str]:
    return [f.name for _title, fs in groups for f in fs]


class _Bad:
    """A posted value that did not parse (its message is already in the Problems)."""


BAD = _Bad()


def _int(form: Mapping[str, str], name: str, problems: Problems, low: int | None = None) -> Any:
    """An integer field: ``None`` when blank, ``BAD`` when it is not one (or below ``low``)."""
    raw = form.get(name, "")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        problems.add(name, NOT_INT)
        return BAD
    if (low is not None and value < low) or value > 2_147_483_647:
        problems.add(name, f"phải từ {low or 0} đến 2147483647 / must be {low or 0} to 2147483647")
        return BAD
    return value


def _dmy(value: date | None) -> str:
    """A date as a form shows it (dd/mm/yyyy, whatever the browser's own locale)."""
    return value.strftime("%d/%m/%Y") if value else ""


def _date(form: Mapping[str, str], name: str, problems: Problems) -> Any:
    """A date typed as dd/mm/yyyy (or yyyy-mm-dd, as scripts and date pickers send it)."""
    raw = form.get(name, "")
    if not raw:
        return None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
    problems.add(name, NOT_DATE)
    return BAD


def _choice(form: Mapping[str, str], name: str, enum: type[StrEnum], problems: Problems) -> Any:
    try:
        return enum(form.get(name, ""))
    except ValueError:
        problems.add(name, NOT_CHOICE)
        return BAD


def _no_clear(
    form: Mapping[str, str], before: Mapping[str, str], names: Iterable[str], problems: Problems
) -> None:
    """The service keeps a value given as empty: say so instead of pretending to clear it."""
    for name in names:
        if before.get(name) and not form.get(name):
            problems.add(name, NO_CLEAR)


def _text(form: Mapping[str, str], name: str) -> str | None:
    return form.get(name) or None


async def _posted(request: Request) -> dict[str, str]:
    """The posted text fields, stripped (``authenticate`` parsed the form already)."""
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


Posted = Annotated[dict[str, str], Depends(_posted)]


def _svc(request: Request, session: Session, principal: Principal) -> InventoryService:
    actor = f"web:{request.state.identity.username}"
    return InventoryService(session, actor=actor, principal=principal)


def _form_page(
    request: Request,
    *,
    title: str,
    action: str,
    groups: Groups,
    values: Mapping[str, Any],
    back: str,
    crumbs: Sequence[Unit] = (),
    problems: Problems | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "edit_form.html",
        status=status,
        title=title,
        action=action,
        groups=groups,
        values=values,
        problems=problems or Problems(),
        back=back,
        crumbs=list(crumbs),
    )


def _saved(url: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{url}?saved=1{anchor}", status_code=303)


def _merge(before: Mapping[str, str], form: Mapping[str, str], checkboxes: Iterable[str]) -> dict:
    """The values to show again after a failed POST: what was posted, over what is stored (an
    unticked box is not posted at all)."""
    out = {**before, **form}
    for name in checkboxes:
        out[name] = form.get(name, "")
    return out


def _t(request: Request) -> Callable[[str], str]:
    return translator(lang_of(request))


def _unit_w(svc: InventoryService, principal: Principal, code: str) -> Unit:
    unit = svc.unit(code)
    principal.require(Role.it_staff, unit.path)
    return unit


# -- unit ------------------------------------------------------------------------------------------
def _unit_groups() -> Groups:
    return [
        (
            "unit",
            [
                Field("code", "code", kind="readonly"),
                Field("kind", "kind", kind="readonly"),
                Field("name", "name", required=True, attrs={"maxlength": "255", "size": "60"}),
            ],
        )
    ]


def _unit_form(
    request: Request,
    session: Session,
    principal: Principal,
    unit: Unit,
    values: Mapping[str, Any],
    problems: Problems | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _form_page(
        request,
        title=f"{_t(request)('edit_unit')}: {unit.name}",
        action=f"/units/{quote(unit.code)}/edit",
        groups=_unit_groups(),
        values={**values, "code": unit.code, "kind": enum_label(unit.kind, lang_of(request))},
        back=f"/units/{quote(unit.code)}",
        crumbs=_breadcrumb(session, principal, unit),
        problems=problems,
        status=status,
    )


@router.get("/units/{code}/edit")
def unit_edit_form(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep
) -> HTMLResponse:
    unit = _unit_w(_svc(request, session, principal), principal, code)
    return _unit_form(request, session, principal, unit, {"name": unit.name})


@router.post("/units/{code}/edit")
def unit_edit_save(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep, form: Posted
) -> Response:
    svc = _svc(request, session, principal)
    unit = _unit_w(svc, principal, code)
    unit_code = unit.code
    problems = Problems(fields_of(_unit_groups()))
    problems.run("name", lambda: svc.update_unit(unit_code, name=form.get("name", "")))
    if problems:
        session.rollback()
        unit = svc.unit(unit_code)
        return _unit_form(request, session, principal, unit, form, problems, 422)
    return _saved(f"/units/{quote(unit_code)}")


# -- officer ---------------------------------------------------------------------------------------
def _officer_groups(create: bool) -> Groups:
    code = (
        Field("code", "code", required=True, hint="code_hint", attrs={"maxlength": "64"})
        if create
        else Field("code", "code", kind="readonly")
    )
    fields = [
        code,
        Field("full_name", "full_name", required=True, attrs={"maxlength": "255", "size": "40"}),
        Field("position", "position", attrs={"maxlength": "255", "size": "40"}),
        Field("full_time", "full_time", kind="checkbox"),
        Field("email", "email", kind="email", attrs={"maxlength": "255", "size": "40"}),
        Field("phone", "phone", kind="tel", attrs={"maxlength": "64"}),
    ]
    if not create:
        fields.append(Field("unit", "unit_code", required=True, hint="move_hint"))
    return [("officer", fields)]


def _officer_values(off: Officer) -> dict[str, str]:
    return {
        "code": off.code,
        "full_name": off.full_name,
        "position": off.position or "",
        "full_time": "on" if off.full_time else "",
        "email": off.email or "",
        "phone": off.phone or "",
        "unit": off.unit.code,
    }


def _officer_form(
    request: Request,
    session: Session,
    principal: Principal,
    off: Officer,
    values: Mapping[str, Any],
    problems: Problems | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _form_page(
        request,
        title=f"{_t(request)('edit_officer')}: {off.full_name}",
        action=f"/officers/{quote(off.code)}/edit",
        groups=_officer_groups(create=False),
        values=values,
        back=f"/officers/{quote(off.code)}",
        crumbs=_breadcrumb(session, principal, off.unit),
        problems=problems,
        status=status,
    )


def _officer_w(svc: InventoryService, principal: Principal, code: str) -> Officer:
    off = svc.officer(code)
    principal.require(Role.it_staff, off.unit.path)
    return off


@router.get("/officers/{code}/edit")
def officer_edit_form(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep
) -> HTMLResponse:
    off = _officer_w(_svc(request, session, principal), principal, code)
    return _officer_form(request, session, principal, off, _officer_values(off))


@router.post("/officers/{code}/edit")
def officer_edit_save(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep, form: Posted
) -> Response:
    svc = _svc(request, session, principal)
    off = _officer_w(svc, principal, code)
    before = _officer_values(off)
    problems = Problems(fields_of(_officer_groups(create=False)))
    _no_clear(form, before, ("position", "email", "phone"), problems)
    target = form.get("unit", "")
    moved = target.upper() != before["unit"].upper()
    if not target:
        problems.add("unit", REQUIRED)
    elif moved:
        problems.run("unit", lambda: _unit_w(svc, principal, target))
    changes: dict[str, Any] = {
        "full_name": form.get("full_name", ""),
        "position": _text(form, "position"),
        "full_time": "full_time" in form,
        "email": _text(form, "email"),
        "phone": _text(form, "phone"),
        "unit_code": target if moved and "unit" not in problems.fields else None,
    }
    problems.run(None, lambda: svc.update_officer(before["code"], **changes))
    if problems:
        session.rollback()
        off = svc.officer(before["code"])
        values = _merge(before, form, ["full_time"])
        return _officer_form(request, session, principal, off, values, problems, 422)
    return _saved(f"/officers/{quote(before['code'])}")


def _new_officer_page(
    request: Request,
    session: Session,
    principal: Principal,
    unit: Unit,
    values: Mapping[str, Any],
    problems: Problems | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _form_page(
        request,
        title=f"{_t(request)('new_officer')}: {unit.name}",
        action=f"/units/{quote(unit.code)}/officers/new",
        groups=_officer_groups(create=True),
        values=values,
        back=f"/units/{quote(unit.code)}#officers",
        crumbs=_breadcrumb(session, principal, unit),
        problems=problems,
        status=status,
    )


@router.get("/units/{code}/officers/new")
def officer_new_form(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep
) -> HTMLResponse:
    unit = _unit_w(_svc(request, session, principal), principal, code)
    return _new_officer_page(request, session, principal, unit, {"full_time": "on"})


@router.post("/units/{code}/officers/new")
def officer_new_save(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep, form: Posted
) -> Response:
    svc = _svc(request, session, principal)
    unit = _unit_w(svc, principal, code)
    unit_code = unit.code
    problems = Problems(fields_of(_officer_groups(create=True)))
    made: list[Officer] = []
    problems.run(
        None,
        lambda: made.append(
            svc.create_officer(
                code=form.get("code", ""),
                full_name=form.get("full_name", ""),
                unit_code=unit_code,
                position=_text(form, "position"),
                full_time="full_time" in form,
                email=_text(form, "email"),
                phone=_text(form, "phone"),
            )
        ),
    )
    if problems or not made:
        session.rollback()
        values = {**form, "full_time": form.get("full_time", "")}
        unit = svc.unit(unit_code)
        return _new_officer_page(request, session, principal, unit, values, problems, 422)
    return _saved(f"/officers/{quote(made[0].code)}")


# -- device ----------------------------------------------------------------------------------------
DEVICE_TEXT = ("hostname", "mgmt_ip")
DEVICE_FIELDS = (
    "kind",
    "status",
    "hostname",
    "vendor",
    "model",
    "serial",
    "mgmt_ip",
    "purchase_date",
    "cost_vnd",
    "warranty_end",
    "platform",
    "snmp_profile",
    "ssh_profile",
    "snmp_port",
    "monitored",
    "site",
    "officer",
)


def _profile_names(session: Session) -> dict[str, CredentialKind]:
    """Profile names and kinds only: page code never loads a sealed secret."""
    rows = session.execute(
        select(CredentialProfile.name, CredentialProfile.kind).order_by(CredentialProfile.name)
    ).all()
    return {name: kind for name, kind in rows}


def _sites_for(session: Session, principal: Principal, dev: Device) -> list[Site]:
    """Sites of the device's branch (its unit's ancestors and subtree) the user may see."""
    rows = session.scalars(
        select(Site)
        .join(Unit, Unit.id == Site.unit_id)
        .where(
            or_(Site.unit_id.in_(dev.unit.ancestor_ids()), subtree_filter(Unit.path, dev.unit.path))
        )
        .order_by(Site.code)
        .limit(300)
    ).all()
    return [s for s in rows if principal.can(Role.viewer, s.unit.path)]


def _officer_choices(session: Session, dev: Device) -> list[tuple[str, str]]:
    rows = session.scalars(
        select(Officer)
        .where(Officer.unit_id == dev.unit_id, Officer.active.is_(True))
        .order_by(Officer.code)
        .limit(300)
    ).all()
    return [(o.code, o.full_name) for o in rows]


def _reach_fields(session: Session, principal: Principal, dev: Device, none: str) -> list[Field]:
    profiles = _profile_names(session)
    snmp = [(n, n) for n, k in profiles.items() if k in SNMP_KINDS]
    ssh = [(n, n) for n, k in profiles.items() if k is CredentialKind.ssh]
    platforms = sorted(PLATFORM_CONNECTIONS)
    if dev.platform and dev.platform not in PLATFORM_CONNECTIONS:
        platforms.insert(0, dev.platform)  # a legacy value stays selectable as it is
    sites = [(s.code, f"{s.name} ({s.code})") for s in _sites_for(session, principal, dev)]
    return [
        Field(
            "platform",
            "platform",
            kind="select",
            options=[("", none)] + [(p, p) for p in platforms],
        ),
        Field("snmp_profile", "snmp_profile", kind="select", options=[("", none), *snmp]),
        Field("ssh_profile", "ssh_profile", kind="select", options=[("", none), *ssh]),
        Field(
            "snmp_port",
            "snmp_port",
            kind="number",
            hint="snmp_port_hint",
            attrs={"min": "1", "max": "65535"},
        ),
        Field("monitored", "monitored", kind="checkbox"),
        Field("site", "site", kind="select", options=[("", none), *sites]),
    ]


def _device_groups(
    session: Session, principal: Principal, dev: Device, lang: str, none: str
) -> Groups:
    general = [
        Field("status", "status", kind="select", options=enum_options("DeviceStatus", lang)),
        Field("hostname", "hostname", attrs={"maxlength": "255", "size": "40"}),
        Field("mgmt_ip", "mgmt_ip", attrs={"maxlength": "64", "placeholder": "10.1.2.3"}),
        Field("warranty_end", "warranty_end", kind="date"),
    ]
    # InventoryService offers no change of these after registration: shown, not posted.
    asset = [
        Field(name, name, kind="readonly")
        for name in ("kind", "vendor", "model", "serial", "purchase_date", "cost_vnd")
    ]
    holder = Field(
        "officer",
        "holder_code",
        hint="custody_hint",
        attrs={"maxlength": "64"},
        datalist=_officer_choices(session, dev),
    )
    return [
        ("general", general),
        ("reach", _reach_fields(session, principal, dev, none)),
        ("holder", [holder]),
        ("asset", asset),
    ]


def _device_values(session: Session, dev: Device, lang: str) -> dict[str, str]:
    names = dict(
        session.execute(
            select(CredentialProfile.id, CredentialProfile.name).where(
                CredentialProfile.id.in_([dev.snmp_profile_id or 0, dev.ssh_profile_id or 0])
            )
        ).all()
    )
    return {
        "kind": enum_label(dev.kind, lang),
        "status": dev.status.value,
        "hostname": dev.hostname or "",
        "vendor": dev.vendor or "",
        "model": dev.model or "",
        "serial": dev.serial or "",
        "mgmt_ip": dev.mgmt_ip or "",
        "purchase_date": _dmy(dev.purchase_date),
        "cost_vnd": fmt_vnd(dev.cost_vnd),
        "warranty_end": _dmy(dev.warranty_end),
        "platform": dev.platform or "",
        "snmp_profile": names.get(dev.snmp_profile_id, "") if dev.snmp_profile_id else "",
        "ssh_profile": names.get(dev.ssh_profile_id, "") if dev.ssh_profile_id else "",
        "snmp_port": str(dev.snmp_port) if dev.snmp_port is not None else "",
        "monitored": "on" if dev.monitored else "",
        "site": dev.site.code if dev.site is not None else "",
        "officer": dev.assigned_officer.code if dev.assigned_officer else "",
    }


def _device_form(
    request: Request,
    session: Session,
    principal: Principal,
    dev: Device,
    values: Mapping[str, Any],
    problems: Problems | None = None,
    status: int = 200,
) -> HTMLResponse:
    t, lang = _t(request), lang_of(request)
    return _form_page(
        request,
        title=f"{t('edit_device')} {dev.asset_tag}",
        action=f"/devices/{quote(dev.asset_tag)}/edit",
        groups=_device_groups(session, principal, dev, lang, t("none_choice")),
        values=values,
        back=f"/devices/{quote(dev.asset_tag)}",
        crumbs=_breadcrumb(session, principal, dev.unit),
        problems=problems,
        status=status,
    )


def _device_w(svc: InventoryService, principal: Principal, asset_tag: str) -> Device:
    dev = svc.device(asset_tag)
    principal.require(Role.it_staff, dev.unit.path)
    return dev


@router.get("/devices/{asset_tag}/edit")
def device_edit_form(
    request: Request, asset_tag: str, principal: PagePrincipal, session: SessionDep
) -> HTMLResponse:
    dev = _device_w(_svc(request, session, principal), principal, asset_tag)
    values = _device_values(session, dev, lang_of(request))
    return _device_form(request, session, principal, dev, values)


def _custody(
    svc: InventoryService, tag: str, form: Mapping[str, str], before: Mapping, problems: Problems
) -> None:
    """A new holder code hands the device over today; an emptied one takes it back."""
    holder = form.get("officer", "")
    if holder.upper() == before["officer"].upper():
        return
    if holder:
        problems.run("officer", lambda: svc.assign_device(tag, officer_code=holder))
    else:
        problems.run("officer", lambda: svc.return_device(tag))


def _connection(
    svc: InventoryService, form: Mapping[str, str], problems: Problems
) -> dict[str, Any]:
    """The ``set_device`` arguments that parsed (an empty select clears the value)."""
    known = _profile_names(svc.session)
    settings: dict[str, Any] = {
        "platform": _text(form, "platform"),
        "monitored": "monitored" in form,
        "site_code": _text(form, "site"),
    }
    for name in ("snmp_profile", "ssh_profile"):
        value = form.get(name, "")
        if value and value not in known:
            problems.add(
                name, f"không có hồ sơ xác thực {value!r} / no credential profile {value!r}"
            )
        else:
            settings[name] = value or None
    port = _int(form, "snmp_port", problems)
    if port is not BAD:
        settings["snmp_port"] = port
    return settings


def _save_device(
    svc: InventoryService, dev: Device, form: Mapping[str, str], before: Mapping, problems: Problems
) -> None:
    tag = dev.asset_tag
    status = _choice(form, "status", DeviceStatus, problems)
    warranty = _date(form, "warranty_end", problems)
    _no_clear(form, before, (*DEVICE_TEXT, "warranty_end"), problems)
    _custody(svc, tag, form, before, problems)
    basic: dict[str, Any] = {
        "status": None if status is BAD else status,
        "hostname": _text(form, "hostname"),
        "mgmt_ip": _text(form, "mgmt_ip"),
        "warranty_end": None if warranty is BAD else warranty,
    }
    problems.run(None, lambda: svc.update_device(tag, **basic))
    settings = _connection(svc, form, problems)
    problems.run(None, lambda: svc.set_device(tag, **settings))


@router.post("/devices/{asset_tag}/edit")
def device_edit_save(
    request: Request, asset_tag: str, principal: PagePrincipal, session: SessionDep, form: Posted
) -> Response:
    svc = _svc(request, session, principal)
    lang = lang_of(request)
    dev = _device_w(svc, principal, asset_tag)
    tag = dev.asset_tag
    before = _device_values(session, dev, lang)
    problems = Problems(DEVICE_FIELDS)
    _save_device(svc, dev, form, before, problems)
    if problems:
        session.rollback()
        dev = svc.device(tag)
        values = _merge(before, form, ["monitored"])
        return _device_form(request, session, principal, dev, values, problems, 422)
    return _saved(f"/devices/{quote(tag)}")


# -- internet links and software of a unit --------------------------------------------------------
def _link_groups(lang: str, existing: bool) -> Groups:
    kinds = [(k, pair[1 if lang == "en" else 0]) for k, pair in LINK_KINDS.items()]
    return [
        (
            "link",
            [
                Field("isp", "isp", required=True, locked=existing, attrs={"maxlength": "128"}),
                Field(
                    "kind",
                    "link_kind",
                    required=True,
                    locked=existing,
                    datalist=() if existing else kinds,
                    hint=None if existing else "link_kind_hint",
                    attrs={"maxlength": "64"},
                ),
                Field(
                    "bandwidth_mbps",
                    "bandwidth",
                    kind="number",
                    required=True,
                    attrs={"min": "1", "max": "1000000"},
                ),
                Field("status", "status", kind="select", options=enum_options("LinkStatus", lang)),
            ],
        )
    ]


def _find_link(session: Session, unit: Unit, isp: str, kind: str) -> InternetLink | None:
    if not isp or not kind:
        return None
    return session.scalar(
        select(InternetLink).where(
            InternetLink.unit_id == unit.id, InternetLink.isp == isp, InternetLink.kind == kind
        )
    )


def _link_page(
    request: Request,
    session: Session,
    principal: Principal,
    unit: Unit,
    values: Mapping[str, Any],
    problems: Problems | None = None,
    status: int = 200,
) -> HTMLResponse:
    existing = _find_link(session, unit, values.get("isp", ""), values.get("kind", ""))
    title = _t(request)("edit_link" if existing else "add_link")
    return _form_page(
        request,
        title=f"{title}: {unit.name}",
        action=f"/units/{quote(unit.code)}/links/edit",
        groups=_link_groups(lang_of(request), existing is not None),
        values=values,
        back=f"/units/{quote(unit.code)}#links",
        crumbs=_breadcrumb(session, principal, unit),
        problems=problems,
        status=status,
    )


@router.get("/units/{code}/links/edit")
def link_form(
    request: Request,
    code: str,
    principal: PagePrincipal,
    session: SessionDep,
    isp: str = "",
    kind: str = "",
) -> HTMLResponse:
    unit = _unit_w(_svc(request, session, principal), principal, code)
    link = _find_link(session, unit, isp[:128], kind[:64])
    values = {"status": LinkStatus.active.value}
    if link is not None:
        values = {
            "isp": link.isp,
            "kind": link.kind,
            "bandwidth_mbps": str(link.bandwidth_mbps),
            "status": link.status.value,
        }
    return _link_page(request, session, principal, unit, values)


def _clean(form: Mapping[str, str], name: str, entity: str, size: int, p: Problems) -> str:
    """Free text the service stores as given: checked here like the service checks its text."""
    try:
        return clean_text(form.get(name, ""), entity=entity, field=name, max_length=size)
    except ValidationFailed as err:
        p.error(err, name)
        return ""


@router.post("/units/{code}/links/edit")
def link_save(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep, form: Posted
) -> Response:
    svc = _svc(request, session, principal)
    unit = _unit_w(svc, principal, code)
    unit_code = unit.code
    problems = Problems(fields_of(_link_groups("vi", False)))
    isp = _clean(form, "isp", "internet_link", 128, problems)
    kind = _clean(form, "kind", "internet_link", 64, problems)
    speed = _int(form, "bandwidth_mbps", problems, low=1)
    if speed is None:
        problems.add("bandwidth_mbps", REQUIRED)
    status = _choice(form, "status", LinkStatus, problems)
    if not problems:
        problems.run(
            None,
            lambda: svc.upsert_link(
                unit_code=unit_code, isp=isp, kind=kind, bandwidth_mbps=speed, status=status
            ),
        )
    if problems:
        session.rollback()
        unit = svc.unit(unit_code)
        return _link_page(request, session, principal, unit, form, problems, 422)
    return _saved(f"/units/{quote(unit_code)}", "#links")


def _software_groups(lang: str, existing: bool) -> Groups:
    return [
        (
            "software",
            [
                Field(
                    "product",
                    "product",
                    required=True,
                    locked=existing,
                    attrs={"maxlength": "255", "size": "60"},
                ),
                Field(
                    "category",
                    "category",
                    kind="select",
                    options=enum_options("SoftwareCategory", lang),
                ),
                Field("seats", "seats", kind="number", attrs={"min": "0"}),
                Field(
                    "status", "status", kind="select", options=enum_options("SoftwareStatus", lang)
                ),
                Field("licence_expires", "licence_expires", kind="date"),
            ],
        )
    ]


def _find_software(session: Session, unit: Unit, product: str) -> Software | None:
    if not product:
        return None
    return session.scalar(
        select(Software).where(Software.unit_id == unit.id, Software.product == product)
    )


def _software_values(sw: Software) -> dict[str, str]:
    return {
        "product": sw.product,
        "category": sw.category.value,
        "seats": "" if sw.seats is None else str(sw.seats),
        "status": sw.status.value,
        "licence_expires": _dmy(sw.licence_expires),
    }


def _software_page(
    request: Request,
    session: Session,
    principal: Principal,
    unit: Unit,
    values: Mapping[str, Any],
    problems: Problems | None = None,
    status: int = 200,
) -> HTMLResponse:
    existing = _find_software(session, unit, values.get("product", ""))
    title = _t(request)("edit_software" if existing else "add_software")
    return _form_page(
        request,
        title=f"{title}: {unit.name}",
        action=f"/units/{quote(unit.code)}/software/edit",
        groups=_software_groups(lang_of(request), existing is not None),
        values=values,
        back=f"/units/{quote(unit.code)}#software",
        crumbs=_breadcrumb(session, principal, unit),
        problems=problems,
        status=status,
    )


@router.get("/units/{code}/software/edit")
def software_form(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep, product: str = ""
) -> HTMLResponse:
    unit = _unit_w(_svc(request, session, principal), principal, code)
    sw = _find_software(session, unit, product[:255])
    values = (
        _software_values(sw)
        if sw is not None
        else {"status": SoftwareStatus.active.value, "category": SoftwareCategory.other.value}
    )
    return _software_page(request, session, principal, unit, values)


def _save_software(
    svc: InventoryService, unit: Unit, form: Mapping[str, str], problems: Problems
) -> None:
    product = _clean(form, "product", "software", 255, problems)
    existing = _find_software(svc.session, unit, product)
    if existing is not None:
        _no_clear(form, _software_values(existing), ("seats", "licence_expires"), problems)
    args = {
        "category": _choice(form, "category", SoftwareCategory, problems),
        "seats": _int(form, "seats", problems, low=0),
        "status": _choice(form, "status", SoftwareStatus, problems),
        "licence_expires": _date(form, "licence_expires", problems),
    }
    if not problems:
        unit_code = unit.code
        problems.run(
            None, lambda: svc.upsert_software(unit_code=unit_code, product=product, **args)
        )


@router.post("/units/{code}/software/edit")
def software_save(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep, form: Posted
) -> Response:
    svc = _svc(request, session, principal)
    unit = _unit_w(svc, principal, code)
    unit_code = unit.code
    problems = Problems(fields_of(_software_groups("vi", False)))
    _save_software(svc, unit, form, problems)
    if problems:
        session.rollback()
        unit = svc.unit(unit_code)
        return _software_page(request, session, principal, unit, form, problems, 422)
    return _saved(f"/units/{quote(unit_code)}", "#software")


# -- contacts of a unit ----------------------------------------------------------------------------
def _contact_groups(lang: str) -> Groups:
    return [
        (
            "contact",
            [
                Field("role", "role", kind="select", options=enum_options("ContactRole", lang)),
                Field("officer_code", "officer_code", required=True, attrs={"maxlength": "64"}),
            ],
        )
    ]


def _contact_page(
    request: Request,
    session: Session,
    principal: Principal,
    unit: Unit,
    values: Mapping[str, Any],
    problems: Problems | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _form_page(
        request,
        title=f"{_t(request)('add_contact')}: {unit.name}",
        action=f"/units/{quote(unit.code)}/contacts",
        groups=_contact_groups(lang_of(request)),
        values=values,
        back=f"/units/{quote(unit.code)}#contacts",
        crumbs=_breadcrumb(session, principal, unit),
        problems=problems,
        status=status,
    )


@router.get("/units/{code}/contacts/new")
def contact_form(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep
) -> HTMLResponse:
    unit = _unit_w(_svc(request, session, principal), principal, code)
    return _contact_page(request, session, principal, unit, {"role": ContactRole.it.value})


@router.post("/units/{code}/contacts")
def contact_add(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep, form: Posted
) -> Response:
    svc = _svc(request, session, principal)
    unit_code = _unit_w(svc, principal, code).code
    problems = Problems(fields_of(_contact_groups("vi")))
    role = _choice(form, "role", ContactRole, problems)
    officer = form.get("officer_code", "")
    if not officer:
        problems.add("officer_code", REQUIRED)
    if not problems:
        problems.run(
            "officer_code",
            lambda: svc.add_contact(unit_code=unit_code, officer_code=officer, role=role),
        )
    if problems:
        session.rollback()
        unit = svc.unit(unit_code)
        return _contact_page(request, session, principal, unit, form, problems, 422)
    return _saved(f"/units/{quote(unit_code)}", "#contacts")


@router.post("/units/{code}/contacts/remove")
def contact_remove(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep, form: Posted
) -> RedirectResponse:
    """Remove one contact (a button on the unit page); an error is the HTML error page."""
    svc = _svc(request, session, principal)
    unit_code = _unit_w(svc, principal, code).code
    role = _choice(form, "role", ContactRole, Problems())
    if role is BAD:
        raise OpsError(f"{NOT_CHOICE}: {form.get('role', '')!r}")
    svc.remove_contact(unit_code=unit_code, role=role, officer_code=form.get("officer_code", ""))
    return _saved(f"/units/{quote(unit_code)}", "#contacts")


# -- monitored services of a unit ------------------------------------------------------------------
def _service_groups(lang: str, existing: bool) -> Groups:
    name = (
        Field("name", "name", kind="readonly")
        if existing
        else Field(
            "name",
            "name",
            required=True,
            hint="service_name_hint",
            attrs={"maxlength": "128", "size": "40"},
        )
    )
    return [
        (
            "service",
            [
                name,
                Field("kind", "kind", kind="select", options=enum_options("ServiceKind", lang)),
                Field(
                    "target",
                    "service_target",
                    required=True,
                    hint="service_target_hint",
                    attrs={"maxlength": "500", "size": "60"},
                ),
                Field("port", "port", kind="number", attrs={"min": "1", "max": "65535"}),
                Field("expect", "expect", hint="expect_hint", attrs={"maxlength": "255"}),
                Field("enabled", "enabled", kind="checkbox"),
            ],
        )
    ]


def _service_of(svc: InventoryService, unit: Unit, name: str) -> Service:
    """The service ``name`` of this very unit (a service of another unit is not found here)."""
    row = svc.service(name)
    if row.unit_id != unit.id:
        raise NotFound(f"Không có dịch vụ {name!r} / no monitored service {name!r}")
    return row


def _service_values(row: Service) -> dict[str, str]:
    params = row.params or {}
    expect = params.get("expect_status", params.get("expect"))
    return {
        "name": row.name,
        "kind": row.kind.value,
        "target": row.target,
        "port": "" if params.get("port") is None else str(params["port"]),
        "expect": "" if expect is None else str(expect),
        "enabled": "on" if row.enabled else "",
    }


def _service_page(
    request: Request,
    session: Session,
    principal: Principal,
    unit: Unit,
    values: Mapping[str, Any],
    edit: str | None,
    problems: Problems | None = None,
    status: int = 200,
) -> HTMLResponse:
    t = _t(request)
    base = f"/units/{quote(unit.code)}/services"
    return _form_page(
        request,
        title=f"{t('edit_service' if edit else 'add_service')}: {unit.name}",
        action=f"{base}/edit?{urlencode({'name': edit})}" if edit else f"{base}/new",
        groups=_service_groups(lang_of(request), edit is not None),
        values=values,
        back=f"/units/{quote(unit.code)}#services",
        crumbs=_breadcrumb(session, principal, unit),
        problems=problems,
        status=status,
    )


@router.get("/units/{code}/services/new")
def service_new_form(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep
) -> HTMLResponse:
    unit = _unit_w(_svc(request, session, principal), principal, code)
    values = {"kind": ServiceKind.http.value, "enabled": "on"}
    return _service_page(request, session, principal, unit, values, None)


def _service_args(form: Mapping[str, str], problems: Problems) -> dict[str, Any]:
    args = {
        "kind": _choice(form, "kind", ServiceKind, problems),
        "target": form.get("target", ""),
        "port": _int(form, "port", problems),
        "expect": form.get("expect") or None,
        "enabled": "enabled" in form,
    }
    if not args["target"]:
        problems.add("target", REQUIRED)
    return args


@router.post("/units/{code}/services/new")
def service_new_save(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep, form: Posted
) -> Response:
    svc = _svc(request, session, principal)
    unit_code = _unit_w(svc, principal, code).code
    problems = Problems(fields_of(_service_groups("vi", False)))
    args = _service_args(form, problems)
    name = form.get("name", "")
    if not name:
        problems.add("name", REQUIRED)
    if not problems:
        problems.run(None, lambda: svc.add_service(unit_code=unit_code, name=name, **args))
    if problems:
        session.rollback()
        unit = svc.unit(unit_code)
        values = {**form, "enabled": form.get("enabled", "")}
        return _service_page(request, session, principal, unit, values, None, problems, 422)
    return _saved(f"/units/{quote(unit_code)}", "#services")


@router.get("/units/{code}/services/edit")
def service_edit_form(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep, name: str = ""
) -> HTMLResponse:
    svc = _svc(request, session, principal)
    unit = _unit_w(svc, principal, code)
    row = _service_of(svc, unit, name[:128])
    return _service_page(request, session, principal, unit, _service_values(row), row.name)


@router.post("/units/{code}/services/edit")
def service_edit_save(
    request: Request,
    code: str,
    principal: PagePrincipal,
    session: SessionDep,
    form: Posted,
    name: str = "",
) -> Response:
    svc = _svc(request, session, principal)
    unit = _unit_w(svc, principal, code)
    unit_code = unit.code
    row = _service_of(svc, unit, name[:128])
    before, service_name = _service_values(row), row.name
    problems = Problems(fields_of(_service_groups("vi", True)))
    args = _service_args(form, problems)
    if not problems:
        problems.run(None, lambda: svc.update_service(service_name, **args))
    if problems:
        session.rollback()
        unit = svc.unit(unit_code)
        values = {**_merge(before, form, ["enabled"]), "name": service_name}
        return _service_page(request, session, principal, unit, values, service_name, problems, 422)
    return _saved(f"/units/{quote(unit_code)}", "#services")


@router.post("/units/{code}/services/remove")
def service_remove(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep, form: Posted
) -> RedirectResponse:
    svc = _svc(request, session, principal)
    unit = _unit_w(svc, principal, code)
    svc.remove_service(_service_of(svc, unit, form.get("name", "")).name)
    return _saved(f"/units/{quote(unit.code)}", "#services")


# -- what the unit and device pages show besides the object itself --------------------------------
def _unit_links(session: Session, unit_id: int) -> list[InternetLink]:
    return list(
        session.scalars(
            select(InternetLink)
            .where(InternetLink.unit_id == unit_id)
            .order_by(InternetLink.isp, InternetLink.kind)
        )
    )


def _unit_software(session: Session, unit_id: int) -> list[Software]:
    return list(
        session.scalars(
            select(Software).where(Software.unit_id == unit_id).order_by(Software.product)
        )
    )


def unit_sections(session: Session, principal: Principal, unit: Unit) -> dict[str, Any]:
    """Links, software, contacts and services of one unit, and whether the user may edit."""
    svc = InventoryService(session, principal=principal)
    return {
        "links": _unit_links(session, unit.id),
        "software": _unit_software(session, unit.id),
        "contacts": svc.unit_contacts(unit.code),
        "services": svc.services(unit.code, subtree=False),
        "can_edit": principal.can(Role.it_staff, unit.path),
    }


def device_sections(session: Session, principal: Principal, dev: Device) -> dict[str, Any]:
    """The device's profile names (never a secret), its unit's links and software, and
    whether the user may edit it."""
    ids = [dev.snmp_profile_id or 0, dev.ssh_profile_id or 0]
    names = dict(
        session.execute(
            select(CredentialProfile.id, CredentialProfile.name).where(
                CredentialProfile.id.in_(ids)
            )
        ).all()
    )
    return {
        "snmp_profile": names.get(dev.snmp_profile_id) if dev.snmp_profile_id else None,
        "ssh_profile": names.get(dev.ssh_profile_id) if dev.ssh_profile_id else None,
        "links": _unit_links(session, dev.unit_id),
        "software": _unit_software(session, dev.unit_id),
        "can_edit": principal.can(Role.it_staff, dev.unit.path),
    }
