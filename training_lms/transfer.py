"""Import of result sheets (XLSX/CSV) with strict, all-or-nothing validation.

A result sheet has exactly the columns ``class_code,officer_code,score,date`` (UTF-8, a BOM from
Excel is fine; XLSX: the sheet named ``results`` or else the first sheet). Every row is checked
before anything is written; if any row is wrong, :class:`~inventory.errors.ValidationFailed`
lists every problem (file, row, column, value, why) and nothing is written::

    summary = import_results(session, path=Path("ket_qua_lop_HN-01.csv"), actor="coordinator")
    summary.passed, summary.failed, summary.certificates     # (27, 3, 27)

``date`` is ISO 8601 (``2026-03-04``); empty means the class's last day. Recording a result
again for the same class and officer is a correction (see :meth:`TrainingService.record_result`).

Officer lists are imported by the inventory (``inventory.transfer``, the CSV contract's
``officers`` kind); this module never writes officers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from inventory.config import TIMEZONE
from inventory.db import utcnow
from inventory.errors import Problem, ValidationFailed
from inventory.models import Officer
from inventory.text import nfc
from training_lms.enums import CertificateStatus, EnrolmentStatus, ResultSource
from training_lms.models import Certificate, Enrolment, Result, TrainingClass
from training_lms.service import TrainingService

RESULT_COLUMNS = ("class_code", "officer_code", "score", "date")


@dataclass(frozen=True)
class Sheet:
    """A table read from a file: its header and data rows with their 1-based line numbers."""

    name: str
    header: tuple[str, ...]
    rows: list[tuple[int, dict[str, str]]]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return nfc(str(value)).strip()


def read_sheet(path: Path, *, sheet: str = "results") -> Sheet:
    """Read a CSV or XLSX file into a :class:`Sheet` (text NFC-normalised, cells stripped).

    >>> read_sheet(Path("results.csv")).header
    ('class_code', 'officer_code', 'score', 'date')
    """
    name = path.name
    if not path.is_file():
        raise ValidationFailed(
            [Problem(name, None, None, None, "không tìm thấy tệp", "file not found")]
        )
    suffix = path.suffix.lower()
    raw_rows: list[list[str]]
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a damaged file
            raise ValidationFailed(
                [Problem(name, None, None, None, "tệp XLSX hỏng", f"unreadable XLSX: {exc}")]
            ) from exc
        ws = wb[sheet] if sheet in wb.sheetnames else wb.worksheets[0]
        raw_rows = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
        wb.close()
    elif suffix == ".csv":
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                [
                    Problem(
                        name,
                        None,
                        None,
                        None,
                        "tệp không phải UTF-8, hãy lưu lại dạng CSV UTF-8",
                        "file is not UTF-8; save it as CSV UTF-8",
                    )
                ]
            ) from exc
        raw_rows = [[_cell(v) for v in row] for row in csv.reader(io.StringIO(text))]
    else:
        raise ValidationFailed(
            [
                Problem(
                    name,
                    None,
                    None,
                    None,
                    "chỉ nhận tệp .csv hoặc .xlsx",
                    "only .csv and .xlsx files are accepted",
                )
            ]
        )
    if not raw_rows:
        raise ValidationFailed([Problem(name, 1, None, None, "tệp rỗng", "the file is empty")])
    header = tuple(h.strip().lower() for h in raw_rows[0])
    while header and header[-1] == "":  # Excel often leaves empty trailing header cells
        header = header[:-1]
    rows = []
    for i, raw in enumerate(raw_rows[1:], start=2):
        if not any(raw):
            continue  # blank lines at the end of a sheet
        rows.append((i, {h: (raw[j] if j < len(raw) else "") for j, h in enumerate(header)}))
    return Sheet(name=name, header=header, rows=rows)


def check_header(sheet: Sheet, expected: tuple[str, ...]) -> list[Problem]:
    """Problems with the header: missing, extra or repeated columns."""
    problems = []
    for col in expected:
        if col not in sheet.header:
            problems.append(
                Problem(
                    sheet.name,
                    1,
                    col,
                    None,
                    f"thiếu cột {col}; các cột phải là {','.join(expected)}",
                    f"missing column {col}; the columns must be {','.join(expected)}",
                )
            )
    for col in sheet.header:
        if col not in expected:
            problems.append(
                Problem(
                    sheet.name,
                    1,
                    col or "(trống/empty)",
                    None,
                    "cột thừa, hãy xóa cột này",
                    "extra column, delete it",
                )
            )
    if len(set(sheet.header)) != len(sheet.header):
        problems.append(
            Problem(sheet.name, 1, None, None, "cột bị lặp lại", "a column is repeated")
        )
    return problems


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    passed: int
    failed: int
    corrected: int
    certificates: int


def import_results(
    session: Session,
    *,
    path: Path,
    actor: str = "system",
    clock: Callable[[], datetime] = utcnow,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Validate every row of a result sheet, then record all results, or nothing.

    ``progress(done, total)`` is called as rows are recorded (the CLI draws a progress bar).

    Checks: the exact columns; class and officer codes exist; the officer holds a seat in the
    class; the score is a number within the course's scale (``,`` as decimal separator is
    accepted, as Vietnamese Excel writes it); the date is ISO and within a sane range; no class
    and officer pair appears twice.
    """
    sheet = read_sheet(path)
    problems = check_header(sheet, RESULT_COLUMNS)
    if problems:
        raise ValidationFailed(problems)
    classes = {
        c.code: c
        for c in session.scalars(
            select(TrainingClass).where(
                TrainingClass.code.in_({r["class_code"] for _, r in sheet.rows})
            )
        )
    }
    officers = {
        o.code: o
        for o in session.scalars(
            select(Officer).where(Officer.code.in_({r["officer_code"] for _, r in sheet.rows}))
        )
    }
    seats = set(
        session.execute(
            select(Enrolment.class_id, Enrolment.officer_id).where(
                Enrolment.class_id.in_([c.id for c in classes.values()]),
                Enrolment.status == EnrolmentStatus.enrolled,
            )
        ).all()
    )
    seen: dict[tuple[str, str], int] = {}
    today = clock().astimezone(TIMEZONE).date()
    valid: list[tuple[str, str, float, date | None]] = []

    def bad(row: int, col: str, value: str, vi: str, en: str) -> None:
        problems.append(Problem(sheet.name, row, col, value, vi, en))

    for line, r in sheet.rows:
        cls = classes.get(r["class_code"])
        officer = officers.get(r["officer_code"])
        if cls is None:
            bad(line, "class_code", r["class_code"], "không có lớp này", "no such class")
        if officer is None:
            bad(line, "officer_code", r["officer_code"], "không có cán bộ này", "no such officer")
        if cls is not None and officer is not None and (cls.id, officer.id) not in seats:
            bad(
                line,
                "officer_code",
                r["officer_code"],
                f"cán bộ chưa có chỗ trong lớp {cls.code}; hãy ghi danh trước",
                f"officer holds no seat in class {cls.code}; enrol them first",
            )
        score: float | None = None
        try:
            score = float(r["score"].replace(",", "."))
        except ValueError:
            bad(line, "score", r["score"], "điểm phải là số", "score must be a number")
        if score is not None and cls is not None and not 0 <= score <= cls.course.max_score:
            bad(
                line,
                "score",
                r["score"],
                f"điểm phải từ 0 đến {cls.course.max_score:g}",
                f"score must be within 0–{cls.course.max_score:g}",
            )
        taken: date | None = None
        if r["date"]:
            try:
                taken = date.fromisoformat(r["date"])
            except ValueError:
                bad(
                    line,
                    "date",
                    r["date"],
                    "ngày phải theo dạng YYYY-MM-DD",
                    "date must be ISO, YYYY-MM-DD",
                )
            if taken is not None and cls is not None and taken < cls.starts_on:
                bad(
                    line,
                    "date",
                    r["date"],
                    f"ngày trước khi lớp bắt đầu ({cls.starts_on:%d/%m/%Y})",
                    f"date is before the class starts ({cls.starts_on.isoformat()})",
                )
        exam_day = taken or (cls.ends_on if cls is not None else None)
        if exam_day is not None and exam_day > today:
            bad(
                line,
                "date",
                r["date"],
                f"ngày thi {exam_day:%d/%m/%Y} chưa tới",
                f"exam day {exam_day.isoformat()} is in the future",
            )
        key = (r["class_code"], r["officer_code"])
        if key in seen:
            bad(
                line,
                "officer_code",
                r["officer_code"],
                f"trùng với dòng {seen[key]}",
                f"duplicate of row {seen[key]}",
            )
        else:
            seen[key] = line
        if score is not None:
            valid.append((r["class_code"], r["officer_code"], score, taken))
    if problems:
        raise ValidationFailed(problems)
    existing = set(
        session.execute(
            select(TrainingClass.code, Officer.code)
            .join(Result, Result.class_id == TrainingClass.id)
            .join(Officer, Officer.id == Result.officer_id)
            .where(TrainingClass.id.in_([c.id for c in classes.values()]))
        ).all()
    )
    svc = TrainingService(session, actor=actor, clock=clock)
    passed = failed = corrected = 0
    result_ids: list[int] = []
    # Rows were all checked above; the service re-checks its own rules. Should one still refuse
    # a row, the error propagates and the caller's transaction (cli_session, the API request)
    # rolls back everything this import wrote.
    for n, (class_code, officer_code, score, taken) in enumerate(valid, start=1):
        result = svc.record_result(
            class_code=class_code,
            officer_code=officer_code,
            score=score,
            taken_on=taken,
            source=ResultSource.import_,
        )
        result_ids.append(result.id)
        corrected += (class_code, officer_code) in existing
        passed += result.passed
        failed += not result.passed
        if progress is not None and (n % 50 == 0 or n == len(valid)):
            progress(n, len(valid))
    certs = session.scalar(
        select(func.count(Certificate.id)).where(
            Certificate.result_id.in_(result_ids), Certificate.status == CertificateStatus.valid
        )
    )
    return ImportSummary(
        rows=len(valid), passed=passed, failed=failed, corrected=corrected, certificates=certs or 0
    )
