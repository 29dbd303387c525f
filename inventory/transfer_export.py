"""Export in the CSV contract: the same columns the importer reads, sorted by natural key.

::

    records = export_records(session, kind=TransferKind.devices, unit_code="HN")
    write_csv(sys.stdout, kind=TransferKind.devices, records=records)
    write_xlsx(Path("all.xlsx"), sheets={k: export_records(session, kind=k) for k in TransferKind})

Output is deterministic so that import → export → import → export gives identical bytes:
rows sorted by natural key in code-point order (the same on SQLite and PostgreSQL), ISO dates,
``\\n`` line ends, and XLSX files with fixed timestamps inside. Only contract columns are
written, so no secret (credential profiles) can ever leave through an export.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session

from inventory.service import InventoryService
from inventory.text import csv_cell
from inventory.transfer import cell_text, existing_records, natural_key
from inventory.transfer_rules import COLUMNS, Record, TransferKind

__all__ = ["export_records", "write_csv", "write_xlsx"]

# Fixed timestamp written into XLSX metadata and zip entries (reproducible files).
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_FIXED_ISO = "2000-01-01T00:00:00Z"
_DAY_COLUMNS = frozenset({"purchase_date"})
_CORE_STAMP = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def export_records(
    session: Session, *, kind: TransferKind, unit_code: str | None = None
) -> list[Record]:
    """Every record of ``kind`` (in the subtree of ``unit_code`` if given), sorted by key.

    >>> [r[0] for r in export_records(session, kind=TransferKind.units)]  # doctest: +SKIP
    ['HCM', 'HN', 'TLD']
    """
    kind = TransferKind(kind)
    unit_path = InventoryService(session).unit(unit_code).path if unit_code else None
    conn = session.connection()
    records = [rec for _, rec in existing_records(conn, kind, unit_path=unit_path)]
    records.sort(key=lambda rec: natural_key(kind, rec))
    return records


def write_csv(
    out: IO[str], *, kind: TransferKind, records: Iterable[Record], bom: bool = False
) -> None:
    """Write a header and ``records`` as UTF-8 CSV text (``bom`` for Excel on Windows).

    Text that a spreadsheet would run as a formula gets a leading ``'``
    (:func:`inventory.text.csv_cell`); the importer removes it again, so export → import is
    unchanged. Numbers are never touched.
    """
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS[TransferKind(kind)])
    writer.writerows(
        [csv_cell(v) if isinstance(v, str) else cell_text(v) for v in rec] for rec in records
    )


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return str(value)
    return value


def write_xlsx(
    target: Path | IO[bytes], *, sheets: Mapping[TransferKind, Iterable[Record]]
) -> None:
    """Write one sheet per kind (named as the kind), header row first.

    Numbers are number cells and dates are date cells (``yyyy-mm-dd``), as Excel users expect;
    text is always a text cell, so a value starting with ``=`` never becomes a formula.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    for kind, records in sheets.items():
        ws = wb.create_sheet(TransferKind(kind).value)
        columns = COLUMNS[TransferKind(kind)]
        ws.append(list(columns))
        # Records carry days as ISO text; Excel users expect real date cells.
        day_at = {i for i, c in enumerate(columns) if c in _DAY_COLUMNS}
        for rec in records:
            row = []
            for i, value in enumerate(rec):
                if i in day_at and value:
                    value = date.fromisoformat(value)
                cell = WriteOnlyCell(ws, value=_xlsx_value(value))
                if isinstance(value, date):
                    cell.number_format = "yyyy-mm-dd"
                elif isinstance(value, str):
                    cell.data_type = "s"
                row.append(cell)
            ws.append(row)
    raw = io.BytesIO()
    wb.save(raw)
    data = _reproducible_zip(raw.getvalue())
    if isinstance(target, Path):
        target.write_bytes(data)
    else:
        target.write(data)


def _reproducible_zip(data: bytes) -> bytes:
    """Rewrite an XLSX archive with fixed entry times and document timestamps."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _CORE_STAMP.sub(rb"\g<1>" + _FIXED_ISO.encode() + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            dst.writestr(entry, content)
    return out.getvalue()
