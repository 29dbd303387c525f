"""The standard catalogue (curriculum as data): loading, idempotency, strict checking."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from inventory.errors import ValidationFailed
from training_lms.catalogue import load_catalogue, read_catalogue
from training_lms.enums import Audience, CourseCategory
from training_lms.service import TrainingService


def test_builtin_catalogue_loads_once(session: Session) -> None:
    svc = TrainingService(session, actor="coordinator")
    entries = read_catalogue()
    # Every category of the plan has a course, the advanced one for IT staff only.
    assert {e.category for e in entries} == set(CourseCategory)
    first = load_catalogue(svc)
    assert (first.courses_created, first.courses_kept) == (8, 0)
    required = {(c.code, a) for c, a in svc.curriculum()}
    assert ("TH-VP", Audience.full_time) in required
    assert ("CNTT-NC", Audience.it_staff) in required
    assert first.rules_added == len(required) == 4
    svc.update_course("PM-QLVB", validity_months=48)  # a local decision the reload keeps
    again = load_catalogue(svc)
    assert (again.courses_created, again.courses_kept, again.rules_added) == (0, 8, 0)
    assert svc.course("PM-QLVB").validity_months == 48


def test_bad_catalogue_names_every_problem(session: Session, tmp_path: Path) -> None:
    bad = tmp_path / "ct.yaml"
    bad.write_text(
        "courses:\n"
        "  - {code: A, title: Khóa A, category: office_basics, audience: [everyone]}\n"
        "  - {code: A, title: Khóa A lặp, category: nope}\n"
        "  - {code: B, title: '', category: eis, validity_months: -3}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailed) as exc:
        load_catalogue(TrainingService(session), path=bad)
    assert [(p.row, p.column) for p in exc.value.problems] == [
        (1, "audience"),
        (2, "code"),
        (2, "category"),
        (3, "title"),
        (3, "validity_months"),
    ]
