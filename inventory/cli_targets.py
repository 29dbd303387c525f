"""``tldops targets``: the plan-target scorecard (chỉ tiêu) for any subtree, and its snapshots.

::

    tldops targets                                   # root, rich tables, Vietnamese
    tldops targets --unit HN --lang en               # Hà Nội's subtree, English titles/reasons
    tldops targets --format json --output q3.json    # complete failing lists
    tldops targets --format xlsx --output q3.xlsx    # sheet "Tổng hợp" + one sheet per indicator
    tldops targets snapshot --label "Q3/2026"        # store a dated copy
    tldops targets snapshots                         # list them
    tldops targets compare "Q2/2026" "Q3/2026"       # what moved, who newly passes/fails

CSV shape (flat, one row per indicator and scope): ``indicator_id,title,target,row,unit_code,
unit_name,numerator,denominator,value,met`` where ``row`` is ``total`` for the requested unit's
whole subtree and ``child`` for each direct child's subtree. Failing lists are in json and xlsx.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Column, Table

from inventory.errors import OpsError
from inventory.runtime import cli_session, console, current_actor, err_console
from inventory.targets import (
    ChildResult,
    IndicatorRegistry,
    IndicatorResult,
    TargetReport,
    compare_reports,
    compute_report,
    default_registry,
    get_snapshot,
    list_snapshots,
    save_snapshot,
)
from inventory.text import csv_cell

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


class Lang(StrEnum):
    vi = "vi"
    en = "en"


class TargetsUsageError(OpsError):
    """A ``tldops targets`` option combination that cannot work."""

    exit_code = 2


targets_app = typer.Typer(
    help="Chỉ tiêu kế hoạch CNTT / plan targets: scorecard, snapshots, comparison.",
    invoke_without_command=True,
)

# Labels of the table/xlsx output in both languages.
_L: dict[str, tuple[str, str]] = {
    "indicator": ("Chỉ tiêu", "Indicator"),
    "value": ("Đạt", "Value"),
    "target": ("Mục tiêu", "Target"),
    "met": ("Đạt?", "Met"),
    "count": ("Tử số/Mẫu số", "Num/Den"),
    "numerator": ("Tử số", "Numerator"),
    "denominator": ("Mẫu số", "Denominator"),
    "unit": ("Đơn vị", "Unit"),
    "code": ("Mã", "Code"),
    "name": ("Tên", "Name"),
    "reasons": ("Lý do", "Reasons"),
    "children": ("Theo đơn vị trực thuộc", "By direct child unit"),
    "failing": ("Chưa đạt", "Failing"),
    "more": ("… và {n} mục khác (xem --format json)", "… and {n} more (see --format json)"),
    "omitted": (
        "{n} đơn vị trực thuộc không có đối tượng tính (cấp cơ sở) được ẩn",
        "{n} child units with nothing counted (grassroots) hidden",
    ),
    "none_failing": ("Không có mục nào chưa đạt", "Nothing failing"),
    "summary": ("Tổng hợp", "Summary"),
    "as_of": ("Thời điểm", "As of"),
    "before": ("Trước", "Before"),
    "after": ("Sau", "After"),
    "delta": ("Thay đổi", "Change"),
    "newly_passing": ("Mới đạt", "Newly passing"),
    "newly_failing": ("Mới chưa đạt", "Newly failing"),
    "label": ("Nhãn", "Label"),
    "met_count": ("Số chỉ tiêu đạt", "Indicators met"),
}


def _t(key: str, lang: Lang) -> str:
    vi, en = _L[key]
    return en if lang is Lang.en else vi


def _title(result: IndicatorResult | Any, lang: Lang) -> str:
    return str(result.title_en if lang is Lang.en else result.title)


def _pct(value: float | None, lang: Lang) -> str:
    if value is None:
        return "—"
    text = f"{value * 100:.1f} %"
    # Vietnamese writes the decimal separator as a comma.
    return text.replace(".", ",") if lang is Lang.vi else text


def _met(met: bool | None) -> str:
    return "—" if met is None else ("[green]✓[/]" if met else "[red]✗[/]")


def _local(report_as_of: Any) -> str:
    return str(report_as_of.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M"))


def _registry(indicators: list[str] | None) -> IndicatorRegistry:
    # A plug-in indicator that fails to load is skipped with a warning; show it as one clear
    # line on stderr rather than Python's warning format with a source line.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        full = default_registry()
    for w in caught:
        err_console.print(f"[yellow]Cảnh báo / Warning:[/] {w.message}", highlight=False)
    if not indicators:
        return full
    chosen = IndicatorRegistry()
    for ind_id in indicators:
        chosen.register(full.get(ind_id))
    return chosen


# -- renderers -----------------------------------------------------------------------------------
def render_table(out: Console, report: TargetReport, *, lang: Lang, failing_limit: int) -> None:
    """Summary table, then per indicator its per-child breakdown and first failing entries."""
    out.print(
        f"[bold]{report.unit_code}[/] {report.unit_name} — {_t('as_of', lang)}: "
        f"{_local(report.as_of)}",
        highlight=False,
    )
    summary = Table(
        _t("indicator", lang),
        _t("value", lang),
        _t("target", lang),
        _t("met", lang),
        _t("count", lang),
        title=_t("summary", lang),
    )
    for ind in report.indicators:
        summary.add_row(
            f"{_title(ind, lang)}\n[dim]{ind.id}[/]",
            _pct(ind.value, lang),
            _pct(ind.target, lang),
            _met(ind.met),
            f"{ind.numerator}/{ind.denominator}",
        )
    out.print(summary)
    for ind in report.indicators:
        out.rule(f"[bold]{ind.id}[/] — {_title(ind, lang)}")
        shown = [c for c in ind.children if c.denominator > 0]
        if shown:
            kids = Table(
                _t("unit", lang),
                _t("value", lang),
                _t("met", lang),
                _t("count", lang),
                title=_t("children", lang),
            )
            for c in shown:
                kids.add_row(
                    f"{c.unit_code} {c.unit_name}",
                    _pct(c.value, lang),
                    _met(c.met),
                    f"{c.numerator}/{c.denominator}",
                )
            out.print(kids)
        hidden = len(ind.children) - len(shown)
        if hidden:
            out.print(f"[dim]{_t('omitted', lang).format(n=hidden)}[/]")
        if not ind.failing:
            out.print(f"[green]{_t('none_failing', lang)}[/]")
            continue
        fail = Table(
            _t("code", lang),
            _t("name", lang),
            _t("unit", lang),
            _t("reasons", lang),
            title=f"{_t('failing', lang)} ({len(ind.failing)})",
        )
        for f in ind.failing[: max(failing_limit, 0)]:
            fail.add_row(f.code, f.name, f.unit_code, "; ".join(r.text(lang) for r in f.reasons))
        out.print(fail)
        extra = len(ind.failing) - max(failing_limit, 0)
        if extra > 0:
            out.print(f"[dim]{_t('more', lang).format(n=extra)}[/]")


CSV_COLUMNS = (
    "indicator_id",
    "title",
    "target",
    "row",
    "unit_code",
    "unit_name",
    "numerator",
    "denominator",
    "value",
    "met",
)


def render_csv(report: TargetReport, *, lang: Lang) -> str:
    """The flat CSV shape documented in the module docstring."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def fmt(value: float | None) -> str:
        return "" if value is None else f"{value:.6f}"

    def met(value: bool | None) -> str:
        return "" if value is None else ("yes" if value else "no")

    for ind in report.indicators:
        rows: list[tuple[str, str, str, int, int, float | None, bool | None]] = [
            (
                "total",
                report.unit_code,
                report.unit_name,
                ind.numerator,
                ind.denominator,
                ind.value,
                ind.met,
            )
        ]
        rows += [
            ("child", c.unit_code, c.unit_name, c.numerator, c.denominator, c.value, c.met)
            for c in ind.children
        ]
        for kind, code, name, num, den, value, ok in rows:
            head = (ind.id, _title(ind, lang), ind.target, kind, code, name, num, den)
            # Unit names and titles come from users: no cell may run as a formula in Excel.
            writer.writerow([csv_cell(str(v)) for v in (*head, fmt(value), met(ok))])
    return buf.getvalue()


def write_xlsx(report: TargetReport, path: Path, *, lang: Lang) -> None:
    """Sheet "Tổng hợp" (summary) and one sheet per indicator (children, then every failing)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    bold = Font(bold=True)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = _L["summary"][0]  # the sheet name users look for, whatever the language
    ws.append([f"{report.unit_code} {report.unit_name}", _local(report.as_of)])
    ws.append([])
    header = ["id", _t("indicator", lang), _t("target", lang), _t("numerator", lang)]
    header += [_t("denominator", lang), _t("value", lang), _t("met", lang)]
    ws.append(header)
    for cell in ws[3]:
        cell.font = bold
    for ind in report.indicators:
        ws.append(
            [
                ind.id,
                _title(ind, lang),
                ind.target,
                ind.numerator,
                ind.denominator,
                ind.value,
                None if ind.met is None else bool(ind.met),
            ]
        )
    for ind in report.indicators:
        sheet = wb.create_sheet(ind.id[:31])
        sheet.append([_title(ind, lang)])
        sheet["A1"].font = bold
        sheet.append([])
        sheet.append([_t("children", lang)])
        sheet.append(
            [
                _t("code", lang),
                _t("name", lang),
                _t("numerator", lang),
                _t("denominator", lang),
                _t("value", lang),
                _t("met", lang),
            ]
        )
        child: ChildResult
        for child in ind.children:
            sheet.append(
                [
                    child.unit_code,
                    child.unit_name,
                    child.numerator,
                    child.denominator,
                    child.value,
                    None if child.met is None else bool(child.met),
                ]
            )
        sheet.append([])
        sheet.append([f"{_t('failing', lang)} ({len(ind.failing)})"])
        sheet.append(
            ["kind", _t("code", lang), _t("name", lang), _t("unit", lang), _t("reasons", lang)]
        )
        for f in ind.failing:
            sheet.append(
                [f.kind, f.code, f.name, f.unit_code, "; ".join(r.text(lang) for r in f.reasons)]
            )
        sheet.column_dimensions["B"].width = 40
        sheet.column_dimensions["E"].width = 60
    ws.column_dimensions["B"].width = 70
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")


# -- commands ------------------------------------------------------------------------------------
@targets_app.callback(invoke_without_command=True)
def report(
    ctx: typer.Context,
    unit: Annotated[
        str | None, typer.Option("--unit", "-u", help="mã đơn vị / unit code (default: root)")
    ] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to FILE")] = None,
    failing_limit: Annotated[
        int, typer.Option(help="failing entries shown per indicator (table)")
    ] = 10,
    indicator: Annotated[
        list[str] | None, typer.Option("--indicator", "-i", help="only this indicator (repeat)")
    ] = None,
    lang: Annotated[Lang, typer.Option(help="vi (mặc định) | en")] = Lang.vi,
) -> None:
    """Báo cáo chỉ tiêu / the plan-target report for a unit's subtree."""
    if ctx.invoked_subcommand is not None:
        return
    if fmt is ReportFormat.xlsx and output is None:
        raise TargetsUsageError(
            "Định dạng xlsx cần --output / xlsx needs --output FILE",
            hint="tldops targets --format xlsx --output chi-tieu.xlsx",
        )
    with cli_session() as session:
        rep = compute_report(session, unit_code=unit, registry=_registry(indicator))
    if fmt is ReportFormat.json:
        _emit(json.dumps(rep.to_dict(), ensure_ascii=False, indent=2) + "\n", output)
    elif fmt is ReportFormat.csv:
        _emit(render_csv(rep, lang=lang), output)
    elif fmt is ReportFormat.xlsx:
        assert output is not None
        write_xlsx(rep, output, lang=lang)
        console.print(f"{output}")
    elif output is None:
        render_table(console, rep, lang=lang, failing_limit=failing_limit)
    else:
        with output.open("w", encoding="utf-8") as fh:
            render_table(
                Console(file=fh, width=160, color_system=None),
                rep,
                lang=lang,
                failing_limit=failing_limit,
            )


@targets_app.command("snapshot")
def snapshot(
    unit: Annotated[str | None, typer.Option("--unit", "-u")] = None,
    label: Annotated[str | None, typer.Option(help='e.g. "Q3/2026"')] = None,
) -> None:
    """Lưu bản chụp chỉ tiêu / store a dated snapshot of the report."""
    with cli_session() as session:
        rep = compute_report(session, unit_code=unit)
        snap = save_snapshot(session, report=rep, label=label, actor=current_actor())
        snap_id = snap.id
    met = sum(1 for i in rep.indicators if i.met)
    console.print(
        f"snapshot {snap_id}: {rep.unit_code} {_local(rep.as_of)} "
        f"{label or ''} — {met}/{len(rep.indicators)} chỉ tiêu đạt / met",
        highlight=False,
    )


@targets_app.command("snapshots")
def snapshots(
    unit: Annotated[str | None, typer.Option("--unit", "-u")] = None,
    lang: Annotated[Lang, typer.Option()] = Lang.vi,
) -> None:
    """Danh sách bản chụp / list stored snapshots, newest first."""
    with cli_session() as session:
        table = Table(
            "id", _t("as_of", lang), _t("unit", lang), _t("label", lang), _t("met_count", lang)
        )
        for snap in list_snapshots(session, unit_code=unit):
            inds = snap.report.get("indicators", [])
            met = sum(1 for i in inds if i.get("met"))
            table.add_row(
                str(snap.id),
                _local(snap.as_of),
                f"{snap.report['unit']['code']} {snap.report['unit']['name']}",
                snap.label or "",
                f"{met}/{len(inds)}",
            )
    console.print(table)


@targets_app.command("compare")
def compare(
    snap_a: Annotated[str, typer.Argument(help="id or label of the earlier snapshot")],
    snap_b: Annotated[str, typer.Argument(help="id or label of the later snapshot")],
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.table,
    lang: Annotated[Lang, typer.Option()] = Lang.vi,
    limit: Annotated[int, typer.Option(help="codes listed per change (table)")] = 10,
) -> None:
    """So sánh hai bản chụp / per indicator: value change, units newly passing or failing."""
    if fmt in (ReportFormat.csv, ReportFormat.xlsx):
        raise TargetsUsageError("compare: --format table|json")
    with cli_session() as session:
        a, b = get_snapshot(session, snap_a), get_snapshot(session, snap_b)
        before, after = TargetReport.from_dict(a.report), TargetReport.from_dict(b.report)
    changes = compare_reports(before, after)
    if fmt is ReportFormat.json:
        typer.echo(
            json.dumps(
                {
                    "before": {"id": a.id, "label": a.label, "as_of": before.as_of.isoformat()},
                    "after": {"id": b.id, "label": b.label, "as_of": after.as_of.isoformat()},
                    "indicators": [c.to_dict() for c in changes],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if before.unit_code != after.unit_code:
        console.print(
            f"[yellow]{before.unit_code} ≠ {after.unit_code}: "
            "hai bản chụp của hai đơn vị khác nhau / snapshots of different units[/]"
        )
    table = Table(
        Column("id", no_wrap=True),
        f"{_t('before', lang)}\n{a.label or a.id}",
        f"{_t('after', lang)}\n{b.label or b.id}",
        _t("delta", lang),
        _t("newly_passing", lang),
        _t("newly_failing", lang),
    )

    def side(r: IndicatorResult | None) -> str:
        if r is None:
            return "—"
        return f"{_pct(r.value, lang)} {_met(r.met)}\n{r.numerator}/{r.denominator}"

    def codes(items: tuple[str, ...]) -> str:
        head = ", ".join(items[:limit])
        return f"{len(items)}: {head}{' …' if len(items) > limit else ''}" if items else "0"

    for c in changes:
        delta = c.delta
        delta_text = "—" if delta is None else f"{delta * 100:+.1f} đ.%/pp"
        table.add_row(
            c.id,
            side(c.before),
            side(c.after),
            delta_text,
            codes(c.newly_passing),
            codes(c.newly_failing),
        )
    console.print(table)
