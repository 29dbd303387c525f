"""Booking on both engines: invitees from units/subtrees, recurrence, conflicts, capacity."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.errors import NotFound
from inventory.models import AuditRecord
from inventory.security import Grant, Principal, Role
from tests.videoconf.conftest import (
    APP_SECRET,
    WEBHOOK_TOKEN,
    add_deployment,
    build_org,
    conf_service,
    fixed_clock,
)
from videoconf.errors import BookingConflict, CapacityExceeded, RecurrenceError
from videoconf.models import Conference, ConferenceStatus
from videoconf.recurrence import fmt_local, parse_local
from videoconf.service import BookingRequest, ConferenceService, SubtreeSelector

MON_8 = parse_local("01/03/2027 08:00")
MON_10 = parse_local("01/03/2027 10:00")
WEEKLY = "FREQ=WEEKLY;BYDAY=MO;COUNT=10"


def _nationwide(**over: object) -> BookingRequest:
    base: dict[str, object] = dict(
        title="Giao ban trực tuyến toàn quốc",
        host_code="CB000",
        start=MON_8,
        end=MON_10,
        subtrees=(SubtreeSelector("TLD", 2),),
        rrule=WEEKLY,
    )
    base.update(over)
    return BookingRequest(**base)  # type: ignore[arg-type]


@pytest.fixture
def svc(session: Session) -> ConferenceService:
    build_org(session)
    s = conf_service(session)
    add_deployment(s)
    return s


def test_nationwide_recurring_booking_invites_contacts(
    svc: ConferenceService, session: Session
) -> None:
    res = svc.book(_nationwide())
    session.commit()
    assert res.occurrences == 10
    assert res.units_without_contacts == ("KT",)
    conf = svc.conference(res.conference_id)
    invited = {i.officer.code: (i.unit.code, i.required, i.moderator) for i in conf.invitations}
    # HN's meeting contact only (not its leader), HP's two meeting contacts, CT's leader
    # (fallback), the host as moderator; no level-3 district.
    assert invited == {
        "CB000": ("TLD", True, True),
        "CB001": ("HN", True, False),
        "CB002": ("HCM", True, False),
        "CB003": ("DN", True, False),
        "CB004": ("HP", True, False),
        "CB041": ("HP", True, False),
        "CB005": ("CT", True, False),
    }
    assert conf.expected_load == 7
    occ = svc.occurrences(conf)
    assert [fmt_local(o.start) for o in occ[:3]] == [
        "01/03/2027 08:00",
        "08/03/2027 08:00",
        "15/03/2027 08:00",
    ]
    assert conf.series_end_at == occ[-1].end
    assert len(conf.room_name) >= 32 and conf.room_name.isascii()
    assert (
        session.scalar(
            select(AuditRecord).where(
                AuditRecord.entity == "conference", AuditRecord.entity_key == conf.uid
            )
        )
        is not None
    )


def test_host_double_booked_is_refused_with_occurrence(
    svc: ConferenceService, session: Session
) -> None:
    svc.book(_nationwide())
    # A one-off at 09:00 on the 4th Monday: the host is busy then.
    with pytest.raises(BookingConflict) as err:
        svc.book(
            BookingRequest(
                title="Họp riêng",
                host_code="CB000",
                start=parse_local("22/03/2027 09:00"),
                end=parse_local("22/03/2027 09:30"),
                officers=("CB999",),
            )
        )
    (detail,) = err.value.conflicts
    assert detail.kind == "host"
    assert "CB000" in detail.subject
    assert detail.occurrence_local == "22/03/2027 09:00"
    assert "Giao ban" in detail.other_conference
    assert "xung đột" in err.value.message and "conflict" in err.value.message
    # Right after the meeting ends is fine.
    svc.book(
        BookingRequest(
            title="Họp sau",
            host_code="CB000",
            start=parse_local("22/03/2027 10:00"),
            end=parse_local("22/03/2027 11:00"),
        )
    )


def test_required_participant_double_booked_but_optional_is_not(svc: ConferenceService) -> None:
    svc.book(_nationwide())
    clash = dict(
        title="Họp Hà Nội",
        host_code="CB999",
        start=parse_local("08/03/2027 09:30"),
        end=parse_local("08/03/2027 11:00"),
    )
    with pytest.raises(BookingConflict) as err:
        svc.book(BookingRequest(units=("HN",), **clash))  # type: ignore[arg-type]
    kinds = {(c.kind, c.subject.split()[0], c.occurrence_local) for c in err.value.conflicts}
    assert kinds == {("participant", "CB001", "08/03/2027 09:30")}
    res = svc.book(BookingRequest(optional_units=("HN",), **clash))  # type: ignore[arg-type]
    assert res.invitees == 2


def test_room_double_booked(svc: ConferenceService) -> None:
    svc.add_room(code="P301", name="Phòng họp 301", unit_code="TLD", capacity=40)
    svc.book(BookingRequest(title="A", host_code="CB000", start=MON_8, end=MON_10, rooms=("P301",)))
    with pytest.raises(BookingConflict) as err:
        svc.book(
            BookingRequest(
                title="B",
                host_code="CB999",
                start=parse_local("01/03/2027 09:00"),
                end=parse_local("01/03/2027 12:00"),
                rooms=("P301",),
            )
        )
    assert [(c.kind, c.subject) for c in err.value.conflicts] == [("room", "P301 Phòng họp 301")]


def test_capacity_refused_then_auto_placed(svc: ConferenceService, session: Session) -> None:
    add_deployment(svc, name="small", max_participants=4)
    add_deployment(
        svc, name="edge", max_participants=50, bandwidth_mbps=5, per_participant_kbps=2000
    )
    # 7 invitees cannot fit "small" and auto-place is off: refused with the numbers.
    with pytest.raises(CapacityExceeded) as err:
        svc.book(_nationwide(deployment="small", auto_place=False))
    short = err.value.shortfalls[0]
    assert (short.deployment, short.load, short.limit, short.reason) == (
        "small",
        7,
        4,
        "participants",
    )
    # Bandwidth: 7 × 2 Mbps = 14 Mbps > 5 Mbps on "edge".
    with pytest.raises(CapacityExceeded) as err2:
        svc.book(_nationwide(deployment="edge", auto_place=False))
    assert err2.value.shortfalls[0].reason == "bandwidth"
    res = svc.book(_nationwide(deployment="small", auto_place=True))
    assert res.deployment == "hq" and res.placed_elsewhere
    session.commit()


def test_overlapping_load_counts_concurrency(svc: ConferenceService) -> None:
    add_deployment(svc, name="mid", max_participants=8)
    a = dict(host_code="CB999", deployment="mid", auto_place=False)
    # A (2 people) and B (1) run back to back; C (6) overlaps both.
    svc.book(
        BookingRequest(
            title="A",
            start=parse_local("01/03/2027 08:00"),
            end=parse_local("01/03/2027 09:00"),
            units=("HN",),
            **a,
        )
    )  # type: ignore[arg-type]
    svc.book(
        BookingRequest(
            title="B",
            start=parse_local("01/03/2027 09:00"),
            end=parse_local("01/03/2027 10:00"),
            units=("HCM",),
            host_code="CB002",
            deployment="mid",
            auto_place=False,
        )
    )
    # 6 + peak 2 = 8 ≤ 8 fits, because A and B never run at the same time (a plain sum of
    # everything overlapping C would be 9 and refuse it).
    svc.book(
        _nationwide(
            host_code="CB000",
            subtrees=(),
            units=("DN", "HP", "CT"),
            officers=("CB011",),
            rrule=None,
            deployment="mid",
            auto_place=False,
            start=parse_local("01/03/2027 08:30"),
            end=parse_local("01/03/2027 09:30"),
        )
    )
    # D (1) inside A and C: 2 + 6 + 1 = 9 > 8.
    with pytest.raises(CapacityExceeded):
        svc.book(
            BookingRequest(
                title="D",
                host_code="CB100",
                start=parse_local("01/03/2027 08:45"),
                end=parse_local("01/03/2027 08:50"),
                deployment="mid",
                auto_place=False,
            )
        )


def test_reschedule_series_and_one_occurrence(svc: ConferenceService, session: Session) -> None:
    res = svc.book(_nationwide())
    conf = svc.conference(res.conference_id)
    # Moving the series by one hour does not conflict with itself.
    svc.reschedule(conf.id, start=MON_8 + timedelta(hours=1), end=MON_10 + timedelta(hours=1))
    assert conf.sequence == 1
    assert fmt_local(svc.occurrences(conf)[1].start) == "08/03/2027 09:00"
    # Edit one occurrence only: the 15/03 sitting moves to Tuesday afternoon.
    rid = parse_local("15/03/2027 09:00")
    svc.reschedule(
        conf.id,
        occurrence=rid,
        start=parse_local("16/03/2027 14:00"),
        end=parse_local("16/03/2027 16:00"),
    )
    occ = {fmt_local(o.recurrence_id): fmt_local(o.start) for o in svc.occurrences(conf)}
    assert occ["15/03/2027 09:00"] == "16/03/2027 14:00"
    assert occ["22/03/2027 09:00"] == "22/03/2027 09:00"
    assert conf.sequence == 2
    # Cancel another occurrence: it disappears, the rest stay.
    svc.cancel(conf.id, occurrence=parse_local("22/03/2027 09:00"))
    starts = [fmt_local(o.start) for o in svc.occurrences(conf)]
    assert "22/03/2027 09:00" not in starts and len(starts) == 9
    assert conf.sequence == 3
    # A one-off on the moved slot now clashes; the vacated Monday slot is free.
    with pytest.raises(BookingConflict):
        svc.book(
            BookingRequest(
                title="X",
                host_code="CB000",
                start=parse_local("16/03/2027 15:00"),
                end=parse_local("16/03/2027 15:30"),
            )
        )
    svc.book(
        BookingRequest(
            title="Y",
            host_code="CB000",
            start=parse_local("15/03/2027 09:00"),
            end=parse_local("15/03/2027 10:00"),
        )
    )
    svc.cancel(conf.id)
    session.commit()
    assert session.get(Conference, conf.id).status is ConferenceStatus.cancelled  # type: ignore[union-attr]
    # A cancelled conference no longer blocks anyone.
    svc.book(
        _nationwide(
            title="Thay thế", start=MON_8 + timedelta(hours=2), end=MON_10 + timedelta(hours=2)
        )
    )


def test_bad_input_is_refused(svc: ConferenceService) -> None:
    with pytest.raises(RecurrenceError):
        svc.book(_nationwide(rrule="FREQ=HOURLY;COUNT=3"))
    with pytest.raises(RecurrenceError):
        svc.book(_nationwide(end=MON_8))
    with pytest.raises(RecurrenceError):
        svc.book(
            _nationwide(
                start=fixed_clock() - timedelta(days=1), end=fixed_clock() - timedelta(hours=23)
            )
        )


def test_host_needs_meeting_host_grant(session: Session) -> None:
    build_org(session)
    hn = conf_service(session)
    add_deployment(hn)
    tld_path = hn.inventory.unit("TLD").path
    hn_path = hn.inventory.unit("HN").path
    p = Principal(name="host.hn", grants=(Grant(Role.meeting_host, hn_path),))
    scoped = ConferenceService(session, actor="host.hn", box=hn.box, clock=fixed_clock, principal=p)
    with pytest.raises(NotFound):
        scoped.book(_nationwide())  # host CB000 works at TLĐ, outside HN: as if missing
    assert tld_path != hn_path
    res = scoped.book(
        BookingRequest(title="Họp HN", host_code="CB001", start=MON_8, end=MON_10, units=("HN-BD",))
    )
    assert res.invitees == 2


def test_secrets_are_sealed_at_rest(svc: ConferenceService, session: Session) -> None:
    res = svc.book(_nationwide(password="mat-khau-bi-mat"))
    session.commit()
    conf = svc.conference(res.conference_id)
    dep = conf.deployment
    assert APP_SECRET.encode() not in dep.secret_blob
    assert WEBHOOK_TOKEN.encode() not in dep.secret_blob
    assert conf.password_blob is not None and b"mat-khau" not in conf.password_blob
    assert svc.password(conf) == "mat-khau-bi-mat"
    assert svc.deployment_secrets(dep).app_secret == APP_SECRET
    dumped = " ".join(str((a.before, a.after)) for a in session.scalars(select(AuditRecord)))
    assert "mat-khau" not in dumped and APP_SECRET not in dumped and WEBHOOK_TOKEN not in dumped
    assert "mat-khau" not in svc.detail(conf).model_dump_json()
