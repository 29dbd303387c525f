"""``tldops inventory import`` and ``tldops inventory export`` (CSV contract of DESIGN.md).

::

    tldops inventory import --kind units don_vi.csv --dry-run
    tldops inventory import --kind devices thiet_bi.xlsx
    tldops inventory import --kind all mau_nhap_lieu.xlsx --dry-run
    tldops inventory export --kind devices --unit HN > hn_devices.csv
    tldops inventory export --kind all --format xlsx --output kho.xlsx
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from inventory.runtime import cli_session, console, current_actor
from inventory.transfer import ImportReport, import_file, import_workbook
from inventory.transfer_export import export_records, write_csv, write_xlsx
from inventory.transfer_rules import TransferKind


class ExportKind(StrEnum):
    units = "units"
    officers = "officers"
    devices = "devices"
    links = "links"
    software = "software"
    all = "all"


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


class _BarProgress:
    """Adapts :class:`inventory.transfer.Progress` to a rich progress bar."""

    def __init__(self, bar: RichProgress) -> None:
        self.bar = bar
        self.task: TaskID | None = None

    def phase(self, name: str, total: int | None) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[self.task].total or 0)
        self.task = self.bar.add_task(name, total=total)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)


def _print_report(report: ImportReport, *, show: int) -> None:
    title = (
        f"{report.file} — chạy thử, không ghi gì / dry run, nothing written"
        if report.dry_run
        else f"{report.file} — đã nhập / imported"
    )
    summary = Table(
        "loại / kind",
        "tạo mới / created",
        "cập nhật / updated",
        "không đổi / unchanged",
        title=title,
    )
    summary.add_row(
        report.kind.value, str(report.created), str(report.updated), str(report.unchanged)
    )
    console.print(summary)
    for warning in report.warnings:
        console.print(f"[yellow]Lưu ý / note:[/] {warning.render()}", highlight=False)
    if report.custody_opened or report.custody_closed:
        console.print(
            f"giao nhận / custody: {report.custody_opened} mở / opened, "
            f"{report.custody_closed} đóng / closed"
        )
    if report.changes and show > 0:
        changes = Table(
            "dòng / row",
            "khóa / key",
            "cột / field",
            "trước / before",
            "sau / after",
            title="Thay đổi / changes",
        )
        for change in report.changes[:show]:
            for fc in change.changes:
                changes.add_row(str(change.line), change.key, fc.field, fc.before, fc.after)
        console.print(changes)
        if len(report.changes) > show:
            console.print(f"… +{len(report.changes) - show} (--show N)")


def import_cmd(
    file: Annotated[Path, typer.Argument(help="tệp .csv hoặc .xlsx / a .csv or .xlsx file")],
    kind: Annotated[
        ExportKind,
        typer.Option(
            "--kind",
            "-k",
            help="dữ liệu trong tệp; all = mọi trang tính của tệp .xlsx (Đơn vị, Cán bộ, Thiết "
            "bị, Đường truyền, Phần mềm) / what the file holds; all = every sheet of an .xlsx",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what would change, write nothing")
    ] = False,
    show: Annotated[int, typer.Option(help="list at most N changed rows")] = 200,
) -> None:
    """Nhập đơn vị/cán bộ/thiết bị/đường truyền/phần mềm / import a CSV or XLSX file.

    Tiêu đề cột tiếng Việt hoặc tiếng Anh ("Mã tài sản" hay asset_tag), bỏ qua cột STT và các
    dòng tiêu đề phía trên; giá trị danh mục viết tiếng Việt được ("máy in", "đang dùng").
    Headers in Vietnamese or English; an STT column and title rows above the header are
    ignored; vocabulary values may be written in Vietnamese.

    Every row is checked first; if any is bad, every problem is printed and nothing is written
    (exit code 2). Re-importing the same file changes nothing.
    """
    if kind is ExportKind.all:
        with cli_session() as session:
            reports = import_workbook(session, path=file, actor=current_actor(), dry_run=dry_run)
        for report in reports:
            _print_report(report, show=show)
        return
    with cli_session() as session:
        kind_ = TransferKind(kind.value)
        if console.is_terminal:
            with RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar:
                report = import_file(
                    session,
                    kind=kind_,
                    path=file,
                    actor=current_actor(),
                    dry_run=dry_run,
                    progress=_BarProgress(bar),
                )
        else:
            report = import_file(
                session, kind=kind_, path=file, actor=current_actor(), dry_run=dry_run
            )
    _print_report(report, show=show)


def export_cmd(
    kind: Annotated[ExportKind, typer.Option("--kind", "-k", help="what to export")],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option("--format", "-f", help="csv or xlsx (default: from --output, else csv)"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")
    ] = None,
    unit: Annotated[
        str | None, typer.Option("--unit", "-u", help="only this unit's subtree")
    ] = None,
    bom: Annotated[bool, typer.Option("--bom", help="UTF-8 BOM for Excel (CSV only)")] = False,
) -> None:
    """Xuất dữ liệu / export in the import format (sorted, ISO dates, UTF-8)."""
    if fmt is None:
        fmt = (
            ExportFormat.xlsx
            if output is not None and output.suffix.lower() == ".xlsx"
            else ExportFormat.csv
        )
    kinds = list(TransferKind) if kind is ExportKind.all else [TransferKind(kind.value)]
    if fmt is ExportFormat.csv and len(kinds) > 1:
        raise typer.BadParameter(
            "CSV chỉ chứa một loại / a CSV file holds one kind; "
            "use --format xlsx for --kind all (one sheet per kind)",
            param_hint="--format",
        )
    if fmt is ExportFormat.xlsx and output is None and sys.stdout.isatty():
        raise typer.BadParameter(
            "Không ghi XLSX ra màn hình / refusing to write XLSX to a terminal; "
            "add --output FILE.xlsx",
            param_hint="--output",
        )
    with cli_session() as session:
        sheets = {k: export_records(session, kind=k, unit_code=unit) for k in kinds}
    if fmt is ExportFormat.xlsx:
        if output is not None:
            write_xlsx(output, sheets=sheets)
        else:
            write_xlsx(sys.stdout.buffer, sheets=sheets)
            sys.stdout.buffer.flush()
        return
    records = sheets[kinds[0]]
    if output is not None:
        with output.open("w", encoding="utf-8", newline="") as fh:
            write_csv(fh, kind=kinds[0], records=records, bom=bom)
    else:
        write_csv(sys.stdout, kind=kinds[0], records=records, bom=bom)
        sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add ``import`` and ``export`` to ``tldops inventory``."""
    app.command("import")(import_cmd)
    app.command("export")(export_cmd)
