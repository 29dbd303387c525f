"""The training report a coordinator sends upward, in Vietnamese, as XLSX and PDF.

::

    report = build_report(session, unit=hn, on=date(2026, 11, 25))
    write_xlsx(report, Path("bao_cao_dao_tao_HN.xlsx"))
    write_pdf(report, Path("bao_cao_dao_tao_HN.pdf"))

Sheets / sections: the summary with one line per direct child unit; the officers still to be
trained with the missing or expired courses; the certificates expiring soon.

The PDF embeds DejaVu Sans (Debian package ``fonts-dejavu-core``), whose glyphs cover
Vietnamese; the PDF base fonts do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from inventory.errors import ConfigError
from inventory.models import Unit
from inventory.targets import IndicatorResult
from inventory.text import csv_cell
from training_lms.indicators import OfficersTrained
from training_lms.planning import (
    ExpiringCertificate,
    GapLine,
    expiring_certificates,
    gap_lines,
)
from training_lms.status import training_tally

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
TITLE = "BÁO CÁO KẾT QUẢ ĐÀO TẠO, BỒI DƯỠNG TIN HỌC CHO CÁN BỘ CÔNG ĐOÀN CHUYÊN TRÁCH"


@dataclass(frozen=True)
class TrainingReport:
    unit_code: str
    unit_name: str
    on: date
    indicator: IndicatorResult
    gaps: list[GapLine]
    expiring: list[ExpiringCertificate]
    expiring_days: int


def build_report(
    session: Session, *, unit: Unit, on: date, expiring: timedelta = timedelta(days=90)
) -> TrainingReport:
    """Gather everything the report shows (one tally, one expiry query)."""
    tally = training_tally(session, unit=unit, on=on)
    return TrainingReport(
        unit_code=unit.code,
        unit_name=unit.name,
        on=on,
        indicator=OfficersTrained().from_tally(tally),
        gaps=gap_lines(tally),
        expiring=expiring_certificates(session, unit=unit, on=on, within=expiring),
        expiring_days=expiring.days,
    )


def percent(value: float | None) -> str:
    """Vietnamese percent: decimal comma, one decimal.

    >>> percent(0.8125)
    '81,3 %'
    """
    return "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")


def met_text(met: bool | None) -> str:
    return {True: "Đạt", False: "Chưa đạt", None: "Không có cán bộ"}[met]


KIND_VI = {"missing": "chưa học", "expired": "hết hạn"}


def _summary_rows(r: TrainingReport) -> list[list[object]]:
    ind = r.indicator
    rows: list[list[object]] = [
        [
            r.unit_code,
            r.unit_name,
            ind.numerator,
            ind.denominator,
            percent(ind.value),
            met_text(ind.met),
        ]
    ]
    for c in ind.children:
        rows.append(
            [
                c.unit_code,
                c.unit_name,
                c.numerator,
                c.denominator,
                percent(c.value),
                met_text(c.met),
            ]
        )
    return rows


SUMMARY_HEADER = [
    "Mã đơn vị",
    "Đơn vị",
    "Đã đào tạo",
    "Tổng số CB chuyên trách",
    "Tỷ lệ",
    "Kết quả",
]
GAP_HEADER = ["STT", "Mã cán bộ", "Họ và tên", "Đơn vị", "Khóa học", "Tên khóa học", "Tình trạng"]
EXPIRING_HEADER = [
    "STT",
    "Số chứng chỉ",
    "Mã cán bộ",
    "Họ và tên",
    "Đơn vị",
    "Khóa học",
    "Hết hạn",
    "Còn (ngày)",
]


def _neutral(value: object) -> object:
    """Names and titles come from imports and users: text a spreadsheet would run as a formula
    stays text (:func:`inventory.text.csv_cell`)."""
    return csv_cell(value) if isinstance(value, str) else value


def _row(values: Sequence[object]) -> list[object]:
    return [_neutral(v) for v in values]


def write_xlsx(report: TrainingReport, path: Path) -> Path:
    """Write the report as an XLSX workbook with three sheets (Vietnamese headers)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Tổng hợp"
    ws.append([TITLE])
    ws.append([f"Đơn vị: {report.unit_name} ({report.unit_code}) — ngày {report.on:%d/%m/%Y}"])
    ws.append(["Chỉ tiêu: 100 % cán bộ công đoàn chuyên trách được đào tạo, bồi dưỡng tin học"])
    ws.append([])
    ws.append(SUMMARY_HEADER)
    for row in _summary_rows(report):
        ws.append(_row(row))
    ws["A1"].font = Font(bold=True)
    gaps = wb.create_sheet("Cán bộ chưa đạt")
    gaps.append(GAP_HEADER)
    for i, g in enumerate(report.gaps, start=1):
        gaps.append(
            _row(
                [
                    i,
                    g.officer_code,
                    g.full_name,
                    g.unit_name,
                    g.course_code,
                    g.course_title,
                    KIND_VI[g.kind],
                ]
            )
        )
    exp = wb.create_sheet("Chứng chỉ sắp hết hạn")
    exp.append(EXPIRING_HEADER)
    for i, e in enumerate(report.expiring, start=1):
        exp.append(
            _row(
                [
                    i,
                    e.number,
                    e.officer_code,
                    e.full_name,
                    e.unit_code,
                    e.course_code,
                    e.expires_on.strftime("%d/%m/%Y"),
                    e.days_left,
                ]
            )
        )
    for sheet in (ws, gaps, exp):
        for cell in sheet[5 if sheet is ws else 1]:
            cell.font = Font(bold=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _register_fonts(font_dir: Path) -> tuple[str, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    regular, bold = font_dir / "DejaVuSans.ttf", font_dir / "DejaVuSans-Bold.ttf"
    if not regular.is_file() or not bold.is_file():
        raise ConfigError(
            f"Không thấy phông DejaVu Sans trong {font_dir} / DejaVu Sans not found in {font_dir}",
            hint="apt-get install fonts-dejavu-core (make system-deps installs it)",
        )
    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
    return "DejaVuSans", "DejaVuSans-Bold"


def write_pdf(
    report: TrainingReport,
    path: Path,
    *,
    font_dir: Path = FONT_DIR,
    max_rows: int = 3000,
) -> Path:
    """Write the report as an A4 PDF with the Vietnamese font embedded.

    Lists longer than ``max_rows`` are cut with a note pointing to the XLSX, which always has
    every row (a national list can run to hundreds of thousands of lines).
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    regular, bold = _register_fonts(font_dir)
    normal = ParagraphStyle("vi", fontName=regular, fontSize=9, leading=11)
    heading = ParagraphStyle("vi-h", fontName=bold, fontSize=13, leading=16, spaceAfter=6)
    sub = ParagraphStyle("vi-h2", fontName=bold, fontSize=11, leading=14, spaceBefore=8)

    def table(header: list[str], rows: list[list[object]], widths: list[float]) -> Table:
        data = [[Paragraph(str(h), normal) for h in header]] + [
            [Paragraph(str(c), normal) for c in row] for row in rows
        ]
        t = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    ind = report.indicator
    story: list[object] = [
        Paragraph("TỔNG LIÊN ĐOÀN LAO ĐỘNG VIỆT NAM", sub),
        Paragraph(TITLE, heading),
        Paragraph(
            f"Đơn vị: {report.unit_name} ({report.unit_code}). Số liệu ngày {report.on:%d/%m/%Y}.",
            normal,
        ),
        Paragraph(
            f"Đã đào tạo {ind.numerator}/{ind.denominator} cán bộ chuyên trách "
            f"({percent(ind.value)}); chỉ tiêu 100 %: <b>{met_text(ind.met)}</b>.",
            normal,
        ),
        Spacer(1, 4 * mm),
        Paragraph("1. Tổng hợp theo đơn vị", sub),
        table(SUMMARY_HEADER, _summary_rows(report), [25, 95, 25, 35, 25, 30]),
        Paragraph(f"2. Cán bộ chưa đạt ({len(report.gaps)} lượt khóa học)", sub),
    ]
    gap_rows: list[list[object]] = [
        [i, g.officer_code, g.full_name, g.unit_name, g.course_code, KIND_VI[g.kind]]
        for i, g in enumerate(report.gaps[:max_rows], start=1)
    ]
    story.append(
        table(
            ["STT", "Mã CB", "Họ và tên", "Đơn vị", "Khóa học", "Tình trạng"],
            gap_rows,
            [12, 28, 55, 90, 30, 25],
        )
    )
    if len(report.gaps) > max_rows:
        story.append(
            Paragraph(
                f"… còn {len(report.gaps) - max_rows} dòng, xem đầy đủ trong tệp XLSX.", normal
            )
        )
    story.append(
        Paragraph(
            f"3. Chứng chỉ hết hạn trong {report.expiring_days} ngày tới ({len(report.expiring)})",
            sub,
        )
    )
    exp_rows: list[list[object]] = [
        [
            i,
            e.number,
            e.officer_code,
            e.full_name,
            e.course_code,
            e.expires_on.strftime("%d/%m/%Y"),
            e.days_left,
        ]
        for i, e in enumerate(report.expiring[:max_rows], start=1)
    ]
    story.append(
        table(
            ["STT", "Số chứng chỉ", "Mã CB", "Họ và tên", "Khóa học", "Hết hạn", "Còn (ngày)"],
            exp_rows,
            [12, 50, 28, 60, 30, 28, 22],
        )
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = SimpleDocTemplate(
        str(path),
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=TITLE,
        author="tldops",
        lang="vi",
    )
    doc.build(story)  # type: ignore[arg-type]
    return path
