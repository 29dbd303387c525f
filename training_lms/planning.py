"""Who still needs training, whose certificates run out soon, and a class plan to reach 100 %.

::

    lines = training_gaps(session, unit=hn, on=date(2026, 11, 25))
    soon = expiring_certificates(session, unit=hn, on=date(2026, 11, 25), within=timedelta(90))
    plan = plan_classes(session, unit=tld, on=date(2026, 11, 25), by=date(2027, 3, 31),
                        capacity=30)
    for c in plan.classes:
        print(c.group_code, c.course_code, c.starts_on, len(c.officers))
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from inventory.models import Officer, Unit, subtree_filter
from inventory.targets import MAX_SCOPE_LEVEL
from training_lms.enums import CertificateStatus, ClassStatus, EnrolmentStatus
from training_lms.errors import PlanImpossible, TrainingError
from training_lms.models import Certificate, Course, Enrolment, Result, TrainingClass
from training_lms.service import TrainingService
from training_lms.status import TrainingTally, training_tally


@dataclass(frozen=True)
class GapLine:
    """One required course one counted officer still has to pass."""

    officer_code: str
    full_name: str
    unit_code: str
    unit_name: str
    course_code: str
    course_title: str
    kind: Literal["missing", "expired"]


def gap_lines(tally: TrainingTally) -> list[GapLine]:
    """Flatten a tally into one line per officer and course, in tree order."""
    titles = {c.code: c.title for c in tally.curriculum.all}
    units = tally.scope.units
    out: list[GapLine] = []
    for g in tally.gaps:
        u = units[g.unit_id]
        for kind, codes in (("missing", g.missing), ("expired", g.expired)):
            for code in codes:
                out.append(
                    GapLine(
                        officer_code=g.code,
                        full_name=g.full_name,
                        unit_code=u.code,
                        unit_name=u.name,
                        course_code=code,
                        course_title=titles[code],
                        kind=kind,  # type: ignore[arg-type]
                    )
                )
    return out


def training_gaps(session: Session, *, unit: Unit, on: date) -> list[GapLine]:
    """Every (officer, required course) still to be trained in ``unit``'s subtree on ``on``.

    >>> [(g.officer_code, g.course_code, g.kind) for g in training_gaps(s, unit=hn, on=today)]
    [('BD-2', 'IT-BASIC', 'missing'), ('HN-1', 'DOC-MGMT', 'expired')]
    """
    return gap_lines(training_tally(session, unit=unit, on=on))


@dataclass(frozen=True)
class ExpiringCertificate:
    number: str
    officer_code: str
    full_name: str
    unit_code: str
    course_code: str
    issued_on: date
    expires_on: date
    days_left: int


def expiring_certificates(
    session: Session, *, unit: Unit, on: date, within: timedelta
) -> list[ExpiringCertificate]:
    """Valid certificates of active officers in ``unit``'s subtree that still count on ``on``
    but stop counting within ``within`` (soonest first). One query.

    >>> soon = expiring_certificates(s, unit=hn, on=date(2026, 1, 1), within=timedelta(days=90))
    >>> soon[0].days_left
    8
    """
    rows = session.execute(
        select(
            Certificate.number,
            Officer.code,
            Officer.full_name,
            Unit.code,
            Course.code,
            Certificate.issued_on,
            Certificate.expires_on,
        )
        .join(Officer, Officer.id == Certificate.officer_id)
        .join(Unit, Unit.id == Officer.unit_id)
        .join(Course, Course.id == Certificate.course_id)
        .where(
            subtree_filter(Unit.path, unit.path),
            Officer.active.is_(True),
            Certificate.status == CertificateStatus.valid,
            Certificate.expires_on > on,
            Certificate.expires_on <= on + within,
        )
        .order_by(Certificate.expires_on, Unit.path, Officer.code)
    ).all()
    return [
        ExpiringCertificate(
            number=r[0],
            officer_code=r[1],
            full_name=r[2],
            unit_code=r[3],
            course_code=r[4],
            issued_on=r[5],
            expires_on=r[6],
            days_left=(r[6] - on).days,
        )
        for r in rows
        if r[6] is not None  # the WHERE clause already excludes them; this narrows the type
    ]


def parse_days(text: str) -> timedelta:
    """``"90d"``, ``"12w"``, ``"90"`` → a timedelta (what ``--expiring`` accepts).

    >>> parse_days("12w").days
    84
    """
    raw = text.strip().lower()
    factor = 1
    if raw.endswith("w"):
        raw, factor = raw[:-1], 7
    elif raw.endswith("d"):
        raw = raw[:-1]
    if not raw.isdigit() or int(raw) <= 0:
        raise TrainingError(
            f"Khoảng thời gian không hợp lệ: {text!r} / bad duration {text!r}",
            hint="use days or weeks, e.g. 90d or 12w",
        )
    return timedelta(days=int(raw) * factor)


# -- the plan ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProposedClass:
    """A class the plan proposes: one course, for one province (or sector), on given dates."""

    code: str
    group_code: str
    group_name: str
    course_code: str
    course_title: str
    starts_on: date
    ends_on: date
    capacity: int
    officers: tuple[str, ...]


@dataclass(frozen=True)
class TrainingPlan:
    on: date
    by: date
    capacity: int
    classes: list[ProposedClass]

    @property
    def seats(self) -> int:
        return sum(len(c.officers) for c in self.classes)


def _monday_on_or_after(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7)


def plan_classes(
    session: Session,
    *,
    unit: Unit,
    on: date,
    by: date,
    capacity: int,
    days_per_class: int = 2,
    per_week: int = 1,
) -> TrainingPlan:
    """Propose classes so that every counted officer of ``unit``'s subtree is trained by ``by``.

    Officers are grouped by province/sector (the level-2 unit above them; the top unit itself
    when it is level 2 or deeper), then by course; each group gets ceil(n / capacity) classes.
    A group runs up to ``per_week`` classes a week (trainers and rooms are the limit), starting
    on Mondays from the first Monday after ``on``, so the plan is impossible when a group needs
    more weeks than remain before ``by``
    (:class:`PlanImpossible` names the worst group and what would fit). Certificates that
    expire before ``by`` are planned for renewal too; officers already seated in a planned
    class of the course that ends by ``by`` are left out.

    >>> plan = plan_classes(s, unit=tld, on=date(2026, 3, 1), by=date(2026, 6, 30), capacity=30)
    >>> plan.classes[0].code
    'HN-IT-BASIC-20260302-1'
    """
    if capacity <= 0 or per_week <= 0 or days_per_class <= 0 or days_per_class > 5:
        raise TrainingError(
            "Sĩ số và số lớp mỗi tuần phải > 0, số ngày mỗi lớp từ 1 đến 5 / capacity and "
            "classes per week must be positive and a class must last 1 to 5 days"
        )
    tally = training_tally(session, unit=unit, on=on)
    need: dict[tuple[int, str], list[str]] = defaultdict(list)
    top_depth = len(unit.ancestor_ids())
    group_depth = max(2, top_depth)  # ids[group_depth - 1] is the grouping ancestor

    def group_of(path: str) -> int:
        ids = [int(p) for p in path.strip("/").split("/")]
        return ids[min(group_depth, len(ids)) - 1]

    units = tally.scope.units
    for g in tally.gaps:
        grp = group_of(units[g.unit_id].path)
        for code in (*g.missing, *g.expired):
            need[(grp, code)].append(g.code)
    # Renewals: counted officers whose certificate still counts today but not on ``by``.
    required = {c.code for c in tally.curriculum.all}
    by_code = {u.code: u for u in units.values()}
    for cert in expiring_certificates(session, unit=unit, on=on, within=by - on):
        owner = by_code.get(cert.unit_code)
        if owner is None or owner.level > MAX_SCOPE_LEVEL or cert.course_code not in required:
            continue
        officers = need[(group_of(owner.path), cert.course_code)]
        if cert.officer_code not in officers:
            officers.append(cert.officer_code)
    # Officers already holding a seat (result not yet recorded) in a planned class of the
    # course ending by ``by`` are on their way; planning them again would double-book them.
    booked = set(
        session.execute(
            select(Officer.code, Course.code)
            .join(Enrolment, Enrolment.officer_id == Officer.id)
            .join(TrainingClass, TrainingClass.id == Enrolment.class_id)
            .join(Course, Course.id == TrainingClass.course_id)
            .outerjoin(
                Result,
                and_(Result.class_id == TrainingClass.id, Result.officer_id == Officer.id),
            )
            .where(
                Result.id.is_(None),  # a recorded result means the seat has been used
                Enrolment.status == EnrolmentStatus.enrolled,
                TrainingClass.status == ClassStatus.planned,
                TrainingClass.ends_on <= by,
                Officer.unit_id.in_(tally.scope.unit_ids()),
            )
        ).all()
    )
    for (grp, course_code), officers in list(need.items()):
        left = [o for o in officers if (o, course_code) not in booked]
        if left:
            need[(grp, course_code)] = left
        else:
            del need[(grp, course_code)]
    if not need:
        return TrainingPlan(on=on, by=by, capacity=capacity, classes=[])
    group_ids = {grp for grp, _ in need}
    groups = {
        r.id: r
        for r in session.execute(
            select(Unit.id, Unit.code, Unit.name, Unit.path).where(Unit.id.in_(group_ids))
        )
    }
    titles = {c.code: c.title for c in tally.curriculum.all}
    first = _monday_on_or_after(on + timedelta(days=1))
    last_start = by - timedelta(days=days_per_class - 1)
    weeks = (last_start - first).days // 7 + 1 if last_start >= first else 0
    per_group: dict[int, int] = defaultdict(int)
    for (grp, _), officers in need.items():
        per_group[grp] += math.ceil(len(officers) / capacity)
    worst = max(per_group, key=lambda g: per_group[g])
    if math.ceil(per_group[worst] / per_week) > weeks:
        n_worst = sum(len(o) for (g, _), o in need.items() if g == worst)
        raise PlanImpossible(
            f"{groups[worst].code} cần {per_group[worst]} lớp nhưng chỉ còn {weeks} tuần trước "
            f"{by:%d/%m/%Y} (tối đa {per_week} lớp/tuần) / "
            f"{groups[worst].code} needs {per_group[worst]} classes but only "
            f"{weeks} week(s) remain before {by.isoformat()} at {per_week} a week",
            hint=f"raise --capacity or --per-week (it has {n_worst} seat-courses to fill) or "
            "choose a later --by",
        )
    classes: list[ProposedClass] = []
    slot_of: dict[int, int] = defaultdict(int)  # classes already placed per group
    for (grp, course_code), officers in sorted(
        need.items(), key=lambda kv: (groups[kv[0][0]].path, kv[0][1])
    ):
        officers = sorted(officers)
        for i in range(math.ceil(len(officers) / capacity)):
            start = first + timedelta(weeks=slot_of[grp] // per_week)
            slot_of[grp] += 1
            seats = tuple(officers[i * capacity : (i + 1) * capacity])
            classes.append(
                ProposedClass(
                    code=f"{groups[grp].code}-{course_code}-{start:%Y%m%d}-{i + 1}",
                    group_code=groups[grp].code,
                    group_name=groups[grp].name,
                    course_code=course_code,
                    course_title=titles.get(course_code, course_code),
                    starts_on=start,
                    ends_on=start + timedelta(days=days_per_class - 1),
                    capacity=capacity,
                    officers=seats,
                )
            )
    return TrainingPlan(on=on, by=by, capacity=capacity, classes=classes)


def apply_plan(svc: TrainingService, plan: TrainingPlan) -> list[str]:
    """Create the proposed classes (organised by their province) and enrol their officers.

    Returns the class codes created; the caller commits.
    """
    created = []
    for c in plan.classes:
        svc.create_class(
            code=c.code,
            course_code=c.course_code,
            unit_code=c.group_code,
            starts_on=c.starts_on,
            ends_on=c.ends_on,
            capacity=c.capacity,
        )
        for officer in c.officers:
            svc.enrol(class_code=c.code, officer_code=officer)
        created.append(c.code)
    return created
