"""HTTP API ``/api/monitoring`` (and the ``/api/alerts`` alias the web issue names).

GET  /api/monitoring/status?unit=HN          status of a subtree and its children
GET  /api/monitoring/alerts?unit=HN&all=1    alerts (open by default), paginated
POST /api/monitoring/alerts/{id}/ack         acknowledge (it_staff on the alert's unit)
POST /api/monitoring/silences                silence a unit subtree (it_staff)
GET  /api/monitoring/checks                  latest service check results
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from inventory.api_deps import IdPath, Page, PageDep, PrincipalDep, SessionDep, paginate
from inventory.db import utcnow
from inventory.errors import NotFound
from inventory.models import Device, Service, Unit
from inventory.security import Principal, Role
from monitoring.alerts import acknowledge, add_silence, expire_silence
from monitoring.errors import AlertNotFound
from monitoring.models import Alert, AlertState, CheckState, Silence
from monitoring.schemas import (
    AckIn,
    AlertOut,
    CheckOut,
    DeviceStatusOut,
    SilenceIn,
    SilenceOut,
    StatusOut,
    UnitStatusOut,
)
from monitoring.service import unit_status

router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])
alerts_router = APIRouter(prefix="/api/alerts", tags=["monitoring"])


def _unit(session: Any, code: str | None, principal: Principal) -> Unit:
    """The unit ``code`` (default: the caller's outermost visible unit).

    A unit outside the caller's grants is reported as missing (404), exactly like a code that
    does not exist, so other provinces' codes cannot be probed (as the inventory API does).
    """
    if code is None:
        roots = principal.visible_paths()
        if not roots:
            principal.require(Role.viewer, "/")
        if roots[0] == "/":
            unit = session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
        else:
            unit = session.scalar(select(Unit).where(Unit.path == roots[0]))
    else:
        unit = session.scalar(select(Unit).where(Unit.code == code))
    if unit is None or not principal.can(Role.viewer, unit.path):
        raise NotFound(f"Không có đơn vị mã {code!r} / no unit with code {code!r}")
    return unit


@router.get("/status", response_model=StatusOut)
def get_status(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: str | None = None,
    devices: bool = True,
    device_status: Annotated[
        str | None,
        Query(description="only devices with this status: up, down, error, skipped, never_polled"),
    ] = None,
) -> StatusOut:
    u = _unit(session, unit, principal)
    report = unit_status(session, unit_code=u.code, with_devices=devices)
    rows = [d for d in report.devices if device_status is None or d.status == device_status]
    return StatusOut(
        unit=UnitStatusOut.model_validate(report.unit),
        children=[UnitStatusOut.model_validate(c) for c in report.children],
        devices=[
            DeviceStatusOut.model_validate(d) for d in rows[page.offset : page.offset + page.limit]
        ],
        devices_total=len(rows),
    )


def _alert_out(a: Alert) -> AlertOut:
    return AlertOut(
        id=a.id,
        rule=a.rule,
        severity=a.severity.value,
        state=a.state.value,
        labels=dict(a.labels),
        summary=a.summary,
        description=a.description,
        starts_at=a.starts_at,
        fired_at=a.fired_at,
        ends_at=a.ends_at,
        suppressed_by=a.suppressed_by,
        flapping=a.flapping,
        acknowledged_at=a.acknowledged_at,
        acknowledged_by=a.acknowledged_by,
        escalation_level=a.escalation_level,
    )


def list_alerts(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: str | None = None,
    all_: Annotated[bool, Query(alias="all", description="include resolved alerts")] = False,
    state: AlertState | None = None,
) -> Page[AlertOut]:
    q = (
        select(Alert)
        .join(Unit, Alert.unit_id == Unit.id)
        .where(principal.visible_filter(Unit.path))
    )
    if unit is not None:
        u = _unit(session, unit, principal)
        q = q.where(Unit.path >= u.path, Unit.path < u.path + "~")
    if state is not None:
        q = q.where(Alert.state == state)
    elif not all_:
        q = q.where(Alert.state.in_([AlertState.pending, AlertState.firing]))
    q = q.order_by(Alert.starts_at.desc(), Alert.id.desc())
    return paginate(session, q, page, _alert_out)


def ack_alert(
    session: SessionDep, principal: PrincipalDep, alert_id: IdPath, body: AckIn
) -> AlertOut:
    a = session.get(Alert, alert_id)
    if a is None or not principal.can(Role.viewer, a.unit.path):
        raise AlertNotFound(f"Không có cảnh báo số {alert_id} / no alert {alert_id}")
    principal.require(Role.it_staff, a.unit.path)
    return _alert_out(
        acknowledge(
            session, alert_id=alert_id, actor=principal.name, comment=body.comment, clock=utcnow
        )
    )


for r in (router, alerts_router):
    prefix = "/alerts" if r is router else ""
    r.add_api_route(prefix or "", list_alerts, methods=["GET"], response_model=Page[AlertOut])
    r.add_api_route(
        f"{prefix}/{{alert_id}}/ack", ack_alert, methods=["POST"], response_model=AlertOut
    )


@router.post("/silences", response_model=SilenceOut, status_code=201)
def create_silence(session: SessionDep, principal: PrincipalDep, body: SilenceIn) -> SilenceOut:
    u = _unit(session, body.unit, principal)
    principal.require(Role.it_staff, u.path)
    device_id = None
    if body.device:
        dev = session.scalar(select(Device).where(Device.asset_tag == body.device))
        # Another province's device is missing to this caller, and so is one outside the
        # silenced subtree: such a silence could never match an alert of that device.
        if dev is None or not principal.can(Role.viewer, dev.unit.path):
            raise NotFound(f"Không có thiết bị {body.device!r} / no device {body.device!r}")
        if not dev.unit.path.startswith(u.path):
            raise NotFound(
                f"Đơn vị {u.code} không có thiết bị {body.device!r} / "
                f"no device {body.device!r} in unit {u.code}",
                hint="silence the device's own unit, or leave out the device",
            )
        device_id = dev.id
    now = utcnow()
    s = add_silence(
        session,
        unit=u,
        starts_at=now,
        ends_at=now + timedelta(hours=body.hours),
        actor=principal.name,
        comment=body.comment,
        rule=body.rule,
        device_id=device_id,
    )
    return SilenceOut.model_validate(s)


@router.delete("/silences/{silence_id}", response_model=SilenceOut)
def end_silence(session: SessionDep, principal: PrincipalDep, silence_id: IdPath) -> SilenceOut:
    sil = session.get(Silence, silence_id)
    if sil is None or not principal.can(Role.viewer, sil.unit.path):
        raise NotFound(f"Không có lệnh tắt cảnh báo số {silence_id} / no silence {silence_id}")
    principal.require(Role.it_staff, sil.unit.path)
    return SilenceOut.model_validate(
        expire_silence(session, silence_id=silence_id, actor=principal.name, clock=utcnow)
    )


@router.get("/checks", response_model=Page[CheckOut])
def list_checks(session: SessionDep, principal: PrincipalDep, page: PageDep) -> Page[CheckOut]:
    q = (
        select(Service)
        .join(Unit, Service.unit_id == Unit.id)
        .where(principal.visible_filter(Unit.path))
        .order_by(Service.name)
    )
    states = {c.service_id: c for c in session.scalars(select(CheckState))}

    def convert(svc: Service) -> CheckOut:
        st = states.get(svc.id)
        return CheckOut(
            service_id=svc.id,
            name=svc.name,
            kind=svc.kind.value,
            target=svc.target,
            unit_code=svc.unit.code,
            ok=st.ok if st else None,
            skipped=st.skipped if st else False,
            checked_at=st.checked_at if st else None,
            latency_ms=st.latency_ms if st else None,
            status_code=st.status_code if st else None,
            cert_days_left=st.cert_days_left if st else None,
            detail=st.detail if st else "",
        )

    return paginate(session, q, page, convert)
