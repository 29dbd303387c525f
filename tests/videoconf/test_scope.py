"""Conference writes and views stay inside the caller's grants; per-request work is bounded.

* Host, invited units/subtrees/officers/moderators and rooms of a booking must be where the caller
  may act; one outside the caller's sight is answered exactly like a missing one (NotFound).
* A conflict with a conference the caller cannot see says only that a conflict exists at that
  time: no title, no host, no unit.
* Invitee lists and attendance name only units and officers in the caller's subtrees; the rest is
  counted.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from inventory.errors import NotFound, PermissionDenied
from inventory.security import Grant, Principal, Role
from tests.videoconf.conftest import add_deployment, build_org, conf_service, fixed_clock
from videoconf.errors import BookingConflict, RecurrenceError, VideoconfError
from videoconf.recurrence import parse_local
from videoconf.schemas import BookingIn
from videoconf.service import BookingRequest, ConferenceService, SubtreeSelector

MON_8 = parse_local("01/03/2027 08:00")
MON_10 = parse_local("01/03/2027 10:00")


@pytest.fixture
def admin(session: Session) -> ConferenceService:
    build_org(session)
    s = conf_service(session)
    add_deployment(s, max_participants=1000)
    s.add_room(code="R-HN", name="Phòng họp HN", unit_code="HN", capacity=30)
    s.add_room(code="R-HCM", name="Phòng họp HCM", unit_code="HCM", capacity=30)
    return s


def _as(admin: ConferenceService, name: str, *grants: tuple[Role, str]) -> ConferenceService:
    p = Principal(
        name=name, grants=tuple(Grant(r, admin.inventory.unit(c).path) for r, c in grants)
    )
    return ConferenceService(
        admin.session, actor=name, box=admin.box, clock=fixed_clock, principal=p
    )


def _req(**over: object) -> BookingRequest:
    base: dict[str, object] = dict(title="Họp HCM", host_code="CB002", start=MON_8, end=MON_10)
    base.update(over)
    return BookingRequest(**base)  # type: ignore[arg-type]


def test_booking_references_outside_the_callers_subtree_are_not_found(
    admin: ConferenceService,
) -> None:
    hcm = _as(admin, "host.hcm", (Role.meeting_host, "HCM"))
    with pytest.raises(NotFound) as missing:
        hcm.book(_req(host_code="NOBODY"))
    with pytest.raises(NotFound) as other:
        hcm.book(_req(host_code="CB001"))  # HN's officer
    assert other.value.message == missing.value.message.replace("NOBODY", "CB001")
    assert "Trần Văn HN" not in str(other.value)
    for bad in (
        _req(units=("HN",)),
        _req(optional_units=("HN-BD",)),
        _req(subtrees=(SubtreeSelector("TLD", 2),)),
        _req(officers=("CB001",)),
        _req(optional_officers=("CB100",)),
        _req(moderators=("CB000",)),
        _req(rooms=("R-HN",)),
    ):
        with pytest.raises(NotFound):
            hcm.book(bad)
    res = hcm.book(_req(units=("HCM",), rooms=("R-HCM",)))
    assert res.invitees == 1  # the host is HCM's meeting contact
    # Seen but not theirs to host from: a refusal.
    seer = _as(admin, "host.hcm+view", (Role.meeting_host, "HCM"), (Role.viewer, "TLD"))
    with pytest.raises(PermissionDenied):
        seer.book(
            _req(
                host_code="CB001",
                start=parse_local("02/03/2027 08:00"),
                end=parse_local("02/03/2027 09:00"),
            )
        )


def test_conflict_with_an_unseen_conference_reveals_nothing(admin: ConferenceService) -> None:
    secret = admin.book(
        BookingRequest(
            title="Họp kín Ban Thường vụ",
            host_code="CB000",
            start=MON_8,
            end=MON_10,
            officers=("CB002",),
        )
    )
    hcm = _as(admin, "host.hcm", (Role.meeting_host, "HCM"))
    with pytest.raises(BookingConflict) as err:
        hcm.book(_req())
    text = str(err.value)
    assert "01/03/2027 08:00" in text
    for leak in ("Họp kín", "CB000", "Nguyễn Văn Chủ", "TLD", f"#{secret.conference_id}"):
        assert leak not in text, leak
    # The national admin sees what it clashes with.
    with pytest.raises(BookingConflict) as seen:
        admin.book(_req())
    assert "Họp kín Ban Thường vụ" in str(seen.value)


def test_invitees_and_attendance_outside_the_subtree_are_counted_not_named(
    admin: ConferenceService,
) -> None:
    res = admin.book(_req(units=("HCM", "HN", "DN")))
    viewer = _as(admin, "viewer.hcm", (Role.viewer, "HCM"))
    d = viewer.detail(viewer.visible_conference(res.conference_id))
    assert {i.unit_code for i in d.invitations} == {"HCM"}
    assert d.hidden_invitations == 2
    assert [p.unit_code for p in d.participants] == ["HCM"] and d.hidden_participants == 2
    assert "Trần Văn HN" not in d.model_dump_json()
    rep = viewer.attendance_report(res.conference_id)
    assert [u.unit_code for u in rep.units] == ["HCM"] and rep.hidden_units == 2
    full = admin.detail(admin.conference(res.conference_id))
    assert len(full.invitations) == 3 and full.hidden_invitations == 0


def test_another_provinces_conference_is_not_found(admin: ConferenceService) -> None:
    res = admin.book(_req(host_code="CB001", title="Họp HN", units=("HN",)))
    hcm = _as(admin, "host.hcm", (Role.meeting_host, "HCM"))
    with pytest.raises(NotFound) as missing:
        hcm.visible_conference(99999)
    for call in (
        lambda: hcm.visible_conference(res.conference_id),
        lambda: hcm.cancel(res.conference_id),
        lambda: hcm.reschedule(
            res.conference_id,
            start=parse_local("02/03/2027 08:00"),
            end=parse_local("02/03/2027 09:00"),
        ),
        lambda: hcm.attendance_report(res.conference_id),
    ):
        with pytest.raises(NotFound) as other:
            call()
        assert other.value.message == missing.value.message.replace("99999", str(res.conference_id))


# -- bounds --------------------------------------------------------------------------------------
def test_booking_bounds(admin: ConferenceService) -> None:
    many = tuple(SubtreeSelector("TLD", 2) for _ in range(201))
    with pytest.raises(VideoconfError, match="200"):
        admin.book(_req(subtrees=many))
    with pytest.raises(VideoconfError, match="200"):
        admin.book(_req(units=("HCM",) * 150, officers=("CB002",) * 60))
    # Twice a day for 600 sittings: refused, not silently cut short.
    with pytest.raises(RecurrenceError, match="520"):
        admin.book(
            _req(
                end=parse_local("01/03/2027 09:00"),
                rrule="FREQ=DAILY;BYHOUR=8,20;COUNT=600",
            )
        )
    with pytest.raises(RecurrenceError):
        admin.book(_req(end=parse_local("02/03/2027 09:00")))  # 25 h
    with pytest.raises(VideoconfError, match="10000"):
        admin.add_room(code="HUGE", name="Sân vận động", unit_code="HCM", capacity=2**40)


def test_booking_schema_bounds() -> None:
    base = {"title": "x", "host": "CB000", "start": "2027-03-01T08:00", "end": "2027-03-01T09:00"}
    with pytest.raises(ValueError, match="200"):
        BookingIn.model_validate(base | {"subtrees": ["TLD:2"] * 201})
    with pytest.raises(ValueError, match="200"):
        BookingIn.model_validate(base | {"units": ["HN"] * 120, "optional_units": ["HCM"] * 81})
    BookingIn.model_validate(base | {"subtrees": ["TLD:2"] * 200})
