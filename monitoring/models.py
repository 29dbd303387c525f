"""Monitoring tables: current observations, alerts and what humans did about them.

History is not kept here (Prometheus keeps it); these rows hold the *latest* state the alert
engine needs: the last poll of each device, the last two counter samples of each interface (for
rates), the last result of each service check, and the alert lifecycle.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.db import Base, UTCDateTime, db_enum, utcnow
from inventory.enums import Severity
from inventory.models import Device, Unit


class PollStatus(StrEnum):
    """Outcome of the last SNMP poll of a device."""

    up = "up"
    down = "down"  # no answer within the timeout (or transport error)
    error = "error"  # the agent answered but refused (wrong community/key, malformed reply)
    skipped = "skipped"  # not polled: outside TLDOPS_ALLOWED_NETS or no profile


class AlertState(StrEnum):
    pending = "pending"
    firing = "firing"
    resolved = "resolved"


class NotifyChannel(StrEnum):
    email = "email"
    webhook = "webhook"


class PollState(Base):
    """The latest SNMP poll of one device (one row per device)."""

    __tablename__ = "mon_poll_state"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[PollStatus] = mapped_column(db_enum(PollStatus))
    polled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    down_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    sys_name: Mapped[str | None] = mapped_column(String(255))
    sys_descr: Mapped[str | None] = mapped_column(Text)
    # sysUpTime in hundredths of a second, as the agent reports it.
    sys_uptime: Mapped[int | None] = mapped_column(BigInteger)
    rebooted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Profile-specific readings: cpu_percent, storage[], ups{}, printer{} (see monitoring.snmp).
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    device: Mapped[Device] = relationship()


class InterfaceState(Base):
    """The latest sample of one interface and the rates computed from the previous one."""

    __tablename__ = "mon_interfaces"
    __table_args__ = (UniqueConstraint("device_id", "if_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    if_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255), default="")
    alias: Mapped[str] = mapped_column(String(255), default="")
    admin_up: Mapped[bool] = mapped_column(Boolean, default=True)
    oper_up: Mapped[bool] = mapped_column(Boolean, default=False)
    speed_bps: Mapped[int | None] = mapped_column(BigInteger)
    counter_bits: Mapped[int] = mapped_column(Integer, default=32)
    # Raw counters are unsigned 64-bit; stored as text so PostgreSQL BIGINT never overflows.
    in_octets: Mapped[str] = mapped_column(String(24), default="0")
    out_octets: Mapped[str] = mapped_column(String(24), default="0")
    in_errors: Mapped[str] = mapped_column(String(24), default="0")
    out_errors: Mapped[str] = mapped_column(String(24), default="0")
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sys_uptime: Mapped[int | None] = mapped_column(BigInteger)
    in_bps: Mapped[float | None] = mapped_column(Float)
    out_bps: Mapped[float | None] = mapped_column(Float)
    errors_per_s: Mapped[float | None] = mapped_column(Float)

    device: Mapped[Device] = relationship()

    @property
    def is_uplink(self) -> bool:
        """Uplinks are marked by their description (ifAlias), the convention of the field."""
        text = f"{self.alias} {self.name}".lower()
        return "uplink" in text or "wan" in text.split()


class CheckState(Base):
    """The latest result of one service check (one row per ``inventory.models.Service``)."""

    __tablename__ = "mon_check_state"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    ok: Mapped[bool] = mapped_column(Boolean)
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    cert_days_left: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text, default="")
    down_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Alert(Base):
    """One occurrence of a rule's condition, from pending to resolved.

    ``fingerprint`` identifies the condition (rule + identifying labels); at most one open
    (pending or firing) alert exists per fingerprint, which is the de-duplication.
    """

    __tablename__ = "mon_alerts"
    __table_args__ = (Index("ix_mon_alerts_state_fingerprint", "state", "fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[Severity] = mapped_column(db_enum(Severity))
    state: Mapped[AlertState] = mapped_column(db_enum(AlertState), default=AlertState.pending)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    summary: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Why notifications are held back: "silence:<id>", "maintenance:<id>", "site_down:<alert>",
    # "flapping". Null means the alert is notified.
    suppressed_by: Mapped[str | None] = mapped_column(String(128))
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    ack_comment: Mapped[str | None] = mapped_column(Text)
    # 0 = the unit's own IT contacts; n = the n-th ancestor that has contacts.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    notified_firing_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notified_resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    unit: Mapped[Unit] = relationship()


class Silence(Base):
    """Mute alerts of a unit subtree for a time, optionally only some rules or one device."""

    __tablename__ = "mon_silences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text, default="")

    unit: Mapped[Unit] = relationship()


class MaintenanceWindow(Base):
    """Planned work on a unit subtree: every alert inside it is held back while it lasts."""

    __tablename__ = "mon_maintenance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128))

    unit: Mapped[Unit] = relationship()


class NotificationLog(Base):
    """Every notification attempt (sent or failed), so on-call staff can see who was told."""

    __tablename__ = "mon_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("mon_alerts.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[NotifyChannel] = mapped_column(db_enum(NotifyChannel))
    status: Mapped[AlertState] = mapped_column(db_enum(AlertState))
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
