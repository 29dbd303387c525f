"""``tldops training ...``: courses, curriculum, classes, enrolment, attendance, results,
certificates, gaps, the class plan, imports, reports and the Moodle sync.

A coordinator's day::

    tldops training course add IT-BASIC "Tin học văn phòng cơ bản" --category office_basics \\
        --validity 36
    tldops training curriculum add IT-BASIC --audience full_time
    tldops training class add HN-2026-01 --course IT-BASIC --unit HN --start 2026-03-02 \\
        --end 2026-03-04 --capacity 30 --place "Hội trường LĐLĐ Hà Nội"
    tldops training enrol HN-2026-01 HN-001 HN-002
    tldops training attend HN-2026-01 1 HN-001 HN-002
    tldops training import results ket_qua.xlsx
    tldops training status --unit HN          # officers_trained per unit, missing people named
    tldops training gaps --unit HN --expiring 90d
    tldops training report --unit HN --xlsx bc.xlsx --pdf bc.pdf
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import requests
import typer
from rich.table import Table

from inventory.config import TIMEZONE
from inventory.errors import OpsError
from inventory.models import Unit
from inventory.runtime import cli_session, console, current_actor
from inventory.service import InventoryService
from training_lms.enums import Audience, CertificateStatus, ClassStatus, CourseCategory
from training_lms.indicators import OfficersTrained
from training_lms.planning import (
    apply_plan,
    expiring_certificates,
    gap_lines,
    parse_days,
    plan_classes,
)
from training_lms.reports import build_report, met_text, percent, write_pdf, write_xlsx
from training_lms.service import TrainingService
from training_lms.status import training_tally

app = typer.Typer(
    help="Đào tạo, bồi dưỡng tin học / IT training: courses, classes, certificates, targets.",
    no_args_is_help=True,
)
course_app = typer.Typer(help="Khóa học / courses.", no_args_is_help=True)
curriculum_app = typer.Typer(
    help="Chương trình bắt buộc / the required curriculum.", no_args_is_help=True
)
class_app = typer.Typer(help="Lớp học / classes.", no_args_is_help=True)
import_app = typer.Typer(help="Nhập dữ liệu từ CSV/XLSX / imports.", no_args_is_help=True)
app.add_typer(course_app, name="course")
app.add_typer(curriculum_app, name="curriculum")
app.add_typer(class_app, name="class")
app.add_typer(import_app, name="import")

UnitOpt = Annotated[str | None, typer.Option("--unit", "-u", help="unit code (default: the root)")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="judge certificates on this day (default today)")
]


def parse_day(value: str) -> date:
    """ISO (2026-03-02) or Vietnamese dd/mm/yyyy (02/03/2026).

    >>> parse_day("02/03/2026")
    datetime.date(2026, 3, 2)
    """
    text = value.strip()
    try:
        if "/" in text:
            d, m, y = (int(p) for p in text.split("/"))
            return date(y, m, d)
        return date.fromisoformat(text)
    except ValueError as exc:
        raise OpsError(
            f"Ngày không hợp lệ: {value!r} / bad date {value!r}",
            hint="write 2026-03-02 or 02/03/2026",
        ) from exc


def _today(as_of: str | None) -> date:
    return parse_day(as_of) if as_of else datetime.now(TIMEZONE).date()


def _unit(session: object, code: str | None) -> Unit:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    svc = InventoryService(session)
    return svc.unit(code) if code else svc.root()


def _svc(session: object) -> TrainingService:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    return TrainingService(session, actor=current_actor())


# -- courses -----------------------------------------------------------------------------------
@course_app.command("add")
def course_add(
    code: str,
    title: str,
    category: Annotated[CourseCategory, typer.Option(help="what the course teaches")],
    validity: Annotated[
        int | None, typer.Option(help="months a certificate counts (omit: never expires)")
    ] = None,
    pass_mark: Annotated[float, typer.Option(help="lowest passing score")] = 5.0,
    max_score: Annotated[float, typer.Option(help="top of the scale")] = 10.0,
    title_en: Annotated[str | None, typer.Option()] = None,
    moodle_id: Annotated[int | None, typer.Option(help="course id on the Moodle site")] = None,
) -> None:
    """Add a course."""
    with cli_session() as session:
        c = _svc(session).create_course(
            code=code,
            title=title,
            category=category,
            validity_months=validity,
            pass_mark=pass_mark,
            max_score=max_score,
            title_en=title_en,
            moodle_course_id=moodle_id,
        )
        console.print(f"khóa học / course {c.code} — {c.title}")


@course_app.command("set")
def course_set(
    code: str,
    title: Annotated[str | None, typer.Option()] = None,
    validity: Annotated[int | None, typer.Option()] = None,
    pass_mark: Annotated[float | None, typer.Option()] = None,
    moodle_id: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Change a course (existing certificates keep their expiry)."""
    with cli_session() as session:
        _svc(session).update_course(
            code,
            title=title,
            validity_months=validity,
            pass_mark=pass_mark,
            moodle_course_id=moodle_id,
        )
    console.print(f"{code} updated")


@course_app.command("list")
def course_list() -> None:
    """List courses."""
    with cli_session() as session:
        t = Table("mã / code", "tên / title", "loại / category", "hiệu lực / validity", "điểm đạt")
        for c in _svc(session).courses():
            t.add_row(
                c.code,
                c.title,
                c.category.value,
                f"{c.validity_months} tháng" if c.validity_months else "không hết hạn",
                f"{c.pass_mark:g}/{c.max_score:g}",
            )
        console.print(t)


# -- curriculum --------------------------------------------------------------------------------
@curriculum_app.command("add")
def curriculum_add(
    course: str,
    audience: Annotated[Audience, typer.Option(help="full_time or it_staff")] = Audience.full_time,
) -> None:
    """Make a course required for an audience."""
    with cli_session() as session:
        _svc(session).require(course_code=course, audience=audience)
    console.print(f"{course} bắt buộc cho / required for {audience.value}")


@curriculum_app.command("remove")
def curriculum_remove(
    course: str,
    audience: Annotated[Audience, typer.Option()] = Audience.full_time,
) -> None:
    """Drop a course from the required curriculum."""
    with cli_session() as session:
        _svc(session).unrequire(course_code=course, audience=audience)
    console.print(f"{course} không còn bắt buộc / no longer required for {audience.value}")


@curriculum_app.command("load")
def curriculum_load(
    path: Annotated[
        Path | None, typer.Argument(help="a catalogue YAML (default: the built-in standard)")
    ] = None,
) -> None:
    """Load the standard course catalogue and required curriculum (idempotent)."""
    from training_lms.catalogue import BUILTIN, load_catalogue

    with cli_session() as session:
        s = load_catalogue(_svc(session), path=path or BUILTIN)
    console.print(
        f"khóa học / courses: {s.courses_created} mới / created, {s.courses_kept} giữ nguyên / "
        f"kept; {s.rules_added} quy định bắt buộc / rules added"
    )


@curriculum_app.command("list")
def curriculum_list() -> None:
    """Show the required curriculum."""
    with cli_session() as session:
        t = Table("khóa / course", "tên / title", "đối tượng / audience")
        for course, audience in _svc(session).curriculum():
            t.add_row(course.code, course.title, audience.value)
        console.print(t)


# -- classes -----------------------------------------------------------------------------------
@class_app.command("add")
def class_add(
    code: str,
    course: Annotated[str, typer.Option(help="course code")],
    unit: Annotated[str, typer.Option(help="organising unit code")],
    start: Annotated[str, typer.Option(help="first day (2026-03-02 or 02/03/2026)")],
    end: Annotated[str, typer.Option(help="last day")],
    capacity: Annotated[int, typer.Option(help="seats")],
    place: Annotated[str | None, typer.Option(help="venue")] = None,
    online: Annotated[
        str | None, typer.Option(help="online conference link or room reference")
    ] = None,
    trainer: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Open a class (one session per day from start to end)."""
    with cli_session() as session:
        c = _svc(session).create_class(
            code=code,
            course_code=course,
            unit_code=unit,
            starts_on=parse_day(start),
            ends_on=parse_day(end),
            capacity=capacity,
            place=place,
            online_ref=online,
            trainer=trainer,
        )
        console.print(f"lớp / class {c.code}: {c.course.code}, {c.capacity} chỗ / seats")


@class_app.command("list")
def class_list(unit: UnitOpt = None) -> None:
    """List classes organised in a subtree."""
    with cli_session() as session:
        t = Table(
            "mã / code", "khóa / course", "đơn vị / unit", "ngày / dates", "chỗ", "trạng thái"
        )
        for c in _svc(session).classes(unit_code=unit):
            t.add_row(
                c.code,
                c.course.code,
                c.unit.code,
                f"{c.starts_on:%d/%m/%Y}–{c.ends_on:%d/%m/%Y}",
                str(c.capacity),
                c.status.value,
            )
        console.print(t)


@class_app.command("show")
def class_show(code: str) -> None:
    """Show a class: sessions, seats, waiting list and results."""
    with cli_session() as session:
        svc = _svc(session)
        c = svc.training_class(code)
        console.print(
            f"[bold]{c.code}[/] {c.course.code} — {c.course.title}\n"
            f"{c.starts_on:%d/%m/%Y}–{c.ends_on:%d/%m/%Y}, {c.place or c.online_ref or '—'}, "
            f"giảng viên / trainer: {c.trainer or '—'}, {c.status.value}",
            highlight=False,
        )
        results = {r.officer_id: r for r in svc.results(class_code=code)}
        t = Table("cán bộ / officer", "họ tên / name", "trạng thái", "điểm / score")
        for e in svc.enrolments(code):
            r = results.get(e.officer_id)
            score = "—" if r is None or r.score is None else f"{r.score:g}"
            verdict = "" if r is None else (" đạt" if r.passed else " không đạt")
            t.add_row(e.officer.code, e.officer.full_name, e.status.value, score + verdict)
        console.print(t)


@class_app.command("status")
def class_status(code: str, status: ClassStatus) -> None:
    """Mark a class finished or cancelled."""
    with cli_session() as session:
        _svc(session).set_class_status(code, status)
    console.print(f"{code}: {status.value}")


@class_app.command("capacity")
def class_capacity(code: str, seats: int) -> None:
    """Change the number of seats; new seats go to the waiting list in order."""
    with cli_session() as session:
        promoted = _svc(session).set_capacity(class_code=code, capacity=seats)
        for e in promoted:
            console.print(f"{e.officer.code}: waiting → enrolled")


# -- enrolment, attendance, results ------------------------------------------------------------
@app.command("enrol")
def enrol(class_code: str, officers: list[str]) -> None:
    """Enrol officers; when the class is full they join the waiting list."""
    with cli_session() as session:
        svc = _svc(session)
        for code in officers:
            e = svc.enrol(class_code=class_code, officer_code=code)
            console.print(f"{code}: {e.status.value}")


@app.command("withdraw")
def withdraw(class_code: str, officer: str) -> None:
    """Withdraw an officer; the first on the waiting list takes the seat."""
    with cli_session() as session:
        promoted = _svc(session).withdraw(class_code=class_code, officer_code=officer)
        console.print(f"{officer}: withdrawn")
        if promoted is not None:
            console.print(f"{promoted.officer.code}: waiting → enrolled")


@app.command("attend")
def attend(
    class_code: str,
    session_number: int,
    officers: list[str],
    absent: Annotated[bool, typer.Option("--absent", help="mark them absent")] = False,
) -> None:
    """Take attendance for one session."""
    with cli_session() as session:
        svc = _svc(session)
        for code in officers:
            svc.record_attendance(
                class_code=class_code,
                session_number=session_number,
                officer_code=code,
                present=not absent,
            )
    console.print(f"{len(officers)} {'vắng / absent' if absent else 'có mặt / present'}")


@app.command("result")
def result(
    class_code: str,
    officer: str,
    score: float,
    on: Annotated[str | None, typer.Option("--date", help="exam day (default: last day)")] = None,
) -> None:
    """Record (or correct) a score; a pass issues a certificate, a corrected fail revokes it."""
    with cli_session() as session:
        svc = _svc(session)
        r = svc.record_result(
            class_code=class_code,
            officer_code=officer,
            score=score,
            taken_on=parse_day(on) if on else None,
        )
        certs = svc.certificates(officer_code=officer, status=CertificateStatus.valid)
        verdict = "đạt / passed" if r.passed else "không đạt / failed"
        console.print(f"{officer}: {score:g} — {verdict}")
        for c in certs:
            if r.passed and c.result_id == r.id:
                console.print(
                    f"chứng chỉ / certificate {c.number}, mã xác thực {c.verification_code}"
                )


@app.command("certs")
def certs(
    officer: Annotated[str | None, typer.Option(help="officer code")] = None,
    unit: UnitOpt = None,
    status: Annotated[CertificateStatus | None, typer.Option()] = None,
    verify: Annotated[str | None, typer.Option(help="check a verification code")] = None,
    revoke: Annotated[str | None, typer.Option(help="certificate number to revoke")] = None,
    reason: Annotated[str | None, typer.Option(help="why (with --revoke)")] = None,
) -> None:
    """List, verify or revoke certificates."""
    with cli_session() as session:
        svc = _svc(session)
        if revoke:
            if not reason:
                raise OpsError("Cần lý do thu hồi / --reason is required with --revoke")
            svc.revoke(revoke, reason=reason)
            console.print(f"{revoke}: revoked")
            return
        rows = (
            [svc.verify(verify)]
            if verify
            else svc.certificates(officer_code=officer, unit_code=unit, status=status)
        )
        t = Table(
            "số / number",
            "cán bộ / officer",
            "khóa / course",
            "cấp / issued",
            "hết hạn / expires",
            "trạng thái",
            "mã xác thực",
        )
        for c in rows:
            t.add_row(
                c.number,
                f"{c.officer.code} {c.officer.full_name}",
                c.course.code,
                c.issued_on.strftime("%d/%m/%Y"),
                c.expires_on.strftime("%d/%m/%Y") if c.expires_on else "không hết hạn",
                c.status.value,
                c.verification_code,
            )
        console.print(t)


# -- targets, gaps, plan, report ---------------------------------------------------------------
@app.command("status")
def status(
    unit: UnitOpt = None,
    as_of: AsOfOpt = None,
    limit: Annotated[int, typer.Option(help="failing officers to list")] = 50,
) -> None:
    """The officers_trained indicator for a unit: per child unit, and who is missing what."""
    with cli_session() as session:
        top = _unit(session, unit)
        day = _today(as_of)
        res = OfficersTrained().from_tally(training_tally(session, unit=top, on=day))
        console.print(
            f"[bold]{res.title}[/]\n{top.code} {top.name}: {res.numerator}/{res.denominator} "
            f"({percent(res.value)}) — {met_text(res.met)} (chỉ tiêu 100 %)",
            highlight=False,
        )
        t = Table("đơn vị / unit", "tên", "đạt / trained", "tổng / total", "tỷ lệ", "kết quả")
        for c in res.children:
            t.add_row(
                c.unit_code,
                c.unit_name,
                str(c.numerator),
                str(c.denominator),
                percent(c.value),
                met_text(c.met),
            )
        console.print(t)
        f = Table("cán bộ / officer", "họ tên / name", "đơn vị / unit", "thiếu / missing")
        for fail in res.failing[:limit]:
            f.add_row(fail.code, fail.name, fail.unit_code, "; ".join(r.vi for r in fail.reasons))
        console.print(f)
        if len(res.failing) > limit:
            console.print(f"… {len(res.failing) - limit} more (--limit)")


@app.command("gaps")
def gaps(
    unit: UnitOpt = None,
    expiring: Annotated[
        str | None, typer.Option(help="list certificates expiring within e.g. 90d or 12w")
    ] = None,
    as_of: AsOfOpt = None,
) -> None:
    """Who must still be trained in what; with --expiring, whose certificates run out soon."""
    with cli_session() as session:
        top = _unit(session, unit)
        day = _today(as_of)
        if expiring:
            within = parse_days(expiring)
            t = Table(
                "số / number",
                "cán bộ / officer",
                "họ tên",
                "đơn vị",
                "khóa",
                "hết hạn",
                "còn (ngày)",
            )
            for e in expiring_certificates(session, unit=top, on=day, within=within):
                t.add_row(
                    e.number,
                    e.officer_code,
                    e.full_name,
                    e.unit_code,
                    e.course_code,
                    e.expires_on.strftime("%d/%m/%Y"),
                    str(e.days_left),
                )
            console.print(t)
            return
        lines = gap_lines(training_tally(session, unit=top, on=day))
        t = Table(
            "cán bộ / officer",
            "họ tên / name",
            "đơn vị / unit",
            "khóa / course",
            "tình trạng / state",
        )
        for g in lines:
            t.add_row(
                g.officer_code,
                g.full_name,
                g.unit_code,
                g.course_code,
                "chưa học / missing" if g.kind == "missing" else "hết hạn / expired",
            )
        console.print(t)
        console.print(f"{len(lines)} lượt cần đào tạo / course-seats to train")


@app.command("plan")
def plan(
    by: Annotated[str, typer.Option(help="reach 100 % by this day")],
    unit: UnitOpt = None,
    capacity: Annotated[int, typer.Option(help="seats per class")] = 30,
    days: Annotated[int, typer.Option(help="days per class (1–5)")] = 2,
    per_week: Annotated[int, typer.Option(help="classes a province can run per week")] = 1,
    as_of: AsOfOpt = None,
    create: Annotated[
        bool, typer.Option("--create", help="create the classes and enrol the officers")
    ] = False,
) -> None:
    """Propose classes per province, capacity-bounded, to reach 100 % by a date."""
    with cli_session() as session:
        top = _unit(session, unit)
        p = plan_classes(
            session,
            unit=top,
            on=_today(as_of),
            by=parse_day(by),
            capacity=capacity,
            days_per_class=days,
            per_week=per_week,
        )
        t = Table("lớp / class", "tỉnh / province", "khóa / course", "từ", "đến", "học viên")
        for c in p.classes:
            t.add_row(
                c.code,
                c.group_code,
                c.course_code,
                c.starts_on.strftime("%d/%m/%Y"),
                c.ends_on.strftime("%d/%m/%Y"),
                f"{len(c.officers)}/{c.capacity}",
            )
        console.print(t)
        console.print(f"{len(p.classes)} lớp / classes, {p.seats} lượt học viên / seats")
        if create:
            created = apply_plan(_svc(session), p)
            console.print(f"đã tạo / created {len(created)} lớp / classes")


@app.command("report")
def report(
    unit: UnitOpt = None,
    xlsx: Annotated[Path | None, typer.Option(help="write the XLSX here")] = None,
    pdf: Annotated[Path | None, typer.Option(help="write the PDF here")] = None,
    expiring: Annotated[str, typer.Option(help="expiry window")] = "90d",
    as_of: AsOfOpt = None,
) -> None:
    """Write the Vietnamese training report (XLSX and/or PDF)."""
    if xlsx is None and pdf is None:
        raise OpsError("Cần --xlsx hoặc --pdf / give --xlsx and/or --pdf")
    with cli_session() as session:
        top = _unit(session, unit)
        with console.status("đang lập báo cáo / building the report"):
            r = build_report(session, unit=top, on=_today(as_of), expiring=parse_days(expiring))
            if xlsx:
                console.print(f"XLSX: {write_xlsx(r, xlsx)}")
            if pdf:
                console.print(f"PDF: {write_pdf(r, pdf)}")


# -- imports -----------------------------------------------------------------------------------
@import_app.command("results")
def import_results_cmd(path: Path) -> None:
    """Import a result sheet (class_code,officer_code,score,date); all rows or none."""
    from rich.progress import Progress

    from training_lms.transfer import import_results

    with cli_session() as session, Progress(console=console, transient=True) as bar:
        task = bar.add_task("ghi kết quả / recording results", total=None)
        s = import_results(
            session,
            path=path,
            actor=current_actor(),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"{s.rows} kết quả / results: {s.passed} đạt / passed, {s.failed} không đạt / failed, "
        f"{s.corrected} sửa / corrected, {s.certificates} chứng chỉ / certificates"
    )


@import_app.command("officers")
def import_officers_cmd(path: Path) -> None:
    """Import an officer list in the inventory's CSV/XLSX contract (delegates to the inventory
    importer: code,full_name,unit_code,position,full_time,email,phone)."""
    if importlib.util.find_spec("inventory.transfer") is None:
        raise OpsError(
            "Chưa có bộ nhập cán bộ của kho dữ liệu / the inventory officer importer is not "
            "installed",
            hint="use `tldops inventory import` when available",
        )
    transfer = importlib.import_module("inventory.transfer")
    with cli_session() as session:
        rep = transfer.import_file(session, kind="officers", path=path, actor=current_actor())
    console.print(
        f"cán bộ / officers: {rep.created} mới / created, {rep.updated} cập nhật / updated, "
        f"{rep.unchanged} không đổi / unchanged"
    )


# -- Moodle ------------------------------------------------------------------------------------
@app.command("moodle-sync")
def moodle_sync(
    url: Annotated[str, typer.Option(help="Moodle site URL", envvar="TLDOPS_MOODLE_URL")],
    course: Annotated[list[str] | None, typer.Option(help="only these course codes")] = None,
    timeout: Annotated[float, typer.Option(help="seconds per request")] = 10.0,
) -> None:
    """Pull course completions from Moodle and record them as results (token from
    TLDOPS_MOODLE_TOKEN, never a flag: flags end up in shell history)."""
    from training_lms.moodle import MoodleClient, sync_completions

    token = os.environ.get("TLDOPS_MOODLE_TOKEN", "")
    if not token:
        raise OpsError(
            "Thiếu mã truy cập Moodle / TLDOPS_MOODLE_TOKEN is not set",
            hint="create a web-service token in Moodle and export TLDOPS_MOODLE_TOKEN",
        )
    with requests.Session() as http, cli_session() as session:
        client = MoodleClient(base_url=url, token=token, http=http, timeout=timeout)
        with console.status("đang đồng bộ Moodle / syncing Moodle"):
            rep = sync_completions(
                session, client=client, course_codes=course, actor=current_actor()
            )
        t = Table("khóa / course", "moodle id", "ghi danh", "hoàn thành", "ghi mới", "không khớp")
        for c in rep.courses:
            t.add_row(
                c.course_code,
                str(c.moodle_course_id),
                str(c.enrolled),
                str(c.completed),
                str(c.recorded),
                ", ".join(c.unmatched) or "—",
            )
        console.print(t)
