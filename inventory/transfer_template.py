"""The import workbook an office fills in (``tldops inventory template``).

One sheet per kind, named and headed in Vietnamese exactly as the importer reads them
(:mod:`inventory.transfer_names`): a title row, the header row, one example row. Every
vocabulary column offers a drop-down of the Vietnamese labels, read from the hidden sheet
``Danh mục`` (a cell range, not an inline list: inline lists are limited to 255 characters and
split on commas, and "LĐLĐ tỉnh, thành phố" has one). A first sheet ``Hướng dẫn`` explains
every column::

    write_template(Path("mau_nhap_lieu.xlsx"), list(TransferKind))
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from inventory.enums import (
    DeviceKind,
    DeviceStatus,
    LinkStatus,
    SoftwareCategory,
    SoftwareStatus,
    UnitKind,
)
from inventory.transfer_names import SHEETS, heading
from inventory.transfer_rules import (
    CODE_INDEXES,
    COLUMNS,
    KIND_ORDER,
    MAX_LEN,
    OPTIONAL,
    VOCABULARY_COLUMNS,
    ProblemLog,
    Refs,
    TransferKind,
    parse_rows,
)
from inventory.vocabulary import label

HELP_SHEET = "Hướng dẫn"
LIST_SHEET = "Danh mục"
DEFAULT_FILE = "mau_nhap_lieu.xlsx"
TITLE_ROW, HEADER_ROW, FIRST_DATA_ROW = 1, 2, 3
# Drop-downs cover this many rows: far more than an office fills by hand.
LAST_DATA_ROW = 5000
YES_NO: dict[str, tuple[str, str]] = {"vi": ("Có", "Không"), "en": ("Yes", "No")}

Vocabulary = type[StrEnum] | type[bool]

# Heading of each vocabulary's column in the list sheet.
VOCABULARY_TITLES: dict[Vocabulary, str] = {
    UnitKind: "Loại đơn vị",
    DeviceKind: "Loại thiết bị",
    DeviceStatus: "Tình trạng thiết bị",
    LinkStatus: "Tình trạng đường truyền",
    SoftwareCategory: "Nhóm phần mềm",
    SoftwareStatus: "Tình trạng bản quyền",
    bool: "Có/Không",
}

# One row per sheet, codes consistent across sheets (the officer belongs to the unit, the
# device to both). Enum members and booleans are written as their labels.
EXAMPLES: dict[TransferKind, dict[str, Any]] = {
    TransferKind.units: {
        "code": "LDLD-HN",
        "name": "Liên đoàn Lao động thành phố Hà Nội",
        "parent_code": "TLD",
        "level": 2,
        "kind": UnitKind.province_federation,
    },
    TransferKind.officers: {
        "code": "LDLD-HN-001",
        "full_name": "Nguyễn Thị Minh Hằng",
        "unit_code": "LDLD-HN",
        "position": "Chuyên viên Văn phòng",
        "full_time": True,
        "email": "hang.ntm@ldldhanoi.vn",
        "phone": "0912 345 678",
    },
    TransferKind.devices: {
        "asset_tag": "LDLD-HN-PC-0001",
        "kind": DeviceKind.pc,
        "unit_code": "LDLD-HN",
        "hostname": "ldldhn-vp-pc01",
        "vendor": "Dell",
        "model": "OptiPlex 7090",
        "serial": "CN0X1234",
        "mgmt_ip": "10.10.1.21",
        "status": DeviceStatus.active,
        "assigned_officer_code": "LDLD-HN-001",
        "purchase_date": "2024-03-15",
        "cost_vnd": 15000000,
    },
    TransferKind.links: {
        "unit_code": "LDLD-HN",
        "isp": "VNPT",
        "bandwidth_mbps": 300,
        "kind": "ftth",
        "status": LinkStatus.active,
    },
    TransferKind.software: {
        "unit_code": "LDLD-HN",
        "product": "Phần mềm quản lý văn bản và điều hành",
        "category": SoftwareCategory.document_management,
        "seats": 50,
        "status": SoftwareStatus.active,
    },
}

PURPOSES: dict[TransferKind, str] = {
    TransferKind.units: "cây tổ chức: Tổng Liên đoàn, LĐLĐ tỉnh/thành phố, công đoàn ngành, "
    "LĐLĐ quận/huyện, công đoàn cơ sở",
    TransferKind.officers: "cán bộ của từng đơn vị (người sử dụng, người phụ trách thiết bị)",
    TransferKind.devices: "máy tính, máy in, thiết bị mạng, máy chủ, bộ lưu điện… của đơn vị",
    TransferKind.links: "đường truyền Internet/mạng của đơn vị (nhà mạng, băng thông)",
    TransferKind.software: "phần mềm và bản quyền đơn vị đang dùng",
}

_FORMATS: dict[str, str] = {
    "level": "số nguyên 1–4 (1 Tổng Liên đoàn; 2 LĐLĐ tỉnh, công đoàn ngành TW, công đoàn "
    "tổng công ty; 3 LĐLĐ quận/huyện, công đoàn KCN; 4 công đoàn cơ sở), khớp với loại đơn vị",
    "email": "địa chỉ thư điện tử, ví dụ ten@ldldhanoi.vn",
    "phone": "số điện thoại, ví dụ 0912 345 678",
    "mgmt_ip": "địa chỉ IP (IPv4 hoặc IPv6), ví dụ 10.10.1.21",
    "purchase_date": "ngày dd/mm/yyyy hoặc yyyy-mm-dd, ví dụ 15/03/2024",
    "cost_vnd": "số tiền VNĐ, số nguyên không có phần lẻ, ví dụ 15000000 hoặc 15.000.000",
    "bandwidth_mbps": "số nguyên dương (Mbps), ví dụ 300",
    "seats": "số nguyên từ 0 trở lên",
}
_CODE_NOTES: dict[str, str] = {
    "parent_code": "; để trống với đơn vị gốc (Tổng Liên đoàn)",
    "unit_code": "; mã ở trang Đơn vị hoặc đã có trong hệ thống",
    "assigned_officer_code": "; mã ở trang Cán bộ hoặc đã có trong hệ thống",
}
_TEXT_LIMITS = {(TransferKind.links, "kind"): "link_kind"}

_BOLD = Font(bold=True)
_TITLE_FONT = Font(bold=True, size=14)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_WRAP = Alignment(wrap_text=True, vertical="top")


# -- vocabularies ----------------------------------------------------------------------------
def vocabulary_labels(vocabulary: Vocabulary, lang: str = "vi") -> list[str]:
    """The options of a drop-down, in the vocabulary's order (yes/no: Có, Không)."""
    if vocabulary is bool:
        return list(YES_NO[lang])
    assert issubclass(vocabulary, StrEnum)
    return [label(vocabulary, member.value, lang) for member in vocabulary]


def _vocabularies(kinds: Sequence[TransferKind]) -> list[Vocabulary]:
    found: list[Vocabulary] = []
    for kind in kinds:
        for vocabulary in VOCABULARY_COLUMNS.get(kind, {}).values():
            if vocabulary not in found:
                found.append(vocabulary)
    return found


def _list_sheet(wb: Workbook, vocabularies: list[Vocabulary], lang: str) -> dict[Any, str]:
    """Write the hidden sheet of drop-down options; returns each vocabulary's cell range."""
    ws = wb.create_sheet(LIST_SHEET)
    ranges: dict[Any, str] = {}
    for i, vocabulary in enumerate(vocabularies, start=1):
        col = get_column_letter(i)
        ws.cell(1, i, VOCABULARY_TITLES.get(vocabulary, vocabulary.__name__)).font = _BOLD
        labels = vocabulary_labels(vocabulary, lang)
        for row, text in enumerate(labels, start=2):
            ws.cell(row, i, text).data_type = "s"
        ws.column_dimensions[col].width = max(len(t) for t in labels) + 4
        ranges[vocabulary] = f"'{LIST_SHEET}'!${col}$2:${col}${len(labels) + 1}"
    ws.sheet_state = "hidden"
    return ranges


def _drop_down(ws: Worksheet, col: str, source: str) -> None:
    dv = DataValidation(
        type="list",
        formula1=source,
        allow_blank=True,
        showDropDown=False,  # False shows the arrow (the attribute's meaning is inverted)
        showErrorMessage=True,
        errorStyle="warning",
        errorTitle="Giá trị ngoài danh mục",
        error="Giá trị không có trong danh mục; nên chọn từ danh sách. "
        "Not in the list; pick a value from the list.",
        showInputMessage=True,
        promptTitle="Chọn từ danh sách",
        prompt="Bấm mũi tên để chọn / pick a value from the list",
    )
    dv.add(f"{col}{FIRST_DATA_ROW}:{col}{LAST_DATA_ROW}")
    ws.add_data_validation(dv)


# -- data sheets -----------------------------------------------------------------------------
def sheet_name(kind: TransferKind, lang: str = "vi") -> str:
    """The sheet a kind goes in (both names are what the importer accepts)."""
    return SHEETS[kind.value][0] if lang == "vi" else kind.value


def _example_value(value: Any, vocabulary: Vocabulary | None, lang: str) -> Any:
    if isinstance(value, bool):
        return YES_NO[lang][0 if value else 1]
    if isinstance(value, StrEnum) and vocabulary is not None and vocabulary is not bool:
        return label(type(value), value.value, lang)
    return value


def _title(kind: TransferKind, lang: str) -> str:
    if lang == "vi":
        return f"MẪU NHẬP LIỆU — {sheet_name(kind).upper()}"
    return f"IMPORT TEMPLATE — {kind.value.upper()}"


def _data_sheet(wb: Workbook, kind: TransferKind, lang: str, ranges: dict[Any, str]) -> None:
    ws = wb.create_sheet(sheet_name(kind, lang))
    columns = COLUMNS[kind]
    vocab = VOCABULARY_COLUMNS.get(kind, {})
    example = EXAMPLES.get(kind, {})
    last = get_column_letter(len(columns))
    ws.cell(TITLE_ROW, 1, _title(kind, lang)).font = _TITLE_FONT
    ws.merge_cells(f"A{TITLE_ROW}:{last}{TITLE_ROW}")
    for i, column in enumerate(columns, start=1):
        col = get_column_letter(i)
        head = ws.cell(HEADER_ROW, i, heading(kind.value, column) if lang == "vi" else column)
        head.font, head.fill, head.alignment = _BOLD, _HEADER_FILL, _WRAP
        value = _example_value(example.get(column), vocab.get(column), lang)
        cell = ws.cell(FIRST_DATA_ROW, i, value)
        if isinstance(value, int):
            cell.number_format = "#,##0"
        elif isinstance(value, str):
            # Text cells, so Excel keeps "2024-03-15" and "0912 345 678" as typed.
            cell.number_format = "@"
        widest = [len(str(head.value)), len(str(value or ""))]
        if column in vocab:
            widest += [len(t) for t in vocabulary_labels(vocab[column], lang)]
            _drop_down(ws, col, ranges[vocab[column]])
        # At least 10: the filter arrow shares the header cell.
        ws.column_dimensions[col].width = min(max(max(widest) + 3, 10), 45)
    ws.row_dimensions[HEADER_ROW].height = 30
    ws.freeze_panes = f"A{FIRST_DATA_ROW}"
    ws.auto_filter.ref = f"A{HEADER_ROW}:{last}{FIRST_DATA_ROW}"


# -- instructions ----------------------------------------------------------------------------
def _example_text(kind: TransferKind) -> list[str]:
    """The example row as a user would type it (what the importer reads)."""
    vocab = VOCABULARY_COLUMNS.get(kind, {})
    out = []
    for column in COLUMNS[kind]:
        value = _example_value(EXAMPLES[kind].get(column), vocab.get(column), "vi")
        out.append("" if value is None else str(value))
    return out


def required_values(kind: TransferKind) -> frozenset[str]:
    """Columns whose cells may not be left empty, as the row rules decide.

    Asked of the rules themselves (the example row with one cell emptied at a time), so the
    instructions cannot drift from what the importer enforces.
    """
    units = {"LDLD-HN": 1, "TLD": 2}
    refs = Refs(unit_ids=units, officer_ids={"LDLD-HN-001": 1})
    columns = COLUMNS[kind]
    found = set()
    for i, column in enumerate(columns):
        values = _example_text(kind)
        values[i] = ""
        log = ProblemLog("example")
        parse_rows(
            kind, [(FIRST_DATA_ROW, values)], order=list(range(len(columns))), log=log, refs=refs
        )
        if any(p.column == column and p.why_en.startswith("required") for p in log.problems):
            found.add(column)
    return frozenset(found)


def column_format(kind: TransferKind, column: str) -> str:
    """How a column's cells are written, in Vietnamese."""
    vocabulary = VOCABULARY_COLUMNS.get(kind, {}).get(column)
    if vocabulary is bool:
        return "chọn Có hoặc Không (yes/no cũng được)"
    if vocabulary is not None:
        values = ", ".join(member.value for member in vocabulary)
        return f"chọn từ danh sách (hoặc giá trị tiếng Anh: {values})"
    if COLUMNS[kind].index(column) in CODE_INDEXES.get(kind, ()):
        example = EXAMPLES.get(kind, {}).get(column) or "LDLD-HN"
        text = f"mã: chữ in hoa A-Z, số 0-9, dấu gạch ngang (-), ví dụ {example}"
        return text + _CODE_NOTES.get(column, "")
    if column in _FORMATS:
        return _FORMATS[column]
    limit = MAX_LEN.get(_TEXT_LIMITS.get((kind, column), column))
    text = f"văn bản, tối đa {limit} ký tự" if limit else "văn bản"
    if kind is TransferKind.links and column == "kind":
        text += ", ví dụ ftth (cáp quang), leased_line (kênh thuê riêng)"
    return text


def _requirement(kind: TransferKind, column: str, required: frozenset[str]) -> str:
    if column in OPTIONAL.get(kind, frozenset()):
        return "tùy chọn (có thể bỏ cả cột)"
    return "bắt buộc" if column in required else "không bắt buộc (để trống được)"


def _intro(kinds: Sequence[TransferKind], file_name: str, lang: str) -> list[str]:
    order = " → ".join(sheet_name(k, lang) for k in KIND_ORDER if k in kinds)
    lines = ["HƯỚNG DẪN NHẬP LIỆU KHO DỮ LIỆU CNTT", "", "Các trang tính:"]
    lines += [f"• {sheet_name(k, lang)}: {PURPOSES[k]}" for k in KIND_ORDER if k in kinds]
    return [
        *lines,
        "",
        f"Thứ tự nhập: {order} (mỗi trang chỉ tham chiếu mã ở các trang trước nó hoặc đã có "
        "trong hệ thống).",
        "Cách điền: dòng 1 là tiêu đề mẫu, dòng 2 là tên cột (không sửa, không xóa); dòng 3 là "
        "ví dụ — sửa hoặc xóa rồi điền dữ liệu từ dòng 3 trở xuống. Ô có danh sách: bấm mũi "
        "tên để chọn. Không đổi tên trang tính.",
        "Cách nhập:",
        f"  1. Kiểm tra trước, chưa ghi gì: tldops inventory import {file_name} --kind all "
        "--dry-run",
        f"  2. Nhập thật: tldops inventory import {file_name} --kind all",
        "  Hoặc tải tệp lên trang web /import (Nhập dữ liệu).",
        "Nếu có lỗi, chương trình liệt kê mọi lỗi (trang tính, dòng, cột) và không ghi gì; sửa "
        "rồi nhập lại. Nhập lại cùng một tệp không làm thay đổi dữ liệu.",
        "",
    ]


def _help_sheet(wb: Workbook, kinds: Sequence[TransferKind], file_name: str, lang: str) -> None:
    ws = wb.create_sheet(HELP_SHEET, 0)
    for text in _intro(kinds, file_name, lang):
        ws.append([text])
    ws["A1"].font = _TITLE_FONT
    ws.append(
        [
            "Trang tính",
            "Cột (tiêu đề)",
            "Tên cột (hợp đồng dữ liệu)",
            "Bắt buộc",
            "Định dạng",
            "Giá trị cho phép",
        ]
    )
    for cell in ws[ws.max_row]:
        cell.font, cell.fill = _BOLD, _HEADER_FILL
    for kind in (k for k in KIND_ORDER if k in kinds):
        required = required_values(kind)
        vocab = VOCABULARY_COLUMNS.get(kind, {})
        for column in COLUMNS[kind]:
            allowed = "; ".join(vocabulary_labels(vocab[column], lang)) if column in vocab else ""
            ws.append(
                [
                    sheet_name(kind, lang),
                    heading(kind.value, column) if lang == "vi" else column,
                    column,
                    _requirement(kind, column, required),
                    column_format(kind, column),
                    allowed,
                ]
            )
            for cell in ws[ws.max_row]:
                cell.alignment = _WRAP
    for col, width in zip("ABCDEF", (14, 24, 24, 18, 48, 60), strict=True):
        ws.column_dimensions[col].width = width


# -- workbook --------------------------------------------------------------------------------
def build_template(
    kinds: Sequence[TransferKind], *, lang: str = "vi", file_name: str = DEFAULT_FILE
) -> Workbook:
    """The template workbook for ``kinds`` (in import order, whatever order they come in).

    ``lang="en"`` writes the English column names, labels and kind names as sheet names (the
    importer reads those too); the instructions stay Vietnamese. ``file_name`` is the name the
    instructions use in their commands.
    """
    if lang not in YES_NO:
        raise ValueError(f"lang must be 'vi' or 'en', not {lang!r}")
    chosen = [k for k in KIND_ORDER if k in kinds]
    if not chosen:
        raise ValueError("no kind chosen")
    wb = Workbook()
    wb.remove(wb.active)
    _help_sheet(wb, chosen, file_name, lang)
    ranges = _list_sheet(wb, _vocabularies(chosen), lang)
    for kind in chosen:
        _data_sheet(wb, kind, lang, ranges)
    # The list sheet goes last, after the sheets people work in.
    wb.move_sheet(LIST_SHEET, offset=len(wb.sheetnames) - 1 - wb.sheetnames.index(LIST_SHEET))
    wb.active = 0
    return wb


def template_bytes(
    kinds: Sequence[TransferKind], *, lang: str = "vi", file_name: str = DEFAULT_FILE
) -> bytes:
    """The template as the bytes of an .xlsx file (for a download or a file)."""
    raw = io.BytesIO()
    build_template(kinds, lang=lang, file_name=file_name).save(raw)
    return raw.getvalue()


def write_template(path: Path, kinds: Sequence[TransferKind], *, lang: str = "vi") -> None:
    """Write the template to ``path`` (overwriting it)."""
    path.write_bytes(template_bytes(kinds, lang=lang, file_name=path.name))
