"""Inventory tables: the federation's source of truth.

The organisation tree uses a materialised path: ``Unit.path`` is the chain of ids from the
root, e.g. ``/1/7/93/``. The subtree of a unit is every row whose path starts with the unit's
path, which both engines answer from one b-tree range scan (see :func:`subtree_filter`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    and_,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from inventory.db import Base, PathString, UTCDateTime, db_enum, utcnow
from inventory.enums import (
    ContactRole,
    CredentialKind,
    DeviceKind,
    DeviceStatus,
    LinkStatus,
    ServiceKind,
    Severity,
    SiteKind,
    SoftwareCategory,
    SoftwareStatus,
    UnitKind,
)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Unit(TimestampMixin, Base):
    """A node of the organisation tree (TLĐ → LĐLĐ tỉnh / CĐ ngành → LĐLĐ huyện → CĐCS)."""

    __tablename__ = "units"
    # The plan targets look at levels 1-3 of a subtree: ``level IN (1,2,3) AND path range`` is
    # three short seeks here instead of a walk over every grassroots unit (inv_0003).
    __table_args__ = (Index("ix_units_level_path", "level", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    # ASCII, lower case, for search without diacritics and for Ansible group names.
    slug: Mapped[str] = mapped_column(String(255), index=True)
    level: Mapped[int] = mapped_column(Integer)
    kind: Mapped[UnitKind] = mapped_column(db_enum(UnitKind))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    path: Mapped[str] = mapped_column(PathString(1024), index=True, default="")

    parent: Mapped[Unit | None] = relationship(remote_side=[id])

    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this unit, inclusive."""
        return [int(p) for p in self.path.strip("/").split("/") if p]


def subtree_filter(path_column: Any, unit_path: str) -> ColumnElement[bool]:
    """SQL condition: ``path_column`` lies in the subtree whose root has ``unit_path``.

    ``~`` sorts after every digit and ``/``, so ``[path, path + "~")`` is exactly the prefix range.
    """
    return and_(path_column >= unit_path, path_column < unit_path + "~")


class Site(TimestampMixin, Base):
    """A physical place of a unit: an office, or the HQ data-integration center."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[SiteKind] = mapped_column(db_enum(SiteKind), default=SiteKind.office)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(500))

    unit: Mapped[Unit] = relationship()


class Officer(TimestampMixin, Base):
    """A union officer (cán bộ công đoàn); ``full_time`` marks cán bộ chuyên trách."""

    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(255))
    name_ascii: Mapped[str] = mapped_column(String(255), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    position: Mapped[str | None] = mapped_column(String(255))
    full_time: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    # Core IT staff need the advanced curriculum and receive alerts for their unit.
    it_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    unit: Mapped[Unit] = relationship()


class UnitContact(Base):
    """An officer who answers for a unit in some role (alerts, meetings, training)."""

    __tablename__ = "unit_contacts"
    __table_args__ = (UniqueConstraint("unit_id", "officer_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", ondelete="CASCADE"))
    role: Mapped[ContactRole] = mapped_column(db_enum(ContactRole))

    unit: Mapped[Unit] = relationship()
    officer: Mapped[Officer] = relationship()


class CredentialProfile(TimestampMixin, Base):
    """How to reach devices: SNMP v2c/v3 or SSH. ``secret_blob`` is Fernet ciphertext of a JSON
    object (community, auth/priv keys, password); it is never exported, logged or put in Ansible
    artifacts. See :mod:`inventory.secrets`.
    """

    __tablename__ = "credential_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[CredentialKind] = mapped_column(db_enum(CredentialKind))
    username: Mapped[str | None] = mapped_column(String(128))
    # Non-secret protocol parameters (auth/priv protocol, port, become method ...).
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret_blob: Mapped[bytes] = mapped_column(LargeBinary)


class Device(TimestampMixin, Base):
    """An asset: computer, printer, network gear, server, UPS ..."""

    __tablename__ = "devices"
    __table_args__ = (
        Index("ix_devices_unit_kind_status", "unit_id", "kind", "status"),
        Index("ix_devices_assigned_officer_id", "assigned_officer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_tag: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[DeviceKind] = mapped_column(db_enum(DeviceKind))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    hostname: Mapped[str | None] = mapped_column(String(255), index=True)
    vendor: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(128))
    serial: Mapped[str | None] = mapped_column(String(128))
    mgmt_ip: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[DeviceStatus] = mapped_column(db_enum(DeviceStatus), default=DeviceStatus.active)
    # netmiko device_type / Ansible network_os family, e.g. cisco_ios, linux, mikrotik_routeros.
    platform: Mapped[str | None] = mapped_column(String(64))
    purchase_date: Mapped[date | None] = mapped_column(Date)
    cost_vnd: Mapped[int | None] = mapped_column(BigInteger)
    warranty_end: Mapped[date | None] = mapped_column(Date)
    # Current holder; the full history is in ``custody``.
    assigned_officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    snmp_profile_id: Mapped[int | None] = mapped_column(ForeignKey("credential_profiles.id"))
    ssh_profile_id: Mapped[int | None] = mapped_column(ForeignKey("credential_profiles.id"))
    # UDP port of the SNMP agent when it differs from the profile's ``params["port"]`` (161).
    snmp_port: Mapped[int | None] = mapped_column(Integer)
    # False keeps a device (and its profiles) on record without polling it.
    monitored: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    unit: Mapped[Unit] = relationship()
    site: Mapped[Site | None] = relationship()
    assigned_officer: Mapped[Officer | None] = relationship()


class Custody(Base):
    """Who held which device when. The open row (``returned_on`` is null) is the current holder."""

    __tablename__ = "custody"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    assigned_on: Mapped[date] = mapped_column(Date)
    returned_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(500))

    device: Mapped[Device] = relationship()
    officer: Mapped[Officer] = relationship()


class InternetLink(TimestampMixin, Base):
    """An internet connection of a unit (natural key: unit, ISP, kind)."""

    __tablename__ = "internet_links"
    __table_args__ = (UniqueConstraint("unit_id", "isp", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    isp: Mapped[str] = mapped_column(String(128))
    bandwidth_mbps: Mapped[int] = mapped_column(Integer)
    # Free text from the contract: ftth, leased_line, 4g, wan ...
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[LinkStatus] = mapped_column(db_enum(LinkStatus), default=LinkStatus.active)

    unit: Mapped[Unit] = relationship()


class Vlan(Base):
    __tablename__ = "vlans"
    __table_args__ = (UniqueConstraint("site_id", "vid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    vid: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))


class Prefix(Base):
    """An IP prefix (IPv4 or IPv6, CIDR) used at a site, optionally on a VLAN."""

    __tablename__ = "prefixes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(64), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    vlan_id: Mapped[int | None] = mapped_column(ForeignKey("vlans.id"))
    description: Mapped[str | None] = mapped_column(String(255))


class Software(TimestampMixin, Base):
    """Application software / licence in use at a unit (natural key: unit, product)."""

    __tablename__ = "software"
    __table_args__ = (
        UniqueConstraint("unit_id", "product"),
        Index("ix_software_unit_category_status", "unit_id", "category", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    product: Mapped[str] = mapped_column(String(255))
    category: Mapped[SoftwareCategory] = mapped_column(db_enum(SoftwareCategory))
    seats: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[SoftwareStatus] = mapped_column(
        db_enum(SoftwareStatus), default=SoftwareStatus.active
    )
    licence_expires: Mapped[date | None] = mapped_column(Date)

    unit: Mapped[Unit] = relationship()


class Service(TimestampMixin, Base):
    """A federation service to check: web portal, e-mail, EIS, Jitsi ... (monitoring reads it).

    ``target`` is what the check connects to (URL for http/tls, ``host:port`` for tcp/smtp,
    a name for dns, an address for icmp). ``params`` holds check options (expected status,
    timeout seconds, expected DNS answer ...).
    """

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[ServiceKind] = mapped_column(db_enum(ServiceKind))
    target: Mapped[str] = mapped_column(String(500))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    unit: Mapped[Unit] = relationship()


class AuditRecord(Base):
    """One change made through a service: who, when, what, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))  # create, update, delete, import, ...
    entity: Mapped[str] = mapped_column(String(64))
    entity_key: Mapped[str] = mapped_column(String(255))
    # Unit path of the object, so audit can be filtered by subtree like everything else.
    unit_path: Mapped[str | None] = mapped_column(PathString(1024))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_log_entity_key", "entity", "entity_key"),)


class TargetSnapshot(Base):
    """A dated copy of a ``tldops targets`` report, for quarter-to-quarter comparison."""

    __tablename__ = "target_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    label: Mapped[str | None] = mapped_column(String(128))
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class OpsEvent(Base):
    """Something that happened that monitoring should know about, written by any domain.

    Playbooks record ``config_changed`` / ``backup_failed`` here; monitoring turns events into
    alerts. This table is how domains talk without importing each other.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(64))  # e.g. "playbooks.config_backup"
    kind: Mapped[str] = mapped_column(String(64), index=True)  # e.g. "config_changed"
    severity: Mapped[Severity] = mapped_column(db_enum(Severity), default=Severity.info)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SchedulerLease(Base):
    """Which process runs the periodic jobs: one row per lease, held until ``expires_at``.

    Two ``tldops up`` processes on one database (a second node, or the factory path beside the
    CLI) would otherwise both send every reminder and take every backup. The holder renews the
    lease while it runs; a process that dies loses it when it expires. A read-only standby
    cannot write the row, so it never runs jobs.
    """

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
