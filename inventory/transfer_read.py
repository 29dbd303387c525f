"""Reading import files: CSV (UTF-8, optional BOM) and XLSX, as rows of trimmed NFC text.

Both formats come out the same way, so validation never cares where a value came from::

    table = read_table(Path("devices.xlsx"), kind="devices")
    table.header            # ['asset_tag', 'kind', ...] as written in the file (lower-cased)
    for line, values in table.rows:   # line = the row number the user sees in the file
        ...

CSV text is NFC-normalised as a whole before parsing: the delimiter, quote and line break are
starters that compose with nothing, so this equals normalising each value, at C speed.
Excel-typed XLSX cells are turned into the text a user would have typed: whole numbers without
".0", dates as ISO ``YYYY-MM-DD``, booleans as ``yes``/``no``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from inventory.errors import Problem, ValidationFailed

SUFFIXES = (".csv", ".xlsx")


@dataclass(frozen=True)
class RawTable:
    """A file's header and an iterator over its non-blank rows (``(line, values)``)."""

    file: str
    sha256: str
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    # Rough number of data rows, for a progress bar (CSV: line breaks; XLSX: sheet dimension).
    estimated_rows: int


def _unreadable(file: str, why_vi: str, why_en: str) -> ValidationFailed:
    return ValidationFailed(
        [Problem(file=file, row=None, column=None, value=None, why_vi=why_vi, why_en=why_en)]
    )


def read_table(path: Path, *, kind: str) -> RawTable:
    """Open ``path`` (``.csv`` or ``.xlsx``) and return its header and rows.

    ``kind`` picks the XLSX sheet (a workbook with one sheet is read whatever its name).
    Raises :class:`ValidationFailed` with one problem when the file cannot be read at all.

    >>> table = read_table(Path("units.csv"), kind="units")  # doctest: +SKIP
    >>> table.header
    ['code', 'name', 'parent_code', 'level', 'kind']
    """
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise _unreadable(
            name,
            f"chỉ nhận tệp .csv hoặc .xlsx, không nhận {suffix or '(không có đuôi)'}",
            f"only .csv and .xlsx files can be imported, not {suffix or '(no extension)'}",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _unreadable(
            name,
            f"không đọc được tệp ({exc.strerror or exc})",
            f"cannot read the file ({exc.strerror or exc})",
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if suffix == ".csv":
        return _read_csv(name, digest, data)
    return _read_xlsx(name, digest, data, kind=kind)


# -- CSV -------------------------------------------------------------------------------------
def _read_csv(name: str, digest: str, data: bytes) -> RawTable:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationFailed(
            [
                Problem(
                    file=name,
                    row=line,
                    column=None,
                    value=None,
                    why_vi="tệp không phải UTF-8; hãy lưu lại bằng 'CSV UTF-8'",
                    why_en="the file is not UTF-8; save it again as 'CSV UTF-8'",
                )
            ]
        ) from exc
    del data
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header_row = next(reader, None)
    except csv.Error as exc:
        raise _bad_csv(name, 1, exc) from exc
    if not header_row or not any(c.strip() for c in header_row):
        raise _unreadable(name, "tệp rỗng, thiếu dòng tiêu đề", "the file is empty (no header row)")
    header = [c.strip().lower() for c in header_row]
    estimated = max(text.count("\n") - 1, 0)
    return RawTable(
        file=name,
        sha256=digest,
        header=header,
        rows=_csv_rows(name, reader),
        estimated_rows=estimated,
    )


def _bad_csv(name: str, line: int, exc: csv.Error) -> ValidationFailed:
    return ValidationFailed(
        [
            Problem(
                file=name,
                row=line,
                column=None,
                value=None,
                why_vi=f"lỗi cú pháp CSV ({exc}); kiểm tra dấu ngoặc kép",
                why_en=f"CSV syntax error ({exc}); check the quotes",
            )
        ]
    )


def _csv_rows(name: str, reader: Any) -> Iterator[tuple[int, list[str]]]:
    # A record may span lines (quoted line breaks); users see the line where it starts.
    start = reader.line_num + 1
    strip = str.strip
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if row:
                values = list(map(strip, row))
                if any(values):
                    yield line, values
    except csv.Error as exc:
        raise _bad_csv(name, start, exc) from exc


# -- XLSX ------------------------------------------------------------------------------------
def _read_xlsx(name: str, digest: str, data: bytes, *, kind: str) -> RawTable:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise _unreadable(
            name,
            f"không mở được tệp Excel ({exc})",
            f"cannot open the Excel workbook ({exc})",
        ) from exc
    names = wb.sheetnames
    if kind in names:
        ws = wb[kind]
    elif len(names) == 1:
        ws = wb[names[0]]
    else:
        raise _unreadable(
            name,
            f"không có trang tính tên '{kind}' (có: {', '.join(names)})",
            f"no sheet named '{kind}' (the workbook has: {', '.join(names)})",
        )
    rows = ws.iter_rows(values_only=True)
    header_cells: tuple[Any, ...] | None = next(rows, None)
    if header_cells is None or not any(c not in (None, "") for c in header_cells):
        raise _unreadable(
            name, "trang tính rỗng, thiếu dòng tiêu đề", "the sheet is empty (no header row)"
        )
    cells = list(header_cells)
    while cells and cells[-1] in (None, ""):
        cells.pop()
    header = [_cell_text(c).lower() for c in cells]
    estimated = max((ws.max_row or 1) - 1, 0)
    return RawTable(
        file=name,
        sha256=digest,
        header=header,
        rows=_xlsx_rows(rows, width=len(header)),
        estimated_rows=estimated,
    )


def _xlsx_rows(rows: Iterator[tuple[Any, ...]], *, width: int) -> Iterator[tuple[int, list[str]]]:
    for line, cells in enumerate(rows, start=2):
        values = [_cell_text(c) for c in cells]
        # Excel often reports formatted-but-empty cells past the last column.
        while len(values) > width and not values[-1]:
            values.pop()
        # ... and leaves out empty cells at the end of a row.
        if len(values) < width:
            values.extend([""] * (width - len(values)))
        if any(values):
            yield line, values


def _cell_text(value: Any) -> str:
    """The text a user means by an Excel cell (numbers and dates typed by Excel included)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value).strip()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        # Excel has no date-only type; a date cell arrives as midnight.
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    return str(value).strip()
