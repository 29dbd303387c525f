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
import itertools
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
from inventory.transfer_names import SHEETS, canonical_column, kind_of_sheet, known_columns
from inventory.transfer_rules import COLUMNS, TransferKind

_KINDS = frozenset(k.value for k in TransferKind)

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
    # Contract column names (Vietnamese headings already mapped, see transfer_names); a cell
    # that names no column is kept lower-cased so the problem can quote it.
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    # Rough number of data rows, for a progress bar (CSV: line breaks; XLSX: sheet dimension).
    estimated_rows: int
    # Releases the open file; call it when done, even if the rows were not all read.
    close: Callable[[], None] = lambda: None
    # The line the header was found on (title rows above it are skipped).
    header_line: int = 1
    # The XLSX sheet read (None for CSV).
    sheet: str | None = None


def _unreadable(file: str, why_vi: str, why_en: str) -> ValidationFailed:
    return ValidationFailed(
        [Problem(file=file, row=None, column=None, value=None, why_vi=why_vi, why_en=why_en)]
    )


def read_table(path: Path, *, kind: str) -> RawTable:
    """Open ``path`` (``.csv`` or ``.xlsx``) and return its header and rows.

    ``kind`` picks the XLSX sheet (named after the kind in English or Vietnamese, see
    :mod:`inventory.transfer_names`; a workbook with one sheet is read whatever its name) and
    the column names the header may use. The header is the first of the first
    :data:`HEADER_SCAN` rows that names columns of ``kind``; rows above it (titles) are skipped.
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
        return _read_csv(path, kind=kind)
    book = open_workbook(path)
    ws = book.sheet_for(kind)
    if ws is None:
        book.close()
        names = ", ".join(book.sheet_names)
        raise _unreadable(
            name,
            f"không có trang tính '{kind}' hoặc '{heading_sheet(kind)}' (có: {names})",
            f"no sheet named '{kind}' or '{heading_sheet(kind)}' (the workbook has: {names})",
        )
    return book.table(ws, kind=kind, close=book.close)


def heading_sheet(kind: str) -> str:
    names = SHEETS.get(kind)
    return names[0] if names else kind


# How many rows from the top are searched for the header (offices put a title, the unit's
# name, a date and blank lines above it).
HEADER_SCAN = 20


def _take_header(
    name: str, kind: str, rows: Iterator[tuple[int, list[str]]], empty_why: tuple[str, str]
) -> tuple[int, list[str], Iterator[tuple[int, list[str]]]]:
    """Find the header among the first rows: ``(its line, canonical names, the data rows)``."""
    scan = list(itertools.islice(rows, HEADER_SCAN))
    if not scan:
        raise _unreadable(name, *empty_why)
    need = min(2, len(COLUMNS.get(TransferKind(kind), ()))) if kind in _KINDS else 1
    at = next((i for i, (_, cells) in enumerate(scan) if known_columns(kind, cells) >= need), 0)
    line, cells = scan[at]
    header = [canonical_column(kind, c) if c else "" for c in cells]
    return line, header, itertools.chain(scan[at + 1 :], rows)


def _cannot_read(name: str, exc: OSError) -> ValidationFailed:
    return _unreadable(
        name,
        f"không đọc được tệp ({exc.strerror or exc})",
        f"cannot read the file ({exc.strerror or exc})",
    )


# -- CSV -------------------------------------------------------------------------------------
_CHUNK = 1 << 20


def _read_csv(path: Path, *, kind: str) -> RawTable:
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
        line, header, rows = _take_header(
            name,
            kind,
            _csv_rows(name, reader, fh_text),
            ("tệp rỗng, thiếu dòng tiêu đề", "the file is empty (no header row)"),
        )
    except BaseException:
        fh_text.close()
        raise
    return RawTable(
        file=name,
        sha256=digest.hexdigest(),
        header=header,
        rows=rows,
        estimated_rows=max(lines - line, 0),
        close=fh_text.close,
        header_line=line,
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


class Workbook:
    """An XLSX file opened once, read sheet by sheet (``--kind all`` reads several)."""

    def __init__(self, name: str, sha256: str, wb: Any) -> None:
        self.name, self.sha256, self._wb = name, sha256, wb
        self.sheet_names: list[str] = list(wb.sheetnames)

    def kinds(self) -> dict[str, str]:
        """Kind → sheet name for every sheet named after a kind (first one wins)."""
        found: dict[str, str] = {}
        for sheet in self.sheet_names:
            kind = kind_of_sheet(sheet)
            if kind is not None:
                found.setdefault(kind, sheet)
        return found

    def sheet(self, name: str) -> Any:
        return self._wb[name]

    def sheet_for(self, kind: str) -> Any:
        sheet = self.kinds().get(kind)
        if sheet is None and len(self.sheet_names) == 1:
            sheet = self.sheet_names[0]
        return None if sheet is None else self._wb[sheet]

    def table(self, ws: Any, *, kind: str, close: Callable[[], None] = lambda: None) -> RawTable:
        """The header and rows of one sheet, read as ``kind``."""
        estimated_from = ws.max_row
        # Without declared dimensions openpyxl does not pad every row to the claimed width (a
        # sheet can claim XFD1048576 and hold two cells).
        ws.reset_dimensions()
        line, header, rows = _take_header(
            self.name,
            kind,
            _xlsx_cells(self.name, ws.iter_rows(values_only=True)),
            (
                f"trang tính {ws.title} rỗng, thiếu dòng tiêu đề",
                f"the sheet {ws.title} is empty (no header row)",
            ),
        )
        while header and not header[-1]:
            header.pop()
        estimated = min(max((estimated_from or 1) - line, 0), MAX_ROWS)
        return RawTable(
            file=self.name,
            sha256=self.sha256,
            header=header,
            rows=_padded(rows, width=len(header)),
            estimated_rows=estimated,
            close=close,
            header_line=line,
            sheet=ws.title,
        )

    def close(self) -> None:
        self._wb.close()


def open_workbook(path: Path) -> Workbook:
    """Open an XLSX file after :func:`check_xlsx` has passed it."""
    import openpyxl

    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _cannot_read(name, exc) from exc
    check_xlsx(name, data)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise _unreadable(
            name,
            f"không mở được tệp Excel ({exc})",
            f"cannot open the Excel workbook ({exc})",
        ) from exc
    return Workbook(name, hashlib.sha256(data).hexdigest(), wb)


def _xlsx_cells(name: str, rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows as text, trailing empty cells dropped."""
    for line, cells in enumerate(rows, start=1):
        if line > MAX_ROWS:
            raise _refuse(
                name,
                f"trang tính có hơn {MAX_ROWS} dòng (giới hạn của Excel)",
                f"the sheet has more than {MAX_ROWS} rows (Excel's own limit)",
            )
        values = [_cell_text(c) for c in cells]
        if values and max(map(len, values)) > MAX_CELL_CHARS:
            raise _too_long(name, line, values)
        while values and not values[-1]:
            values.pop()
        if values:
            yield line, values


def _padded(
    rows: Iterator[tuple[int, list[str]]], *, width: int
) -> Iterator[tuple[int, list[str]]]:
    # Excel leaves out empty cells at the end of a row; a value past the header is kept so
    # the row is reported as too wide.
    for line, values in rows:
        if len(values) < width:
            values.extend([""] * (width - len(values)))
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
