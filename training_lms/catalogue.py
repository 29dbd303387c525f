"""The standard course catalogue and required curriculum as data (``curriculum.yaml``).

::

    summary = load_catalogue(svc)                      # the built-in catalogue
    summary = load_catalogue(svc, path=Path("ct.yaml"))  # a federation's own file
    summary.courses_created, summary.rules_added

Loading is idempotent: courses that exist are left unchanged (their validity and pass mark
may have been tuned since), missing ones are created, and missing audience rules are added.
The file is checked completely first; any problem → ``ValidationFailed``, nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from inventory.errors import Problem, ValidationFailed
from training_lms.enums import Audience, CourseCategory
from training_lms.models import Course
from training_lms.service import TrainingService

BUILTIN = Path(__file__).with_name("curriculum.yaml")


@dataclass(frozen=True)
class CatalogueEntry:
    code: str
    title: str
    title_en: str | None
    category: CourseCategory
    validity_months: int | None
    pass_mark: float
    audiences: tuple[Audience, ...]


@dataclass(frozen=True)
class CatalogueSummary:
    courses_created: int
    courses_kept: int
    rules_added: int


def read_catalogue(path: Path = BUILTIN) -> list[CatalogueEntry]:
    """Parse and check a catalogue file (every problem reported at once)."""
    name = path.name
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationFailed(
            [Problem(name, None, None, None, f"không đọc được tệp: {exc}", f"unreadable: {exc}")]
        ) from exc
    items = data.get("courses") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValidationFailed(
            [Problem(name, None, "courses", None, "thiếu danh sách courses", "no courses list")]
        )
    problems: list[Problem] = []
    out: list[CatalogueEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(items, start=1):

        def bad(col: str, value: object, vi: str, en: str, i: int = i) -> None:
            problems.append(Problem(name, i, col, None if value is None else str(value), vi, en))

        if not isinstance(item, dict):
            bad(
                "courses",
                item,
                "mỗi khóa học là một bảng khóa: giá trị",
                "each course is a mapping",
            )
            continue
        code, title = str(item.get("code") or "").strip(), str(item.get("title") or "").strip()
        if not code:
            bad("code", None, "thiếu mã khóa học", "missing course code")
        elif code in seen:
            bad("code", code, "mã khóa học bị lặp", "duplicate course code")
        seen.add(code)
        if not title:
            bad("title", None, "thiếu tên khóa học", "missing title")
        try:
            category = CourseCategory(str(item.get("category")))
        except ValueError:
            bad(
                "category",
                item.get("category"),
                "loại khóa học không hợp lệ",
                f"category must be one of {', '.join(c.value for c in CourseCategory)}",
            )
            continue
        validity = item.get("validity_months")
        if validity is not None and (not isinstance(validity, int) or validity <= 0):
            bad("validity_months", validity, "phải là số tháng dương", "must be positive months")
            continue
        pass_mark = item.get("pass_mark", 5)
        if not isinstance(pass_mark, int | float) or not 0 < pass_mark <= 10:
            bad("pass_mark", pass_mark, "điểm đạt từ 0 đến 10", "pass mark must be within (0, 10]")
            continue
        audiences: list[Audience] = []
        for a in item.get("audience") or []:
            try:
                audiences.append(Audience(str(a)))
            except ValueError:
                bad("audience", a, "đối tượng là full_time hoặc it_staff", "full_time or it_staff")
        out.append(
            CatalogueEntry(
                code=code,
                title=title,
                title_en=item.get("title_en"),
                category=category,
                validity_months=validity,
                pass_mark=float(pass_mark),
                audiences=tuple(audiences),
            )
        )
    if problems:
        raise ValidationFailed(problems)
    return out


def load_catalogue(svc: TrainingService, *, path: Path = BUILTIN) -> CatalogueSummary:
    """Create the catalogue's missing courses and curriculum rules (the caller commits)."""
    entries = read_catalogue(path)
    existing = set(svc.session.scalars(select(Course.code)))
    created = kept = rules = 0
    before = {(c.code, a) for c, a in svc.curriculum()}
    for e in entries:
        if e.code in existing:
            kept += 1
        else:
            svc.create_course(
                code=e.code,
                title=e.title,
                title_en=e.title_en,
                category=e.category,
                validity_months=e.validity_months,
                pass_mark=e.pass_mark,
            )
            created += 1
        for a in e.audiences:
            if (e.code, a) not in before:
                svc.require(course_code=e.code, audience=a)
                rules += 1
    return CatalogueSummary(courses_created=created, courses_kept=kept, rules_added=rules)
