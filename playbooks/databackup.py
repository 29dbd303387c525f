"""Backups of the tldops database itself, verified by restoring them.

* SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent snapshot
  while the application keeps writing.
* PostgreSQL: ``pg_dump -Fc`` of the server's own major version, run inside an exported snapshot
  so the per-table manifest (row counts, checksums) describes exactly what was dumped.

Verification restores the newest backup into a scratch database (a temp file, or a
``CREATE DATABASE`` on the same server), recomputes the manifest and compares table by table::

    backup = backup_database(engine, backup_dir=Path("var/backups/db"), keep=14, clock=now)
    result = verify_backup(engine, backup_dir=Path("var/backups/db"), clock=now)
    result.ok, result.restore_seconds, result.mismatched_tables

Every outcome is recorded in ``pb_data_backups`` / ``pb_backup_verifications`` and raised as an
event (``backup_succeeded``, ``backup_failed``, ``backup_verified``, ``backup_verify_failed``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, select, text
from sqlalchemy.engine import make_url

from inventory.db import session_scope
from inventory.enums import Severity
from inventory.service import record_event
from playbooks.enums import DataBackupKind, DrillKind
from playbooks.errors import BackupError
from playbooks.models import BackupVerification, DataBackup, Drill
from playbooks.private import UMASK, private_dir, write_private

SOURCE = "playbooks.data_backup"
DEFAULT_RTO_S = 4 * 3600.0

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class BackupResult:
    backup_id: int
    ok: bool
    path: Path | None
    size_bytes: int
    sha256: str | None
    seconds: float
    error: str | None
    pruned: tuple[str, ...]


@dataclass(frozen=True)
class TableCheck:
    table: str
    expected_rows: int
    restored_rows: int
    expected_checksum: str
    restored_checksum: str

    @property
    def ok(self) -> bool:
        return (
            self.expected_rows == self.restored_rows
            and self.expected_checksum == self.restored_checksum
        )


@dataclass(frozen=True)
class VerifyResult:
    verification_id: int
    backup_id: int
    ok: bool
    restore_seconds: float
    tables: tuple[TableCheck, ...]
    error: str | None

    @property
    def mismatched_tables(self) -> tuple[str, ...]:
        return tuple(t.table for t in self.tables if not t.ok)


@dataclass(frozen=True)
class DrillResult:
    drill_id: int
    ok: bool
    measured_seconds: float
    objective_seconds: float
    met_objective: bool
    verify: VerifyResult | None


def target_label(engine: Engine) -> str:
    """What was backed up, without credentials.

    >>> target_label(make_engine("postgresql+psycopg://u:pw@db:5432/tldops"))
    'postgresql://db:5432/tldops'
    """
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{url.database}"
    return f"{url.get_backend_name()}://{url.host}:{url.port or 5432}/{url.database}"


# -- manifest ----------------------------------------------------------------------------------


def _canon(value: Any) -> str:
    """Engine-independent text of a value, so a restore hashes like its source."""
    if value is None:
        return "\x00"
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float | Decimal):
        return repr(float(value))
    return str(value)


def table_manifest(conn: Connection) -> dict[str, dict[str, Any]]:
    """``{table: {"rows": n, "checksum": sha256}}`` of every table seen through ``conn``.

    Rows are hashed in primary-key order (all columns when a table has no key).
    """
    md = MetaData()
    md.reflect(bind=conn)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(md.tables):
        table: Table = md.tables[name]
        order = list(table.primary_key.columns) or list(table.columns)
        digest = hashlib.sha256()
        rows = 0
        for row in conn.execute(select(table).order_by(*order)):
            digest.update("\x1f".join(_canon(v) for v in row).encode("utf-8"))
            digest.update(b"\x1e")
            rows += 1
        out[name] = {"rows": rows, "checksum": digest.hexdigest()}
    return out


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- PostgreSQL helpers --------------------------------------------------------------------------


def pg_bin(engine: Engine, tool: str) -> str:
    """Path of ``tool`` (pg_dump, pg_restore) matching the server's major version.

    A pg_dump older than the server refuses to dump; a newer one writes archives the server's
    pg_restore may not read. Debian keeps each version under /usr/lib/postgresql/<major>/bin.
    """
    with engine.connect() as conn:
        num = int(conn.execute(text("SHOW server_version_num")).scalar_one())
    major = num // 10000
    candidate = Path(f"/usr/lib/postgresql/{major}/bin/{tool}")
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(tool)
    if found is None:
        raise BackupError(
            f"Không tìm thấy {tool} / {tool} not found",
            hint=f"install postgresql-client-{major}",
        )
    return found


def _pg_env(engine: Engine) -> dict[str, str]:
    url = engine.url
    env = dict(os.environ)
    # The password travels in the child's environment, never on its command line.
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


def _pg_conn_args(engine: Engine, database: str | None = None) -> list[str]:
    url = engine.url
    args = ["-h", str(url.host or "localhost"), "-p", str(url.port or 5432)]
    if url.username:
        args += ["-U", str(url.username)]
    args += ["-d", database or str(url.database)]
    return args


# -- backup ------------------------------------------------------------------------------------


def _backup_sqlite(engine: Engine, dest: Path) -> dict[str, dict[str, Any]]:
    src_path = engine.url.database
    if not src_path or src_path == ":memory:":
        raise BackupError("Không sao lưu được CSDL trong bộ nhớ / cannot back up :memory:")
    src = sqlite3.connect(src_path)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    # The copy *is* the snapshot: its manifest is what a restore must reproduce.
    snap = create_engine(f"sqlite:///{dest}")
    try:
        with snap.connect() as conn:
            return table_manifest(conn)
    finally:
        snap.dispose()


def _backup_postgres(engine: Engine, dest: Path) -> dict[str, dict[str, Any]]:
    pg_dump = pg_bin(engine, "pg_dump")
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(text("SET TRANSACTION READ ONLY"))
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            # pg_dump joins our snapshot: the dump and the manifest see the same rows.
            proc = subprocess.run(
                [
                    pg_dump,
                    "-Fc",
                    "--no-owner",
                    f"--snapshot={snapshot}",
                    "-f",
                    str(dest),
                    *_pg_conn_args(engine),
                ],
                env=_pg_env(engine),
                capture_output=True,
                text=True,
                timeout=3600,
                umask=UMASK,
            )
            if proc.returncode != 0:
                raise BackupError(
                    f"pg_dump lỗi / pg_dump failed: {proc.stderr.strip()[:500]}",
                    hint="check the server version and the database URL",
                )
            return table_manifest(conn)


def backup_database(
    engine: Engine,
    *,
    backup_dir: Path,
    clock: Clock,
    keep: int = 14,
) -> BackupResult:
    """Back up the database behind ``engine`` into ``backup_dir`` and keep the newest ``keep``.

    The outcome is committed to the same database (row + event) even when the backup fails.

    >>> backup_database(engine, backup_dir=Path("var/backups/db"), clock=lambda: now).ok
    True
    """
    private_dir(backup_dir)
    dialect = engine.dialect.name
    started = clock()
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    suffix = "sqlite3" if dialect == "sqlite" else "dump"
    dest = backup_dir / f"tldops-{stamp}-{uuid.uuid4().hex[:6]}.{suffix}"
    t0 = time.monotonic()
    error: str | None = None
    manifest: dict[str, dict[str, Any]] = {}
    try:
        # Created 0600 before anything is written into it: a backup is the whole database.
        write_private(dest, b"")
        if dialect == "sqlite":
            manifest = _backup_sqlite(engine, dest)
        elif dialect == "postgresql":
            manifest = _backup_postgres(engine, dest)
        else:
            raise BackupError(f"Không hỗ trợ {dialect} / unsupported database {dialect}")
    except (BackupError, OSError, sqlite3.Error, subprocess.SubprocessError) as exc:
        error = str(exc)
        dest.unlink(missing_ok=True)
    seconds = time.monotonic() - t0
    ok = error is None
    if ok:
        os.chmod(dest, 0o600)  # whatever the dump tool did to the file
    size = dest.stat().st_size if ok else 0
    digest = _sha256_file(dest) if ok else None
    label = target_label(engine)
    pruned: list[str] = []
    with session_scope(engine) as session:
        row = DataBackup(
            kind=DataBackupKind.db,
            target=label,
            dialect=dialect,
            path=str(dest) if ok else None,
            size_bytes=size,
            sha256=digest,
            started_at=started,
            finished_at=clock(),
            ok=ok,
            error=error,
            manifest=manifest,
        )
        session.add(row)
        session.flush()
        data = {"target": label, "backup_kind": "db", "backup_id": row.id}
        if ok:
            record_event(
                session,
                source=SOURCE,
                kind="backup_succeeded",
                message=f"{label}: {size} bytes in {seconds:.1f}s",
                data={**data, "size_bytes": size, "seconds": round(seconds, 3)},
            )
            # Retention: only successful backups count towards ``keep``.
            older = session.scalars(
                select(DataBackup)
                .where(DataBackup.kind == DataBackupKind.db, DataBackup.target == label)
                .where(DataBackup.ok.is_(True), DataBackup.pruned.is_(False))
                .order_by(DataBackup.started_at.desc(), DataBackup.id.desc())
                .offset(max(keep, 1))
            ).all()
            for old in older:
                if old.path:
                    Path(old.path).unlink(missing_ok=True)
                    pruned.append(old.path)
                old.pruned = True
        else:
            record_event(
                session,
                source=SOURCE,
                kind="backup_failed",
                severity=Severity.critical,
                message=f"{label}: {error}",
                data={**data, "error": error},
            )
        backup_id = row.id
    return BackupResult(
        backup_id=backup_id,
        ok=ok,
        path=dest if ok else None,
        size_bytes=size,
        sha256=digest,
        seconds=seconds,
        error=error,
        pruned=tuple(pruned),
    )


# -- restore and verify ------------------------------------------------------------------------


@contextmanager
def _scratch_sqlite(backup: DataBackup) -> Iterator[Engine]:
    tmp = Path(tempfile.mkdtemp(prefix="tldops-verify-"))
    try:
        target = tmp / "restore.db"
        shutil.copyfile(backup.path or "", target)
        eng = create_engine(f"sqlite:///{target}")
        try:
            with eng.connect() as conn:
                check = conn.execute(text("PRAGMA integrity_check")).scalar_one()
            if check != "ok":
                raise BackupError(f"SQLite integrity_check: {check}")
            yield eng
        finally:
            eng.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _scratch_postgres(engine: Engine, backup: DataBackup) -> Iterator[Engine]:
    name = f"tldops_verify_{uuid.uuid4().hex[:10]}"
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            proc = subprocess.run(
                [
                    pg_bin(engine, "pg_restore"),
                    "--no-owner",
                    "--exit-on-error",
                    *_pg_conn_args(engine, name),
                    backup.path or "",
                ],
                env=_pg_env(engine),
                capture_output=True,
                text=True,
                timeout=3600,
            )
            if proc.returncode != 0:
                raise BackupError(f"pg_restore lỗi / pg_restore failed: {proc.stderr[:500]}")
            scratch = create_engine(make_url(engine.url).set(database=name))
            try:
                yield scratch
            finally:
                scratch.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def newest_backup(engine: Engine) -> DataBackup | None:
    with session_scope(engine) as session:
        return session.scalar(
            select(DataBackup)
            .where(DataBackup.kind == DataBackupKind.db, DataBackup.ok.is_(True))
            .where(DataBackup.pruned.is_(False), DataBackup.target == target_label(engine))
            .order_by(DataBackup.started_at.desc(), DataBackup.id.desc())
            .limit(1)
        )


def verify_backup(engine: Engine, *, clock: Clock, backup_id: int | None = None) -> VerifyResult:
    """Restore a backup (default: the newest) into a scratch database and compare it with the
    manifest taken at backup time, table by table. Records the verification and an event.

    >>> verify_backup(engine, clock=lambda: now).mismatched_tables
    ()
    """
    if backup_id is None:
        backup = newest_backup(engine)
    else:
        with session_scope(engine) as session:
            backup = session.get(DataBackup, backup_id)
    if backup is None or not backup.path:
        raise BackupError(
            "Chưa có bản sao lưu để kiểm tra / no backup to verify",
            hint="run `tldops backup db` first",
        )
    started = clock()
    t0 = time.monotonic()
    checks: list[TableCheck] = []
    error: str | None = None
    try:
        if not Path(backup.path).is_file():
            raise BackupError(f"Mất tệp sao lưu / backup file missing: {backup.path}")
        if backup.sha256 and _sha256_file(Path(backup.path)) != backup.sha256:
            raise BackupError("Tệp sao lưu bị thay đổi / backup file checksum mismatch")
        scratch_cm = (
            _scratch_sqlite(backup)
            if backup.dialect == "sqlite"
            else _scratch_postgres(engine, backup)
        )
        with scratch_cm as scratch, scratch.connect() as conn:
            restored = table_manifest(conn)
        expected = backup.manifest or {}
        for table in sorted(set(expected) | set(restored)):
            exp = expected.get(table, {"rows": -1, "checksum": "missing from backup"})
            got = restored.get(table, {"rows": -1, "checksum": "missing from restore"})
            checks.append(
                TableCheck(
                    table=table,
                    expected_rows=int(exp["rows"]),
                    restored_rows=int(got["rows"]),
                    expected_checksum=str(exp["checksum"]),
                    restored_checksum=str(got["checksum"]),
                )
            )
        if not expected:
            error = "backup has no manifest to compare with"
    except (BackupError, OSError, sqlite3.Error, subprocess.SubprocessError) as exc:
        error = str(exc)
    except Exception as exc:  # a broken restore can fail in many driver-specific ways
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - t0
    ok = error is None and all(c.ok for c in checks)
    label = backup.target
    with session_scope(engine) as session:
        row = BackupVerification(
            backup_id=backup.id,
            at=started,
            ok=ok,
            restore_seconds=round(seconds, 3),
            tables={
                c.table: {
                    "rows": c.restored_rows,
                    "checksum": c.restored_checksum,
                    "source_rows": c.expected_rows,
                    "source_checksum": c.expected_checksum,
                    "ok": c.ok,
                }
                for c in checks
            },
            error=error,
        )
        session.add(row)
        session.flush()
        bad = [c.table for c in checks if not c.ok]
        record_event(
            session,
            source=SOURCE,
            kind="backup_verified" if ok else "backup_verify_failed",
            severity=Severity.info if ok else Severity.critical,
            message=(
                f"{label}: {len(checks)} tables match, restored in {seconds:.1f}s"
                if ok
                else f"{label}: verification failed: {error or ', '.join(bad)}"
            ),
            data={
                "target": label,
                "backup_kind": "db",
                "backup_id": backup.id,
                "restore_seconds": round(seconds, 3),
                "mismatched_tables": bad,
                **({"error": error} if error else {}),
            },
        )
        vid = row.id
    return VerifyResult(
        verification_id=vid,
        backup_id=backup.id,
        ok=ok,
        restore_seconds=seconds,
        tables=tuple(checks),
        error=error,
    )


def drill_restore(
    engine: Engine,
    *,
    clock: Clock,
    actor: str,
    rto_seconds: float = DEFAULT_RTO_S,
    backup_id: int | None = None,
) -> DrillResult:
    """A restore drill: restore + verify the newest backup, timed against the RTO target.

    >>> drill_restore(engine, clock=lambda: now, actor="cli", rto_seconds=14400).met_objective
    True
    """
    started = clock()
    t0 = time.monotonic()
    verify: VerifyResult | None = None
    error: str | None = None
    try:
        verify = verify_backup(engine, clock=clock, backup_id=backup_id)
        error = verify.error
    except BackupError as exc:
        error = exc.message
    measured = time.monotonic() - t0
    ok = verify is not None and verify.ok
    met = ok and measured <= rto_seconds
    with session_scope(engine) as session:
        drill = Drill(
            kind=DrillKind.restore,
            target=target_label(engine),
            started_at=started,
            finished_at=clock(),
            ok=ok,
            measured_seconds=round(measured, 3),
            objective_seconds=rto_seconds,
            met_objective=met,
            actor=actor,
            details={
                "backup_id": verify.backup_id if verify else None,
                "verification_id": verify.verification_id if verify else None,
                "tables": len(verify.tables) if verify else 0,
                "mismatched_tables": list(verify.mismatched_tables) if verify else [],
                **({"error": error} if error else {}),
            },
        )
        session.add(drill)
        session.flush()
        drill_id = drill.id
    return DrillResult(
        drill_id=drill_id,
        ok=ok,
        measured_seconds=measured,
        objective_seconds=rto_seconds,
        met_objective=met,
        verify=verify,
    )
