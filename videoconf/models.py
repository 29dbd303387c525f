"""Videoconf tables: Jitsi deployments, physical rooms, conferences and what hangs off them.

Times are stored UTC (:class:`inventory.db.UTCDateTime`) and shown in Asia/Ho_Chi_Minh. A
recurring conference keeps the first occurrence in ``start_at``/``end_at`` plus an RFC 5545 RRULE
(expanded in local time) and EXDATEs; one edited occurrence is a :class:`OccurrenceOverride`
keyed by its original start (the iCalendar RECURRENCE-ID).

Invitees are resolved when the conference is booked ("a unit means its contact officers") and
stored in :class:`Invitation`, so conflicts, e-mails and the attendance report all work from the
same list even if the organisation changes later.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.db import Base, UTCDateTime, db_enum, utcnow
from inventory.models import Officer, Unit


class ConferenceStatus(StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"


class ParticipantKind(StrEnum):
    unit = "unit"  # the unit's meeting contacts (falling back to its leaders)
    subtree = "subtree"  # every unit under ``unit`` at ``level`` (e.g. all provinces)
    officer = "officer"  # one officer


class AttendanceAction(StrEnum):
    joined = "joined"
    left = "left"


class JitsiDeployment(Base):
    """A Jitsi Meet installation and the load it declares it can carry.

    ``secret_blob`` is a :class:`inventory.secrets.SecretBox` seal of
    ``{"app_secret": ..., "webhook_token": ...}``: the JWT signing secret and the shared token
    Prosody's event webhook presents.
    """

    __tablename__ = "vc_deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    base_url: Mapped[str] = mapped_column(String(500))  # https://meet.congdoan.vn
    app_id: Mapped[str] = mapped_column(String(128))  # JWT iss
    audience: Mapped[str] = mapped_column(String(128), default="jitsi")  # JWT aud
    # JWT sub: the XMPP domain (or "*"), which Prosody's token verification checks.
    domain: Mapped[str] = mapped_column(String(255))
    muc_domain: Mapped[str] = mapped_column(String(255))  # conference.<domain>
    jicofo_url: Mapped[str | None] = mapped_column(String(500))  # .../about/health
    prosody_url: Mapped[str | None] = mapped_column(String(500))  # mod_muc_size
    bridge_urls: Mapped[list[str]] = mapped_column(JSON, default=list)  # colibri, one per JVB
    max_participants: Mapped[int] = mapped_column(Integer)
    video_bridges: Mapped[int] = mapped_column(Integer, default=1)
    bandwidth_mbps: Mapped[int] = mapped_column(Integer)
    per_participant_kbps: Mapped[int] = mapped_column(Integer, default=1500)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    secret_blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MeetingRoom(Base):
    """A physical meeting room at a unit (a resource that can be double-booked too)."""

    __tablename__ = "vc_rooms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    capacity: Mapped[int] = mapped_column(Integer)

    unit: Mapped[Unit] = relationship()


class Conference(Base):
    """A (possibly recurring) online conference."""

    __tablename__ = "vc_conferences"
    __table_args__ = (Index("ix_vc_conferences_status_start", "status", "start_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(128), unique=True)  # iCalendar UID, never changes
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    host_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    # The host's unit: permissions and list filters follow it.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("vc_deployments.id"), index=True)
    room_name: Mapped[str] = mapped_column(String(128), unique=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Until when recurrences are expanded for conflicts and links (the booking horizon).
    series_end_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    rrule: Mapped[str | None] = mapped_column(String(500))
    exdates: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO UTC original starts
    lobby: Mapped[bool] = mapped_column(Boolean, default=False)
    password_blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[ConferenceStatus] = mapped_column(
        db_enum(ConferenceStatus), default=ConferenceStatus.scheduled
    )
    # Participants the deployment must carry at once (invitees; upper bound of the real load).
    expected_load: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    host: Mapped[Officer] = relationship(foreign_keys=[host_id])
    unit: Mapped[Unit] = relationship()
    deployment: Mapped[JitsiDeployment] = relationship()
    participants: Mapped[list[ConferenceParticipant]] = relationship(
        back_populates="conference",
        cascade="all, delete-orphan",
        order_by="ConferenceParticipant.id",
    )
    invitations: Mapped[list[Invitation]] = relationship(
        back_populates="conference", cascade="all, delete-orphan", order_by="Invitation.id"
    )
    overrides: Mapped[list[OccurrenceOverride]] = relationship(
        back_populates="conference", cascade="all, delete-orphan"
    )
    rooms: Mapped[list[MeetingRoom]] = relationship(secondary="vc_conference_rooms")


class ConferenceRoom(Base):
    __tablename__ = "vc_conference_rooms"

    conference_id: Mapped[int] = mapped_column(
        ForeignKey("vc_conferences.id", ondelete="CASCADE"), primary_key=True
    )
    room_id: Mapped[int] = mapped_column(ForeignKey("vc_rooms.id"), primary_key=True, index=True)


class ConferenceParticipant(Base):
    """What the host asked for: a unit, a subtree selector or an officer; required or optional."""

    __tablename__ = "vc_participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conference_id: Mapped[int] = mapped_column(
        ForeignKey("vc_conferences.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ParticipantKind] = mapped_column(db_enum(ParticipantKind))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    level: Mapped[int | None] = mapped_column(Integer)  # for subtree selectors
    # For subtree selectors: only units of these kinds (UnitKind values); None = every kind.
    unit_kinds: Mapped[list[str] | None] = mapped_column(JSON)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    required: Mapped[bool] = mapped_column(Boolean, default=True)

    conference: Mapped[Conference] = relationship(back_populates="participants")
    unit: Mapped[Unit | None] = relationship()
    officer: Mapped[Officer | None] = relationship()


class Invitation(Base):
    """One invited officer (resolved from the participants) and what was last sent to them."""

    __tablename__ = "vc_invitations"
    __table_args__ = (UniqueConstraint("conference_id", "officer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conference_id: Mapped[int] = mapped_column(
        ForeignKey("vc_conferences.id", ondelete="CASCADE"), index=True
    )
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    # The unit this officer represents here (a province for a nationwide conference).
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    moderator: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(255))
    sent_sequence: Mapped[int | None] = mapped_column(Integer)
    sent_method: Mapped[str | None] = mapped_column(String(16))  # REQUEST | CANCEL
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    conference: Mapped[Conference] = relationship(back_populates="invitations")
    officer: Mapped[Officer] = relationship()
    unit: Mapped[Unit] = relationship()


class OccurrenceOverride(Base):
    """One occurrence of a series moved ("edit this occurrence only")."""

    __tablename__ = "vc_overrides"
    __table_args__ = (UniqueConstraint("conference_id", "recurrence_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conference_id: Mapped[int] = mapped_column(
        ForeignKey("vc_conferences.id", ondelete="CASCADE"), index=True
    )
    recurrence_id: Mapped[datetime] = mapped_column(UTCDateTime())  # original start
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())

    conference: Mapped[Conference] = relationship(back_populates="overrides")


class ReminderSent(Base):
    """A reminder already sent for one occurrence, so each is sent once."""

    __tablename__ = "vc_reminders"
    __table_args__ = (UniqueConstraint("conference_id", "occurrence_start", "minutes_before"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conference_id: Mapped[int] = mapped_column(
        ForeignKey("vc_conferences.id", ondelete="CASCADE"), index=True
    )
    occurrence_start: Mapped[datetime] = mapped_column(UTCDateTime())
    minutes_before: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class AttendanceEvent(Base):
    """A participant joined or left a room, as reported by Prosody's event webhook."""

    __tablename__ = "vc_attendance"
    __table_args__ = (Index("ix_vc_attendance_conference_at", "conference_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("vc_deployments.id"), index=True)
    conference_id: Mapped[int | None] = mapped_column(
        ForeignKey("vc_conferences.id", ondelete="SET NULL")
    )
    room_name: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[AttendanceAction] = mapped_column(db_enum(AttendanceAction))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    occupant_jid: Mapped[str] = mapped_column(String(500))
    name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(128))  # JWT context.user.id
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
