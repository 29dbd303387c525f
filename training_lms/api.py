"""``/api/training``: courses, curriculum, classes, enrolments, results, certificates, gaps and
progress (the ``officers_trained`` indicator) for any unit subtree the principal may see.

Reads need ``viewer`` on the unit; changes to classes, enrolments and results need
``training_coordinator`` on the organising unit; courses and the curriculum are national, so
changing them needs ``training_coordinator`` on the root. Lists are filtered to the principal's
visible subtrees::

    GET  /api/training/progress?unit=HN
    GET  /api/training/classes?unit=HN&limit=50
    POST /api/training/classes/HN-2026-01/enrolments   {"officer_code": "HN-001"}
    GET  /api/training/certificates?unit=HN&expiring_days=90
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from fastapi import APIRouter, Query, status
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from inventory.api_deps import Page, PageDep, PageParams, PrincipalDep, SessionDep
from inventory.config import TIMEZONE
from inventory.errors import NotFound, PermissionDenied
from inventory.models import Officer, Unit, subtree_filter
from inventory.security import Principal, Role
from inventory.service import InventoryService
from training_lms.enums import CertificateStatus, EnrolmentStatus
from training_lms.indicators import OfficersTrained
from training_lms.models import Certificate, Course, Enrolment, TrainingClass
from training_lms.planning import gap_lines
from training_lms.schemas import (
    AttendanceIn,
    AttendanceOut,
    CertificateOut,
    ChildProgress,
    ClassDetail,
    ClassIn,
    ClassOut,
    CourseIn,
    CourseOut,
    CurriculumOut,
    EnrolmentIn,
    EnrolmentOut,
    GapOut,
    ProgressOut,
    ResultIn,
    ResultOut,
    RevokeIn,
)
from training_lms.service import TrainingService
from training_lms.status import training_tally

router = APIRouter(prefix="/api/training", tags=["training"])


def _svc(session: Session, principal: Principal) -> TrainingService:
    return TrainingService(session, actor=f"api:{principal.name}", principal=principal)


def _unit(session: Session, principal: Principal, code: str | None) -> Unit:
    """A unit the principal may see; one outside their subtrees is answered as missing."""
    return _svc(session, principal).visible_unit(code)


def _require_any_view(principal: Principal) -> None:
    """Courses are national: anyone who may see some part of the tree may read them."""
    if not principal.visible_paths():
        raise PermissionDenied("Không có quyền xem / no viewing permission")


def _root_path(session: Session) -> str:
    return InventoryService(session).root().path


# -- courses and curriculum --------------------------------------------------------------------
@router.get("/courses", response_model=list[CourseOut])
def list_courses(session: SessionDep, principal: PrincipalDep) -> list[CourseOut]:
    _require_any_view(principal)
    return [CourseOut.model_validate(c) for c in _svc(session, principal).courses()]


@router.post("/courses", response_model=CourseOut, status_code=status.HTTP_201_CREATED)
def create_course(body: CourseIn, session: SessionDep, principal: PrincipalDep) -> CourseOut:
    principal.require(Role.training_coordinator, _root_path(session))
    course = _svc(session, principal).create_course(
        code=body.code,
        title=body.title,
        category=body.category,
        validity_months=body.validity_months,
        pass_mark=body.pass_mark,
        max_score=body.max_score,
        title_en=body.title_en,
        moodle_course_id=body.moodle_course_id,
    )
    return CourseOut.model_validate(course)


@router.get("/curriculum", response_model=list[CurriculumOut])
def curriculum(session: SessionDep, principal: PrincipalDep) -> list[CurriculumOut]:
    _require_any_view(principal)
    return [
        CurriculumOut(course_code=c.code, course_title=c.title, audience=a)
        for c, a in _svc(session, principal).curriculum()
    ]


# -- classes -----------------------------------------------------------------------------------
def _class_out(cls: TrainingClass, counts: dict[tuple[int, str], int]) -> ClassOut:
    return ClassOut(
        code=cls.code,
        course_code=cls.course.code,
        unit_code=cls.unit.code,
        starts_on=cls.starts_on,
        ends_on=cls.ends_on,
        capacity=cls.capacity,
        place=cls.place,
        online_ref=cls.online_ref,
        trainer=cls.trainer,
        status=cls.status,
        enrolled=counts.get((cls.id, EnrolmentStatus.enrolled.value), 0),
        waiting=counts.get((cls.id, EnrolmentStatus.waiting.value), 0),
    )


def _seat_counts(session: Session, class_ids: list[int]) -> dict[tuple[int, str], int]:
    rows = session.execute(
        select(Enrolment.class_id, Enrolment.status, func.count(Enrolment.id))
        .where(Enrolment.class_id.in_(class_ids))
        .group_by(Enrolment.class_id, Enrolment.status)
    ).all()
    return {(cid, EnrolmentStatus(st).value): n for cid, st, n in rows}


def _page(session: Session, query: Select[TrainingClass], page: PageParams) -> Page[ClassOut]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(query.limit(page.limit).offset(page.offset)).all()
    counts = _seat_counts(session, [c.id for c in rows])
    return Page[ClassOut](
        items=[_class_out(c, counts) for c in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/classes", response_model=Page[ClassOut])
def list_classes(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: str | None = Query(default=None, description="organising unit's subtree"),
) -> Page[ClassOut]:
    q: Select[TrainingClass] = (
        select(TrainingClass)
        .join(Unit, Unit.id == TrainingClass.unit_id)
        .where(principal.visible_filter(Unit.path))
    )
    if unit:
        q = q.where(subtree_filter(Unit.path, _unit(session, principal, unit).path))
    return _page(session, q.order_by(TrainingClass.starts_on.desc(), TrainingClass.code), page)


@router.post("/classes", response_model=ClassOut, status_code=status.HTTP_201_CREATED)
def create_class(body: ClassIn, session: SessionDep, principal: PrincipalDep) -> ClassOut:
    cls = _svc(session, principal).create_class(
        code=body.code,
        course_code=body.course_code,
        unit_code=body.unit_code,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        capacity=body.capacity,
        place=body.place,
        online_ref=body.online_ref,
        trainer=body.trainer,
    )
    return _class_out(cls, {})


def _class_for(
    session: Session, principal: Principal, code: str, role: Role = Role.viewer
) -> TrainingClass:
    return _svc(session, principal).visible_class(code, role)


@router.get("/classes/{code}", response_model=ClassDetail)
def get_class(code: str, session: SessionDep, principal: PrincipalDep) -> ClassDetail:
    cls = _class_for(session, principal, code)
    enrolments = _svc(session, principal).enrolments(code)
    out = _class_out(cls, _seat_counts(session, [cls.id]))
    return ClassDetail(
        **out.model_dump(),
        enrolments=[
            EnrolmentOut(
                officer_code=e.officer.code, full_name=e.officer.full_name, status=e.status
            )
            for e in enrolments
        ],
    )


@router.post(
    "/classes/{code}/enrolments", response_model=EnrolmentOut, status_code=status.HTTP_201_CREATED
)
def enrol(
    code: str, body: EnrolmentIn, session: SessionDep, principal: PrincipalDep
) -> EnrolmentOut:
    _class_for(session, principal, code, Role.training_coordinator)
    e = _svc(session, principal).enrol(class_code=code, officer_code=body.officer_code)
    return EnrolmentOut(officer_code=e.officer.code, full_name=e.officer.full_name, status=e.status)


@router.delete("/classes/{code}/enrolments/{officer_code}", response_model=EnrolmentOut | None)
def withdraw(
    code: str, officer_code: str, session: SessionDep, principal: PrincipalDep
) -> EnrolmentOut | None:
    """Withdraw; answers the enrolment promoted from the waiting list, if any."""
    _class_for(session, principal, code, Role.training_coordinator)
    promoted = _svc(session, principal).withdraw(class_code=code, officer_code=officer_code)
    if promoted is None:
        return None
    return EnrolmentOut(
        officer_code=promoted.officer.code,
        full_name=promoted.officer.full_name,
        status=promoted.status,
    )


@router.post("/classes/{code}/attendance", response_model=AttendanceOut)
def record_attendance(
    code: str, body: AttendanceIn, session: SessionDep, principal: PrincipalDep
) -> AttendanceOut:
    """Mark officers present (or absent) at one session; all or none."""
    _class_for(session, principal, code, Role.training_coordinator)
    svc = _svc(session, principal)
    for officer_code in body.officer_codes:
        svc.record_attendance(
            class_code=code,
            session_number=body.session_number,
            officer_code=officer_code,
            present=body.present,
        )
    return AttendanceOut(
        session_number=body.session_number, recorded=len(body.officer_codes), present=body.present
    )


@router.post("/classes/{code}/results", response_model=ResultOut)
def record_result(
    code: str, body: ResultIn, session: SessionDep, principal: PrincipalDep
) -> ResultOut:
    _class_for(session, principal, code, Role.training_coordinator)
    svc = _svc(session, principal)
    r = svc.record_result(
        class_code=code, officer_code=body.officer_code, score=body.score, taken_on=body.taken_on
    )
    cert = session.scalar(
        select(Certificate.number).where(
            Certificate.result_id == r.id, Certificate.status == CertificateStatus.valid
        )
    )
    return ResultOut(
        officer_code=body.officer_code,
        course_code=r.course.code,
        score=r.score,
        passed=r.passed,
        taken_on=r.taken_on,
        certificate_number=cert,
    )


# -- certificates, gaps, progress --------------------------------------------------------------
def _cert_out(c: Certificate, unit_code: str) -> CertificateOut:
    return CertificateOut(
        number=c.number,
        officer_code=c.officer.code,
        full_name=c.officer.full_name,
        unit_code=unit_code,
        course_code=c.course.code,
        issued_on=c.issued_on,
        expires_on=c.expires_on,
        status=c.status,
        verification_code=c.verification_code,
    )


@router.get("/certificates", response_model=Page[CertificateOut])
def list_certificates(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: str | None = None,
    officer: str | None = None,
    status_: CertificateStatus | None = Query(default=None, alias="status"),
    expiring_days: int | None = Query(default=None, ge=1, le=3650),
) -> Page[CertificateOut]:
    """Certificates of the officers (by their current unit) of a subtree."""
    q = (
        select(Certificate, Unit.code)
        .join(Officer, Officer.id == Certificate.officer_id)
        .join(Unit, Unit.id == Officer.unit_id)
        .join(Course, Course.id == Certificate.course_id)
        .where(principal.visible_filter(Unit.path))
    )
    if unit:
        q = q.where(subtree_filter(Unit.path, _unit(session, principal, unit).path))
    if officer:
        q = q.where(Officer.code == officer)
    if status_ is not None:
        q = q.where(Certificate.status == status_)
    if expiring_days is not None:
        today = datetime.now(TIMEZONE).date()
        q = q.where(
            Certificate.status == CertificateStatus.valid,
            Certificate.expires_on > today,
            Certificate.expires_on <= today + timedelta(days=expiring_days),
        )
    q = q.order_by(Unit.path, Officer.code, Certificate.issued_on)
    total = session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
    rows = session.execute(q.limit(page.limit).offset(page.offset)).all()
    return Page[CertificateOut](
        items=[_cert_out(c, code) for c, code in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/certificates/verify/{verification_code}", response_model=CertificateOut)
def verify_certificate(
    verification_code: str, session: SessionDep, principal: PrincipalDep
) -> CertificateOut:
    """Look a certificate up by the code printed on it (any status: the caller shows it)."""
    svc = _svc(session, principal)
    cert = svc.verify(verification_code)
    if not principal.can(Role.viewer, cert.officer.unit.path):
        # Answered exactly like an unknown code.
        raise NotFound(
            f"Mã xác thực {cert.verification_code!r} không tồn tại / no certificate has "
            f"verification code {cert.verification_code!r}"
        )
    return _cert_out(cert, cert.officer.unit.code)


@router.post("/certificates/{number}/revoke", response_model=CertificateOut)
def revoke_certificate(
    number: str, body: RevokeIn, session: SessionDep, principal: PrincipalDep
) -> CertificateOut:
    """Revoke a certificate (the one it superseded counts again)."""
    svc = _svc(session, principal)
    cert = svc.visible_certificate(number, Role.training_coordinator)
    svc.revoke(number, reason=body.reason)
    return _cert_out(cert, cert.officer.unit.code)


def _day(as_of: date | None) -> datetime:
    if as_of:
        return datetime.combine(as_of, time(12), TIMEZONE)
    return datetime.now(TIMEZONE)


@router.get("/gaps", response_model=Page[GapOut])
def gaps(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: str | None = None,
    as_of: date | None = Query(default=None, description="ISO date, default today"),
) -> Page[GapOut]:
    """Who still needs which required course (missing or expired), in tree order."""
    top = _unit(session, principal, unit)
    lines = gap_lines(training_tally(session, unit=top, on=_day(as_of).date()))
    chunk = lines[page.offset : page.offset + page.limit]
    return Page[GapOut](
        items=[
            GapOut(
                officer_code=g.officer_code,
                full_name=g.full_name,
                unit_code=g.unit_code,
                course_code=g.course_code,
                course_title=g.course_title,
                kind=g.kind,
            )
            for g in chunk
        ],
        total=len(lines),
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/progress", response_model=ProgressOut)
def progress(
    session: SessionDep,
    principal: PrincipalDep,
    unit: str | None = None,
    as_of: date | None = Query(default=None, description="ISO date, default today"),
) -> ProgressOut:
    """``officers_trained`` for the unit's subtree, with one line per direct child."""
    top = _unit(session, principal, unit)
    day = _day(as_of).date()
    res = OfficersTrained().from_tally(training_tally(session, unit=top, on=day))
    return ProgressOut(
        unit_code=top.code,
        unit_name=top.name,
        as_of=day,
        target=res.target,
        numerator=res.numerator,
        denominator=res.denominator,
        value=res.value,
        met=res.met,
        failing=len(res.failing),
        children=[
            ChildProgress(
                unit_code=c.unit_code,
                unit_name=c.unit_name,
                numerator=c.numerator,
                denominator=c.denominator,
                value=c.value,
                met=c.met,
            )
            for c in res.children
        ],
    )
