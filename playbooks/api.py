"""``/api/operations``: playbook runs, configuration backups and their diffs, data backups, drills.

Runs tied to a unit and config backups are filtered to the principal's visible subtrees; runs,
data backups and drills of the whole federation (no unit) are for administrators only. A run or
device the caller may not see answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from inventory.api_deps import IdPath, Page, PageDep, PrincipalDep, SessionDep, paginate
from inventory.config import Settings
from inventory.errors import NotFound
from inventory.models import Device, Unit
from inventory.security import Principal, Role
from playbooks.configbackup import ConfigRepo, device_repo_path
from playbooks.errors import PlaybookNotFound
from playbooks.models import ConfigBackup, DataBackup, Drill, PlaybookRun
from playbooks.schemas import (
    ConfigBackupOut,
    ConfigDiffOut,
    DataBackupOut,
    DrillOut,
    RunDetailOut,
    RunOut,
)
from playbooks.settings import PlaybookPaths

router = APIRouter(prefix="/api/operations", tags=["operations"])


def _is_admin(principal: Principal) -> bool:
    return principal.can(Role.admin, "/")


@router.get("/runs", response_model=Page[RunOut])
def list_runs(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    playbook: str | None = None,
) -> Page[RunOut]:
    """Playbook runs, newest first."""
    q = select(PlaybookRun).outerjoin(Unit, Unit.id == PlaybookRun.unit_id)
    if not _is_admin(principal):  # federation-wide runs (no unit) are for administrators
        q = q.where(PlaybookRun.unit_id.is_not(None), principal.visible_filter(Unit.path))
    if playbook:
        q = q.where(PlaybookRun.playbook == playbook)
    q = q.order_by(PlaybookRun.id.desc())
    return paginate(session, q, page, RunOut.model_validate)


@router.get("/runs/{run_id}", response_model=RunDetailOut)
def get_run(run_id: IdPath, session: SessionDep, principal: PrincipalDep) -> RunDetailOut:
    """One run with its per-host recap (404 for a run the caller may not see, as if missing)."""
    run = session.get(PlaybookRun, run_id)
    if run is None or not _sees_run(principal, run):
        raise PlaybookNotFound(f"Không có lần chạy {run_id} / no run {run_id}")
    return RunDetailOut.model_validate(run)


def _sees_run(principal: Principal, run: PlaybookRun) -> bool:
    if run.unit is None:  # federation-wide runs are for administrators
        return _is_admin(principal)
    return principal.can(Role.viewer, run.unit.path)


def _config_out(row: ConfigBackup) -> ConfigBackupOut:
    return ConfigBackupOut(
        id=row.id,
        device_id=row.device_id,
        asset_tag=row.device.asset_tag,
        at=row.at,
        source=row.source,
        outcome=row.outcome,
        repo_path=row.repo_path,
        commit=row.commit,
        lines_added=row.lines_added,
        lines_removed=row.lines_removed,
        error=row.error,
    )


@router.get("/config-backups", response_model=Page[ConfigBackupOut])
def list_config_backups(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    device: str | None = None,
    failed_only: bool = False,
) -> Page[ConfigBackupOut]:
    """Configuration fetches, newest first (optionally one device's, or failures only)."""
    q = (
        select(ConfigBackup)
        .join(Device, Device.id == ConfigBackup.device_id)
        .join(Unit, Unit.id == Device.unit_id)
        .where(principal.visible_filter(Unit.path))
    )
    if device:
        q = q.where(Device.asset_tag == device)
    if failed_only:
        q = q.where(ConfigBackup.outcome == "failed")
    q = q.order_by(ConfigBackup.id.desc())
    return paginate(session, q, page, _config_out)


@router.get("/config-backups/{device}/diff", response_model=ConfigDiffOut)
def config_diff(
    device: str, session: SessionDep, principal: PrincipalDep, rev: str | None = None
) -> ConfigDiffOut:
    """Unified diff of a device's configuration: from ``rev`` (default: previous) to now."""
    dev = session.scalar(select(Device).where(Device.asset_tag == device))
    # Another province's device answers exactly like a missing one: existence is not leaked.
    if dev is None or not principal.can(Role.viewer, dev.unit.path):
        raise NotFound(f"Không có thiết bị {device!r} / no device {device!r}")
    rel = device_repo_path(session, device)
    repo = ConfigRepo(PlaybookPaths.from_settings(Settings.from_env()).config_repo)
    return ConfigDiffOut(asset_tag=device, repo_path=rel, rev=rev, diff=repo.diff(rel, rev=rev))


@router.get("/data-backups", response_model=Page[DataBackupOut])
def list_data_backups(
    session: SessionDep, principal: PrincipalDep, page: PageDep
) -> Page[DataBackupOut]:
    """Database backups, newest first (administrators)."""
    principal.require(Role.admin, "/")
    q = select(DataBackup).order_by(DataBackup.id.desc())
    return paginate(session, q, page, DataBackupOut.model_validate)


@router.get("/drills", response_model=Page[DrillOut])
def list_drills(session: SessionDep, principal: PrincipalDep, page: PageDep) -> Page[DrillOut]:
    """Restore and failover drills, newest first (administrators)."""
    principal.require(Role.admin, "/")
    q = select(Drill).order_by(Drill.id.desc())
    return paginate(session, q, page, DrillOut.model_validate)
