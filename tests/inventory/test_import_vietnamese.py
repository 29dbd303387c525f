"""The workbook an office really sends: Vietnamese headers and sheet names, a title row above
the header, an STT column, Vietnamese vocabulary values, several sheets imported together."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from inventory.models import Device, Officer, Unit
from ops_cli.cli import app


@pytest.fixture
def run(db_url: str):
    runner = CliRunner()
    env = {"TLDOPS_DATABASE_URL": db_url, "TLDOPS_ACTOR": "cli-test", "COLUMNS": "200"}

    def invoke(*args: str):
        return runner.invoke(app, list(args), env=env)

    return invoke


def _sheet(wb: openpyxl.Workbook, name: str, title: str, header: list[str], rows: list[list]):
    ws = wb.create_sheet(name)
    ws.append([title])  # a title row, merged across the table as offices do
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header) + 1)
    ws.append([])  # and a blank line under it
    ws.append(["STT", *header])
    for i, row in enumerate(rows, start=1):
        ws.append([i, *row])


def _office_workbook(path: Path, *, officer_unit: str = "QN-HL") -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    guide = wb.create_sheet("Hướng dẫn")
    guide.append(["Điền các trang tính sau rồi gửi về Tổng Liên đoàn."])
    _sheet(
        wb,
        "Đơn vị",
        "DANH SÁCH ĐƠN VỊ — LĐLĐ TỈNH QUẢNG NINH",
        ["Mã đơn vị", "Tên đơn vị", "Mã đơn vị cấp trên", "Cấp", "Loại đơn vị"],
        [
            ["TLD", "Tổng Liên đoàn Lao động Việt Nam", None, 1, "Tổng Liên đoàn"],
            ["QN", "LĐLĐ tỉnh Quảng Ninh", "TLD", 2, "LĐLĐ tỉnh, thành phố"],
            ["qn-hl", "LĐLĐ thành phố Hạ Long", "QN", 3, "LĐLĐ quận, huyện"],
        ],
    )
    _sheet(
        wb,
        "Cán bộ",
        "DANH SÁCH CÁN BỘ CHUYÊN TRÁCH",
        ["Mã cán bộ", "Họ và tên", "Đơn vị", "Chức vụ", "Chuyên trách", "Email", "Số điện thoại"],
        [
            ["QN-001", "Phạm Thị Hoa", "QN", "Chủ tịch", "Có", None, "0912.345.678"],
            ["QN-002", "Vũ Văn Nam", officer_unit, "Cán bộ CNTT", "không", None, "máy lẻ 12"],
        ],
    )
    _sheet(
        wb,
        "Thiết bị",
        "BẢNG KÊ THIẾT BỊ CNTT",
        [
            "Mã tài sản",
            "Loại thiết bị",
            "Đơn vị",
            "Tên máy",
            "Hãng sản xuất",
            "Model",
            "Số sê-ri",
            "Địa chỉ IP quản lý",
            "Tình trạng",
            "Cán bộ sử dụng",
            "Ngày mua",
            "Nguyên giá (VNĐ)",
        ],
        [
            [
                "QN-PC-01",
                "Máy tính để bàn",
                "QN",
                "qn-pc-01",
                "Dell",
                "OptiPlex 7010",
                None,
                None,
                "Đang dùng",
                "QN-001",
                "15/03/2024",
                15500000,
            ],
            [
                "QN-IN-01",
                "máy in",
                "QN-HL",
                None,
                "Canon",
                "LBP 2900",
                None,
                None,
                "hỏng/sửa chữa",
                None,
                None,
                None,
            ],
            [
                "QN-SW-01",
                "Bộ chuyển mạch",
                "QN",
                "qn-sw-01",
                "Cisco",
                "C2960",
                None,
                "10.20.0.2",
                "thanh lý",
                None,
                None,
                None,
            ],
        ],
    )
    wb.save(path)
    return path


def _count(db_url: str, model: type) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(model)).scalar_one())
    finally:
        engine.dispose()


def test_office_workbook_imports_with_kind_all(run, db_url: str, tmp_path: Path) -> None:
    book = _office_workbook(tmp_path / "bao_cao_quang_ninh.xlsx")

    dry = run("inventory", "import", "--kind", "all", "--dry-run", str(book))
    assert dry.exit_code == 0, dry.output
    assert "dry run, nothing written" in dry.output
    # Officers and devices of units created by the same workbook were checked against them,
    # and yet the dry run left nothing behind.
    assert _count(db_url, Unit) == 0 and _count(db_url, Device) == 0

    done = run("inventory", "import", "--kind", "all", str(book))
    assert done.exit_code == 0, done.output
    engine = create_engine(db_url)
    with engine.connect() as conn:
        units = dict(conn.execute(select(Unit.code, Unit.kind)).all())
        devices = {
            r[0]: r[1:]
            for r in conn.execute(
                select(
                    Device.asset_tag,
                    Device.kind,
                    Device.status,
                    Device.cost_vnd,
                    Device.purchase_date,
                )
            )
        }
        officers = dict(conn.execute(select(Officer.code, Officer.full_time)).all())
        phones = dict(conn.execute(select(Officer.code, Officer.phone)).all())
    engine.dispose()
    assert str(units["QN-HL"]) == "district"  # code upper-cased, kind read from Vietnamese
    assert {t: (str(k), str(s)) for t, (k, s, _, _) in devices.items()} == {
        "QN-PC-01": ("pc", "active"),
        "QN-IN-01": ("printer", "repair"),
        "QN-SW-01": ("switch", "retired"),
    }
    assert devices["QN-PC-01"][2] == 15_500_000
    assert str(devices["QN-PC-01"][3]) == "2024-03-15"
    assert officers == {"QN-001": True, "QN-002": False}
    # Phones in one format; one that cannot be read is kept as written, with a note.
    assert phones == {"QN-001": "0912 345 678", "QN-002": "máy lẻ 12"}
    assert "Lưu ý / note" in done.output and "máy lẻ 12" in done.output

    again = run("inventory", "import", "--kind", "all", str(book))
    assert again.exit_code == 0, again.output
    assert "│ devices     │ 0 " in again.output  # nothing created, nothing changed


def test_a_bad_row_in_one_sheet_keeps_every_sheet_out(run, db_url: str, tmp_path: Path) -> None:
    book = _office_workbook(tmp_path / "bao_cao.xlsx", officer_unit="QN-HLL")
    result = run("inventory", "import", "--kind", "all", str(book))
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    # The problem names the file, the sheet, the row as Excel numbers it, and the column.
    assert "bao_cao.xlsx [Cán bộ], dòng/row 5, cột/column unit_code" in text
    assert "QN-HLL" in text
    assert _count(db_url, Unit) == 0 and _count(db_url, Officer) == 0


def test_unknown_vocabulary_value_suggests_the_nearest(run, db_url: str, tmp_path: Path) -> None:
    csv = tmp_path / "units.csv"
    csv.write_text(
        "Mã đơn vị,Tên đơn vị,Mã đơn vị cấp trên,Cấp,Loại đơn vị\n"
        "TLD,Tổng Liên đoàn,,1,Tong Lien doan\n"
        "QN,LĐLĐ Quảng Ninh,TLD,2,LĐLĐ tinh thanh pho\n"
        "QN-X,Công đoàn X,QN,4,cong doan co so xx\n",
        encoding="utf-8",
    )
    result = run("inventory", "import", "--kind", "units", str(csv))
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "dòng/row 4, cột/column kind" in text
    assert "có phải: Công đoàn cơ sở?" in text
    assert _count(db_url, Unit) == 0


def test_kind_all_refuses_a_csv_and_a_workbook_without_kind_sheets(run, tmp_path: Path) -> None:
    csv = tmp_path / "units.csv"
    csv.write_text("code,name,parent_code,level,kind\n", encoding="utf-8")
    assert "chỉ dùng cho tệp .xlsx" in run("inventory", "import", "--kind", "all", str(csv)).output
    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    wb.create_sheet("Báo cáo")
    path = tmp_path / "other.xlsx"
    wb.save(path)
    result = run("inventory", "import", "--kind", "all", str(path))
    assert result.exit_code == 2
    assert "Sheet1" in result.output and "Thiết bị" in result.output


def test_docs_list_every_heading_and_vocabulary_name() -> None:
    """docs/import.md is what officers read: it must name every heading and value accepted."""
    from inventory.transfer_names import HEADINGS
    from inventory.transfer_rules import COLUMNS, VOCABULARY_COLUMNS
    from inventory.vocabulary import LABELS

    doc = (Path(__file__).parents[2] / "docs" / "import.md").read_text(encoding="utf-8")
    for kind, columns in COLUMNS.items():
        for column in columns:
            assert f"| `{column}` | {HEADINGS[kind.value][column][0]} |" in doc
    for vocabularies in VOCABULARY_COLUMNS.values():
        for enum in vocabularies.values():
            if enum is bool:
                continue
            for value, (vi, _en) in LABELS[enum].items():
                assert f"| `{value}` | {vi} |" in doc


def test_the_template_imports_as_it_is_written(run, db_url: str, tmp_path: Path) -> None:
    """`tldops inventory template` writes a workbook whose example rows import with --kind all."""
    root = tmp_path / "goc.csv"
    root.write_text(
        "code,name,parent_code,level,kind\nTLD,Tổng Liên đoàn Lao động Việt Nam,,1,central\n",
        encoding="utf-8",
    )
    assert run("inventory", "import", "--kind", "units", str(root)).exit_code == 0
    book = tmp_path / "mau_nhap_lieu.xlsx"
    made = run("inventory", "template", "--output", str(book))
    assert made.exit_code == 0, made.output
    done = run("inventory", "import", "--kind", "all", str(book))
    assert done.exit_code == 0, done.output
    assert _count(db_url, Unit) == 2 and _count(db_url, Officer) == 1
    assert _count(db_url, Device) == 1
