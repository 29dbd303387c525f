"""Database backup, retention, verification by restore, and restore drills on SQLite (online
backup API) and PostgreSQL (pg_dump/pg_restore of the server's version) — real engines only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from inventory.db import make_engine, session_scope
from inventory.enums import DeviceKind, UnitKind
from inventory.models import OpsEvent, Unit
from inventory.service import InventoryService
from playbooks.databackup import backup_database, drill_restore, verify_backup
from playbooks.models import DataBackup, Drill


class Clock:
    """A settable clock: each call advances one minute, so backups get distinct times."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        svc = InventoryService(s, actor="test")
        svc.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
        for i in range(5):
            svc.create_unit(
                code=f"P{i}",
                name=f"LĐLĐ tỉnh {i}",
                level=2,
                kind=UnitKind.province_federation,
                parent_code="TLD",
            )
            svc.create_device(asset_tag=f"P{i}-PC-1", kind=DeviceKind.pc, unit_code=f"P{i}")
    yield engine
    engine.dispose()


def test_backup_verify_retention_and_drill(db: Engine, tmp_path: Path) -> None:
    clock = Clock()
    backups = tmp_path / "backups"
    first = backup_database(db, backup_dir=backups, clock=clock, keep=2)
    assert first.ok, first.error
    assert first.path is not None and first.path.is_file() and first.size_bytes > 0
    with session_scope(db) as s:
        row = s.get(DataBackup, first.backup_id)
        assert row is not None and row.manifest["units"]["rows"] == 6
        assert row.manifest["devices"]["rows"] == 5

    # Changes after the backup do not matter: the restore is compared with the snapshot.
    with session_scope(db) as s:
        InventoryService(s, actor="test").create_unit(
            code="P9",
            name="LĐLĐ tỉnh 9",
            level=2,
            kind=UnitKind.province_federation,
            parent_code="TLD",
        )
    result = verify_backup(db, clock=clock)
    assert result.ok, (result.error, result.mismatched_tables)
    assert result.backup_id == first.backup_id
    units = next(t for t in result.tables if t.table == "units")
    assert units.restored_rows == units.expected_rows == 6
    assert len(result.tables) >= 20  # every domain's tables, not just inventory

    second = backup_database(db, backup_dir=backups, clock=clock, keep=2)
    third = backup_database(db, backup_dir=backups, clock=clock, keep=2)
    assert second.ok and third.ok
    assert third.pruned == (str(first.path),) and not first.path.exists()
    assert sorted(p.name for p in backups.iterdir()) == sorted(
        p.name for p in (second.path, third.path) if p is not None
    )
    with session_scope(db) as s:
        assert s.get(DataBackup, third.backup_id).manifest["units"]["rows"] == 7  # type: ignore[union-attr]

    drill = drill_restore(db, clock=clock, actor="test", rto_seconds=3600)
    assert drill.ok and drill.met_objective and drill.measured_seconds < 60
    assert drill.verify is not None and drill.verify.backup_id == third.backup_id
    missed = drill_restore(db, clock=clock, actor="test", rto_seconds=0.0001)
    assert missed.ok and not missed.met_objective

    # A damaged backup file is caught before anyone relies on it.
    assert third.path is not None
    data = bytearray(third.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    third.path.write_bytes(bytes(data))
    broken = verify_backup(db, clock=clock)
    assert not broken.ok and "checksum" in (broken.error or "")

    with session_scope(db) as s:
        kinds = dict(
            s.execute(
                select(OpsEvent.kind, func.count())
                .where(OpsEvent.source == "playbooks.data_backup")
                .group_by(OpsEvent.kind)
            ).all()
        )
        assert kinds == {"backup_succeeded": 3, "backup_verified": 3, "backup_verify_failed": 1}
        failed = s.scalar(select(OpsEvent).where(OpsEvent.kind == "backup_verify_failed"))
        assert failed is not None and failed.data["backup_kind"] == "db"
        assert failed.data["target"].startswith(db.dialect.name)
        drills = s.scalars(select(Drill).order_by(Drill.id)).all()
        assert [d.met_objective for d in drills] == [True, False]
        assert s.scalar(select(func.count()).select_from(Unit)) == 7


def test_restore_detects_tampered_content(db: Engine, tmp_path: Path) -> None:
    """A backup whose file checksum is fine but whose content differs from its manifest (as if
    the dump missed rows) fails verification on exactly that table."""
    clock = Clock()
    res = backup_database(db, backup_dir=tmp_path, clock=clock, keep=3)
    assert res.ok
    with session_scope(db) as s:
        row = s.get(DataBackup, res.backup_id)
        assert row is not None
        manifest = dict(row.manifest)
        manifest["devices"] = {"rows": 6, "checksum": "0" * 64}
        row.manifest = manifest
    out = verify_backup(db, clock=clock)
    assert not out.ok and out.mismatched_tables == ("devices",)
