"""Pydantic records of the playbooks domain that cross the HTTP boundary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from playbooks.enums import BackupOutcome, ConfigSource, DrillKind, RunStatus


class HostResultOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    host: str
    ok: int
    changed: int
    failed: int
    unreachable: int
    skipped: int
    error: str | None = None


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    playbook: str
    limit: str | None
    unit_id: int | None
    check_mode: bool
    diff_mode: bool
    status: RunStatus
    rc: int | None
    actor: str
    started_at: datetime
    finished_at: datetime | None


class RunDetailOut(RunOut):
    artifact_dir: str | None
    hosts: list[HostResultOut]


class ConfigBackupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: int
    asset_tag: str
    at: datetime
    source: ConfigSource
    outcome: BackupOutcome
    repo_path: str | None
    commit: str | None
    lines_added: int
    lines_removed: int
    error: str | None


class ConfigDiffOut(BaseModel):
    asset_tag: str
    repo_path: str
    rev: str | None
    diff: str


class DataBackupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    target: str
    dialect: str
    size_bytes: int
    sha256: str | None
    started_at: datetime
    finished_at: datetime | None
    ok: bool
    error: str | None
    pruned: bool


class DrillOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: DrillKind
    target: str
    started_at: datetime
    finished_at: datetime | None
    ok: bool
    measured_seconds: float | None
    objective_seconds: float | None
    met_objective: bool
    actor: str
    details: dict[str, Any]
