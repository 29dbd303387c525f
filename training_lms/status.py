"""Who is trained in what, for a whole subtree, in two set-based queries.

The ``officers_trained`` indicator, ``tldops training gaps`` and the reports all read this
tally, so they can never disagree::

    tally = training_tally(session, unit=svc_unit, on=date(2026, 11, 25))
    tally.counts[unit_id]          # (trained, counted) full-time active officers of that unit
    tally.gaps[0].missing          # ("IT-BASIC",)  course codes never passed
    tally.gaps[0].expired          # ("DOC-MGMT",)  passed, but the certificate has expired

An officer counts for their *current* unit (``Officer.unit_id``): an officer who moves takes
their certificates with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from inventory.models import Officer, Unit
from inventory.targets import Scope, load_scope
from training_lms.enums import Audience, CertificateStatus
from training_lms.models import Certificate, Course, CurriculumRule

# Per officer and required course, the best certificate state found.
NONE, EXPIRED, VALID = 0, 1, 2


@dataclass(frozen=True)
class RequiredCourse:
    id: int
    code: str
    title: str


@dataclass(frozen=True)
class Curriculum:
    """Required courses: for every full-time officer, and in addition for core IT staff."""

    everyone: tuple[RequiredCourse, ...]
    it_extra: tuple[RequiredCourse, ...]

    @property
    def all(self) -> tuple[RequiredCourse, ...]:
        return self.everyone + self.it_extra

    def for_officer(self, *, it_staff: bool) -> tuple[RequiredCourse, ...]:
        return self.all if it_staff else self.everyone


def load_curriculum(session: Session) -> Curriculum:
    """The required curriculum (active courses only), ordered by course code.

    >>> [c.code for c in load_curriculum(session).everyone]
    ['DOC-MGMT', 'IT-BASIC']
    """
    rows = session.execute(
        select(Course.id, Course.code, Course.title, CurriculumRule.audience)
        .join(CurriculumRule, CurriculumRule.course_id == Course.id)
        .where(Course.active.is_(True))
        .order_by(Course.code)
    ).all()
    everyone = {
        r.id: RequiredCourse(r.id, r.code, r.title)
        for r in rows
        if r.audience is Audience.full_time
    }
    extra = {
        r.id: RequiredCourse(r.id, r.code, r.title)
        for r in rows
        if r.audience is Audience.it_staff and r.id not in everyone
    }
    return Curriculum(everyone=tuple(everyone.values()), it_extra=tuple(extra.values()))


@dataclass(frozen=True)
class OfficerGap:
    """A counted officer who is not (or no longer) fully trained."""

    officer_id: int
    code: str
    full_name: str
    unit_id: int
    unit_code: str
    it_staff: bool
    missing: tuple[str, ...]  # course codes without any valid certificate
    expired: tuple[str, ...]  # course codes whose newest valid certificate has expired


@dataclass(frozen=True)
class TrainingTally:
    scope: Scope
    curriculum: Curriculum
    on: date
    counts: dict[int, tuple[int, int]]  # unit id → (trained, counted)
    gaps: list[OfficerGap]


def training_tally(session: Session, *, unit: Unit, on: date) -> TrainingTally:
    """Count trained officers per in-scope unit of ``unit``'s subtree on day ``on`` and list
    every counted officer who is missing or has an expired required course.

    Two queries whatever the size: the scope's units, then one GROUP BY over the officers
    LEFT JOINed to their certificates of required courses.
    """
    scope = load_scope(session, unit)
    cur = load_curriculum(session)
    counted = (
        Officer.unit_id.in_(scope.unit_ids()),
        Officer.full_time.is_(True),
        Officer.active.is_(True),
    )
    courses = cur.all
    base_cols = (Officer.id, Officer.code, Officer.full_name, Officer.unit_id, Officer.it_staff)
    n_every = len(cur.everyone)
    cols = []
    if courses:
        live = or_(Certificate.expires_on.is_(None), Certificate.expires_on > on)
        for i, c in enumerate(courses):
            cols.append(
                func.max(
                    case(
                        (and_(Certificate.course_id == c.id, live), VALID),
                        (Certificate.course_id == c.id, EXPIRED),
                        else_=NONE,
                    )
                ).label(f"c{i}")
            )
        # Driven from the counted officers: each one's certificates come from the covering
        # index ix_training_certificates_officer_cover, never a scan of all certificates.
        # GROUP BY the primary key alone: the other officer columns depend on it (PostgreSQL
        # accepts that), and grouping keys stay small.
        query: Select[*tuple[Any, ...]] = (
            select(*base_cols, *cols)
            .outerjoin(
                Certificate,
                and_(
                    Certificate.officer_id == Officer.id,
                    Certificate.status == CertificateStatus.valid,
                    Certificate.course_id.in_([c.id for c in courses]),
                ),
            )
            .group_by(Officer.id)
        )
    else:
        query = select(*base_cols)
    totals: dict[int, list[int]] = {}
    gaps: list[OfficerGap] = []
    codes = [c.code for c in courses]
    units = scope.units
    for row in session.execute(query.where(*counted)):
        oid, code, name, unit_id, it_staff = row[:5]
        states = row[5 : 5 + (len(courses) if it_staff else n_every)]
        tally = totals.get(unit_id)
        if tally is None:
            tally = totals[unit_id] = [0, 0]
        tally[1] += 1
        # With no curriculum at all nobody is "trained in the required curriculum": an empty
        # plan must not read as 100 %.
        if courses and all(s == VALID for s in states):
            tally[0] += 1
            continue
        missing = tuple(codes[i] for i, s in enumerate(states) if not s)
        expired = tuple(codes[i] for i, s in enumerate(states) if s == EXPIRED)
        gaps.append(
            OfficerGap(
                oid, code, name, unit_id, units[unit_id].code, bool(it_staff), missing, expired
            )
        )
    order = {u.id: u.path for u in units.values()}
    gaps.sort(key=lambda g: (order[g.unit_id], g.code))
    return TrainingTally(
        scope=scope,
        curriculum=cur,
        on=on,
        counts={uid: (t[0], t[1]) for uid, t in totals.items()},
        gaps=gaps,
    )
