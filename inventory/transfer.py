"""Import of CSV/XLSX files in the CSV contract of DESIGN.md: validate everything, then upsert.

::

    with session_scope(engine) as session:
        report = import_file(session, kind=TransferKind.devices, path=Path("devices.csv"),
                             actor="cli:an", dry_run=True)
        print(report.created, report.updated, report.unchanged)

How an import runs
    1. Read the file (:mod:`inventory.transfer_read`), check the header, parse and check every
       row (:mod:`inventory.transfer_rules`), then the rules that need the whole file and the
       database (unit tree: parents, one root, levels deeper than the parent, no cycles).
       Any problem → :class:`~inventory.errors.ValidationFailed` with all of them; nothing has
       been written.
    2. Compare each record with the row of the same natural key in the database: created,
       updated (with the changed fields) or unchanged. ``dry_run`` stops here.
    3. Write in batches with Core/DB-API ``executemany`` inside the caller's transaction (never
       the ORM per row: a large import has a million devices). The caller commits.
       On SQLite, a load of at least 50k new devices that outnumber the existing ones drops
       the devices' secondary indexes, inserts, and rebuilds them in the same transaction, with
       a 256 MB page cache for the duration (``bench/bench_import.py`` measures it).

Audit
    One ``import`` record per import (entity = the kind, note = file name, sha256 and counts)
    and one ``update`` record per changed row with the record before and after. Created rows get
    no record of their own: the import record names the file and its sha256, which identifies
    every created row, and a per-row record would double the size of a million-row import.

Custody
    A device's ``assigned_officer_code`` drives custody: a new holder closes the open
    :class:`~inventory.models.Custody` row (``returned_on`` = the import day in
    Asia/Ho_Chi_Minh) and opens a new one; an empty value closes it.

This module writes inventory tables directly rather than through
:class:`~inventory.service.InventoryService` only for speed; it keeps the service's rules
(NFC text, canonical IPs, materialised unit paths, audit of every change).
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Select, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from inventory.config import TIMEZONE
from inventory.db import utcnow
from inventory.errors import Conflict, Problem, ValidationFailed
from inventory.models import (
    AuditRecord,
    Custody,
    Device,
    InternetLink,
    Officer,
    Software,
    Unit,
    subtree_filter,
)
from inventory.text import fold, slugify
from inventory.transfer_read import RawTable, heading_sheet, open_workbook, read_table
from inventory.transfer_rules import (
    COLUMNS,
    KEY_INDEXES,
    KIND_ORDER,
    ProblemLog,
    Record,
    Refs,
    TransferKind,
    column_order,
    key_text,
    parse_rows,
)

__all__ = [
    "FieldChange",
    "ImportReport",
    "Progress",
    "RowChange",
    "TransferKind",
    "existing_records",
    "import_file",
    "import_workbook",
]

BATCH = 20_000
# Entity names used in audit records, the same as InventoryService uses.
ENTITY = {
    TransferKind.units: "unit",
    TransferKind.officers: "officer",
    TransferKind.devices: "device",
    TransferKind.links: "internet_link",
    TransferKind.software: "software",
}
# Below this many new devices, dropping and rebuilding indexes costs more than it saves.
_REBUILD_INDEXES_FROM = 50_000
# SQLite page cache (KiB) while bulk-loading devices.
_BULK_CACHE_KIB = 256 * 1024
# How long an import waits for another one to finish (seconds; TLDOPS_IMPORT_WAIT overrides).
IMPORT_WAIT = 600.0
# Key of the PostgreSQL advisory lock that serialises imports ("tldimp" in ASCII).
_PG_IMPORT_LOCK = 0x746C64696D70


class Progress(Protocol):
    """Where an import reports progress (the CLI draws a rich progress bar)."""

    def phase(self, name: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class RowChange:
    """One row of the file that differs from the database."""

    line: int
    key: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    kind: TransferKind
    file: str
    sha256: str
    rows: int
    created: int
    updated: int
    unchanged: int
    changes: tuple[RowChange, ...]
    dry_run: bool
    custody_opened: int = 0
    custody_closed: int = 0
    # Values kept as written that deserve a look (a phone number that could not be read).
    warnings: tuple[Problem, ...] = ()


def _t(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def cell_text(value: Any) -> str:
    """How a record value is written in a file (``None`` → empty, ``True`` → ``yes``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)  # StrEnum → plain text
    return value


def _as_dict(kind: TransferKind, record: Record) -> dict[str, Any]:
    return {c: _json_value(v) for c, v in zip(COLUMNS[kind], record, strict=True)}


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic GC: a million live tuples make every collection rescan them all,
    which costs more than the parsing itself. Nothing built here forms cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import_day(clock: Callable[[], datetime]) -> date:
    return clock().astimezone(TIMEZONE).date()


# -- reading what exists ---------------------------------------------------------------------
def existing_records(
    conn: Connection, kind: TransferKind, *, unit_path: str | None = None
) -> Iterator[tuple[int, Record]]:
    """``(id, record)`` for every row of ``kind`` in the database, records shaped like files.

    ``unit_path`` limits the rows to a unit subtree (for ``export --unit``).
    """
    u = _t(Unit)
    q: Select[*tuple[Any, ...]]
    if kind is TransferKind.units:
        parent = aliased(Unit)
        q = select(Unit.id, Unit.code, Unit.name, parent.code, Unit.level, Unit.kind).outerjoin(
            parent, parent.id == Unit.parent_id
        )
        if unit_path is not None:
            q = q.where(subtree_filter(Unit.path, unit_path))
    elif kind is TransferKind.officers:
        q = select(
            Officer.id,
            Officer.code,
            Officer.full_name,
            Unit.code,
            Officer.position,
            Officer.full_time,
            Officer.email,
            Officer.phone,
        ).join(u, Unit.id == Officer.unit_id)
    elif kind is TransferKind.devices:
        q = (
            select(
                Device.id,
                Device.asset_tag,
                Device.kind,
                Unit.code,
                Device.hostname,
                Device.vendor,
                Device.model,
                Device.serial,
                Device.mgmt_ip,
                Device.status,
                Officer.code,
                Device.purchase_date,
                Device.cost_vnd,
            )
            .join(u, Unit.id == Device.unit_id)
            .outerjoin(Officer, Officer.id == Device.assigned_officer_id)
        )
    elif kind is TransferKind.links:
        q = select(
            InternetLink.id,
            Unit.code,
            InternetLink.isp,
            InternetLink.bandwidth_mbps,
            InternetLink.kind,
            InternetLink.status,
        ).join(u, Unit.id == InternetLink.unit_id)
    else:
        q = select(
            Software.id,
            Unit.code,
            Software.product,
            Software.category,
            Software.seats,
            Software.status,
        ).join(u, Unit.id == Software.unit_id)
    if unit_path is not None and kind is not TransferKind.units:
        q = q.where(subtree_filter(Unit.path, unit_path))
    for row in conn.execute(q).yield_per(BATCH):
        yield (
            row[0],
            tuple(
                # Records hold plain text: StrEnum members → str, days → ISO text (like files).
                str(v) if isinstance(v, str) else v.isoformat() if isinstance(v, date) else v
                for v in row[1:]
            ),
        )


def natural_key(kind: TransferKind, record: Record) -> Any:
    """The natural key of a record (one value, or a tuple for links and software)."""
    idx = KEY_INDEXES[kind]
    return record[0] if idx == (0,) else tuple(record[i] for i in idx)


@dataclass
class _UnitRow:
    id: int
    code: str
    parent_code: str | None
    level: int
    path: str


def _load_units(conn: Connection) -> dict[str, _UnitRow]:
    parent = aliased(Unit)
    q = select(Unit.id, Unit.code, parent.code, Unit.level, Unit.path).outerjoin(
        parent, parent.id == Unit.parent_id
    )
    return {r[1]: _UnitRow(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(q)}


# -- the import ------------------------------------------------------------------------------
def import_file(
    session: Session,
    *,
    kind: TransferKind,
    path: Path,
    actor: str,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utcnow,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate ``path`` completely, then create/update rows of ``kind`` (nothing if ``dry_run``).

    Raises :class:`~inventory.errors.ValidationFailed` listing every problem; in that case
    nothing was written. The caller owns the transaction and commits.

    >>> report = import_file(session, kind=TransferKind.units, path=Path("units.csv"),
    ...                      actor="cli:an")                         # doctest: +SKIP
    >>> report.created, report.updated, report.unchanged           # doctest: +SKIP
    (812, 0, 0)
    """
    kind = TransferKind(kind)
    table = read_table(path, kind=kind.value)
    try:
        if not dry_run:
            begin_import(session)
        return _import_table(
            session,
            kind=kind,
            table=table,
            actor=actor,
            dry_run=dry_run,
            clock=clock,
            progress=progress,
        )
    finally:
        table.close()


def import_workbook(
    session: Session,
    *,
    path: Path,
    actor: str,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utcnow,
    progress: Progress | None = None,
) -> list[ImportReport]:
    """Import every sheet of an XLSX workbook named after a kind (``Đơn vị``, ``Cán bộ``,
    ``Thiết bị``… or the English kind), in :data:`KIND_ORDER`, in one transaction.

    Later sheets may refer to rows of earlier ones (officers of units created by the same
    workbook). Every sheet is checked; if any has a problem, all problems of all sheets are
    raised together and the caller must roll back: nothing is kept. A dry run imports for real
    and then rolls the session back, so what it reports is exactly what the import would do.
    Sheets named after no kind (instructions, lists) are skipped.
    """
    if path.suffix.lower() != ".xlsx":
        raise ValidationFailed(
            [
                Problem(
                    file=path.name,
                    row=None,
                    column=None,
                    value=None,
                    why_vi="nhập cả bảng tính (--kind all) chỉ dùng cho tệp .xlsx",
                    why_en="a whole workbook (--kind all) must be an .xlsx file",
                )
            ]
        )
    book = open_workbook(path)
    try:
        found = book.kinds()
        if not found:
            raise _no_sheets(path.name, book.sheet_names)
        begin_import(session)
        reports: list[ImportReport] = []
        problems: list[Problem] = []
        for kind in KIND_ORDER:
            if kind.value not in found:
                continue
            table = book.table(book.sheet(found[kind.value]), kind=kind.value)
            try:
                report = _import_table(
                    session,
                    kind=kind,
                    table=table,
                    actor=actor,
                    dry_run=False,
                    clock=clock,
                    progress=progress,
                )
            except ValidationFailed as err:
                problems.extend(err.problems)
                continue
            reports.append(replace(report, dry_run=dry_run))
        if problems:
            raise ValidationFailed(problems)
        if dry_run:
            session.rollback()
        return reports
    finally:
        book.close()


def _no_sheets(file: str, names: list[str]) -> ValidationFailed:
    expected = ", ".join(f"{heading_sheet(k.value)} ({k.value})" for k in KIND_ORDER)
    return ValidationFailed(
        [
            Problem(
                file=file,
                row=None,
                column=None,
                value=None,
                why_vi=f"không trang tính nào mang tên loại dữ liệu (có: {', '.join(names)}; "
                f"cần: {expected})",
                why_en=f"no sheet is named after a kind (the workbook has: {', '.join(names)}; "
                f"expected: {expected})",
            )
        ]
    )


def _import_wait() -> float:
    try:
        return max(float(os.environ.get("TLDOPS_IMPORT_WAIT", IMPORT_WAIT)), 0.0)
    except ValueError:
        return IMPORT_WAIT


def _busy(waited: float) -> Conflict:
    return Conflict(
        f"một lần nhập dữ liệu khác đang chạy; đã chờ {waited:.0f} giây, không có gì được ghi / "
        f"another import is running; waited {waited:.0f} s, nothing was written",
        hint="chạy lại khi lần nhập kia xong / run it again when the other import has finished",
    )


def begin_import(session: Session, *, wait: float | None = None) -> None:
    """Take the database's write lock for this import before anything is read.

    Two imports at once then run one after the other: the second plans against what the first
    committed (re-importing the same file reports every row unchanged) instead of both planning
    the same inserts. After ``wait`` seconds (default ``TLDOPS_IMPORT_WAIT``, 600) it gives up
    with :class:`~inventory.errors.Conflict`.

    On SQLite this also opens the transaction explicitly: the driver only begins one before
    DML, so DDL of the bulk path (DROP INDEX) would otherwise commit on its own, and a killed
    import would leave the indexes dropped. With ``BEGIN IMMEDIATE`` the drop, the load and the
    rebuild commit (or vanish) together.
    """
    wait = _import_wait() if wait is None else wait
    conn = session.connection()
    started = time.monotonic()
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        assert raw is not None
        if raw.in_transaction:
            return  # the caller already writes: the lock is already ours
        old = raw.execute("PRAGMA busy_timeout").fetchone()[0]
        raw.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            raw.execute("BEGIN IMMEDIATE")
        except Exception as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            raise _busy(time.monotonic() - started) from exc
        finally:
            raw.execute(f"PRAGMA busy_timeout = {int(old)}")
    elif conn.dialect.name == "postgresql":
        deadline = started + wait
        while not conn.execute(select(func.pg_try_advisory_xact_lock(_PG_IMPORT_LOCK))).scalar():
            if time.monotonic() >= deadline:
                raise _busy(time.monotonic() - started)
            time.sleep(0.2)


def _import_table(
    session: Session,
    *,
    kind: TransferKind,
    table: RawTable,
    actor: str,
    dry_run: bool,
    clock: Callable[[], datetime],
    progress: Progress | None,
) -> ImportReport:
    conn = session.connection()
    log = ProblemLog(table.file, sheet=table.sheet)
    order = column_order(kind, table.header, log, line=table.header_line)
    log.raise_if_any()
    assert order is not None
    # The whole tree only for a units import; other kinds need just code → id.
    units = _load_units(conn) if kind is TransferKind.units else {}
    unit_ids = (
        {c: u.id for c, u in units.items()}
        if units
        else dict(conn.execute(select(Unit.code, Unit.id)).all())
    )
    officer_ids: dict[str, int] = (
        dict(conn.execute(select(Officer.code, Officer.id)).all())
        if kind is TransferKind.devices
        else {}
    )
    refs = Refs(unit_ids=unit_ids, officer_ids=officer_ids)
    with _no_gc():
        if progress is not None:
            progress.phase("kiểm tra / validating", table.estimated_rows)
        parsed = parse_rows(
            kind,
            table.rows,
            order=order,
            log=log,
            refs=refs,
            on_row=progress.advance if progress is not None else None,
            width=len(table.header),
        )
        if kind is TransferKind.units:
            _check_tree(parsed, units, log)
        log.raise_if_any()
        plan = _plan(conn, kind, parsed)
        report = ImportReport(
            kind=kind,
            file=table.file,
            sha256=table.sha256,
            rows=len(parsed),
            created=len(plan.created),
            updated=len(plan.updated),
            unchanged=plan.unchanged,
            changes=tuple(
                RowChange(
                    line=line,
                    key=key_text(k if isinstance(k, tuple) else (k,)),
                    changes=tuple(
                        FieldChange(c, cell_text(b), cell_text(a))
                        for c, b, a in zip(COLUMNS[kind], old, new, strict=True)
                        if b != a
                    ),
                )
                for line, _id, old, new in plan.updated
                for k in (natural_key(kind, new),)
            ),
            dry_run=dry_run,
            warnings=tuple(log.warnings),
        )
        if dry_run:
            return report
        writer = _Writer(conn, actor=actor, clock=clock, progress=progress)
        opened = closed = 0
        if kind is TransferKind.units:
            _write_units(writer, plan, units)
        elif kind is TransferKind.officers:
            _write_officers(writer, plan, refs)
        elif kind is TransferKind.devices:
            opened, closed = _write_devices(writer, plan, refs, file=table.file)
        elif kind is TransferKind.links:
            _write_links(writer, plan, refs)
        else:
            _write_software(writer, plan, refs)
        report = replace(report, custody_opened=opened, custody_closed=closed)
        _audit_import(writer, kind, report, plan, units=_load_paths(conn, plan))
    return report


@dataclass
class _Plan:
    created: list[Record]
    # (line, id, before, after)
    updated: list[tuple[int, int, Record, Record]]
    unchanged: int


def _plan(conn: Connection, kind: TransferKind, parsed: list[tuple[int, Record]]) -> _Plan:
    existing: dict[Any, tuple[int, Record]] = {}
    for row_id, record in existing_records(conn, kind):
        existing[natural_key(kind, record)] = (row_id, record)
    created: list[Record] = []
    updated: list[tuple[int, int, Record, Record]] = []
    unchanged = 0
    if not existing:
        return _Plan([r for _, r in parsed], [], 0)
    for line, record in parsed:
        old = existing.get(natural_key(kind, record))
        if old is None:
            created.append(record)
        elif old[1] == record:
            unchanged += 1
        else:
            updated.append((line, old[0], old[1], record))
    return _Plan(created, updated, unchanged)


# -- the organisation tree as a whole --------------------------------------------------------
def _check_tree(parsed: list[tuple[int, Record]], db: dict[str, _UnitRow], log: ProblemLog) -> None:
    """Rules that need every unit: parents exist, one root, deeper than the parent, no cycle."""
    rows = {rec[0]: (line, rec) for line, rec in parsed}

    def parent_of(code: str) -> str | None:
        if code in rows:
            return rows[code][1][2]  # type: ignore[no-any-return]
        return db[code].parent_code if code in db else None

    def level_of(code: str) -> int:
        return rows[code][1][3] if code in rows else db[code].level  # type: ignore[no-any-return]

    in_cycle: set[str] = set()
    state: dict[str, int] = {}  # 1 walking, 2 done
    for start in rows:
        chain: list[str] = []
        code: str | None = start
        while code is not None and state.get(code) is None and (code in rows or code in db):
            state[code] = 1
            chain.append(code)
            code = parent_of(code)
        if code is not None and state.get(code) == 1:
            cycle = chain[chain.index(code) :]
            for member in cycle:
                if member in rows and member not in in_cycle:
                    line, rec = rows[member]
                    log.add(
                        line,
                        "parent_code",
                        rec[2],
                        f"vòng lặp trong cây: {' → '.join([*cycle, code])}",
                        f"cycle in the tree: {' → '.join([*cycle, code])}",
                    )
            in_cycle.update(cycle)
        for member in chain:
            state[member] = 2

    roots = [c for c, (_, rec) in rows.items() if rec[2] is None]
    db_roots = [c for c, u in db.items() if u.parent_code is None and c not in rows]
    for code, (line, rec) in rows.items():
        parent = rec[2]
        if parent is None:
            if rec[3] != 1:
                log.add(
                    line,
                    "parent_code",
                    "",
                    "chỉ đơn vị cấp 1 (central) được không có đơn vị cha",
                    "only the level-1 central unit may have no parent; give parent_code",
                )
            continue
        if parent not in rows and parent not in db:
            log.add(
                line,
                "parent_code",
                parent,
                "không có đơn vị cha mã này (trong tệp hay cơ sở dữ liệu)",
                "no unit with this code, neither in the file nor in the database",
            )
            continue
        if code in in_cycle:
            continue
        if rec[3] <= level_of(parent):
            log.add(
                line,
                "level",
                str(rec[3]),
                f"cấp phải lớn hơn cấp của đơn vị cha {parent} ({level_of(parent)})",
                f"must be deeper than the level of parent {parent} ({level_of(parent)})",
            )
    all_roots = db_roots + roots
    if len(all_roots) > 1:
        keep = db_roots[0] if db_roots else roots[0]
        for code in roots:
            if code != keep:
                line, _ = rows[code]
                log.add(
                    line,
                    "parent_code",
                    "",
                    f"cây chỉ có một gốc ({keep}); hãy ghi đơn vị cha",
                    f"the tree has exactly one root ({keep}); give a parent_code",
                )
    elif not all_roots and rows:
        log.add(
            None,
            "parent_code",
            None,
            "cây tổ chức không có gốc (đơn vị cấp 1 không có đơn vị cha)",
            "the organisation tree has no root (a level-1 unit without parent_code)",
        )
    # Units already in the database whose parent's level changes must stay deeper.
    changed = {c: rec[3] for c, (_, rec) in rows.items() if c in db and db[c].level != rec[3]}
    if changed:
        for child in db.values():
            parent = child.parent_code
            if child.code not in rows and parent in changed and child.level <= changed[parent]:
                line, _ = rows[parent]
                log.add(
                    line,
                    "level",
                    str(changed[parent]),
                    f"đơn vị con {child.code} (cấp {child.level}) phải sâu hơn đơn vị này",
                    f"child unit {child.code} (level {child.level}) must stay deeper",
                )


# -- writing ---------------------------------------------------------------------------------
class _Writer:
    """Batched writes on the caller's connection, in the driver's own parameter style."""

    def __init__(
        self,
        conn: Connection,
        *,
        actor: str,
        clock: Callable[[], datetime],
        progress: Progress | None,
    ) -> None:
        self.conn = conn
        self.actor = actor
        self.clock = clock
        self.progress = progress
        self.now = clock()
        self.day = _import_day(clock)
        self.sqlite = conn.dialect.name == "sqlite"
        ts_type = _t(Device).c.created_at.type
        proc = ts_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        # The driver-level value of "now", computed once instead of once per row.
        self.now_db = proc(self.now) if proc else self.now
        self.mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"

    def day_db(self, value: date | None) -> Any:
        if value is None or not self.sqlite:
            return value
        return value.isoformat()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], *, label: str) -> None:
        if not rows:
            return
        if self.progress is not None:
            self.progress.phase(label, len(rows))
        cursor = self.conn.connection.cursor()
        try:
            for start in range(0, len(rows), BATCH):
                batch = rows[start : start + BATCH]
                cursor.executemany(sql, batch)
                if self.progress is not None:
                    self.progress.advance(len(batch))
        finally:
            cursor.close()

    def insert_sql(self, table: Table, columns: Sequence[str]) -> str:
        marks = ", ".join([self.mark] * len(columns))
        return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"

    def update_sql(self, table: Table, columns: Sequence[str]) -> str:
        sets = ", ".join(f"{c} = {self.mark}" for c in columns)
        return f"UPDATE {table.name} SET {sets} WHERE id = {self.mark}"


def _write_units(w: _Writer, plan: _Plan, db: dict[str, _UnitRow]) -> None:
    """Create and update units layer by layer from the root, keeping materialised paths right.

    At each depth, first the new units (their parents are final), then the changed ones; a
    re-parented unit rewrites the path prefix of its whole subtree in one UPDATE.
    """
    units = _t(Unit)
    final_parent: dict[str, str | None] = {c: u.parent_code for c, u in db.items()}
    for rec in plan.created:
        final_parent[rec[0]] = rec[2]
    for _, _, _, rec in plan.updated:
        final_parent[rec[0]] = rec[2]
    depth: dict[str, int] = {}

    def depth_of(code: str) -> int:
        chain = []
        c: str | None = code
        while c is not None and c not in depth:
            chain.append(c)
            c = final_parent[c]
        d = 0 if c is None else depth[c]
        for member in reversed(chain):
            d += 1
            depth[member] = d
        return depth[code]

    created_by_depth: dict[int, list[Record]] = defaultdict(list)
    for rec in plan.created:
        created_by_depth[depth_of(rec[0])].append(rec)
    updated_by_depth: dict[int, list[tuple[int, Record, Record]]] = defaultdict(list)
    for _, row_id, old, new in plan.updated:
        updated_by_depth[depth_of(new[0])].append((row_id, old, new))
    ids = {c: u.id for c, u in db.items()}
    new_paths: dict[str, str] = {}
    moved = False

    def path_of(code: str) -> str:
        if code in new_paths:
            return new_paths[code]
        if not moved:
            return db[code].path
        return w.conn.execute(select(Unit.path).where(Unit.id == ids[code])).scalar_one()

    for level in sorted(set(created_by_depth) | set(updated_by_depth)):
        fresh = created_by_depth.get(level, [])
        if fresh:
            params = [
                {
                    "code": code,
                    "name": name,
                    "slug": slugify(name),
                    "level": lvl,
                    "kind": kind,
                    "parent_id": ids[parent] if parent is not None else None,
                    "path": "",
                    "created_at": w.now,
                    "updated_at": w.now,
                }
                for code, name, parent, lvl, kind in fresh
            ]
            for start in range(0, len(params), BATCH):
                got = w.conn.execute(
                    insert(units).returning(units.c.id, units.c.code),
                    params[start : start + BATCH],
                )
                ids.update({code: row_id for row_id, code in got})
            parent_paths = {p: path_of(p) for p in {rec[2] for rec in fresh} if p is not None}
            path_rows = []
            for code, _, parent, _, _ in fresh:
                path = f"{parent_paths[parent] if parent else '/'}{ids[code]}/"
                new_paths[code] = path
                path_rows.append({"b_id": ids[code], "b_path": path})
            w.conn.execute(
                update(units).where(units.c.id == _bind("b_id")).values(path=_bind("b_path")),
                path_rows,
            )
        for row_id, old, new in updated_by_depth.get(level, []):
            code, name, parent, lvl, kind = new
            w.conn.execute(
                update(units)
                .where(units.c.id == row_id)
                .values(
                    name=name,
                    slug=slugify(name),
                    level=lvl,
                    kind=kind,
                    parent_id=ids[parent] if parent is not None else None,
                    updated_at=w.now,
                )
            )
            if old[2] != parent:
                old_path = path_of(code)
                new_path = f"{path_of(parent) if parent else '/'}{row_id}/"
                w.conn.execute(
                    update(units)
                    .where(subtree_filter(units.c.path, old_path))
                    .values(path=new_path + func.substr(units.c.path, len(old_path) + 1))
                )
                moved = True


def _bind(name: str) -> Any:
    return bindparam(name)


def _write_officers(w: _Writer, plan: _Plan, refs: Refs) -> None:
    t = _t(Officer)
    if plan.created:
        w.conn.execute(
            insert(t),
            [
                {
                    "code": code,
                    "full_name": name,
                    "name_ascii": fold(name),
                    "unit_id": refs.unit_ids[unit],
                    "position": position,
                    "full_time": full_time,
                    "email": email,
                    "phone": phone,
                    "it_staff": False,
                    "active": True,
                    "created_at": w.now,
                    "updated_at": w.now,
                }
                for code, name, unit, position, full_time, email, phone in plan.created
            ],
        )
    if plan.updated:
        fields = (
            "full_name",
            "name_ascii",
            "unit_id",
            "position",
            "full_time",
            "email",
            "phone",
            "updated_at",
        )
        w.conn.execute(
            update(t).where(t.c.id == _bind("b_id")).values({f: _bind(f"b_{f}") for f in fields}),
            [
                {
                    "b_id": row_id,
                    "b_full_name": name,
                    "b_name_ascii": fold(name),
                    "b_unit_id": refs.unit_ids[unit],
                    "b_position": position,
                    "b_full_time": full_time,
                    "b_email": email,
                    "b_phone": phone,
                    "b_updated_at": w.now,
                }
                for _, row_id, _, (_, name, unit, position, full_time, email, phone) in plan.updated
            ],
        )


_DEVICE_COLUMNS = (
    "asset_tag",
    "kind",
    "unit_id",
    "hostname",
    "vendor",
    "model",
    "serial",
    "mgmt_ip",
    "status",
    "assigned_officer_id",
    "purchase_date",
    "cost_vnd",
)


def _write_devices(w: _Writer, plan: _Plan, refs: Refs, *, file: str) -> tuple[int, int]:
    """Insert/update devices through the driver, then open/close custody rows."""
    t = _t(Device)
    units, officers = refs.unit_ids, refs.officer_ids
    now_db = w.now_db
    insert_sql = w.insert_sql(t, [*_DEVICE_COLUMNS, "created_at", "updated_at"])
    created = [
        (
            tag,
            kind,
            units[unit],
            host,
            vendor,
            model,
            serial,
            ip,
            status,
            officers[holder] if holder else None,
            bought,
            cost,
            now_db,
            now_db,
        )
        for (tag, kind, unit, host, vendor, model, serial, ip, status, holder, bought, cost) in (
            plan.created
        )
    ]
    n_new = len(created)
    rebuild = w.sqlite and n_new >= _REBUILD_INDEXES_FROM and n_new > _count(w.conn, t)
    # A b-tree built once from sorted keys is much cheaper than a million inserts into it.
    indexes = [ix for ix in t.indexes if not ix.unique] if rebuild else []
    cache = None
    if rebuild:
        # A bigger page cache for the load: foreign-key probes into units and the index sorts
        # stay in memory instead of going back to the OS (the default cache is 2 MB). The
        # connection is pooled, so the old size is restored.
        cache = w.conn.exec_driver_sql("PRAGMA cache_size").scalar()
        w.conn.exec_driver_sql(f"PRAGMA cache_size = {-_BULK_CACHE_KIB}")
    try:
        # checkfirst: a database broken by an older version (indexes dropped and committed,
        # then the import killed) still imports, and gets its indexes back.
        for ix in indexes:
            ix.drop(w.conn, checkfirst=True)
        w.executemany(insert_sql, created, label="ghi thiết bị / writing devices")
        for ix in indexes:
            ix.create(w.conn, checkfirst=True)
    finally:
        if cache is not None:
            w.conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")
    w.executemany(
        w.update_sql(t, [*_DEVICE_COLUMNS[1:], "updated_at"]),
        [
            (
                kind,
                units[unit],
                host,
                vendor,
                model,
                serial,
                ip,
                status,
                officers[holder] if holder else None,
                bought,
                cost,
                now_db,
                row_id,
            )
            for _, row_id, _, (
                _,
                kind,
                unit,
                host,
                vendor,
                model,
                serial,
                ip,
                status,
                holder,
                bought,
                cost,
            ) in plan.updated
        ],
        label="cập nhật thiết bị / updating devices",
    )
    # Custody: new holders of new devices, and changed holders of existing ones.
    held_new = {rec[0]: rec[9] for rec in plan.created if rec[9] is not None}
    device_ids: dict[str, int] = {}
    tags = list(held_new)
    for start in range(0, len(tags), 500):
        chunk = tags[start : start + 500]
        device_ids.update(
            w.conn.execute(
                select(Device.asset_tag, Device.id).where(Device.asset_tag.in_(chunk))
            ).all()
        )
    close: list[int] = []
    open_rows: list[tuple[int, str]] = [(device_ids[tag], h) for tag, h in held_new.items()]
    for _, row_id, old, new in plan.updated:
        if old[9] != new[9]:
            if old[9] is not None:
                close.append(row_id)
            if new[9] is not None:
                open_rows.append((row_id, new[9]))
    c = _t(Custody)
    day = w.day_db(w.day)
    w.executemany(
        f"UPDATE {c.name} SET returned_on = {w.mark} "
        f"WHERE device_id = {w.mark} AND returned_on IS NULL",
        [(day, device_id) for device_id in close],
        label="trả thiết bị / closing custody",
    )
    note = f"import {file}"[:500]
    w.executemany(
        w.insert_sql(c, ["device_id", "officer_id", "assigned_on", "note"]),
        [(device_id, officers[holder], day, note) for device_id, holder in open_rows],
        label="giao thiết bị / opening custody",
    )
    return len(open_rows), len(close)


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _write_links(w: _Writer, plan: _Plan, refs: Refs) -> None:
    t = _t(InternetLink)
    if plan.created:
        w.conn.execute(
            insert(t),
            [
                {
                    "unit_id": refs.unit_ids[unit],
                    "isp": isp,
                    "bandwidth_mbps": bw,
                    "kind": kind,
                    "status": status,
                    "created_at": w.now,
                    "updated_at": w.now,
                }
                for unit, isp, bw, kind, status in plan.created
            ],
        )
    if plan.updated:
        w.conn.execute(
            update(t)
            .where(t.c.id == _bind("b_id"))
            .values(
                bandwidth_mbps=_bind("b_bw"), status=_bind("b_status"), updated_at=_bind("b_now")
            ),
            [
                {"b_id": row_id, "b_bw": new[2], "b_status": new[4], "b_now": w.now}
                for _, row_id, _, new in plan.updated
            ],
        )


def _write_software(w: _Writer, plan: _Plan, refs: Refs) -> None:
    t = _t(Software)
    if plan.created:
        w.conn.execute(
            insert(t),
            [
                {
                    "unit_id": refs.unit_ids[unit],
                    "product": product,
                    "category": category,
                    "seats": seats,
                    "status": status,
                    "created_at": w.now,
                    "updated_at": w.now,
                }
                for unit, product, category, seats, status in plan.created
            ],
        )
    if plan.updated:
        w.conn.execute(
            update(t)
            .where(t.c.id == _bind("b_id"))
            .values(
                category=_bind("b_category"),
                seats=_bind("b_seats"),
                status=_bind("b_status"),
                updated_at=_bind("b_now"),
            ),
            [
                {
                    "b_id": row_id,
                    "b_category": new[2],
                    "b_seats": new[3],
                    "b_status": new[4],
                    "b_now": w.now,
                }
                for _, row_id, _, new in plan.updated
            ],
        )


# -- audit -----------------------------------------------------------------------------------
def _load_paths(conn: Connection, plan: _Plan) -> dict[str, str]:
    """Unit code → path after the import (for the audit records of updated rows)."""
    if not plan.updated:
        return {}
    return dict(conn.execute(select(Unit.code, Unit.path)).all())


def _audit_import(
    w: _Writer,
    kind: TransferKind,
    report: ImportReport,
    plan: _Plan,
    *,
    units: dict[str, str],
) -> None:
    entity = ENTITY[kind]
    # Which record field names the unit whose path goes into the audit record.
    unit_at = 2 if kind in (TransferKind.officers, TransferKind.devices) else 0
    note = f"import {report.file}"
    actor = w.actor
    records = [
        {
            "at": w.now,
            "actor": actor,
            "action": "update",
            "entity": entity,
            "entity_key": key_text(k if isinstance(k, tuple) else (k,))[:255],
            "unit_path": units.get(new[unit_at]),
            "before": _as_dict(kind, old),
            "after": _as_dict(kind, new),
            "note": note,
        }
        for _, _, old, new in plan.updated
        for k in (natural_key(kind, new),)
    ]
    counts = {
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "custody_opened": report.custody_opened,
        "custody_closed": report.custody_closed,
    }
    records.append(
        {
            "at": w.now,
            "actor": actor,
            "action": "import",
            "entity": kind.value,
            "entity_key": report.file[:255],
            "unit_path": None,
            "before": None,
            "after": {"file": report.file, "sha256": report.sha256, **counts},
            "note": f"{report.file} sha256={report.sha256} " + json.dumps(counts),
        }
    )
    for start in range(0, len(records), BATCH):
        w.conn.execute(insert(_t(AuditRecord)), records[start : start + BATCH])
