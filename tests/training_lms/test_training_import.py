"""Result sheets: strict, all-or-nothing validation on CSV and XLSX."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from inventory.errors import ValidationFailed
from training_lms.enums import CertificateStatus
from training_lms.models import Certificate, Result
from training_lms.service import TrainingService
from training_lms.transfer import import_results


def _class(svc: TrainingService) -> None:
    svc.create_class(
        code="HN-01",
        course_code="IT-BASIC",
        unit_code="HN",
        starts_on=date(2026, 2, 2),
        ends_on=date(2026, 2, 3),
        capacity=3,
    )
    for o in ("HN-1", "BD-1", "BD-2", "HN-IT"):  # HN-IT ends up on the waiting list
        svc.enrol(class_code="HN-01", officer_code=o)


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_bad_sheet_writes_nothing_and_names_every_problem(
    session: Session, world: TrainingService, tmp_path: Path
) -> None:
    _class(world)
    sheet = tmp_path / "ket_qua.csv"
    sheet.write_text(
        "\ufeffclass_code,officer_code,score,date\n"
        "HN-01,HN-1,8.5,2026-02-03\n"  # fine, but must not be written
        'HN-01,BD-1,"7,5",\n'  # decimal comma and empty date are fine
        "HN-01,XX-9,6,2026-02-03\n"  # unknown officer
        "HN-99,BD-2,6,2026-02-03\n"  # unknown class
        "HN-01,BD-2,11,03/02/2026\n"  # score above the scale, non-ISO date
        "HN-01,HN-IT,9,2026-02-03\n"  # waiting list, no seat
        "HN-01,HN-1,9,2026-02-01\n",  # duplicate, and before the class starts
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailed) as exc:
        import_results(session, path=sheet, actor="coordinator")
    found = {(p.row, p.column) for p in exc.value.problems}
    assert found == {
        (4, "officer_code"),
        (5, "class_code"),
        (6, "score"),
        (6, "date"),
        (7, "officer_code"),
        (8, "officer_code"),
        (8, "date"),
    }
    rendered = exc.value.problems[0].render()
    assert rendered.startswith("ket_qua.csv, dòng/row 4, cột/column officer_code")
    assert _count(session, Result) == 0 and _count(session, Certificate) == 0

    extra = tmp_path / "extra.csv"
    extra.write_text("class_code,officer_code,score,date,note\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as exc:
        import_results(session, path=extra)
    assert [(p.row, p.column) for p in exc.value.problems] == [(1, "note")]


def test_xlsx_import_then_correction(
    session: Session, world: TrainingService, tmp_path: Path
) -> None:
    _class(world)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "results"
    ws.append(["class_code", "officer_code", "score", "date"])
    ws.append(["HN-01", "HN-1", 8, date(2026, 2, 3)])  # Excel-typed number and date
    ws.append(["HN-01", "BD-1", 4.5, None])
    ws.append(["HN-01", "BD-2", "6", "2026-02-03"])
    path = tmp_path / "ket_qua.xlsx"
    wb.save(path)
    summary = import_results(session, path=path, actor="coordinator")
    assert (summary.rows, summary.passed, summary.failed, summary.certificates) == (3, 2, 1, 2)
    # A corrected sheet: BD-2 really scored 3 → the certificate is revoked; BD-1 passes now.
    wb2 = Workbook()
    ws2 = wb2.active
    assert ws2 is not None
    ws2.append(["class_code", "officer_code", "score", "date"])
    ws2.append(["HN-01", "BD-2", 3, "2026-02-03"])
    ws2.append(["HN-01", "BD-1", 5, "2026-02-03"])
    path2 = tmp_path / "ket_qua_sua.xlsx"
    wb2.save(path2)
    again = import_results(session, path=path2, actor="coordinator")
    assert (again.corrected, again.passed, again.failed) == (2, 1, 1)
    statuses = dict(
        session.execute(
            select(Certificate.officer_id, Certificate.status).order_by(Certificate.id)
        ).all()
    )
    assert sorted(s.value for s in statuses.values()) == ["revoked", "valid", "valid"]
    assert _count(session, Result) == 3
    assert len(world.certificates(officer_code="BD-2", status=CertificateStatus.revoked)) == 1
