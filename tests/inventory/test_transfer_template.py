"""The import template (``tldops inventory template``), read back with openpyxl."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from typer.testing import CliRunner

from inventory.enums import DeviceStatus
from inventory.transfer_names import SHEETS, canonical_column, heading
from inventory.transfer_rules import (
    COLUMNS,
    KIND_ORDER,
    VOCABULARY_COLUMNS,
    ProblemLog,
    Refs,
    TransferKind,
    parse_rows,
    parse_yes_no,
)
from inventory.transfer_template import (
    HELP_SHEET,
    LIST_SHEET,
    build_template,
    required_values,
    write_template,
)
from inventory.vocabulary import LABELS, parse_choice
from ops_cli.cli import app

_RANGE = re.compile(
    r"'(?P<sheet>[^']+)'!\$(?P<c1>[A-Z]+)\$(?P<r1>\d+):\$(?P<c2>[A-Z]+)\$(?P<r2>\d+)"
)


def _saved(tmp_path: Path, kinds: list[TransferKind], lang: str = "vi") -> Workbook:
    path = tmp_path / "mau.xlsx"
    build_template(kinds, lang=lang).save(path)
    return openpyxl.load_workbook(path)


@pytest.fixture
def book(tmp_path: Path) -> Workbook:
    return _saved(tmp_path, list(TransferKind))


def _sheet(wb: Workbook, kind: TransferKind) -> Worksheet:
    return wb[SHEETS[kind.value][0]]


def _expected_labels(vocabulary: Any, lang: str = "vi") -> list[str]:
    if vocabulary is bool:
        return ["Có", "Không"] if lang == "vi" else ["Yes", "No"]
    pick = 0 if lang == "vi" else 1
    return [LABELS[vocabulary][m.value][pick] for m in vocabulary]


def _validations(ws: Worksheet) -> dict[str, Any]:
    """Column letter → the data validation covering rows 3..5000 of it."""
    found: dict[str, Any] = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            assert (rng.min_row, rng.max_row) == (3, 5000)
            assert rng.min_col == rng.max_col
            found[openpyxl.utils.get_column_letter(rng.min_col)] = dv
    return found


def _list_values(wb: Workbook, formula: str) -> list[str]:
    m = _RANGE.fullmatch(formula)
    assert m is not None, formula
    assert m["sheet"] == LIST_SHEET and m["c1"] == m["c2"]
    ws = wb[m["sheet"]]
    cells = ws[f"{m['c1']}{m['r1']}:{m['c2']}{m['r2']}"]
    values = [row[0].value for row in cells]
    # The range ends at the last option: nothing below it is offered.
    assert ws[f"{m['c1']}{int(m['r2']) + 1}"].value is None
    return values


def _row(ws: Worksheet, row: int) -> list[Any]:
    return [c.value for c in ws[row]]


def test_sheets_in_import_order_list_sheet_hidden(tmp_path: Path) -> None:
    wb = _saved(tmp_path, list(reversed(TransferKind)))
    assert wb.sheetnames == [
        HELP_SHEET,
        *(SHEETS[k.value][0] for k in KIND_ORDER),
        LIST_SHEET,
    ]
    assert wb.sheetnames[1:4] == ["Đơn vị", "Cán bộ", "Thiết bị"]
    assert wb[LIST_SHEET].sheet_state == "hidden"
    assert all(wb[n].sheet_state == "visible" for n in wb.sheetnames if n != LIST_SHEET)
    assert wb.active is not None and wb.active.title == HELP_SHEET


def test_title_and_headings_of_every_sheet(book: Workbook) -> None:
    for kind in KIND_ORDER:
        ws = _sheet(book, kind)
        columns = COLUMNS[kind]
        last = openpyxl.utils.get_column_letter(len(columns))
        assert ws["A1"].value == f"MẪU NHẬP LIỆU — {SHEETS[kind.value][0].upper()}"
        assert ws["A1"].font.bold
        assert [str(r) for r in ws.merged_cells.ranges] == [f"A1:{last}1"]
        headings = _row(ws, 2)
        assert headings == [heading(kind.value, c) for c in columns]
        assert "STT" not in headings
        # Each heading names its own column for the importer.
        assert [canonical_column(kind.value, h) for h in headings] == list(columns)
        assert all(c.font.bold and c.fill.fgColor.rgb.endswith("DDEBF7") for c in ws[2])
        assert ws.freeze_panes == "A3"
        assert ws.auto_filter.ref == f"A2:{last}3"
        assert ws.max_row == 3 and ws.max_column == len(columns)
        widths = [
            ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width
            for i in range(1, len(columns) + 1)
        ]
        assert all(10 <= w <= 45 for w in widths), widths
    assert _sheet(book, TransferKind.devices)["A1"].value == "MẪU NHẬP LIỆU — THIẾT BỊ"


def test_drop_down_on_every_vocabulary_column_from_the_list_sheet(book: Workbook) -> None:
    for kind in KIND_ORDER:
        ws = _sheet(book, kind)
        by_column = _validations(ws)
        vocab = VOCABULARY_COLUMNS[kind]
        expected_cols = {
            openpyxl.utils.get_column_letter(COLUMNS[kind].index(c) + 1) for c in vocab
        }
        assert set(by_column) == expected_cols, kind
        for column, vocabulary in vocab.items():
            dv = by_column[openpyxl.utils.get_column_letter(COLUMNS[kind].index(column) + 1)]
            assert dv.type == "list"
            assert dv.errorStyle == "warning" and dv.showErrorMessage
            assert dv.error and "danh mục" in dv.error
            assert _list_values(book, dv.formula1) == _expected_labels(vocabulary), column


def test_list_sheet_has_one_column_per_vocabulary(book: Workbook) -> None:
    ws = book[LIST_SHEET]
    vocabularies = {v for cols in VOCABULARY_COLUMNS.values() for v in cols.values()}
    assert ws.max_column == len(vocabularies)
    options = [[c.value for c in col[1:] if c.value is not None] for col in ws.iter_cols()]
    assert sorted(map(tuple, options)) == sorted(tuple(_expected_labels(v)) for v in vocabularies)
    # Labels with a comma (which an inline list would split) are offered whole.
    assert any("LĐLĐ tỉnh, thành phố" in col for col in options)


def _example(book: Workbook, kind: TransferKind) -> dict[str, Any]:
    ws = _sheet(book, kind)
    return dict(zip(COLUMNS[kind], _row(ws, 3), strict=True))


def test_example_vocabulary_cells_parse_back(book: Workbook) -> None:
    for kind in KIND_ORDER:
        example = _example(book, kind)
        for column, vocabulary in VOCABULARY_COLUMNS[kind].items():
            text = example[column]
            assert isinstance(text, str) and text in _expected_labels(vocabulary)
            if vocabulary is bool:
                assert parse_yes_no(text) is True
            else:
                assert isinstance(vocabulary, type) and issubclass(vocabulary, StrEnum)
                value = parse_choice(vocabulary, text)
                assert value is not None and vocabulary(value)
                assert LABELS[vocabulary][value][0] == text
    assert _example(book, TransferKind.units)["kind"] == "LĐLĐ tỉnh, thành phố"


def test_example_rows_agree_across_sheets(book: Workbook) -> None:
    unit = _example(book, TransferKind.units)
    officer = _example(book, TransferKind.officers)
    device = _example(book, TransferKind.devices)
    assert (unit["code"], unit["parent_code"], unit["level"]) == ("LDLD-HN", "TLD", 2)
    assert unit["name"] == "Liên đoàn Lao động thành phố Hà Nội"
    assert officer["unit_code"] == unit["code"]
    assert device["unit_code"] == unit["code"]
    assert device["assigned_officer_code"] == officer["code"]
    for kind in (TransferKind.links, TransferKind.software):
        assert _example(book, kind)["unit_code"] == unit["code"]
    assert device["purchase_date"] == "2024-03-15"
    cost = _sheet(book, TransferKind.devices).cell(
        3, COLUMNS[TransferKind.devices].index("cost_vnd") + 1
    )
    assert isinstance(cost.value, int) and cost.value > 0
    assert cost.number_format == "#,##0"


def test_example_rows_pass_the_row_rules(book: Workbook) -> None:
    refs = Refs(
        unit_ids={"TLD": 1, "LDLD-HN": 2},
        officer_ids={_example(book, TransferKind.officers)["code"]: 1},
    )
    for kind in KIND_ORDER:
        values = ["" if v is None else str(v) for v in _example(book, kind).values()]
        log = ProblemLog(kind.value)
        records = parse_rows(
            kind, [(3, values)], order=list(range(len(values))), log=log, refs=refs
        )
        assert not log.problems, [p.render() for p in log.problems]
        assert len(records) == 1


def test_required_values_follow_the_row_rules() -> None:
    units = required_values(TransferKind.units)
    assert {"code", "name", "level", "kind"} <= units
    assert "parent_code" not in units
    devices = required_values(TransferKind.devices)
    assert {"asset_tag", "kind", "unit_code", "status"} <= devices
    assert not {"mgmt_ip", "cost_vnd", "purchase_date"} & devices


def test_instructions_sheet(book: Workbook) -> None:
    ws = book[HELP_SHEET]
    rows = [tuple(c.value for c in row) for row in ws.iter_rows()]
    text = "\n".join(str(v) for row in rows for v in row if v is not None)
    assert "tldops inventory import mau_nhap_lieu.xlsx --kind all --dry-run" in text
    assert "tldops inventory import mau_nhap_lieu.xlsx --kind all\n" in text
    assert "/import" in text
    assert "Đơn vị → Cán bộ → Thiết bị → Đường truyền → Phần mềm" in text
    assert "dd/mm/yyyy" in text and "yyyy-mm-dd" in text and "VNĐ" in text
    table = {(r[0], r[2]): r for r in rows if r[2] is not None}
    for kind in KIND_ORDER:
        required = required_values(kind)
        for column in COLUMNS[kind]:
            row = table[(SHEETS[kind.value][0], column)]
            assert row[1] == heading(kind.value, column)
            assert row[3] == (
                "bắt buộc" if column in required else "không bắt buộc (để trống được)"
            )
            assert row[4]
            vocabulary = VOCABULARY_COLUMNS[kind].get(column)
            if vocabulary is not None:
                assert row[5] == "; ".join(_expected_labels(vocabulary))
            else:
                assert row[5] is None
    assert "IP" in table[("Thiết bị", "mgmt_ip")][4]
    assert "A-Z" in table[("Thiết bị", "asset_tag")][4]


def test_english_template(tmp_path: Path) -> None:
    wb = _saved(tmp_path, [TransferKind.devices], lang="en")
    assert wb.sheetnames == [HELP_SHEET, "devices", LIST_SHEET]
    ws = wb["devices"]
    assert _row(ws, 2) == list(COLUMNS[TransferKind.devices])
    example = dict(zip(COLUMNS[TransferKind.devices], _row(ws, 3), strict=True))
    assert example["kind"] == "Desktop PC"
    assert parse_choice(DeviceStatus, example["status"]) == DeviceStatus.active
    with pytest.raises(ValueError):
        build_template([TransferKind.devices], lang="fr")


def test_write_template_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "mau.xlsx"
    path.write_bytes(b"old")
    write_template(path, [TransferKind.links])
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [HELP_SHEET, "Đường truyền", LIST_SHEET]
    assert "tldops inventory import mau.xlsx --kind all --dry-run" in {
        str(c.value).strip().split(": ", 1)[-1] for c in wb[HELP_SHEET]["A"]
    }


# -- the command -----------------------------------------------------------------------------
@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    # The command needs no database; point at one that must stay unused.
    env = {"TLDOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}", "COLUMNS": "200"}

    def invoke(*args: str):
        return runner.invoke(app, ["inventory", "template", *args], env=env)

    return invoke


def test_cli_writes_default_file_and_refuses_to_overwrite(run, tmp_path: Path) -> None:
    first = run()
    assert first.exit_code == 0, first.output
    path = tmp_path / "mau_nhap_lieu.xlsx"
    assert "mau_nhap_lieu.xlsx" in first.output
    assert "--kind all --dry-run" in first.output and "/import" in first.output
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [HELP_SHEET, *(SHEETS[k.value][0] for k in KIND_ORDER), LIST_SHEET]
    assert not (tmp_path / "unused.db").exists()

    path.write_bytes(b"office data")
    again = run()
    assert again.exit_code == 1
    assert "--force" in again.output and "đã có" in again.output
    assert path.read_bytes() == b"office data"

    forced = run("--force")
    assert forced.exit_code == 0, forced.output
    assert openpyxl.load_workbook(path).sheetnames == wb.sheetnames
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mau-")] == []


def test_cli_one_kind_only(run, tmp_path: Path) -> None:
    result = run("--kind", "devices", "--output", "thiet_bi.xlsx")
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(tmp_path / "thiet_bi.xlsx")
    assert wb.sheetnames == [HELP_SHEET, "Thiết bị", LIST_SHEET]
    assert wb[LIST_SHEET].max_column == len(VOCABULARY_COLUMNS[TransferKind.devices])
    help_text = " ".join(str(c.value) for c in wb[HELP_SHEET]["A"] if c.value)
    assert "thiet_bi.xlsx --kind all --dry-run" in help_text


def test_cli_rejects_other_file_types_and_kinds(run, tmp_path: Path) -> None:
    assert run("--output", "mau.csv").exit_code == 2
    assert run("--kind", "printers").exit_code == 2
    assert not list(tmp_path.glob("mau*"))
