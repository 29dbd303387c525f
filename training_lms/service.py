"""Training operations: the only code that writes the training tables.

Every change writes an audit record through :func:`inventory.service.audit`. The service flushes
but never commits, so an import or a sync is all-or-nothing for the caller::

    svc = TrainingService(session, actor="coordinator.hn", clock=clock)
    svc.create_course(code="IT-BASIC", title="Tin học văn phòng cơ bản",
                      category=CourseCategory.office_basics, validity_months=36, pass_mark=5)
    svc.require(course_code="IT-BASIC", audience=Audience.full_time)
    svc.create_class(code="HN-2026-01", course_code="IT-BASIC", unit_code="HN",
                     starts_on=date(2026, 3, 2), ends_on=date(2026, 3, 4), capacity=30)
    svc.enrol(class_code="HN-2026-01", officer_code="HN-001")
    svc.record_result(class_code="HN-2026-01", officer_code="HN-001", score=8.5)
    session.commit()   # HN-001 now holds a valid IT-BASIC certificate
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from inventory.config import TIMEZONE
from inventory.db import utcnow
from inventory.errors import Conflict, NotFound
from inventory.models import Officer, Unit, subtree_filter
from inventory.security import Principal, Role
from inventory.service import AuditedService, InventoryService, row_snapshot
from inventory.text import nfc
from training_lms.enums import (
    Audience,
    CertificateStatus,
    ClassStatus,
    CourseCategory,
    EnrolmentStatus,
    ResultSource,
)
from training_lms.errors import NotEnrolled, TrainingError
from training_lms.models import (
    Attendance,
    Certificate,
    ClassSession,
    Course,
    CurriculumRule,
    Enrolment,
    Result,
    TrainingClass,
)

# Verification codes avoid look-alike characters (0/O, 1/I/L) because people type them from paper.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

# Bounds on what one request may ask for (a class is at most a year of daily sessions).
MAX_CAPACITY = 10_000
MAX_SESSIONS = 366
MAX_SPAN_DAYS = 366


def check_capacity(capacity: int) -> None:
    if capacity <= 0:
        raise TrainingError("Sĩ số phải lớn hơn 0 / capacity must be at least 1")
    if capacity > MAX_CAPACITY:
        raise TrainingError(
            f"Sĩ số tối đa {MAX_CAPACITY} / capacity is at most {MAX_CAPACITY}",
            hint="split a larger audience into several classes",
        )


def check_span(starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise TrainingError("Ngày kết thúc trước ngày bắt đầu / the class ends before it starts")
    days = (ends_on - starts_on).days + 1
    if days > MAX_SPAN_DAYS:
        raise TrainingError(
            f"Một lớp kéo dài tối đa {MAX_SPAN_DAYS} ngày (lớp này {days} ngày) / "
            f"a class spans at most {MAX_SPAN_DAYS} days (this one {days})",
            hint="split a longer programme into several classes",
        )


def new_verification_code(length: int = 10) -> str:
    """A random code printed on a certificate, for checking it online.

    >>> len(new_verification_code())
    10
    """
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


class TrainingService(AuditedService):
    """Training operations for one session, one acting user and one principal.

    Every code a change names (class, officer, organising unit, certificate) must lie where the
    principal is a training coordinator; one the principal cannot even see is reported exactly
    like a missing one, so an answer never reveals another province's records. The default
    principal (CLI, jobs, imports) may act everywhere.
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
        self.principal = principal or Principal.system(actor)

    # -- helpers -----------------------------------------------------------------------------
    def _allow(self, path: str, role: Role, missing: NotFound) -> None:
        """Out of sight is answered as missing; in sight without ``role`` is a refusal."""
        if not self.principal.can(Role.viewer, path):
            raise missing
        self.principal.require(role, path)

    def _national(self) -> None:
        """Courses and the curriculum are national: changed by the root's coordinators."""
        root = self.session.scalar(
            select(Unit.path).where(Unit.parent_id.is_(None)).order_by(Unit.id).limit(1)
        )
        self.principal.require(Role.training_coordinator, root or "/")

    def visible_unit(self, code: str | None, role: Role = Role.viewer) -> Unit:
        """The unit ``code`` (the root when None) if the principal may act as ``role`` on it."""
        inv = InventoryService(self.session, actor=self.actor, clock=self.clock)
        unit = inv.unit(code) if code else inv.root()
        self._allow(unit.path, role, _no_unit(unit.code))
        return unit

    def visible_class(self, code: str, role: Role = Role.viewer) -> TrainingClass:
        cls = self.training_class(code)
        self._allow(cls.unit.path, role, _no_class(code))
        return cls

    def visible_officer(self, code: str, role: Role = Role.viewer) -> Officer:
        off = self._officer(code)
        self._allow(off.unit.path, role, _no_officer(code))
        return off

    def visible_certificate(self, number: str, role: Role = Role.viewer) -> Certificate:
        cert = self.certificate(number)
        self._allow(cert.officer.unit.path, role, _no_certificate(number))
        return cert

    def _lock_class(self, cls: TrainingClass) -> None:
        """Serialise seat changes of one class, so count-then-insert cannot interleave.

        PostgreSQL locks the class row; SQLite has one writer at a time, so a write to the row
        takes the database write lock before the seats are counted (the driver opens the
        transaction at the first write, after which reads see every committed seat).
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(
                select(TrainingClass.id).where(TrainingClass.id == cls.id).with_for_update()
            )
        else:
            self.session.execute(
                text("UPDATE training_classes SET id = id WHERE id = :i"), {"i": cls.id}
            )
        self.session.refresh(cls)

    def today(self) -> date:
        """Today in the federation's time zone (certificates are dated in local days)."""
        return self.clock().astimezone(TIMEZONE).date()

    def _unit(self, code: str) -> Unit:
        return InventoryService(self.session, actor=self.actor, clock=self.clock).unit(code)

    def _officer(self, code: str) -> Officer:
        found = self.session.scalar(select(Officer).where(Officer.code == code))
        if found is None:
            raise _no_officer(code)
        return found

    def _officer_path(self, officer: Officer) -> str:
        return officer.unit.path

    # -- courses -----------------------------------------------------------------------------
    def course(self, code: str) -> Course:
        found = self.session.scalar(select(Course).where(Course.code == code))
        if found is None:
            raise NotFound(
                f"Không có khóa học mã {code!r} / no course with code {code!r}",
                hint="list courses with `tldops training course list`",
            )
        return found

    def courses(self) -> Sequence[Course]:
        return self.session.scalars(select(Course).order_by(Course.code)).all()

    def create_course(
        self,
        *,
        code: str,
        title: str,
        category: CourseCategory,
        validity_months: int | None = None,
        pass_mark: float = 5.0,
        max_score: float = 10.0,
        title_en: str | None = None,
        moodle_course_id: int | None = None,
    ) -> Course:
        """Add a course. ``validity_months=None`` means its certificates never expire.

        >>> svc.create_course(code="NET-SEC", title="Mạng và an toàn thông tin",
        ...                   category=CourseCategory.advanced_it, validity_months=24)
        """
        self._national()
        code = nfc(code.strip())
        if self.session.scalar(select(Course.id).where(Course.code == code)) is not None:
            raise Conflict(f"Mã khóa học {code!r} đã tồn tại / course code {code!r} already exists")
        if not 0 < pass_mark <= max_score:
            raise TrainingError(
                f"Điểm đạt {pass_mark} phải trong (0, {max_score}] / "
                f"pass mark {pass_mark} must be within (0, {max_score}]"
            )
        if validity_months is not None and validity_months <= 0:
            raise TrainingError(
                "Thời hạn chứng chỉ phải là số tháng dương / validity must be a positive "
                "number of months",
                hint="leave it empty for certificates that never expire",
            )
        course = Course(
            code=code,
            title=nfc(title.strip()),
            title_en=title_en,
            category=category,
            validity_months=validity_months,
            pass_mark=pass_mark,
            max_score=max_score,
            moodle_course_id=moodle_course_id,
        )
        self.session.add(course)
        self.session.flush()
        self._audit("create", "training_course", code, after=row_snapshot(course))
        return course

    def update_course(
        self,
        code: str,
        *,
        title: str | None = None,
        validity_months: int | None = None,
        pass_mark: float | None = None,
        moodle_course_id: int | None = None,
    ) -> Course:
        """Change a course; existing certificates keep the expiry they were issued with."""
        self._national()
        course = self.course(code)
        before = row_snapshot(course)
        if title is not None:
            course.title = nfc(title.strip())
        if validity_months is not None:
            course.validity_months = validity_months
        if pass_mark is not None:
            course.pass_mark = pass_mark
        if moodle_course_id is not None:
            course.moodle_course_id = moodle_course_id
        self.session.flush()
        self._audit("update", "training_course", code, before=before, after=row_snapshot(course))
        return course

    # -- curriculum --------------------------------------------------------------------------
    def require(self, *, course_code: str, audience: Audience) -> CurriculumRule:
        """Make ``course_code`` part of the required curriculum for ``audience`` (idempotent)."""
        self._national()
        course = self.course(course_code)
        rule = self.session.scalar(
            select(CurriculumRule).where(
                CurriculumRule.course_id == course.id, CurriculumRule.audience == audience
            )
        )
        if rule is not None:
            return rule
        rule = CurriculumRule(course_id=course.id, audience=audience)
        self.session.add(rule)
        self.session.flush()
        self._audit(
            "create",
            "training_curriculum",
            f"{course_code}/{audience.value}",
            after={"course": course_code, "audience": audience.value},
        )
        return rule

    def unrequire(self, *, course_code: str, audience: Audience) -> None:
        self._national()
        course = self.course(course_code)
        rule = self.session.scalar(
            select(CurriculumRule).where(
                CurriculumRule.course_id == course.id, CurriculumRule.audience == audience
            )
        )
        if rule is None:
            raise NotFound(
                f"{course_code} không thuộc chương trình bắt buộc cho {audience.value} / "
                f"{course_code} is not required for {audience.value}"
            )
        self.session.delete(rule)
        self.session.flush()
        self._audit(
            "delete",
            "training_curriculum",
            f"{course_code}/{audience.value}",
            before={"course": course_code, "audience": audience.value},
        )

    def curriculum(self) -> list[tuple[Course, Audience]]:
        """The required curriculum: (course, audience) pairs ordered by course code."""
        rows = self.session.execute(
            select(Course, CurriculumRule.audience)
            .join(CurriculumRule, CurriculumRule.course_id == Course.id)
            .order_by(Course.code, CurriculumRule.audience)
        ).all()
        return [(c, a) for c, a in rows]

    # -- classes -----------------------------------------------------------------------------
    def training_class(self, code: str) -> TrainingClass:
        found = self.session.scalar(select(TrainingClass).where(TrainingClass.code == code))
        if found is None:
            raise _no_class(code)
        return found

    def classes(self, *, unit_code: str | None = None) -> Sequence[TrainingClass]:
        """Classes organised in the subtree of ``unit_code`` (all when None), newest first."""
        q: Select[TrainingClass] = select(TrainingClass).join(
            Unit, Unit.id == TrainingClass.unit_id
        )
        if unit_code:
            q = q.where(subtree_filter(Unit.path, self._unit(unit_code).path))
        return self.session.scalars(
            q.order_by(TrainingClass.starts_on.desc(), TrainingClass.code)
        ).all()

    def create_class(
        self,
        *,
        code: str,
        course_code: str,
        unit_code: str,
        starts_on: date,
        ends_on: date,
        capacity: int,
        place: str | None = None,
        online_ref: str | None = None,
        trainer: str | None = None,
        session_dates: Sequence[date] | None = None,
    ) -> TrainingClass:
        """Open a class of a course; one session per day from start to end unless
        ``session_dates`` says otherwise.

        >>> svc.create_class(code="HCM-2026-03", course_code="DOC-MGMT", unit_code="HCM",
        ...                  starts_on=date(2026, 5, 4), ends_on=date(2026, 5, 5), capacity=40,
        ...                  online_ref="https://meet.congdoan.vn/hcm-doc-mgmt")
        """
        code = nfc(code.strip())
        unit = self.visible_unit(unit_code, Role.training_coordinator)
        check_span(starts_on, ends_on)
        check_capacity(capacity)
        if session_dates is not None and len(session_dates) > MAX_SESSIONS:
            raise TrainingError(
                f"Một lớp tối đa {MAX_SESSIONS} buổi / a class has at most {MAX_SESSIONS} sessions"
            )
        dates = sorted(set(session_dates)) if session_dates else _days(starts_on, ends_on)
        if dates[0] < starts_on or dates[-1] > ends_on:
            raise TrainingError(
                "Buổi học nằm ngoài thời gian của lớp / a session falls outside the class dates"
            )
        if self.session.scalar(select(TrainingClass.id).where(TrainingClass.code == code)):
            raise Conflict(f"Mã lớp {code!r} đã tồn tại / class code {code!r} already exists")
        course = self.course(course_code)
        cls = TrainingClass(
            code=code,
            course_id=course.id,
            unit_id=unit.id,
            starts_on=starts_on,
            ends_on=ends_on,
            capacity=capacity,
            place=nfc(place) if place else None,
            online_ref=online_ref,
            trainer=nfc(trainer) if trainer else None,
        )
        self.session.add(cls)
        self.session.flush()
        for n, day in enumerate(dates, start=1):
            self.session.add(ClassSession(class_id=cls.id, number=n, on=day))
        self.session.flush()
        self._audit("create", "training_class", code, after=row_snapshot(cls), unit_path=unit.path)
        return cls

    def sessions(self, class_code: str) -> Sequence[ClassSession]:
        cls = self.training_class(class_code)
        return self.session.scalars(
            select(ClassSession)
            .where(ClassSession.class_id == cls.id)
            .order_by(ClassSession.number)
        ).all()

    def set_class_status(self, class_code: str, status: ClassStatus) -> TrainingClass:
        cls = self.visible_class(class_code, Role.training_coordinator)
        before = row_snapshot(cls)
        cls.status = status
        self.session.flush()
        self._audit(
            "update",
            "training_class",
            class_code,
            before=before,
            after=row_snapshot(cls),
            unit_path=cls.unit.path,
        )
        return cls

    # -- enrolment ---------------------------------------------------------------------------
    def enrolments(
        self, class_code: str, *, status: EnrolmentStatus | None = None
    ) -> Sequence[Enrolment]:
        """Enrolments of a class: seats first, then the waiting list in its order."""
        cls = self.training_class(class_code)
        q = select(Enrolment).where(Enrolment.class_id == cls.id)
        if status is not None:
            q = q.where(Enrolment.status == status)
        return self.session.scalars(
            q.order_by(Enrolment.status, Enrolment.queue_no, Enrolment.id)
        ).all()

    def _seats_taken(self, class_id: int) -> int:
        return (
            self.session.scalar(
                select(func.count(Enrolment.id)).where(
                    Enrolment.class_id == class_id, Enrolment.status == EnrolmentStatus.enrolled
                )
            )
            or 0
        )

    def enrol(self, *, class_code: str, officer_code: str) -> Enrolment:
        """Give the officer a seat, or a place on the waiting list when the class is full.

        Enrolling again after withdrawing joins the end of the queue.
        """
        cls = self.visible_class(class_code, Role.training_coordinator)
        officer = self.visible_officer(officer_code, Role.training_coordinator)
        self._lock_class(cls)
        if cls.status is ClassStatus.cancelled:
            raise TrainingError(f"Lớp {class_code} đã hủy / class {class_code} is cancelled")
        if not officer.active:
            raise TrainingError(
                f"Cán bộ {officer_code} không còn hoạt động / officer {officer_code} is inactive"
            )
        existing = self.session.scalar(
            select(Enrolment).where(
                Enrolment.class_id == cls.id, Enrolment.officer_id == officer.id
            )
        )
        if existing is not None and existing.status is not EnrolmentStatus.withdrawn:
            return existing
        full = self._seats_taken(cls.id) >= cls.capacity
        status = EnrolmentStatus.waiting if full else EnrolmentStatus.enrolled
        if existing is None:
            existing = Enrolment(class_id=cls.id, officer_id=officer.id, status=status)
            self.session.add(existing)
        existing.status = status
        existing.requested_at = self.clock()
        existing.queue_no = (
            self.session.scalar(
                select(func.max(Enrolment.queue_no)).where(Enrolment.class_id == cls.id)
            )
            or 0
        ) + 1
        self.session.flush()
        self._audit(
            "enrol",
            "training_enrolment",
            f"{class_code}/{officer_code}",
            after={"status": status.value},
            unit_path=self._officer_path(officer),
        )
        return existing

    def withdraw(self, *, class_code: str, officer_code: str) -> Enrolment | None:
        """Give up a seat (or a waiting place). Returns the enrolment promoted from the waiting
        list into the freed seat, if any."""
        cls = self.visible_class(class_code, Role.training_coordinator)
        officer = self.visible_officer(officer_code, Role.training_coordinator)
        self._lock_class(cls)
        enr = self.session.scalar(
            select(Enrolment).where(
                Enrolment.class_id == cls.id, Enrolment.officer_id == officer.id
            )
        )
        if enr is None or enr.status is EnrolmentStatus.withdrawn:
            raise NotEnrolled(
                f"{officer_code} không đăng ký lớp {class_code} / "
                f"{officer_code} is not enrolled in {class_code}"
            )
        had_seat = enr.status is EnrolmentStatus.enrolled
        before = enr.status.value
        enr.status = EnrolmentStatus.withdrawn
        self.session.flush()
        self._audit(
            "withdraw",
            "training_enrolment",
            f"{class_code}/{officer_code}",
            before={"status": before},
            after={"status": enr.status.value},
            unit_path=self._officer_path(officer),
        )
        return self._promote(cls) if had_seat else None

    def set_capacity(self, *, class_code: str, capacity: int) -> list[Enrolment]:
        """Change the number of seats; more seats promote from the waiting list (returned).
        Fewer seats than already taken is refused rather than silently unseating people."""
        cls = self.visible_class(class_code, Role.training_coordinator)
        check_capacity(capacity)
        self._lock_class(cls)
        taken = self._seats_taken(cls.id)
        if capacity < taken:
            raise TrainingError(
                f"Đã có {taken} học viên, không giảm sĩ số xuống {capacity} được / "
                f"{taken} seats are taken, cannot reduce capacity to {capacity}",
                hint="withdraw officers first",
            )
        before = row_snapshot(cls)
        cls.capacity = capacity
        self.session.flush()
        self._audit(
            "update",
            "training_class",
            class_code,
            before=before,
            after=row_snapshot(cls),
            unit_path=cls.unit.path,
        )
        promoted: list[Enrolment] = []
        while (p := self._promote(cls)) is not None:
            promoted.append(p)
        return promoted

    def _promote(self, cls: TrainingClass) -> Enrolment | None:
        if self._seats_taken(cls.id) >= cls.capacity:
            return None
        nxt = self.session.scalar(
            select(Enrolment)
            .where(Enrolment.class_id == cls.id, Enrolment.status == EnrolmentStatus.waiting)
            .order_by(Enrolment.queue_no, Enrolment.id)
            .limit(1)
        )
        if nxt is None:
            return None
        nxt.status = EnrolmentStatus.enrolled
        self.session.flush()
        self._audit(
            "promote",
            "training_enrolment",
            f"{cls.code}/{nxt.officer.code}",
            before={"status": EnrolmentStatus.waiting.value},
            after={"status": EnrolmentStatus.enrolled.value},
            unit_path=self._officer_path(nxt.officer),
        )
        return nxt

    def _seat(self, cls: TrainingClass, officer: Officer) -> Enrolment:
        enr = self.session.scalar(
            select(Enrolment).where(
                Enrolment.class_id == cls.id, Enrolment.officer_id == officer.id
            )
        )
        if enr is None or enr.status is not EnrolmentStatus.enrolled:
            state = "không đăng ký" if enr is None else enr.status.value
            raise NotEnrolled(
                f"{officer.code} chưa có chỗ trong lớp {cls.code} ({state}) / "
                f"{officer.code} holds no seat in class {cls.code}",
                hint=f"enrol first: `tldops training enrol {cls.code} {officer.code}`",
            )
        return enr

    # -- attendance --------------------------------------------------------------------------
    def record_attendance(
        self, *, class_code: str, session_number: int, officer_code: str, present: bool = True
    ) -> Attendance:
        """Mark an enrolled officer present or absent at one session (re-marking overwrites)."""
        cls = self.visible_class(class_code, Role.training_coordinator)
        officer = self.visible_officer(officer_code, Role.training_coordinator)
        enr = self._seat(cls, officer)
        sess = self.session.scalar(
            select(ClassSession).where(
                ClassSession.class_id == cls.id, ClassSession.number == session_number
            )
        )
        if sess is None:
            raise NotFound(
                f"Lớp {class_code} không có buổi {session_number} / "
                f"class {class_code} has no session {session_number}"
            )
        att = self.session.scalar(
            select(Attendance).where(
                Attendance.session_id == sess.id, Attendance.enrolment_id == enr.id
            )
        )
        if att is None:
            att = Attendance(session_id=sess.id, enrolment_id=enr.id, present=present)
            self.session.add(att)
        att.present = present
        self.session.flush()
        self._audit(
            "attend",
            "training_attendance",
            f"{class_code}/{session_number}/{officer_code}",
            after={"present": present},
            unit_path=self._officer_path(officer),
        )
        return att

    def attendance_rate(self, *, class_code: str, officer_code: str) -> float | None:
        """Share of the class's sessions the officer attended (None before any is recorded)."""
        cls, officer = self.training_class(class_code), self._officer(officer_code)
        enr = self._seat(cls, officer)
        total = len(self.sessions(class_code))
        present = (
            self.session.scalar(
                select(func.count(Attendance.id)).where(
                    Attendance.enrolment_id == enr.id, Attendance.present.is_(True)
                )
            )
            or 0
        )
        recorded = self.session.scalar(
            select(func.count(Attendance.id)).where(Attendance.enrolment_id == enr.id)
        )
        return None if not recorded else present / total

    # -- results and certificates ------------------------------------------------------------
    def record_result(
        self,
        *,
        class_code: str,
        officer_code: str,
        score: float,
        taken_on: date | None = None,
        source: ResultSource = ResultSource.manual,
    ) -> Result:
        """Record a class result. A pass issues a certificate (superseding an older one of the
        same course: a retake renews). Recording again for the same class and officer is a
        correction: a corrected score below the pass mark revokes that result's certificate.
        """
        cls = self.visible_class(class_code, Role.training_coordinator)
        officer = self.visible_officer(officer_code, Role.training_coordinator)
        course = cls.course
        if cls.status is ClassStatus.cancelled:
            raise TrainingError(f"Lớp {class_code} đã hủy / class {class_code} is cancelled")
        if not 0 <= score <= course.max_score:
            raise TrainingError(
                f"Điểm {score} ngoài thang 0–{course.max_score:g} / "
                f"score {score} is outside 0–{course.max_score:g}"
            )
        existing = self.session.scalar(
            select(Result).where(Result.class_id == cls.id, Result.officer_id == officer.id)
        )
        if existing is None:
            self._seat(cls, officer)
        day = taken_on or (existing.taken_on if existing is not None else cls.ends_on)
        if day > self.today():
            raise TrainingError(
                f"Ngày thi {day:%d/%m/%Y} chưa tới / the exam day {day.isoformat()} is in the "
                "future",
                hint="record results after the exam, or give --date",
            )
        if existing is not None:
            return self.correct_result(existing, score=score, taken_on=taken_on)
        result = Result(
            course_id=course.id,
            class_id=cls.id,
            officer_id=officer.id,
            score=score,
            passed=score >= course.pass_mark,
            taken_on=day,
            source=source,
        )
        self.session.add(result)
        self.session.flush()
        self._audit(
            "create",
            "training_result",
            f"{class_code}/{officer_code}",
            after=row_snapshot(result),
            unit_path=self._officer_path(officer),
        )
        if result.passed:
            self._issue(result, course=course, officer=officer)
        return result

    def correct_result(
        self, result: Result, *, score: float, taken_on: date | None = None
    ) -> Result:
        """Correct a class result's score; revokes or issues its certificate to match."""
        course, officer = result.course, result.officer
        self._allow(officer.unit.path, Role.training_coordinator, _no_officer(officer.code))
        before = row_snapshot(result)
        result.score = score
        result.passed = score >= course.pass_mark
        if taken_on is not None:
            result.taken_on = taken_on
        self.session.flush()
        cls = self.session.get(TrainingClass, result.class_id) if result.class_id else None
        key = f"{cls.code}/{officer.code}" if cls else (result.external_ref or str(result.id))
        self._audit(
            "correct",
            "training_result",
            key,
            before=before,
            after=row_snapshot(result),
            unit_path=self._officer_path(officer),
        )
        cert = self.session.scalar(
            select(Certificate)
            .where(Certificate.result_id == result.id)
            .order_by(Certificate.id.desc())
            .limit(1)
        )
        # A superseded certificate of a result corrected to a fail is revoked too: it should
        # never have existed, and it must not come back if its successor is revoked later.
        if not result.passed and cert is not None and cert.status is not CertificateStatus.revoked:
            self.revoke(
                cert.number,
                reason=f"điểm sửa thành {score:g} < {course.pass_mark:g} / "
                f"score corrected to {score:g}",
            )
        elif result.passed and (cert is None or cert.status is CertificateStatus.revoked):
            self._issue(result, course=course, officer=officer)
        return result

    def record_completion(
        self,
        *,
        course_code: str,
        officer_code: str,
        taken_on: date,
        external_ref: str,
        source: ResultSource = ResultSource.moodle,
        score: float | None = None,
    ) -> tuple[Result, bool]:
        """Record a pass that happened elsewhere (a Moodle course completion). Idempotent on
        ``external_ref``; returns (result, created)."""
        existing = self.session.scalar(select(Result).where(Result.external_ref == external_ref))
        if existing is not None:
            return existing, False
        course = self.course(course_code)
        officer = self.visible_officer(officer_code, Role.training_coordinator)
        result = Result(
            course_id=course.id,
            class_id=None,
            officer_id=officer.id,
            score=score,
            passed=True,
            taken_on=taken_on,
            source=source,
            external_ref=external_ref,
        )
        self.session.add(result)
        self.session.flush()
        self._audit(
            "create",
            "training_result",
            external_ref,
            after=row_snapshot(result),
            unit_path=self._officer_path(officer),
        )
        self._issue(result, course=course, officer=officer)
        return result, True

    def _issue(self, result: Result, *, course: Course, officer: Officer) -> Certificate:
        issued = result.taken_on
        expires = (
            issued + relativedelta(months=course.validity_months)
            if course.validity_months
            else None
        )
        older = self.session.scalars(
            select(Certificate)
            .where(
                Certificate.officer_id == officer.id,
                Certificate.course_id == course.id,
                Certificate.status == CertificateStatus.valid,
            )
            .order_by(Certificate.issued_on.desc(), Certificate.id.desc())
        ).all()
        # A late-recorded old pass must not replace a newer certificate: it is issued already
        # superseded so the history stays complete.
        newest = older[0] if older else None
        if newest is not None and newest.issued_on > issued:
            status = CertificateStatus.superseded
        else:
            status = CertificateStatus.valid
        cert = Certificate(
            number=f"TMP-{secrets.token_hex(8)}",
            officer_id=officer.id,
            course_id=course.id,
            result_id=result.id,
            issued_on=issued,
            expires_on=expires,
            verification_code=new_verification_code(),
            status=status,
            supersedes_id=newest.id if status is CertificateStatus.valid and newest else None,
        )
        self.session.add(cert)
        self.session.flush()
        # The number is what coordinators quote on paper: course, year, a running id.
        cert.number = f"{course.code}-{issued.year}-{cert.id:06d}"
        if status is CertificateStatus.valid:
            for old in older:
                old.status = CertificateStatus.superseded
        self.session.flush()
        self._audit(
            "issue",
            "training_certificate",
            cert.number,
            after=row_snapshot(cert),
            unit_path=self._officer_path(officer),
        )
        return cert

    def certificate(self, number: str) -> Certificate:
        found = self.session.scalar(select(Certificate).where(Certificate.number == number))
        if found is None:
            raise _no_certificate(number)
        return found

    def verify(self, verification_code: str) -> Certificate:
        """Find a certificate by the code printed on it (any status; the caller shows it)."""
        code = verification_code.strip().upper()
        found = self.session.scalar(
            select(Certificate).where(Certificate.verification_code == code)
        )
        if found is None:
            raise NotFound(
                f"Mã xác thực {code!r} không tồn tại / no certificate has verification code "
                f"{code!r}"
            )
        return found

    def revoke(self, number: str, *, reason: str) -> Certificate:
        """Revoke a certificate; the one it had superseded becomes valid again (it is still
        subject to its own expiry)."""
        cert = self.visible_certificate(number, Role.training_coordinator)
        if cert.status is CertificateStatus.revoked:
            return cert
        before = row_snapshot(cert)
        was_valid = cert.status is CertificateStatus.valid
        cert.status = CertificateStatus.revoked
        cert.revoked_on = self.today()
        cert.revoke_reason = nfc(reason)
        self.session.flush()
        self._audit(
            "revoke",
            "training_certificate",
            number,
            before=before,
            after=row_snapshot(cert),
            unit_path=self._officer_path(cert.officer),
        )
        if was_valid and cert.supersedes_id is not None:
            prev = self.session.get(Certificate, cert.supersedes_id)
            if prev is not None and prev.status is CertificateStatus.superseded:
                prev.status = CertificateStatus.valid
                self.session.flush()
                self._audit(
                    "restore",
                    "training_certificate",
                    prev.number,
                    after={"status": prev.status.value},
                    unit_path=self._officer_path(cert.officer),
                    note=f"{number} revoked",
                )
        return cert

    def certificates(
        self,
        *,
        officer_code: str | None = None,
        unit_code: str | None = None,
        status: CertificateStatus | None = None,
        expiring_within: timedelta | None = None,
        as_of: date | None = None,
    ) -> Sequence[Certificate]:
        """Certificates of an officer or of the officers of a subtree (officers' current units).

        ``expiring_within=timedelta(days=90)`` keeps valid certificates that are still valid
        ``as_of`` (default today) but stop counting within that many days.
        """
        q: Select[Certificate] = (
            select(Certificate)
            .join(Officer, Officer.id == Certificate.officer_id)
            .join(Unit, Unit.id == Officer.unit_id)
        )
        if officer_code:
            q = q.where(Officer.id == self._officer(officer_code).id)
        if unit_code:
            q = q.where(subtree_filter(Unit.path, self._unit(unit_code).path))
        if status is not None:
            q = q.where(Certificate.status == status)
        if expiring_within is not None:
            day = as_of or self.today()
            q = q.where(
                Certificate.status == CertificateStatus.valid,
                Officer.active.is_(True),
                Certificate.expires_on > day,
                Certificate.expires_on <= day + expiring_within,
            )
        return self.session.scalars(
            q.order_by(Unit.path, Officer.code, Certificate.issued_on)
        ).all()

    def results(self, *, class_code: str) -> Sequence[Result]:
        cls = self.training_class(class_code)
        return self.session.scalars(
            select(Result)
            .join(Officer, Officer.id == Result.officer_id)
            .where(Result.class_id == cls.id)
            .order_by(Officer.code)
        ).all()


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# One message for a missing code and for one outside the principal's sight.
def _no_unit(code: str) -> NotFound:
    return NotFound(f"Không có đơn vị mã {code!r} / no unit with code {code!r}")


def _no_class(code: str) -> NotFound:
    return NotFound(f"Không có lớp học mã {code!r} / no class with code {code!r}")


def _no_officer(code: str) -> NotFound:
    return NotFound(f"Không có cán bộ mã {code!r} / no officer with code {code!r}")


def _no_certificate(number: str) -> NotFound:
    return NotFound(f"Không có chứng chỉ số {number!r} / no certificate {number!r}")
