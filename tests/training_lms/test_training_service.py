"""Courses, classes, waiting lists, results, certificates and the ``officers_trained``
indicator on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import AuditRecord
from inventory.service import InventoryService
from inventory.targets import IndicatorRegistry, compute_report, default_registry
from training_lms.enums import Audience, CertificateStatus, ClassStatus, EnrolmentStatus
from training_lms.errors import NotEnrolled, TrainingError
from training_lms.indicators import OfficersTrained
from training_lms.service import TrainingService


def run_class(
    svc: TrainingService,
    *,
    code: str,
    course: str,
    unit: str,
    on: date,
    scores: dict[str, float],
    capacity: int = 30,
) -> None:
    svc.create_class(
        code=code,
        course_code=course,
        unit_code=unit,
        starts_on=on,
        ends_on=on + timedelta(days=1),
        capacity=capacity,
        place="Hội trường LĐLĐ",
        trainer="ThS. Nguyễn Hải",
    )
    for officer in scores:
        svc.enrol(class_code=code, officer_code=officer)
    for officer, score in scores.items():
        svc.record_result(class_code=code, officer_code=officer, score=score)


def trained(session: Session, unit: str, when: datetime) -> dict[str, object]:
    reg = IndicatorRegistry()
    reg.register(OfficersTrained())
    res = compute_report(session, unit_code=unit, registry=reg, as_of=when).indicator(
        "officers_trained"
    )
    return {
        "n": (res.numerator, res.denominator),
        "met": res.met,
        "children": {c.unit_code: (c.numerator, c.denominator) for c in res.children},
        "failing": {f.code: sorted(r.code for r in f.reasons) for f in res.failing},
        "units": {f.code: f.unit_code for f in res.failing},
    }


def test_indicator_counts_scope_part_time_and_it_staff(
    session: Session, world: TrainingService, clock: Callable[[], datetime]
) -> None:
    run_class(
        world,
        code="HN-01",
        course="IT-BASIC",
        unit="HN",
        on=date(2026, 1, 5),
        scores={"HN-1": 8, "HN-IT": 9, "HN-PT": 9, "BD-1": 6, "BD-2": 4.5, "CS-1": 7},
    )
    run_class(
        world,
        code="HN-02",
        course="DOC-MGMT",
        unit="HN",
        on=date(2026, 1, 12),
        scores={"HN-1": 7, "HN-IT": 7, "BD-1": 5},
    )
    session.flush()
    got = trained(session, "TLD", clock())
    # Counted: HN-1, HN-IT, BD-1, BD-2 (HN subtree, levels ≤ 3) and HCM-1; not the part-timer,
    # not the grassroots officer, not the inactive one.
    assert got["n"] == (2, 5)
    assert got["met"] is False
    assert got["children"] == {"HCM": (0, 1), "HN": (2, 4)}
    assert got["failing"] == {
        "BD-2": ["missing_course:DOC-MGMT", "missing_course:IT-BASIC"],
        "HCM-1": ["missing_course:DOC-MGMT", "missing_course:IT-BASIC"],
        # Core IT staff also need the advanced course.
        "HN-IT": ["missing_course:NET-SEC"],
    }
    assert got["units"]["BD-2"] == "HN-BD"
    # Per child of HN: HN-BD is 1 of 2; the HN subtree's total includes HN's own officers.
    hn = trained(session, "HN", clock())
    assert hn["n"] == (2, 4)
    assert hn["children"] == {"HN-BD": (1, 2)}
    # A level-3 unit's only child is grassroots: outside the scope, nothing to count.
    bd = trained(session, "HN-BD", clock())
    assert bd["children"] == {"HN-BD-CS1": (0, 0)}


def test_expiry_and_retake_renews(
    session: Session, world: TrainingService, clock: Callable[[], datetime]
) -> None:
    run_class(
        world,
        code="C1",
        course="IT-BASIC",
        unit="HN",
        on=date(2024, 1, 8),
        scores={"BD-1": 8},
    )
    run_class(
        world, code="C2", course="DOC-MGMT", unit="HN", on=date(2024, 1, 15), scores={"BD-1": 8}
    )
    (cert,) = world.certificates(officer_code="BD-1", status=CertificateStatus.valid)[:1]
    assert cert.issued_on == date(2024, 1, 9)
    assert cert.expires_on == date(2026, 1, 9)  # 24 months
    session.flush()
    # Valid the day before the expiry date, not on it.
    assert trained(session, "HN-BD", datetime(2026, 1, 8, 5, tzinfo=UTC))["n"] == (1, 2)
    after = trained(session, "HN-BD", datetime(2026, 1, 9, 5, tzinfo=UTC))
    assert after["n"] == (0, 2)
    assert after["failing"]["BD-1"] == ["expired_course:IT-BASIC"]
    soon = world.certificates(
        unit_code="HN", expiring_within=timedelta(days=90), as_of=date(2025, 11, 1)
    )
    assert [c.number for c in soon] == [cert.number]
    # Retake: a new certificate supersedes the expired one.
    run_class(
        world, code="C3", course="IT-BASIC", unit="HN", on=date(2026, 2, 2), scores={"BD-1": 6}
    )
    session.flush()
    certs = {c.number: c.status for c in world.certificates(officer_code="BD-1")}
    assert certs[cert.number] is CertificateStatus.superseded
    assert list(certs.values()).count(CertificateStatus.valid) == 2
    assert trained(session, "HN-BD", clock())["n"] == (1, 2)


def test_correction_revokes_and_restores_previous(
    session: Session, world: TrainingService, clock: Callable[[], datetime]
) -> None:
    run_class(
        world, code="A", course="DOC-MGMT", unit="HN", on=date(2025, 6, 2), scores={"HN-1": 6}
    )
    run_class(
        world, code="B", course="IT-BASIC", unit="HN", on=date(2025, 6, 9), scores={"HN-1": 8}
    )
    run_class(
        world, code="B2", course="IT-BASIC", unit="HN", on=date(2026, 2, 2), scores={"HN-1": 9}
    )
    old, new = world.certificates(officer_code="HN-1")[1:]
    assert (old.status, new.status) == (CertificateStatus.superseded, CertificateStatus.valid)
    assert new.supersedes_id == old.id
    # The second sheet had a typo: 9 was really 3. The new certificate is revoked, the old one
    # (still within its validity) counts again.
    world.record_result(class_code="B2", officer_code="HN-1", score=3)
    session.flush()
    session.refresh(old)
    session.refresh(new)
    assert new.status is CertificateStatus.revoked
    assert new.revoke_reason and "3" in new.revoke_reason
    assert old.status is CertificateStatus.valid
    assert trained(session, "HN", clock())["failing"].get("HN-1") is None
    # Correcting the first class down too leaves HN-1 missing the course altogether.
    world.record_result(class_code="B", officer_code="HN-1", score=4)
    session.flush()
    assert trained(session, "HN", clock())["failing"]["HN-1"] == ["missing_course:IT-BASIC"]
    # Corrected back up: a fresh certificate is issued.
    world.record_result(class_code="B2", officer_code="HN-1", score=7)
    assert world.certificates(officer_code="HN-1", status=CertificateStatus.valid)[-1].number
    actions = session.scalars(
        select(AuditRecord.action).where(AuditRecord.entity == "training_certificate")
    ).all()
    assert actions.count("revoke") == 2 and "restore" in actions
    corrected = session.scalars(
        select(AuditRecord.entity_key).where(AuditRecord.action == "correct")
    ).all()
    assert corrected == ["B2/HN-1", "B/HN-1", "B2/HN-1"]
    world.set_class_status("B2", ClassStatus.cancelled)
    with pytest.raises(TrainingError):
        world.record_result(class_code="B2", officer_code="HN-1", score=8)


def test_officer_moving_takes_certificates_along(
    session: Session, world: TrainingService, clock: Callable[[], datetime]
) -> None:
    run_class(
        world, code="M1", course="IT-BASIC", unit="HN", on=date(2026, 1, 5), scores={"BD-1": 9}
    )
    run_class(
        world, code="M2", course="DOC-MGMT", unit="HN", on=date(2026, 1, 6), scores={"BD-1": 9}
    )
    session.flush()
    assert trained(session, "TLD", clock())["children"] == {"HCM": (0, 1), "HN": (1, 4)}
    InventoryService(session, actor="hr").update_officer("BD-1", unit_code="HCM")
    session.flush()
    got = trained(session, "TLD", clock())
    assert got["children"] == {"HCM": (1, 2), "HN": (0, 3)}
    # Moving to a grassroots union takes the officer out of the target altogether.
    InventoryService(session, actor="hr").update_officer("BD-1", unit_code="HN-BD-CS1")
    session.flush()
    assert trained(session, "TLD", clock())["n"] == (0, 4)


def test_waiting_list_promotion_and_seats(session: Session, world: TrainingService) -> None:
    world.create_class(
        code="W",
        course_code="IT-BASIC",
        unit_code="HN",
        starts_on=date(2026, 4, 1),
        ends_on=date(2026, 4, 2),
        capacity=2,
        online_ref="https://meet.congdoan.vn/it-basic-w",
    )
    statuses = [
        world.enrol(class_code="W", officer_code=o).status
        for o in ("HN-1", "BD-1", "BD-2", "HN-IT")
    ]
    assert statuses == ["enrolled", "enrolled", "waiting", "waiting"]
    with pytest.raises(NotEnrolled):
        world.record_result(class_code="W", officer_code="BD-2", score=9)
    promoted = world.withdraw(class_code="W", officer_code="BD-1")
    assert promoted is not None and promoted.officer.code == "BD-2"
    # Withdrawing from the waiting list frees no seat.
    assert world.withdraw(class_code="W", officer_code="HN-IT") is None
    # Re-enrolling after withdrawing joins the end of the queue.
    assert world.enrol(class_code="W", officer_code="BD-1").status is EnrolmentStatus.waiting
    assert [p.officer.code for p in world.set_capacity(class_code="W", capacity=3)] == ["BD-1"]
    with pytest.raises(TrainingError):
        world.set_capacity(class_code="W", capacity=1)
    # Attendance per session, only for seated officers.
    assert [s.number for s in world.sessions("W")] == [1, 2]
    world.record_attendance(class_code="W", session_number=1, officer_code="HN-1")
    world.record_attendance(class_code="W", session_number=2, officer_code="HN-1", present=False)
    assert world.attendance_rate(class_code="W", officer_code="HN-1") == 0.5
    with pytest.raises(NotEnrolled):
        world.record_attendance(class_code="W", session_number=1, officer_code="HN-IT")


def test_entry_point_registers_indicator(session: Session, world: TrainingService) -> None:
    ids = [i.id for i in default_registry().all()]
    assert "officers_trained" in ids
    report = compute_report(session, unit_code="HN")
    ind = report.indicator("officers_trained")
    assert (ind.numerator, ind.denominator, ind.target) == (0, 4, 1.0)
    assert ind.title.startswith("Tỷ lệ cán bộ công đoàn chuyên trách")
    assert report.to_dict()["indicators"][-1]["failing"][0]["reasons"][0]["vi"]


def test_indicator_query_count_does_not_grow(
    session: Session, world: TrainingService, clock: Callable[[], datetime]
) -> None:
    """Set-based: the same number of statements for 7 officers or 67, 5 units or 15."""
    from sqlalchemy import event

    from inventory.enums import UnitKind
    from inventory.models import Unit

    def statements() -> int:
        seen: list[str] = []
        engine = session.get_bind()

        def count(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(engine, "before_cursor_execute", count)
        try:
            root = session.scalars(select(Unit).where(Unit.code == "TLD")).one()
            seen.clear()
            OfficersTrained().evaluate(session, root, as_of=clock())
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    session.flush()
    small = statements()
    inv = InventoryService(session, actor="t")
    for p in range(10):
        inv.create_unit(
            code=f"P{p}",
            name=f"LĐLĐ tỉnh {p}",
            level=2,
            kind=UnitKind.province_federation,
            parent_code="TLD",
        )
        for o in range(6):
            inv.create_officer(code=f"P{p}-{o}", full_name=f"Cán bộ {p}.{o}", unit_code=f"P{p}")
    session.flush()
    assert statements() == small <= 5


def test_empty_curriculum_is_not_100_percent(
    session: Session, world: TrainingService, clock: Callable[[], datetime]
) -> None:
    world.unrequire(course_code="IT-BASIC", audience=Audience.full_time)
    world.unrequire(course_code="DOC-MGMT", audience=Audience.full_time)
    session.flush()
    # Only IT staff have a requirement left; everyone else has nothing to miss.
    got = trained(session, "TLD", clock())
    assert got["n"] == (4, 5) and got["failing"] == {"HN-IT": ["missing_course:NET-SEC"]}
    world.unrequire(course_code="NET-SEC", audience=Audience.it_staff)
    session.flush()
    got = trained(session, "TLD", clock())
    assert got["n"] == (0, 5) and got["met"] is False
    assert len(got["failing"]) == 5
    assert all(v == ["no_curriculum"] for v in got["failing"].values())


def test_waiting_list_matches_a_fifo_model(session: Session, world: TrainingService) -> None:
    """Random enrol/withdraw/capacity changes against a plain-Python model of the class."""
    import random

    inv = InventoryService(session, actor="t")
    people = [f"Q{i}" for i in range(12)]
    for code in people:
        inv.create_officer(code=code, full_name=f"Học viên {code}", unit_code="HN")
    world.create_class(
        code="Q",
        course_code="IT-BASIC",
        unit_code="HN",
        starts_on=date(2026, 5, 4),
        ends_on=date(2026, 5, 4),
        capacity=3,
    )
    rng = random.Random(20261125)
    capacity, seated, queue = 3, [], []  # the model
    for step in range(80):
        op, who = rng.random(), rng.choice(people)
        if op < 0.55:
            world.enrol(class_code="Q", officer_code=who)
            if who not in seated and who not in queue:
                (seated if len(seated) < capacity else queue).append(who)
        elif op < 0.9:
            if who in seated or who in queue:
                world.withdraw(class_code="Q", officer_code=who)
                if who in seated:
                    seated.remove(who)
                    if queue:
                        seated.append(queue.pop(0))
                else:
                    queue.remove(who)
            else:
                with pytest.raises(NotEnrolled):
                    world.withdraw(class_code="Q", officer_code=who)
        else:
            new = rng.randint(len(seated), len(seated) + 2) or 1
            world.set_capacity(class_code="Q", capacity=new)
            capacity = new
            while queue and len(seated) < capacity:
                seated.append(queue.pop(0))
        got = world.enrolments("Q")
        assert sorted(
            e.officer.code for e in got if e.status is EnrolmentStatus.enrolled
        ) == sorted(seated), step
        assert [e.officer.code for e in got if e.status is EnrolmentStatus.waiting] == queue, step


def test_correcting_an_old_pass_revokes_its_superseded_certificate(
    session: Session, world: TrainingService, clock: Callable[[], datetime]
) -> None:
    run_class(
        world, code="O1", course="DOC-MGMT", unit="HN", on=date(2025, 3, 3), scores={"BD-2": 8}
    )
    run_class(
        world, code="O2", course="DOC-MGMT", unit="HN", on=date(2025, 9, 1), scores={"BD-2": 8}
    )
    world.record_result(class_code="O1", officer_code="BD-2", score=2)
    first, second = world.certificates(officer_code="BD-2")
    assert (first.status, second.status) == (CertificateStatus.revoked, CertificateStatus.valid)
    world.record_result(class_code="O2", officer_code="BD-2", score=2)
    session.flush()
    session.refresh(first)
    assert first.status is CertificateStatus.revoked  # not brought back
    got = trained(session, "HN-BD", clock())
    assert "missing_course:DOC-MGMT" in got["failing"]["BD-2"]
