"""Imports that must fail cleanly (exit 2, nothing written) or survive a crash.

Real subprocesses run ``tldops inventory import`` where a process boundary matters (kill -9,
two imports at once); the rest go through the in-process CLI app.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from inventory.db import make_engine, session_scope
from inventory.enums import UnitKind
from inventory.models import Device, Officer, Unit
from inventory.schema_check import missing_indexes, repair_schema
from inventory.service import InventoryService
from inventory.text import csv_cell, csv_uncell
from ops_cli.cli import app

DATA = Path(__file__).parent / "data"
KINDS = ("units", "officers", "devices", "links", "software")
TLDOPS = Path(sys.executable).with_name("tldops")
DEVICE_HEADER = (
    "asset_tag,kind,unit_code,hostname,vendor,model,serial,mgmt_ip,status,"
    "assigned_officer_code,purchase_date,cost_vnd\n"
)


@pytest.fixture
def run(db_url: str):
    runner = CliRunner()
    env = {"TLDOPS_DATABASE_URL": db_url, "TLDOPS_ACTOR": "cli-test", "COLUMNS": "200"}

    def invoke(*args: str):
        return runner.invoke(app, list(args), env=env)

    return invoke


def _load(run) -> None:
    for kind in KINDS:
        result = run("inventory", "import", "--kind", kind, str(DATA / f"{kind}.csv"))
        assert result.exit_code == 0, result.output


def _counts(db_url: str) -> tuple[int, int, int]:
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as s:
            return tuple(  # type: ignore[return-value]
                int(s.scalar(select(func.count()).select_from(m)) or 0)
                for m in (Unit, Officer, Device)
            )
    finally:
        engine.dispose()


def _refused(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


# -- big files in real processes -------------------------------------------------------------
def _big_devices(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(DEVICE_HEADER)
        for i in range(n):
            fh.write(
                f"TLD-PC-{i:07d},pc,TLD,h{i},Dell,OptiPlex,SN{i},"
                f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255},active,,2024-01-02,1000000\n"
            )


def _env(db_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TLDOPS_DATABASE_URL=db_url,
        TLDOPS_ACTOR="cli-test",
        COLUMNS="200",
        # Draw the progress bar into the pipe, so the test sees which phase runs.
        FORCE_COLOR="1",
        TTY_COMPATIBLE="1",
        **extra,
    )
    return env


def _start(db_url: str, path: Path, out: Path, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(TLDOPS), "inventory", "import", "--kind", "devices", str(path)],
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
        env=_env(db_url, **extra),
    )


def _wait_for(out: Path, text: bytes, proc: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if text in out.read_bytes():
            return
        if proc.poll() is not None:
            pytest.fail(f"import ended before {text!r}:\n{out.read_text(errors='replace')}")
        time.sleep(0.01)
    proc.kill()
    proc.wait(10)
    pytest.fail(f"no {text!r} within {limit} s")


def _seed_root(db_url: str) -> None:
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        InventoryService(s, actor="test").create_unit(
            code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central
        )
    engine.dispose()


def _device_indexes(db_url: str) -> set[str]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return {str(ix["name"]) for ix in inspect(conn).get_indexes("devices")}
    finally:
        engine.dispose()


def test_kill_9_during_bulk_load_leaves_a_database_that_imports(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The bulk path drops the device indexes; a kill mid-load must roll the drop back too."""
    _seed_root(sqlite_url)
    indexes = _device_indexes(sqlite_url)
    assert len(indexes) >= 4
    big = tmp_path / "devices.csv"
    _big_devices(big, 150_000)
    out = tmp_path / "first.txt"
    proc = _start(sqlite_url, big, out)
    try:
        _wait_for(out, b"writing devices", proc, limit=120)
        proc.send_signal(signal.SIGKILL)
    finally:
        assert proc.wait(30) == -signal.SIGKILL  # killed, not finished on its own
    assert _counts(sqlite_url)[2] == 0
    assert _device_indexes(sqlite_url) == indexes
    again = subprocess.run(
        [str(TLDOPS), "inventory", "import", "--kind", "devices", str(big)],
        capture_output=True,
        env=_env(sqlite_url),
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stdout.decode() + again.stderr.decode()
    assert _counts(sqlite_url)[2] == 150_000
    assert _device_indexes(sqlite_url) == indexes
    assert missing_indexes(make_engine(sqlite_url)) == []


def test_two_imports_of_one_file_at_once(db_url: str, tmp_path: Path) -> None:
    """The second waits for the first and finds nothing to change, or gives up cleanly."""
    _seed_root(db_url)
    big = tmp_path / "devices.csv"
    _big_devices(big, 60_000)
    out_a, out_b = tmp_path / "a.txt", tmp_path / "b.txt"
    a = _start(db_url, big, out_a)
    try:
        _wait_for(out_a, b"validating", a, limit=120)
        b = _start(db_url, big, out_b)
        try:
            assert b.wait(300) == 0, out_b.read_text(errors="replace")
        finally:
            if b.poll() is None:
                b.kill()
                b.wait(10)
        assert a.wait(300) == 0, out_a.read_text(errors="replace")
    finally:
        if a.poll() is None:
            a.kill()
            a.wait(10)
    text_a, text_b = out_a.read_text(errors="replace"), out_b.read_text(errors="replace")
    assert "60000" in text_a and "Traceback" not in text_a + text_b
    # b ran after a committed: every row unchanged.
    assert "│ devices     │ 0                 │ 0                  │ 60000" in text_b, text_b
    assert _counts(db_url)[2] == 60_000


def test_second_import_gives_up_cleanly_when_told_not_to_wait(db_url: str, tmp_path: Path) -> None:
    """While another import holds the lock, one told to wait 0.5 s exits 2 and writes nothing."""
    from inventory.db import make_sessionmaker
    from inventory.transfer import begin_import

    _seed_root(db_url)
    small = tmp_path / "devices.csv"
    _big_devices(small, 10)
    engine = make_engine(db_url)
    holder = make_sessionmaker(engine)()
    try:
        begin_import(holder)  # what a running import holds
        out = tmp_path / "b.txt"
        b = _start(db_url, small, out, TLDOPS_IMPORT_WAIT="0.5")
        try:
            code_b = b.wait(120)
        finally:
            if b.poll() is None:
                b.kill()
                b.wait(10)
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()
    text_b = out.read_text(errors="replace")
    assert code_b == 2, text_b
    assert "another import is running" in text_b and "một lần nhập" in text_b
    assert "Traceback" not in text_b
    assert _counts(db_url)[2] == 0


# -- schema repair ---------------------------------------------------------------------------
def test_repair_schema_recreates_a_dropped_index(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert missing_indexes(engine) == []
        assert repair_schema(engine) == []
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_devices_unit_kind_status")
        assert missing_indexes(engine) == [("devices", "ix_devices_unit_kind_status")]
        repaired = repair_schema(engine)
        assert len(repaired) == 1
        assert "ix_devices_unit_kind_status" in repaired[0] and "/ recreated index" in repaired[0]
        assert missing_indexes(engine) == []
        assert "ix_devices_unit_kind_status" in {
            ix["name"] for ix in inspect(engine).get_indexes("devices")
        }
    finally:
        engine.dispose()


# -- hostile XLSX ----------------------------------------------------------------------------
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'  # noqa: E501
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'  # noqa: E501
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'  # noqa: E501
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'  # noqa: E501
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="units" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WB_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'  # noqa: E501
    "</Relationships>"
)


def _sheet_xml(rows: list[list[str]], *, prolog: str = "") -> str:
    cells = "".join(
        f'<row r="{r + 1}">'
        + "".join(
            f'<c r="{chr(65 + c)}{r + 1}" t="inlineStr"><is><t>{v}</t></is></c>'
            for c, v in enumerate(row)
        )
        + "</row>"
        for r, row in enumerate(rows)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{cells}</sheetData></worksheet>"
    )


def _xlsx(path: Path, sheet: str | bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


UNIT_HEADER = ["code", "name", "parent_code", "level", "kind"]


def test_hand_built_xlsx_imports(run, db_url: str, tmp_path: Path) -> None:
    """The hand-made workbook of the hostile cases is itself a valid one."""
    ok = _xlsx(tmp_path / "ok.xlsx", _sheet_xml([UNIT_HEADER, ["TLD", "Tổng", "", "1", "central"]]))
    result = run("inventory", "import", "--kind", "units", str(ok))
    assert result.exit_code == 0, result.output
    assert _counts(db_url)[0] == 1


def test_xlsx_zip_bomb_is_refused_before_parsing(run, db_url: str, tmp_path: Path) -> None:
    # One 300 MB cell of one letter: under 1 MB on disk.
    head = _sheet_xml([UNIT_HEADER, ["TLD", "@@", "", "1", "central"]])
    before, after = head.split("@@")
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(before.encode())
            block = b"A" * (1 << 20)
            for _ in range(300):
                fh.write(block)
            fh.write(after.encode())
    assert path.stat().st_size < 2 << 20
    result = run("inventory", "import", "--kind", "units", str(path))
    _refused(result, "zip bomb", "refusing the Excel file")
    assert _counts(db_url)[0] == 0


def test_xlsx_too_much_unpacked_data_is_refused(
    run, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inventory.transfer_read as transfer_read

    # The real limit is 1 GiB; a smaller one keeps the test file small.
    monkeypatch.setattr(transfer_read, "XLSX_MAX_UNPACKED", 10_000)
    rows = [UNIT_HEADER, ["TLD", "x" * 20_000, "", "1", "central"]]
    result = run(
        "inventory", "import", "--kind", "units", str(_xlsx(tmp_path / "b.xlsx", _sheet_xml(rows)))
    )
    _refused(result, "unpacks to", "more than the limit")


def test_xlsx_cell_longer_than_excel_allows(run, db_url: str, tmp_path: Path) -> None:
    rows = [UNIT_HEADER, ["TLD", "x" * 40_000, "", "1", "central"]]
    result = run(
        "inventory", "import", "--kind", "units", str(_xlsx(tmp_path / "c.xlsx", _sheet_xml(rows)))
    )
    _refused(result, "dòng/row 2", "more than Excel's limit")
    assert _counts(db_url)[0] == 0


def test_xlsx_with_entities_is_refused(run, db_url: str, tmp_path: Path) -> None:
    laughs = (
        '<!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    )
    rows = [UNIT_HEADER, ["TLD", "&lol3;", "", "1", "central"]]
    bomb = _xlsx(tmp_path / "laughs.xlsx", _sheet_xml(rows, prolog=laughs))
    _refused(run("inventory", "import", "--kind", "units", str(bomb)), "DTD or entities")
    xxe = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    rows = [UNIT_HEADER, ["TLD", "&e;", "", "1", "central"]]
    ext = _xlsx(tmp_path / "xxe.xlsx", _sheet_xml(rows, prolog=xxe))
    _refused(run("inventory", "import", "--kind", "units", str(ext)), "DTD or entities")
    utf16 = _xlsx(
        tmp_path / "u16.xlsx",
        _sheet_xml(rows, prolog=xxe)
        .replace('encoding="UTF-8"', 'encoding="UTF-16"')
        .encode("utf-16"),
    )
    _refused(run("inventory", "import", "--kind", "units", str(utf16)), "not UTF-8 XML")
    assert _counts(db_url)[0] == 0


# -- characters and codes --------------------------------------------------------------------
def test_control_and_invisible_characters_are_row_problems(
    run, db_url: str, tmp_path: Path
) -> None:
    _load(run)
    before = _counts(db_url)
    bad = tmp_path / "officers.csv"
    bad.write_text(
        "code,full_name,unit_code,position,full_time,email,phone\n"
        "X-1,Nguyễn\x00Văn,HN,,yes,,\n"
        "X-2,Trần\x07Thị,HN,,yes,,\n"
        "X-3,Lê Văn,HN,Chủ\u202etịch,yes,,\n"
        "X\u200b4,Lê Văn,HN,,yes,,\n",
        encoding="utf-8",
    )
    result = run("inventory", "import", "--kind", "officers", str(bad))
    _refused(result, "4 problem(s)")
    text = result.output
    assert 'dòng/row 2, cột/column full_name = "Nguyễn\\x00Văn"' in text
    assert "control character U+0000" in text
    assert 'dòng/row 3, cột/column full_name = "Trần\\x07Thị"' in text
    assert 'dòng/row 4, cột/column position = "Chủ\\u202etịch"' in text
    assert 'dòng/row 5, cột/column code = "X\\u200b4"' in text and "U+200B" in text
    assert _counts(db_url) == before
    # An XLSX cell holding a control character Excel allows in XML (tab) is refused too.
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["code", "full_name", "unit_code", "position", "full_time", "email", "phone"])
    ws.append(["X-5", "Lê\tVăn", "HN", "", "yes", "", ""])
    wb.save(tmp_path / "officers.xlsx")
    result = run("inventory", "import", "--kind", "officers", str(tmp_path / "officers.xlsx"))
    _refused(result, 'cột/column full_name = "Lê\\x09Văn"')
    # Export works after all the refused imports (the NUL never got in).
    export = run("inventory", "export", "--kind", "all", "--output", str(tmp_path / "all.xlsx"))
    assert export.exit_code == 0, export.output


def test_codes_are_upper_case_and_limited_to_letters_digits_dash(
    run, db_url: str, tmp_path: Path
) -> None:
    _load(run)
    units = tmp_path / "units.csv"
    units.write_text(
        "code,name,parent_code,level,kind\nhn-new,Mới,hn,3,district\n", encoding="utf-8"
    )
    result = run("inventory", "import", "--kind", "units", str(units))
    assert result.exit_code == 0, result.output
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        assert s.scalar(select(Unit.code).where(Unit.name == "Mới")) == "HN-NEW"
    engine.dispose()
    # The same code in another case is the same unit: re-import changes nothing.
    units.write_text("code,name,parent_code,level,kind\nHN-NEW,Mới,HN,3,district\n", "utf-8")
    again = run("inventory", "import", "--kind", "units", str(units))
    assert "│ units       │ 0                 │ 0                  │ 1" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,name,parent_code,level,kind\n"
        "HN_X,A,HN,3,district\nHN X,B,HN,3,district\nHÀ-NỘI,C,HN,3,district\n"
        "ß,D,HN,3,district\n",
        encoding="utf-8",
    )
    result = run("inventory", "import", "--kind", "units", str(bad))
    _refused(result, "4 problem(s)", "a code may only hold the letters A-Z")
    for row in (2, 3, 4, 5):
        assert f"dòng/row {row}, cột/column code" in result.output


# -- amounts ---------------------------------------------------------------------------------
def test_absurd_amounts_are_row_problems(run, db_url: str, tmp_path: Path) -> None:
    _load(run)
    before = _counts(db_url)
    bad = tmp_path / "devices.csv"
    bad.write_text(
        DEVICE_HEADER
        + "D-1,pc,HN,,,,,,active,,,"
        + "9" * 40
        + "\n"
        + "D-2,pc,HN,,,,,,active,,,1e30\n"
        + "D-3,pc,HN,,,,,,active,,,10^30\n"
        + "D-4,pc,HN,,,,,,active,,,9223372036854775808\n",
        encoding="utf-8",
    )
    result = run("inventory", "import", "--kind", "devices", str(bad))
    _refused(result, "4 problem(s)")
    assert result.output.count("too large; at most 9223372036854775807") == 2
    links = tmp_path / "links.csv"
    links.write_text("unit_code,isp,bandwidth_mbps,kind,status\nHN,X,99999999999,ftth,active\n")
    _refused(run("inventory", "import", "--kind", "links", str(links)), "at most 2147483647")
    # An Excel number cell of 1e30 arrives as a 31-digit whole number.
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(DEVICE_HEADER.strip().split(","))
    ws.append(["D-5", "pc", "HN", "", "", "", "", "", "active", "", "", 1e30])
    wb.save(tmp_path / "devices.xlsx")
    result = run("inventory", "import", "--kind", "devices", str(tmp_path / "devices.xlsx"))
    _refused(result, "cột/column cost_vnd", "too large")
    assert _counts(db_url) == before


# -- formulas in CSV exports -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd", "'+cmd"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-5", "-5"),
        ("+84912345678", "+84912345678"),
        ("+84 28 3829 0000", "+84 28 3829 0000"),
        ("-1+2-cmd", "'-1+2-cmd"),
        ("-1.5", "-1.5"),
        ("'plain", "'plain"),
        ("'=x", "''=x"),
        ("HN-01", "HN-01"),
        ("", ""),
    ],
)
def test_csv_cell_neutralises_formulas_and_is_undone(value: str, cell: str) -> None:
    assert csv_cell(value) == cell
    assert csv_uncell(cell) == value


def test_csv_export_neutralises_formulas_and_round_trips(run, db_url: str, tmp_path: Path) -> None:
    _load(run)
    units = tmp_path / "units.csv"
    units.write_text(
        "code,name,parent_code,level,kind\n"
        'HN-F,"=HYPERLINK(""http://198.18.0.1/x"",""bấm"")",HN,3,district\n'
        "HN-G,-2+3+cmd,HN,3,district\nHN-H,@SUM(A1),HN,3,district\n",
        encoding="utf-8",
    )
    assert run("inventory", "import", "--kind", "units", str(units)).exit_code == 0
    first = tmp_path / "first.csv"
    assert run("inventory", "export", "--kind", "units", "-o", str(first)).exit_code == 0
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(first.read_text("utf-8")))}
    assert rows["HN-F"]["name"] == '\'=HYPERLINK("http://198.18.0.1/x","bấm")'
    assert rows["HN-G"]["name"] == "'-2+3+cmd"
    assert rows["HN-H"]["name"] == "'@SUM(A1)"
    assert rows["HN"]["level"] == "2"
    # Import of the export changes nothing, and exporting again gives the same bytes.
    again = run("inventory", "import", "--kind", "units", str(first))
    assert again.exit_code == 0 and "│ units       │ 0                 │ 0 " in again.output
    second = tmp_path / "second.csv"
    assert run("inventory", "export", "--kind", "units", "-o", str(second)).exit_code == 0
    assert second.read_bytes() == first.read_bytes()


def test_targets_csv_neutralises_unit_names(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        svc = InventoryService(s, actor="test")
        svc.create_unit(code="TLD", name="Tổng", level=1, kind=UnitKind.central)
        svc.create_unit(
            code="HN",
            name='=HYPERLINK("http://198.18.0.1")',
            level=2,
            kind=UnitKind.province_federation,
            parent_code="TLD",
        )
    engine.dispose()
    out = tmp_path / "t.csv"
    env = {"TLDOPS_DATABASE_URL": db_url, "TLDOPS_ACTOR": "cli-test", "COLUMNS": "200"}
    res = CliRunner().invoke(
        app, ["targets", "-f", "csv", "-o", str(out), "--indicator", "equipped_offices"], env=env
    )
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    names = {r["unit_code"]: r["unit_name"] for r in rows}
    assert names["HN"] == '\'=HYPERLINK("http://198.18.0.1")'
    assert names["TLD"] == "Tổng"
