"""Training tables: courses, the required curriculum, classes and their sessions, enrolments,
attendance, results and certificates.

A certificate is the unit of truth for the ``officers_trained`` indicator: an officer is trained
in a course on day D when they hold a certificate of that course with status ``valid`` whose
``expires_on`` is empty or later than D (``expires_on`` is the first day it no longer counts).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.db import Base, UTCDateTime, db_enum, utcnow
from inventory.models import Officer, TimestampMixin, Unit
from training_lms.enums import (
    Audience,
    CertificateStatus,
    ClassStatus,
    CourseCategory,
    EnrolmentStatus,
    ResultSource,
)


class Course(TimestampMixin, Base):
    """A course of the IT curriculum (khóa đào tạo, bồi dưỡng tin học)."""

    __tablename__ = "training_courses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    title_en: Mapped[str | None] = mapped_column(String(255))
    category: Mapped[CourseCategory] = mapped_column(db_enum(CourseCategory))
    # None: the certificate never expires.
    validity_months: Mapped[int | None] = mapped_column(Integer)
    pass_mark: Mapped[float] = mapped_column(Float, default=5.0)
    max_score: Mapped[float] = mapped_column(Float, default=10.0)
    # The course id on the federation's Moodle site, for the completion sync.
    moodle_course_id: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CurriculumRule(Base):
    """The required curriculum as data: ``course`` is required for ``audience``."""

    __tablename__ = "training_curriculum"
    __table_args__ = (UniqueConstraint("course_id", "audience"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(
        ForeignKey("training_courses.id", ondelete="CASCADE"), index=True
    )
    audience: Mapped[Audience] = mapped_column(db_enum(Audience))

    course: Mapped[Course] = relationship()


class TrainingClass(TimestampMixin, Base):
    """One run of a course (lớp học): dates, a place or an online conference, trainer, seats."""

    __tablename__ = "training_classes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("training_courses.id"), index=True)
    # The organising unit; permissions and the per-province plan follow its subtree.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    place: Mapped[str | None] = mapped_column(String(500))
    # A join link or room reference of an online conference, kept as plain text so this
    # domain does not depend on videoconf.
    online_ref: Mapped[str | None] = mapped_column(String(1000))
    trainer: Mapped[str | None] = mapped_column(String(255))
    capacity: Mapped[int] = mapped_column(Integer)
    status: Mapped[ClassStatus] = mapped_column(db_enum(ClassStatus), default=ClassStatus.planned)

    course: Mapped[Course] = relationship()
    unit: Mapped[Unit] = relationship()


class ClassSession(Base):
    """One teaching session (buổi học) of a class; attendance is taken per session."""

    __tablename__ = "training_sessions"
    __table_args__ = (UniqueConstraint("class_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("training_classes.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    on: Mapped[date] = mapped_column(Date)
    topic: Mapped[str | None] = mapped_column(String(255))


class Enrolment(Base):
    """A seat (or a place on the waiting list) of an officer in a class."""

    __tablename__ = "training_enrolments"
    __table_args__ = (
        UniqueConstraint("class_id", "officer_id"),
        Index("ix_training_enrolments_class_status", "class_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("training_classes.id", ondelete="CASCADE"))
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    status: Mapped[EnrolmentStatus] = mapped_column(db_enum(EnrolmentStatus))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Waiting-list order, first come first promoted: a per-class counter rather than the
    # timestamp, which ties under a coarse or injected clock.
    queue_no: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    training_class: Mapped[TrainingClass] = relationship()
    officer: Mapped[Officer] = relationship()


class Attendance(Base):
    """Whether an enrolled officer attended one session."""

    __tablename__ = "training_attendance"
    __table_args__ = (UniqueConstraint("session_id", "enrolment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id", ondelete="CASCADE"))
    enrolment_id: Mapped[int] = mapped_column(
        ForeignKey("training_enrolments.id", ondelete="CASCADE"), index=True
    )
    present: Mapped[bool] = mapped_column(Boolean)


class Result(TimestampMixin, Base):
    """An officer's outcome in a course: from a class (score vs the pass mark) or from Moodle
    (completion, no score)."""

    __tablename__ = "training_results"
    __table_args__ = (
        UniqueConstraint("class_id", "officer_id"),
        Index("ix_training_results_officer_course", "officer_id", "course_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("training_courses.id"))
    class_id: Mapped[int | None] = mapped_column(ForeignKey("training_classes.id"))
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    score: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    taken_on: Mapped[date] = mapped_column(Date)
    source: Mapped[ResultSource] = mapped_column(db_enum(ResultSource), default=ResultSource.manual)
    # Identity at the source (e.g. ``moodle:<course>:<user>``) so a repeated sync is idempotent.
    external_ref: Mapped[str | None] = mapped_column(String(255), unique=True)

    course: Mapped[Course] = relationship()
    officer: Mapped[Officer] = relationship()


class Certificate(TimestampMixin, Base):
    """A certificate (chứng chỉ) issued on a pass; revoked if the result is corrected below the
    pass mark; superseded by the certificate of a later pass in the same course."""

    __tablename__ = "training_certificates"
    __table_args__ = (
        # Covering index for the indicator: per officer, the valid certificates of the required
        # courses and their expiry, without touching the table.
        Index(
            "ix_training_certificates_officer_cover",
            "officer_id",
            "status",
            "course_id",
            "expires_on",
        ),
        Index("ix_training_certificates_status_expires", "status", "expires_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("training_courses.id"))
    result_id: Mapped[int] = mapped_column(ForeignKey("training_results.id"), index=True)
    issued_on: Mapped[date] = mapped_column(Date)
    # First day the certificate no longer counts; None = never expires.
    expires_on: Mapped[date | None] = mapped_column(Date)
    verification_code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[CertificateStatus] = mapped_column(
        db_enum(CertificateStatus), default=CertificateStatus.valid
    )
    # The certificate this one replaced; restored if this one is revoked.
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("training_certificates.id"))
    revoked_on: Mapped[date | None] = mapped_column(Date)
    # When the holder and their unit's training contacts were told it is about to expire
    # (the daily job sends one notice per certificate).
    expiry_notice_on: Mapped[date | None] = mapped_column(Date)
    revoke_reason: Mapped[str | None] = mapped_column(String(500))

    course: Mapped[Course] = relationship()
    officer: Mapped[Officer] = relationship()
