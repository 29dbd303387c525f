"""Tables of the playbooks domain: Ansible runs, config backups, data backups, drills, VRRP pairs.

Every table is prefixed ``pb_`` so the domain's rows are easy to tell apart in a shared database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.db import Base, UTCDateTime, db_enum, utcnow
from inventory.models import CredentialProfile, Device, Unit
from playbooks.enums import (
    BackupOutcome,
    ConfigSource,
    DataBackupKind,
    DrillKind,
    RunStatus,
    VrrpState,
)


class PlaybookRun(Base):
    """One ``ansible-playbook`` invocation through ansible-runner.

    ``artifact_dir`` is ansible-runner's folder for this run (``var/runs/<id>/``): ``stdout``,
    ``status``, ``rc``, ``job_events/`` — readable with ``cat`` by the on-call engineer.
    """

    __tablename__ = "pb_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    playbook: Mapped[str] = mapped_column(String(255))
    limit: Mapped[str | None] = mapped_column(String(500))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    check_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    diff_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[RunStatus] = mapped_column(db_enum(RunStatus), default=RunStatus.running)
    rc: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    artifact_dir: Mapped[str | None] = mapped_column(String(1024))

    unit: Mapped[Unit | None] = relationship()
    hosts: Mapped[list[HostResult]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="HostResult.host"
    )


class HostResult(Base):
    """Per-host task counters of a run (Ansible's PLAY RECAP line) and why it failed."""

    __tablename__ = "pb_host_results"
    __table_args__ = (UniqueConstraint("run_id", "host"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("pb_runs.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(String(255))
    ok: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    unreachable: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    # Why the host failed: the failing task and its message (from the job events), scrubbed.
    error: Mapped[str | None] = mapped_column(Text)

    run: Mapped[PlaybookRun] = relationship(back_populates="hosts")


class ConfigBackup(Base):
    """One attempt to fetch a device's configuration into the config git repository."""

    __tablename__ = "pb_config_backups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    source: Mapped[ConfigSource] = mapped_column(db_enum(ConfigSource))
    outcome: Mapped[BackupOutcome] = mapped_column(db_enum(BackupOutcome))
    # Path of the file inside the repository, e.g. ``ha-noi/hn-quan-ba-dinh/hn-sw-1.cfg``.
    repo_path: Mapped[str | None] = mapped_column(String(1024))
    commit: Mapped[str | None] = mapped_column(String(64))
    lines_added: Mapped[int] = mapped_column(Integer, default=0)
    lines_removed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)

    device: Mapped[Device] = relationship()


class DataBackup(Base):
    """A backup file of a database (or a restic snapshot) with its checksum."""

    __tablename__ = "pb_data_backups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[DataBackupKind] = mapped_column(db_enum(DataBackupKind))
    # What was backed up, without credentials (``postgresql://host:5432/tldops``).
    target: Mapped[str] = mapped_column(String(500))
    dialect: Mapped[str] = mapped_column(String(32))
    path: Mapped[str | None] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    # Per-table row count and checksum taken from the same snapshot as the backup:
    # {table: {"rows": n, "checksum": hex}}. Verification compares a restore against it.
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Retention removed the file; the row stays as history.
    pruned: Mapped[bool] = mapped_column(Boolean, default=False)


class BackupVerification(Base):
    """A restore of a backup into a scratch database compared with the source, table by table."""

    __tablename__ = "pb_backup_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backup_id: Mapped[int] = mapped_column(
        ForeignKey("pb_data_backups.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    restore_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # {table: {"rows": n, "checksum": hex, "source_rows": n, "source_checksum": hex, "ok": bool}}
    tables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)

    backup: Mapped[DataBackup] = relationship()


class Drill(Base):
    """A restore or failover drill: what was measured against which objective."""

    __tablename__ = "pb_drills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[DrillKind] = mapped_column(db_enum(DrillKind), index=True)
    target: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    measured_seconds: Mapped[float | None] = mapped_column(Float)
    objective_seconds: Mapped[float | None] = mapped_column(Float)
    met_objective: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class VrrpPair(Base):
    """A keepalived VRRP pair serving a virtual IP (portal, EIS ...)."""

    __tablename__ = "pb_vrrp_pairs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    vip: Mapped[str] = mapped_column(String(64))
    virtual_router_id: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    # What must answer on the VIP after a failover, e.g. ``http://198.18.40.100:22080/``.
    check_url: Mapped[str | None] = mapped_column(String(500))

    unit: Mapped[Unit] = relationship()
    nodes: Mapped[list[VrrpNode]] = relationship(
        back_populates="pair", cascade="all, delete-orphan", order_by="VrrpNode.name"
    )


class VrrpNode(Base):
    """One keepalived instance of a pair and how to reach its notify-hook state file.

    ``ssh_host``/``ssh_port``/``ssh_profile`` say where to read ``state_file`` over SSH;
    ``stop_command``/``start_command`` run there (with sudo when the profile says so) during a
    failover drill.
    """

    __tablename__ = "pb_vrrp_nodes"
    __table_args__ = (UniqueConstraint("pair_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(
        ForeignKey("pb_vrrp_pairs.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    ssh_host: Mapped[str] = mapped_column(String(255))
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    ssh_profile_id: Mapped[int | None] = mapped_column(ForeignKey("credential_profiles.id"))
    state_file: Mapped[str] = mapped_column(String(1024))
    stop_command: Mapped[str] = mapped_column(String(1024))
    start_command: Mapped[str] = mapped_column(String(1024))
    last_state: Mapped[VrrpState] = mapped_column(db_enum(VrrpState), default=VrrpState.unknown)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    pair: Mapped[VrrpPair] = relationship(back_populates="nodes")
    device: Mapped[Device | None] = relationship()
    ssh_profile: Mapped[CredentialProfile | None] = relationship()
