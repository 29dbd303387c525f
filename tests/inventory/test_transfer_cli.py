"""``tldops inventory import|export`` through the real CLI app (in-process CliRunner)."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from ops_cli.cli import app

DATA = Path(__file__).parent / "data"
KINDS = ("units", "officers", "devices", "links", "software")


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
        assert kind in result.output


def test_import_bad_file_exits_2_and_prints_every_problem(run, tmp_path: Path) -> None:
    _load(run)
    bad = tmp_path / "devices.csv"
    bad.write_text(
        (DATA / "devices.csv").read_text(encoding="utf-8")
        + "HN-X-1,pc,HN,,,,,10.1.1.300,active,,,\n"
        + "HN-X-2,pc,HN,,,,,,active,KHONG-CO,31/04/2024,\n",
        encoding="utf-8",
    )
    result = run("inventory", "import", "--kind", "devices", str(bad))
    assert result.exit_code == 2
    text = result.output
    assert "3 problem(s) in the input, nothing was written" in text
    assert 'devices.csv, dòng/row 9, cột/column mgmt_ip = "10.1.1.300"' in text
    assert "dòng/row 10, cột/column assigned_officer_code" in text
    assert "dòng/row 10, cột/column purchase_date" in text
    assert "Traceback" not in text
    # Nothing of the file was written: the good rows still import as unchanged, not updated.
    again = run("inventory", "import", "--kind", "devices", str(DATA / "devices.csv"))
    assert again.exit_code == 0
    assert "│ devices     │ 0 " in again.output


def test_dry_run_shows_changes_and_writes_nothing(run, tmp_path: Path) -> None:
    _load(run)
    changed = tmp_path / "links.csv"
    changed.write_text(
        (DATA / "links.csv").read_text(encoding="utf-8").replace("VNPT,300", "VNPT,1000"),
        encoding="utf-8",
    )
    dry = run("inventory", "import", "--kind", "links", "--dry-run", str(changed))
    assert dry.exit_code == 0, dry.output
    assert "dry run, nothing written" in dry.output
    assert "HN/VNPT/ftth" in dry.output and "bandwidth_mbps" in dry.output
    assert "1000" in dry.output
    exported = run("inventory", "export", "--kind", "links")
    assert "HN,VNPT,300,ftth,active" in exported.output
    real = run("inventory", "import", "--kind", "links", str(changed))
    assert real.exit_code == 0
    assert "HN,VNPT,1000,ftth,active" in run("inventory", "export", "--kind", "links").output


def test_unknown_kind_and_unreadable_file_are_clean_errors(run, tmp_path: Path) -> None:
    result = run("inventory", "import", "--kind", "printers", str(DATA / "units.csv"))
    assert result.exit_code == 2
    assert "printers" in result.output and "Traceback" not in result.output
    result = run("inventory", "import", "--kind", "units", str(tmp_path / "khong-co.csv"))
    assert result.exit_code == 2
    assert "cannot read the file" in result.output and "Traceback" not in result.output
    result = run("inventory", "export", "--kind", "all", "--format", "csv")
    assert result.exit_code == 2 and "--format xlsx" in result.output
    result = run("inventory", "export", "--kind", "units", "--unit", "KHONG-CO")
    assert result.exit_code == 2 and "KHONG-CO" in result.output


def test_export_stdout_bom_unit_and_xlsx_file(run, tmp_path: Path) -> None:
    _load(run)
    plain = run("inventory", "export", "--kind", "officers")
    assert plain.exit_code == 0
    assert plain.stdout_bytes.startswith(b"code,full_name,unit_code")
    with_bom = run("inventory", "export", "--kind", "officers", "--bom", "--unit", "HCM")
    assert with_bom.stdout_bytes.decode("utf-8") == (
        "\ufeffcode,full_name,unit_code,position,full_time,email,phone\n"
        "HCM-001,Phạm Thị Dung,HCM,Trưởng ban Tổ chức,yes,dung.pham@ldldtphcm.org.vn,"
        "028 3829 0000\n"
    )
    book = tmp_path / "kho.xlsx"
    result = run("inventory", "export", "--kind", "all", "--output", str(book))
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(book, read_only=True)
    assert wb.sheetnames == list(KINDS)
    to_stdout = run("inventory", "export", "--kind", "devices", "--format", "xlsx")
    ws = openpyxl.load_workbook(io.BytesIO(to_stdout.stdout_bytes), read_only=True)["devices"]
    assert sum(1 for _ in ws.iter_rows()) == 8
    # The workbook imports back with no change.
    for kind in KINDS:
        again = run("inventory", "import", "--kind", kind, str(book))
        assert again.exit_code == 0 and "│ 0                 │ 0 " in again.output, again.output
