"""Import and export in the CSV contract, on SQLite and PostgreSQL (``db_url`` fixture).

Fixture files in ``tests/inventory/data`` are a small federation: TLĐ → Hà Nội / TP.HCM /
CĐ ngành GTVT → districts → one grassroots union, with officers, devices, links and software.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from inventory.errors import Problem, ValidationFailed
from inventory.models import AuditRecord, Custody, Device, Officer, Unit
from inventory.service import InventoryService
from inventory.transfer import ImportReport, import_file
from inventory.transfer_export import export_records, write_csv, write_xlsx
from inventory.transfer_rules import COLUMNS, TransferKind

DATA = Path(__file__).parent / "data"
ORDER = list(TransferKind)  # units, officers, devices, links, software: dependency order
# 23:30 UTC is already the next day in Hà Nội: custody dates follow the Vietnamese calendar.
CLOCK_AT = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
IMPORT_DAY = date(2026, 3, 10)


def _clock() -> datetime:
    return CLOCK_AT


def _import(session: Session, kind: TransferKind, path: Path, *, dry_run: bool = False):
    report = import_file(
        session, kind=kind, path=path, actor="tester", clock=_clock, dry_run=dry_run
    )
    session.commit()
    return report


def _load_fixture(session: Session) -> dict[TransferKind, ImportReport]:
    return {kind: _import(session, kind, DATA / f"{kind.value}.csv") for kind in ORDER}


def _csv(kind: TransferKind, session: Session, *, unit: str | None = None) -> str:
    out = io.StringIO()
    write_csv(out, kind=kind, records=export_records(session, kind=kind, unit_code=unit))
    return out.getvalue()


def _problems(session: Session, tmp_path: Path, kind: TransferKind, text: str) -> list[Problem]:
    path = tmp_path / f"{kind.value}.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        import_file(session, kind=kind, path=path, actor="tester", clock=_clock)
    session.rollback()
    return caught.value.problems


def _find(problems: list[Problem], row: int | None, column: str | None, fragment: str) -> Problem:
    for p in problems:
        if p.row == row and p.column == column and fragment in p.why_en:
            assert p.why_vi and p.file
            return p
    raise AssertionError(
        f"no problem at row {row}, column {column} containing {fragment!r} in:\n"
        + "\n".join(p.render() for p in problems)
    )


def _header(kind: TransferKind) -> str:
    return ",".join(COLUMNS[kind]) + "\n"


@pytest.fixture
def loaded(session: Session) -> Iterator[Session]:
    _load_fixture(session)
    yield session


# -- the happy path --------------------------------------------------------------------------
def test_fixture_import_counts_tree_and_audit(session: Session) -> None:
    reports = _load_fixture(session)
    assert {k: (r.created, r.updated, r.unchanged) for k, r in reports.items()} == {
        TransferKind.units: (7, 0, 0),
        TransferKind.officers: (4, 0, 0),
        TransferKind.devices: (7, 0, 0),
        TransferKind.links: (4, 0, 0),
        TransferKind.software: (4, 0, 0),
    }
    svc = InventoryService(session)
    # Children listed before their parents in the file still form the right tree.
    assert [u.code for u in session.scalars(svc.subtree("HN"))] == ["HN", "HN-BD", "HN-BD-CS1"]
    cs1 = svc.unit("HN-BD-CS1")
    assert cs1.path == f"/{svc.unit('TLD').id}/{svc.unit('HN').id}/{svc.unit('HN-BD').id}/{cs1.id}/"
    assert cs1.slug == "cong_doan_co_so_cong_ty_dien_luc_ba_dinh"
    assert svc.officer("HN-001").name_ascii == "nguyen van an"
    assert svc.officer("HCM-001").full_time is True  # "YES" is yes
    pc = svc.device("HN-PC-0001")
    assert (pc.purchase_date, pc.cost_vnd) == (
        date(2024, 9, 5),
        15_000_000,
    )  # dd/mm/yyyy, 15.000.000
    assert svc.device("HN-SW-0001").mgmt_ip == "2001:db8:10::1"  # canonical IPv6
    history = svc.custody_history("HN-PC-0001")
    assert [(c.officer.code, c.assigned_on, c.returned_on) for c in history] == [
        ("HN-001", IMPORT_DAY, None)
    ]
    imports = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "import").order_by(AuditRecord.id)
    ).all()
    assert [a.entity for a in imports] == [k.value for k in ORDER]
    dev_audit = imports[2]
    assert dev_audit.actor == "tester"
    assert dev_audit.after is not None and dev_audit.after["created"] == 7
    assert dev_audit.note is not None and "devices.csv" in dev_audit.note
    assert len(dev_audit.after["sha256"]) == 64
    # Created rows are covered by the import record only (documented choice).
    assert session.scalar(select(func.count()).where(AuditRecord.action == "update")) == 0


def test_reimport_is_idempotent_and_csv_round_trip_is_byte_identical(
    loaded: Session, tmp_path: Path
) -> None:
    first = {k: _csv(k, loaded) for k in ORDER}
    for kind in ORDER:
        path = tmp_path / f"{kind.value}.csv"
        path.write_text(first[kind], encoding="utf-8")
        report = _import(loaded, kind, path)
        assert (report.created, report.updated, report.unchanged) == (0, 0, report.rows)
        assert report.rows > 0
        # The original files (other order, dd/mm/yyyy, thousands separators) change nothing.
        again = _import(loaded, kind, DATA / f"{kind.value}.csv")
        assert (again.created, again.updated) == (0, 0)
    assert {k: _csv(k, loaded) for k in ORDER} == first
    assert first[TransferKind.devices].splitlines()[1] == (
        "HCM-RT-0001,router,HCM,hcm-rt-01,MikroTik,RB4011,,198.18.20.1,active,,2024-01-10,9800000"
    )
    assert session_updates(loaded) == 0


def session_updates(session: Session) -> int:
    return int(session.scalar(select(func.count()).where(AuditRecord.action == "update")) or 0)


def test_xlsx_round_trip_is_byte_identical(loaded: Session, tmp_path: Path) -> None:
    book = tmp_path / "kho.xlsx"
    write_xlsx(book, sheets={k: export_records(loaded, kind=k) for k in ORDER})
    first = book.read_bytes()
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames == [k.value for k in ORDER]
    dev = wb["devices"]
    assert [c.value for c in dev[1]] == list(COLUMNS[TransferKind.devices])
    # Typed cells: numbers as numbers, dates as dates.
    assert isinstance(dev["L2"].value, int) and isinstance(dev["K2"].value, datetime)
    for kind in ORDER:
        report = _import(loaded, kind, book)
        assert (report.created, report.updated, report.unchanged) == (0, 0, report.rows)
    again = tmp_path / "again.xlsx"
    write_xlsx(again, sheets={k: export_records(loaded, kind=k) for k in ORDER})
    assert again.read_bytes() == first


def test_xlsx_import_accepts_excel_typed_cells(session: Session, tmp_path: Path) -> None:
    _import(session, TransferKind.units, DATA / "units.csv")
    _import(session, TransferKind.officers, DATA / "officers.csv")
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Sheet1"  # a single sheet is read whatever its name
    ws.append([c.upper() for c in COLUMNS[TransferKind.devices]])
    ws.append(
        [
            "HN-PC-9",
            "pc",
            "HN",
            None,
            "Dell",
            unicodedata.normalize("NFD", "Máy trạm"),
            123456,  # a serial typed as a number
            None,
            "active",
            "HN-001",
            datetime(2024, 9, 5),
            15000000.0,
        ]
    )
    ws.append([None] * 12)  # an empty row in the middle is skipped
    ws.append(["HN-PC-10", "pc", "HN", None, None, None, None, None, "active", None, None, 0])
    path = tmp_path / "devices.xlsx"
    wb.save(path)
    report = _import(session, TransferKind.devices, path)
    assert report.created == 2
    dev = InventoryService(session).device("HN-PC-9")
    assert (dev.model, dev.serial, dev.purchase_date, dev.cost_vnd) == (
        "Máy trạm",
        "123456",
        date(2024, 9, 5),
        15_000_000,
    )
    assert unicodedata.is_normalized("NFC", dev.model or "")
    # Problems in a workbook name the Excel row number.
    ws.append(["HN-PC-11", "pc", "HN", None, None, None, None, "300.1.1.1", "active", None])
    wb.save(path)
    problems = _problems_file(session, TransferKind.devices, path)
    _find(problems, 5, "mgmt_ip", "IPv4 or IPv6")


def _problems_file(session: Session, kind: TransferKind, path: Path) -> list[Problem]:
    with pytest.raises(ValidationFailed) as caught:
        import_file(session, kind=kind, path=path, actor="tester", clock=_clock)
    session.rollback()
    return caught.value.problems


def test_xlsx_workbook_without_the_kind_sheet(session: Session, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.create_sheet("khác")
    path = tmp_path / "two.xlsx"
    wb.save(path)
    problems = _problems_file(session, TransferKind.units, path)
    assert "no sheet named 'units'" in problems[0].why_en


def test_nfd_text_and_bom_header_are_stored_as_nfc(session: Session, tmp_path: Path) -> None:
    text = (DATA / "units.csv").read_text(encoding="utf-8")
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    path = tmp_path / "units.csv"
    path.write_bytes(b"\xef\xbb\xbf" + nfd.encode("utf-8"))
    assert _import(session, TransferKind.units, path).created == 7
    name = InventoryService(session).unit("HN-BD").name
    assert name == "LĐLĐ quận Ba Đình" and unicodedata.is_normalized("NFC", name)
    # Whitespace around values is trimmed.
    path.write_text(
        _header(TransferKind.units) + " HN , LĐLĐ thành phố Hà Nội , TLD ,2, "
        "province_federation \n",
        encoding="utf-8",
    )
    assert _import(session, TransferKind.units, path).unchanged == 1


# -- all or nothing, dry run, updates, custody -----------------------------------------------
def test_one_bad_row_writes_nothing(session: Session, tmp_path: Path) -> None:
    _import(session, TransferKind.units, DATA / "units.csv")
    _import(session, TransferKind.officers, DATA / "officers.csv")
    lines = (DATA / "devices.csv").read_text(encoding="utf-8").splitlines()
    lines.insert(4, "HN-PC-BAD,pc,HN,,,,,,active,,2024-02-30,")
    problems = _problems(session, tmp_path, TransferKind.devices, "\n".join(lines) + "\n")
    assert len(problems) == 1
    _find(problems, 5, "purchase_date", "not a valid date")
    assert session.scalar(select(func.count()).select_from(Device)) == 0
    assert session.scalar(select(func.count()).select_from(Custody)) == 0
    assert session.scalar(select(func.count()).where(AuditRecord.entity == "devices")) == 0


def test_dry_run_writes_nothing_and_lists_changes(loaded: Session, tmp_path: Path) -> None:
    before = _csv(TransferKind.devices, loaded)
    audits = loaded.scalar(select(func.count()).select_from(AuditRecord))
    changed = before.replace("hn-pc-0001", "hn-pc-0001-new").replace(",4200000", ",4300000")
    changed += "HN-PC-0002,pc,HN,,,,,,planned,,,\n"
    path = tmp_path / "devices.csv"
    path.write_text(changed, encoding="utf-8")
    report = _import(loaded, TransferKind.devices, path, dry_run=True)
    assert (report.created, report.updated, report.unchanged) == (1, 2, 5)
    assert report.dry_run
    fields = {(c.key, f.field, f.before, f.after) for c in report.changes for f in c.changes}
    assert fields == {
        ("HN-PC-0001", "hostname", "hn-pc-0001", "hn-pc-0001-new"),
        ("HN-PR-0001", "cost_vnd", "4200000", "4300000"),
    }
    assert _csv(TransferKind.devices, loaded) == before
    assert loaded.scalar(select(func.count()).select_from(AuditRecord)) == audits
    # The real import then does exactly that, with one audit record per changed row.
    real = _import(loaded, TransferKind.devices, path)
    assert (real.created, real.updated, real.unchanged) == (1, 2, 5)
    lines = changed.splitlines()
    assert _csv(TransferKind.devices, loaded).splitlines() == [lines[0], *sorted(lines[1:])]
    upd = loaded.scalars(
        select(AuditRecord).where(AuditRecord.action == "update").order_by(AuditRecord.entity_key)
    ).all()
    assert [(a.entity, a.entity_key) for a in upd] == [
        ("device", "HN-PC-0001"),
        ("device", "HN-PR-0001"),
    ]
    assert upd[0].before is not None and upd[0].after is not None
    assert (upd[0].before["hostname"], upd[0].after["hostname"]) == ("hn-pc-0001", "hn-pc-0001-new")
    assert upd[0].unit_path == InventoryService(loaded).unit("HN").path


def test_custody_follows_reimport(loaded: Session, tmp_path: Path) -> None:
    svc = InventoryService(loaded)
    inactive = svc.update_officer("HN-002", active=False)
    loaded.commit()
    assert inactive.full_time is False
    path = tmp_path / "devices.csv"
    text = _csv(TransferKind.devices, loaded)
    # Hand the PC from HN-001 to HN-002 (part-time and inactive: allowed).
    path.write_text(text.replace("active,HN-001,", "active,HN-002,"), encoding="utf-8")
    report = _import(loaded, TransferKind.devices, path)
    assert (report.updated, report.custody_opened, report.custody_closed) == (1, 1, 1)
    history = svc.custody_history("HN-PC-0001")
    assert [(c.officer.code, c.assigned_on, c.returned_on) for c in history] == [
        ("HN-001", IMPORT_DAY, IMPORT_DAY),
        ("HN-002", IMPORT_DAY, None),
    ]
    assert svc.device("HN-PC-0001").assigned_officer_id == svc.officer("HN-002").id
    # An empty holder closes the custody.
    path.write_text(text.replace("active,HN-001,", "active,,"), encoding="utf-8")
    report = _import(loaded, TransferKind.devices, path)
    assert (report.custody_opened, report.custody_closed) == (0, 1)
    loaded.expire_all()
    assert svc.device("HN-PC-0001").assigned_officer_id is None
    assert all(c.returned_on is not None for c in svc.custody_history("HN-PC-0001"))


def test_units_reimport_moves_subtree_and_renames(loaded: Session, tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(
        _header(TransferKind.units)
        + "HN-BD,LĐLĐ quận Ba Đình (mới),HCM,3,district\n"
        + "HCM-Q1,LĐLĐ Quận 1,HCM,3,district\n",
        encoding="utf-8",
    )
    report = _import(loaded, TransferKind.units, path)
    assert (report.created, report.updated) == (1, 1)
    (change,) = report.changes
    assert {f.field for f in change.changes} == {"name", "parent_code"}
    svc = InventoryService(loaded)
    loaded.expire_all()
    hcm = svc.unit("HCM")
    assert svc.unit("HN-BD").path == f"{hcm.path}{svc.unit('HN-BD').id}/"
    # The grassroots union below moved along with its parent.
    assert svc.unit("HN-BD-CS1").path.startswith(svc.unit("HN-BD").path)
    assert svc.unit("HCM-Q1").path == f"{hcm.path}{svc.unit('HCM-Q1').id}/"
    assert svc.unit("HN-BD").slug == "ldld_quan_ba_dinh_moi"
    assert [u.code for u in loaded.scalars(svc.subtree("HN"))] == ["HN"]
    # Moving a unit under a unit created in the same file works too.
    path.write_text(
        _header(TransferKind.units)
        + "HN-BD,LĐLĐ quận Ba Đình,NEW-P,3,district\n"
        + "NEW-P,LĐLĐ tỉnh Mới,TLD,2,province_federation\n",
        encoding="utf-8",
    )
    _import(loaded, TransferKind.units, path)
    loaded.expire_all()
    assert svc.unit("HN-BD-CS1").path.startswith(svc.unit("NEW-P").path)


# -- validation rules ------------------------------------------------------------------------
UNIT_CASES = [
    # (row text, row, column, fragment of why_en)
    ("X1,,TLD,2,province_federation", 2, "name", "required"),
    ("X1,Tên,TLD,2,province", 2, "kind", "unknown value"),
    ("X1,Tên,TLD,7,province_federation", 2, "level", "1 to 4"),
    ("X1,Tên,TLD,hai,province_federation", 2, "level", "whole number"),
    ("X1,Tên,TLD,3,province_federation", 2, "level", "must be at level 2"),
    ("X1,Tên,NOPE,2,province_federation", 2, "parent_code", "neither in the file"),
    ("X1,Tên,,1,central", 2, "parent_code", "exactly one root"),
    ("X1,Tên,,2,province_federation", 2, "parent_code", "only the level-1"),
    ("X1,Tên,HN-BD,3,district", 2, "level", "deeper than the level of parent HN-BD"),
    ("X1,Tên,X2,3,district\nX2,Tên,X1,3,district", 2, "parent_code", "cycle"),
    (
        "HN,Hà Nội,TLD,2,province_federation\nHN,Hà Nội,TLD,2,province_federation",
        3,
        "code",
        "already on row 2",
    ),
    ("X1," + "A" * 256 + ",TLD,2,province_federation", 2, "name", "longer than 255"),
    ("X1,Tên,TLD,2", 2, None, "header has 5 columns"),
    # HN becomes a district: its district child HN-BD would no longer be deeper.
    ("HN,Hà Nội,TLD,3,district", 2, "level", "child unit HN-BD"),
]


def test_unit_rules(loaded: Session, tmp_path: Path) -> None:
    for text, row, column, fragment in UNIT_CASES:
        problems = _problems(
            loaded, tmp_path, TransferKind.units, _header(TransferKind.units) + text + "\n"
        )
        _find(problems, row, column, fragment)
    assert loaded.scalar(select(func.count()).select_from(Unit)) == 7


def test_header_rules_and_empty_tree(session: Session, tmp_path: Path) -> None:
    kind = TransferKind.units
    cases = [
        ("code,name,parent_code,level,kind,extra\n", "extra", "extra column"),
        ("code,name,parent_code,level\n", "kind", "missing column kind"),
        ("code,name,name,parent_code,level,kind\n", "name", "duplicated column"),
    ]
    for header, column, fragment in cases:
        _find(_problems(session, tmp_path, kind, header + "X,Y,,1,central\n"), 1, column, fragment)
    # Column order is free; names are matched without case.
    ok = tmp_path / "ok.csv"
    ok.write_text("Kind,Level,Code,Name,Parent_Code\ncentral,1,TLD,Tổng Liên đoàn,\n", "utf-8")
    assert _import(session, kind, ok).created == 1
    session.execute(Unit.__table__.delete())
    session.commit()
    problems = _problems(
        session, tmp_path, kind, _header(kind) + "HN,Hà Nội,TLD2,2,province_federation\n"
    )
    _find(problems, None, "parent_code", "no root")


OFFICER_CASES = [
    ("X-1,Nguyễn Văn X,NOPE,,yes,,", 2, "unit_code", "no unit with this code"),
    ("X-1,Nguyễn Văn X,HN,,maybe,,", 2, "full_time", "write yes or no"),
    ("X-1,Nguyễn Văn X,HN,,,,", 2, "full_time", "required"),
    ("X-1,Nguyễn Văn X,HN,,yes,x@@ldld.vn,", 2, "email", "e-mail"),
    ("X-1,Nguyễn Văn X,HN,,yes,an@localhost,", 2, "email", "e-mail"),
    ("X-1,,HN,,yes,,", 2, "full_name", "required"),
    ("X-1,A,HN,,yes,,\nX-1,B,HN,,no,,", 3, "code", "already on row 2"),
    ("X" * 65 + ",A,HN,,yes,,", 2, "code", "longer than 64"),
]

DEVICE_CASES = [
    ("D1,fax,HN,,,,,,active,,,", 2, "kind", "unknown value"),
    ("D1,pc,HN,,,,,,broken,,,", 2, "status", "unknown value"),
    ("D1,pc,HN,,,,,,,,,", 2, "status", "required"),
    ("D1,pc,NOPE,,,,,,active,,,", 2, "unit_code", "no unit"),
    ("D1,pc,HN,,,,,198.18.0.256,active,,,", 2, "mgmt_ip", "IPv4 or IPv6"),
    ("D1,pc,HN,,,,,2001:db8::g,active,,,", 2, "mgmt_ip", "IPv4 or IPv6"),
    ("D1,pc,HN,,,,,,active,NOPE,,", 2, "assigned_officer_code", "no officer"),
    ("D1,pc,HN,,,,,,active,,2024-13-01,", 2, "purchase_date", "not a valid date"),
    ("D1,pc,HN,,,,,,active,,32/01/2024,", 2, "purchase_date", "not a valid date"),
    ("D1,pc,HN,,,,,,active,,01-02-2024,", 2, "purchase_date", "not a valid date"),
    ("D1,pc,HN,,,,,,active,,,-5", 2, "cost_vnd", "negative"),
    ("D1,pc,HN,,,,,,active,,,12.5", 2, "cost_vnd", "whole number"),
    ("D1,pc,HN,,,,,,active,,,1.000.00", 2, "cost_vnd", "whole number"),
    ("D1,pc,HN,,,,,,active,,,\nD1,pc,HN,,,,,,active,,,", 3, "asset_tag", "already on row 2"),
    (",pc,HN,,,,,,active,,,", 2, "asset_tag", "required"),
    ('D1,pc,HN,"a\nb",,,,,active,,,\nD2,pc,HN,,,,,,activ,,,', 4, "status", "unknown value"),
]

LINK_CASES = [
    ("HN,VNPT,0,ftth,active", 2, "bandwidth_mbps", "at least 1"),
    ("HN,VNPT,100M,ftth,active", 2, "bandwidth_mbps", "whole number"),
    ("HN,VNPT,100,ftth,down", 2, "status", "unknown value"),
    ("HN,VNPT,100,,active", 2, "kind", "required"),
    ("HN,VNPT,100,ftth,active\nHN,VNPT,200,ftth,active", 3, "unit_code+isp+kind", "row 2"),
    ("NOPE,VNPT,100,ftth,active", 2, "unit_code", "no unit"),
]

SOFTWARE_CASES = [
    ("HN,Phần mềm X,erp,5,active", 2, "category", "unknown value"),
    ("HN,Phần mềm X,eis,-1,active", 2, "seats", "negative"),
    ("HN,Phần mềm X,eis,nhiều,active", 2, "seats", "whole number"),
    ("HN,Phần mềm X,eis,,retired", 2, "status", "unknown value"),
    ("HN,Phần mềm X,eis,,active\nHN,Phần mềm X,os,,active", 3, "unit_code+product", "row 2"),
]


@pytest.mark.parametrize(
    ("kind", "cases"),
    [
        (TransferKind.officers, OFFICER_CASES),
        (TransferKind.devices, DEVICE_CASES),
        (TransferKind.links, LINK_CASES),
        (TransferKind.software, SOFTWARE_CASES),
    ],
    ids=["officers", "devices", "links", "software"],
)
def test_row_rules(
    loaded: Session,
    tmp_path: Path,
    kind: TransferKind,
    cases: list[tuple[str, int, str, str]],
) -> None:
    before = _csv(kind, loaded)
    for text, row, column, fragment in cases:
        problems = _problems(loaded, tmp_path, kind, _header(kind) + text + "\n")
        _find(problems, row, column, fragment)
    assert _csv(kind, loaded) == before


def test_unreadable_files(session: Session, tmp_path: Path) -> None:
    latin = tmp_path / "units.csv"
    latin.write_bytes(
        _header(TransferKind.units).encode() + "X,Hà Nam,,1,central\n".encode("cp1258")
    )
    _find(_problems_file(session, TransferKind.units, latin), 2, None, "not UTF-8")
    _find(
        _problems_file(session, TransferKind.units, tmp_path / "missing.csv"),
        None,
        None,
        "cannot read",
    )
    odt = tmp_path / "units.ods"
    odt.write_bytes(b"x")
    _find(_problems_file(session, TransferKind.units, odt), None, None, "only .csv and .xlsx")
    fake = tmp_path / "units.xlsx"
    fake.write_bytes(b"not a zip")
    _find(_problems_file(session, TransferKind.units, fake), None, None, "cannot open")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    _find(_problems_file(session, TransferKind.units, empty), None, None, "empty")
    quote = tmp_path / "quote.csv"
    quote.write_text(_header(TransferKind.units) + 'X,"Hà "Nội",,1,central\n', "utf-8")
    _find(_problems_file(session, TransferKind.units, quote), 2, None, "CSV syntax")


# -- export ----------------------------------------------------------------------------------
def test_export_subtree_and_no_secrets(loaded: Session, engine: Engine) -> None:
    from inventory.enums import CredentialKind
    from inventory.secrets import SecretBox, generate_key

    box = SecretBox([generate_key()])
    InventoryService(loaded).create_credential(
        name="snmp-hn", kind=CredentialKind.snmp_v2c, secret={"community": "bi-mat-xyz"}, box=box
    )
    loaded.commit()
    hn = _csv(TransferKind.devices, loaded, unit="HN")
    tags = [line.split(",")[0] for line in hn.splitlines()[1:]]
    assert tags == ["HN-BD-PC-0001", "HN-LT-0001", "HN-PC-0001", "HN-PR-0001", "HN-SW-0001"]
    units = _csv(TransferKind.units, loaded, unit="HN-BD")
    assert [line.split(",")[0] for line in units.splitlines()[1:]] == ["HN-BD", "HN-BD-CS1"]
    out = io.BytesIO()
    write_xlsx(out, sheets={k: export_records(loaded, kind=k) for k in ORDER})
    everything = "".join(_csv(k, loaded) for k in ORDER)
    assert "bi-mat-xyz" not in everything and b"bi-mat-xyz" not in out.getvalue()
    assert Officer.__tablename__ and "secret" not in everything


def test_bulk_path_rebuilds_device_indexes(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The large-import path (secondary indexes dropped, rows loaded, indexes rebuilt) leaves
    the schema exactly as the migrations made it. The threshold is lowered so a small file
    takes that path."""
    import inventory.transfer as transfer
    from inventory.db import make_engine, make_sessionmaker

    monkeypatch.setattr(transfer, "_REBUILD_INDEXES_FROM", 1)
    engine = make_engine(sqlite_url)

    def indexes() -> dict[str, tuple[int, str]]:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT name, rootpage, sql FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = 'devices' AND sql IS NOT NULL"
            )
            return {r[0]: (r[1], r[2]) for r in rows}

    before = indexes()
    assert len(before) >= 4
    statements: list[str] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement),
    )
    session = make_sessionmaker(engine)()
    try:
        cache_before = session.execute(sql_text("PRAGMA cache_size")).scalar_one()
        _load_fixture(session)
        # The bigger page cache of the bulk load is given back to the pooled connection.
        assert session.execute(sql_text("PRAGMA cache_size")).scalar_one() == cache_before
        after = indexes()
        assert {k: v[1] for k, v in after.items()} == {k: v[1] for k, v in before.items()}
        dropped = {st.split()[-1] for st in statements if st.strip().startswith("DROP INDEX")}
        assert dropped == set(before)  # the bulk path really ran
        assert session.scalar(select(func.count()).select_from(Device)) == 7
        # The rebuilt indexes agree with the table, and queries through them see every row.
        assert session.execute(sql_text("PRAGMA integrity_check")).scalar_one() == "ok"
        hn = InventoryService(session).unit("HN").id
        in_hn = session.scalars(select(Device.asset_tag).where(Device.unit_id == hn)).all()
        assert sorted(in_hn) == ["HN-LT-0001", "HN-PC-0001", "HN-PR-0001", "HN-SW-0001"]
    finally:
        session.close()
        engine.dispose()
