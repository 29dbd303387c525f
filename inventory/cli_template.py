"""``tldops inventory template``: write the import workbook an office fills in.

::

    tldops inventory template                       # mau_nhap_lieu.xlsx, every sheet
    tldops inventory template --kind devices --output thiet_bi.xlsx
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from inventory.cli_transfer import ExportKind
from inventory.runtime import console, err_console
from inventory.transfer_rules import KIND_ORDER, TransferKind

# Kept here, not taken from transfer_template: that module (and openpyxl) is imported only
# when the command runs, so every other command starts faster.
DEFAULT_FILE = "mau_nhap_lieu.xlsx"


def _replace(path: Path, data: bytes) -> None:
    """Write through a temporary file, so a failed write never leaves half a workbook."""
    fd, tmp = tempfile.mkstemp(prefix=".mau-", suffix=".xlsx", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(path: Path, data: bytes, *, force: bool) -> None:
    if force:
        _replace(path, data)
        return
    # Exclusive creation: no window between "does it exist" and writing.
    with path.open("xb") as fh:
        fh.write(data)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]Lỗi / error:[/] {message}", highlight=False)
    return typer.Exit(1)


def template_cmd(
    kind: Annotated[
        ExportKind,
        typer.Option(
            "--kind",
            "-k",
            help="trang tính cần có; all = mọi loại / which sheets; all = every kind",
        ),
    ] = ExportKind.all,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="tệp .xlsx cần ghi / the .xlsx file to write")
    ] = Path(DEFAULT_FILE),
    force: Annotated[
        bool, typer.Option("--force", help="ghi đè tệp đã có / overwrite an existing file")
    ] = False,
) -> None:
    """Tạo mẫu nhập liệu Excel / write the import workbook to fill in.

    Mỗi loại một trang tính, tiêu đề cột tiếng Việt, một dòng ví dụ, danh sách chọn cho các
    cột danh mục và trang "Hướng dẫn". One sheet per kind with Vietnamese headings, an example
    row, drop-down lists and an instructions sheet.
    """
    if output.suffix.lower() != ".xlsx":
        raise typer.BadParameter(
            "tên tệp phải kết thúc bằng .xlsx / the file name must end in .xlsx",
            param_hint="--output",
        )
    from inventory.transfer_template import template_bytes

    kinds = list(KIND_ORDER) if kind is ExportKind.all else [TransferKind(kind.value)]
    data = template_bytes(kinds, file_name=output.name)
    try:
        _write(output, data, force=force)
    except FileExistsError:
        raise _fail(
            f"tệp {output} đã có; thêm --force để ghi đè / {output} exists; "
            "add --force to overwrite it"
        ) from None
    except OSError as exc:
        raise _fail(f"không ghi được {output} ({exc.strerror}) / cannot write {output}") from None
    _next_steps(output, kinds)


def _next_steps(output: Path, kinds: list[TransferKind]) -> None:
    from inventory.transfer_template import sheet_name

    sheets = ", ".join(sheet_name(k) for k in kinds)
    console.print(f"Đã ghi mẫu nhập liệu / template written: {output} ({sheets})", highlight=False)
    console.print(
        "Tiếp theo / next: điền từ dòng 3 mỗi trang tính (xem trang Hướng dẫn), rồi kiểm tra "
        "và nhập / fill in from row 3 (see the Hướng dẫn sheet), then check and import:",
        highlight=False,
    )
    console.print(f"  tldops inventory import {output} --kind all --dry-run", highlight=False)
    console.print(f"  tldops inventory import {output} --kind all", highlight=False)
    console.print(
        "hoặc tải tệp lên trang /import của web / or upload it at /import", highlight=False
    )


def register(app: typer.Typer) -> None:
    """Add ``template`` to ``tldops inventory``."""
    app.command("template")(template_cmd)
