"""Reading import files: CSV (UTF-8, optional BOM) and XLSX, as rows of trimmed NFC text.

Both formats come out the same way, so validation never cares where a value came from::

    table = read_table(Path("devices.xlsx"), kind="devices")
    table.header            # ['asset_tag', 'kind', ...] as written in the file (lower-cased)
    for line, values in table.rows:   # line = the row number the user sees in the file
        ...

CSV text is NFC-normalised line by line before parsing: the delimiter, quote and line break are
starters that compose with nothing, so this equals normalising each value.
Excel-typed XLSX cells are turned into the text a user would have typed: whole numbers without
".0", dates as ISO ``YYYY-MM-DD``, booleans as ``yes``/``no``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

from inventory.errors import Problem, ValidationFailed
from inventory.text import csv_uncell

SUFFIXES = (".csv", ".xlsx")

# Limits on what an XLSX file may unpack to, checked before openpyxl opens it: a 1 MB file can
# hold a 1 GB cell (a "zip bomb"), and openpyxl holds shared strings and each cell in memory.
# Real sheets compress 5-30x; a single cell of repeated text compresses >1000x.
XLSX_MAX_UNPACKED = 1 << 30  # bytes, all members together
XLSX_MAX_RATIO = 200  # unpacked / packed, for members bigger than XLSX_RATIO_FROM
XLSX_RATIO_FROM = 4 << 20
# Excel's own limits: no file Excel wrote holds more.
MAX_ROWS = 1_048_576
MAX_CELL_CHARS = 32_767
_XML_SCAN_CHUNK = 1 << 20
_XML_DECL_ENCODING = re.compile(rb"""^<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass(frozen=True)
class RawTable:
    """A file's header and an iterator over its non-blank rows (``(line, values)``)."""

    file: str
    sha256: str
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    # Rough number of data rows, for a progress bar (CSV: line breaks; XLSX: sheet dimension).
    estimated_rows: int
    # Releases the open file; call it when done, even if the rows were not all read.
    close: Callable[[], None] = lambda: None


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
    if suffix == ".csv":
        return _read_csv(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _cannot_read(name, exc) from exc
    return _read_xlsx(name, hashlib.sha256(data).hexdigest(), data, kind=kind)


def _cannot_read(name: str, exc: OSError) -> ValidationFailed:
    return _unreadable(
        name,
        f"không đọc được tệp ({exc.strerror or exc})",
        f"cannot read the file ({exc.strerror or exc})",
    )


# -- CSV -------------------------------------------------------------------------------------
_CHUNK = 1 << 20


def _read_csv(path: Path) -> RawTable:
    """Check the bytes in one pass (sha256, UTF-8, line count), then stream the rows.

    Rows are decoded and parsed from the file as they are consumed, so a 120 MB file never sits
    in memory as one string.
    """
    name = path.name
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise _not_utf8(
                        name, lines + chunk[: max(exc.start, 0)].count(b"\n") + 1
                    ) from exc
                lines += chunk.count(b"\n")
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                raise _not_utf8(name, lines + 1) from exc
    except OSError as exc:
        raise _cannot_read(name, exc) from exc
    fh_text = path.open(encoding="utf-8-sig", newline="")
    reader = csv.reader(_nfc_lines(fh_text), strict=True)
    try:
        header_row = next(reader, None)
    except csv.Error as exc:
        fh_text.close()
        raise _bad_csv(name, 1, exc) from exc
    if not header_row or not any(c.strip() for c in header_row):
        fh_text.close()
        raise _unreadable(name, "tệp rỗng, thiếu dòng tiêu đề", "the file is empty (no header row)")
    header = [c.strip().lower() for c in header_row]
    return RawTable(
        file=name,
        sha256=digest.hexdigest(),
        header=header,
        rows=_csv_rows(name, reader, fh_text),
        estimated_rows=max(lines - 1, 0),
        close=fh_text.close,
    )


def _nfc_lines(lines: Iterable[str]) -> Iterator[str]:
    # NFC never composes across the delimiter, quote or line break, so line by line equals
    # value by value; ASCII lines (most of them) are already NFC.
    normalize = unicodedata.normalize
    for line in lines:
        yield line if line.isascii() else normalize("NFC", line)


def _not_utf8(name: str, line: int) -> ValidationFailed:
    return ValidationFailed(
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


def _csv_rows(name: str, reader: Any, fh: IO[str]) -> Iterator[tuple[int, list[str]]]:
    # A record may span lines (quoted line breaks); users see the line where it starts.
    start = reader.line_num + 1
    strip = str.strip
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if row:
                values = list(map(strip, row))
                if any(values):
                    # Exports quote formula-like text with a leading apostrophe; read it back
                    # as it was (only rows that hold one pay for the check).
                    if "'" in "".join(values):
                        values = [csv_uncell(v) for v in values]
                    yield line, values
    except csv.Error as exc:
        raise _bad_csv(name, start, exc) from exc
    finally:
        fh.close()


# -- XLSX ------------------------------------------------------------------------------------
def _refuse(name: str, why_vi: str, why_en: str) -> ValidationFailed:
    return _unreadable(name, f"từ chối tệp Excel: {why_vi}", f"refusing the Excel file: {why_en}")


def check_xlsx(name: str, data: bytes) -> None:
    """Refuse an XLSX archive that unpacks to too much, or whose XML declares a DTD/entities.

    Runs before openpyxl sees the file. ``zipfile`` never inflates a member past the size its
    header declares, so the declared sizes bound what reading can cost. XML with a DOCTYPE or
    ENTITY (billion laughs, external entities) is refused outright: Excel never writes one, and
    openpyxl only defuses entities when the optional ``defusedxml`` happens to be installed.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        return  # not a zip at all: openpyxl reports that in its own words
    with archive:
        infos = archive.infolist()
        total = sum(i.file_size for i in infos)
        if total > XLSX_MAX_UNPACKED:
            raise _refuse(
                name,
                f"giải nén ra {total} byte, quá giới hạn {XLSX_MAX_UNPACKED} byte",
                f"it unpacks to {total} bytes, more than the limit of {XLSX_MAX_UNPACKED}",
            )
        for info in infos:
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > XLSX_RATIO_FROM and ratio > XLSX_MAX_RATIO:
                raise _refuse(
                    name,
                    f"phần {info.filename} nén {ratio:.0f} lần (giới hạn {XLSX_MAX_RATIO}), "
                    "có dấu hiệu tệp nén độc hại",
                    f"member {info.filename} is compressed {ratio:.0f}x (limit "
                    f"{XLSX_MAX_RATIO}x), which looks like a zip bomb",
                )
        for info in infos:
            if info.filename.lower().endswith((".xml", ".rels", ".vml")):
                _check_xml(name, archive, info)


def _check_xml(name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    try:
        fh = archive.open(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError):
        return  # openpyxl reports the broken member
    with fh:
        tail = b""
        first = True
        while True:
            try:
                chunk = fh.read(_XML_SCAN_CHUNK)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError):
                return
            if not chunk:
                return
            if first:
                first = False
                head = chunk.removeprefix(codecs.BOM_UTF8)
                m = _XML_DECL_ENCODING.match(head)
                # A byte search for "<!DOCTYPE" only works on ASCII-compatible text; Excel
                # always writes UTF-8.
                if (
                    head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
                    or b"\x00" in head[:64]
                    or (m is not None and m[1].lower() not in (b"utf-8", b"utf8"))
                ):
                    raise _refuse(
                        name,
                        f"phần {info.filename} không mã hóa UTF-8",
                        f"member {info.filename} is not UTF-8 XML",
                    )
            window = tail + chunk
            if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                raise _refuse(
                    name,
                    f"phần {info.filename} khai báo DTD/thực thể XML (không an toàn)",
                    f"member {info.filename} declares an XML DTD or entities (unsafe)",
                )
            tail = window[-16:]


def _read_xlsx(name: str, digest: str, data: bytes, *, kind: str) -> RawTable:
    import openpyxl

    check_xlsx(name, data)
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
    estimated_from = ws.max_row
    # Without declared dimensions openpyxl does not pad every row to the claimed width (a
    # sheet can claim XFD1048576 and hold two cells).
    ws.reset_dimensions()
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
    estimated = min(max((estimated_from or 1) - 1, 0), MAX_ROWS)
    return RawTable(
        file=name,
        sha256=digest,
        header=header,
        rows=_xlsx_rows(name, rows, width=len(header)),
        estimated_rows=estimated,
        close=wb.close,
    )


def _xlsx_rows(
    name: str, rows: Iterator[tuple[Any, ...]], *, width: int
) -> Iterator[tuple[int, list[str]]]:
    for line, cells in enumerate(rows, start=2):
        if line > MAX_ROWS:
            raise _refuse(
                name,
                f"trang tính có hơn {MAX_ROWS} dòng (giới hạn của Excel)",
                f"the sheet has more than {MAX_ROWS} rows (Excel's own limit)",
            )
        values = [_cell_text(c) for c in cells]
        if values and max(map(len, values)) > MAX_CELL_CHARS:
            raise _too_long(name, line, values)
        # Excel often reports formatted-but-empty cells past the last column.
        while len(values) > width and not values[-1]:
            values.pop()
        # ... and leaves out empty cells at the end of a row.
        if len(values) < width:
            values.extend([""] * (width - len(values)))
        if any(values):
            yield line, values


def _too_long(name: str, line: int, values: list[str]) -> ValidationFailed:
    i, v = next((i, v) for i, v in enumerate(values) if len(v) > MAX_CELL_CHARS)
    return ValidationFailed(
        [
            Problem(
                file=name,
                row=line,
                column=f"#{i + 1}",
                value=v[:40] + "…",
                why_vi=f"ô dài {len(v)} ký tự, quá giới hạn {MAX_CELL_CHARS} của Excel",
                why_en=f"the cell holds {len(v)} characters, more than Excel's limit of "
                f"{MAX_CELL_CHARS}",
            )
        ]
    )


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
