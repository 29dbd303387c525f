"""Gaps, expiring certificates, the class plan and the Vietnamese XLSX/PDF reports."""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from inventory.service import InventoryService
from training_lms.errors import PlanImpossible, TrainingError
from training_lms.planning import (
    apply_plan,
    expiring_certificates,
    parse_days,
    plan_classes,
    training_gaps,
)
from training_lms.reports import build_report, percent, write_pdf, write_xlsx
from training_lms.service import TrainingService


def _pass(svc: TrainingService, code: str, course: str, on: date, officers: list[str]) -> None:
    svc.create_class(
        code=code, course_code=course, unit_code="HN", starts_on=on, ends_on=on, capacity=50
    )
    for o in officers:
        svc.enrol(class_code=code, officer_code=o)
        svc.record_result(class_code=code, officer_code=o, score=8)


def test_gaps_and_expiring(session: Session, world: TrainingService) -> None:
    _pass(world, "G1", "IT-BASIC", date(2024, 5, 6), ["HN-1", "BD-1"])
    _pass(world, "G2", "DOC-MGMT", date(2025, 5, 6), ["HN-1"])
    hn = InventoryService(session).unit("HN")
    lines = training_gaps(session, unit=hn, on=date(2026, 3, 1))
    got = [(g.officer_code, g.course_code, g.kind) for g in lines]
    assert got == [
        ("HN-IT", "DOC-MGMT", "missing"),
        ("HN-IT", "IT-BASIC", "missing"),
        ("HN-IT", "NET-SEC", "missing"),
        ("BD-1", "DOC-MGMT", "missing"),
        ("BD-2", "DOC-MGMT", "missing"),
        ("BD-2", "IT-BASIC", "missing"),
    ]
    assert lines[0].unit_name == "LĐLĐ thành phố Hà Nội"
    # IT-BASIC from 06/05/2024 runs 24 months: it stops counting on 06/05/2026.
    soon = expiring_certificates(session, unit=hn, on=date(2026, 3, 1), within=parse_days("90d"))
    assert [(e.officer_code, e.expires_on, e.days_left) for e in soon] == [
        ("HN-1", date(2026, 5, 6), 66),
        ("BD-1", date(2026, 5, 6), 66),
    ]
    assert expiring_certificates(session, unit=hn, on=date(2026, 3, 1), within=timedelta(30)) == []
    after = training_gaps(session, unit=hn, on=date(2026, 5, 6))
    assert ("HN-1", "IT-BASIC", "expired") in [
        (g.officer_code, g.course_code, g.kind) for g in after
    ]
    assert parse_days("12w") == timedelta(days=84)
    with pytest.raises(TrainingError):
        parse_days("soon")


def test_plan_per_province_capacity_bounded(session: Session, world: TrainingService) -> None:
    inv = InventoryService(session)
    for i in range(5):
        inv.create_officer(code=f"HCM-{i + 10}", full_name=f"Cán bộ {i}", unit_code="HCM")
    tld = inv.unit("TLD")
    plan = plan_classes(session, unit=tld, on=date(2026, 3, 1), by=date(2026, 4, 30), capacity=4)
    by_key: dict[tuple[str, str], list[int]] = {}
    for c in plan.classes:
        by_key.setdefault((c.group_code, c.course_code), []).append(len(c.officers))
        assert c.starts_on.weekday() == 0 and c.ends_on == c.starts_on + timedelta(days=1)
        assert len(c.officers) <= 4
    # HN subtree: 4 counted officers need IT-BASIC and DOC-MGMT, HN-IT also NET-SEC.
    # HCM: HCM-1 and five new officers → 6 → two classes of a course.
    assert by_key == {
        ("HN", "DOC-MGMT"): [4],
        ("HN", "IT-BASIC"): [4],
        ("HN", "NET-SEC"): [1],
        ("HCM", "DOC-MGMT"): [4, 2],
        ("HCM", "IT-BASIC"): [4, 2],
    }
    # A province runs one class a week: HCM's four classes take four different Mondays.
    hcm_weeks = sorted(c.starts_on for c in plan.classes if c.group_code == "HCM")
    assert len(set(hcm_weeks)) == 4 and hcm_weeks[0] == date(2026, 3, 2)
    assert plan.seats == 4 + 4 + 1 + 6 + 6
    with pytest.raises(PlanImpossible) as exc:
        plan_classes(session, unit=tld, on=date(2026, 3, 1), by=date(2026, 3, 20), capacity=4)
    assert "HCM" in exc.value.message
    # Two classes a week per province fit the same work into half the weeks.
    fast = plan_classes(
        session, unit=tld, on=date(2026, 3, 1), by=date(2026, 3, 20), capacity=4, per_week=2
    )
    hcm_fast = sorted(c.starts_on for c in fast.classes if c.group_code == "HCM")
    assert hcm_fast == [date(2026, 3, 2)] * 2 + [date(2026, 3, 9)] * 2
    assert len({c.code for c in fast.classes}) == len(fast.classes)
    # Creating the plan's classes enrols everyone; re-planning then finds nothing missing
    # once results are in.
    created = apply_plan(world, plan)
    # Everyone now holds a seat in a planned class: nothing left to plan.
    assert (
        plan_classes(
            session, unit=tld, on=date(2026, 3, 1), by=date(2026, 4, 30), capacity=4
        ).classes
        == []
    )
    world.clock.now = datetime(2026, 5, 1, tzinfo=UTC)  # type: ignore[attr-defined]
    with pytest.raises(TrainingError):  # results only after the exam day
        world.record_result(
            class_code=plan.classes[-1].code,
            officer_code="HCM-1",
            score=9,
            taken_on=date(2026, 5, 2),
        )
    assert len(created) == len(plan.classes)
    for c in plan.classes:
        for o in c.officers:
            world.record_result(class_code=c.code, officer_code=o, score=9)
    session.flush()
    assert (
        plan_classes(
            session, unit=tld, on=date(2026, 6, 1), by=date(2026, 9, 30), capacity=4
        ).classes
        == []
    )
    # Renewals: certificates expiring before the target date are planned again.
    renew = plan_classes(session, unit=tld, on=date(2026, 6, 1), by=date(2027, 6, 30), capacity=4)
    assert {c.course_code for c in renew.classes} == {"NET-SEC"}


def test_reports_xlsx_and_pdf_in_vietnamese(
    session: Session, world: TrainingService, tmp_path: Path
) -> None:
    _pass(world, "R1", "IT-BASIC", date(2025, 12, 1), ["HN-1", "BD-1"])
    _pass(world, "R2", "DOC-MGMT", date(2025, 12, 8), ["HN-1", "BD-1"])
    tld = InventoryService(session).unit("TLD")
    report = build_report(session, unit=tld, on=date(2026, 3, 1), expiring=timedelta(days=700))
    assert (report.indicator.numerator, report.indicator.denominator) == (2, 5)
    xlsx = write_xlsx(report, tmp_path / "bao_cao.xlsx")
    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["Tổng hợp", "Cán bộ chưa đạt", "Chứng chỉ sắp hết hạn"]
    summary = [list(r) for r in wb["Tổng hợp"].iter_rows(min_row=6, values_only=True)]
    assert summary == [
        ["TLD", "Tổng Liên đoàn Lao động Việt Nam", 2, 5, "40,0 %", "Chưa đạt"],
        ["HCM", "LĐLĐ Thành phố Hồ Chí Minh", 0, 1, "0,0 %", "Chưa đạt"],
        ["HN", "LĐLĐ thành phố Hà Nội", 2, 4, "50,0 %", "Chưa đạt"],
    ]
    gaps = list(wb["Cán bộ chưa đạt"].iter_rows(min_row=2, values_only=True))
    assert ("Đỗ Văn Cường", "IT-BASIC", "chưa học") in [(r[2], r[4], r[6]) for r in gaps]
    assert len(list(wb["Chứng chỉ sắp hết hạn"].iter_rows(min_row=2))) == 2
    pdf = write_pdf(report, tmp_path / "bao_cao.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    # The TrueType font is embedded (a subset named ...+DejaVuSans), not a base-14 font that
    # has no Vietnamese glyphs.
    assert b"+DejaVuSans" in data and b"/FontFile2" in data
    # The text is really there: reportlab writes subset glyph codes, so look for the
    # ToUnicode map of "Đ" (U+0110) in the decompressed streams.
    streams = []
    for chunk in data.split(b"stream")[1:]:
        body = chunk.split(b"endstream")[0].strip(b"\r\n")
        try:
            streams.append(zlib.decompress(body))
        except zlib.error:
            continue
    assert any(b"<0110>" in s for s in streams)
    assert percent(None) == "—"
