"""Invitations and reminders through a real aiosmtpd server; .ics parsed back with icalendar."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from icalendar import Calendar
from sqlalchemy import Engine

from inventory.db import session_scope
from inventory.mail import Mailer, MailError, SmtpSettings
from tests.videoconf.conftest import (
    APP_SECRET,
    SmtpPeer,
    add_deployment,
    build_org,
    conf_service,
)
from videoconf.jobs import send_due_reminders
from videoconf.recurrence import LOCAL_TZ, parse_local
from videoconf.service import BookingRequest, SubtreeSelector

MON_8 = parse_local("01/03/2027 08:00")
MON_10 = parse_local("01/03/2027 10:00")


def _subject(msg: EmailMessage) -> str:
    return str(msg["Subject"])


def _calendar(msg: EmailMessage) -> tuple[Calendar, str]:
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, "exactly one .ics attachment"
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return Calendar.from_ical(payload), parts[0].get_param("method") or ""


def _events(cal: Calendar) -> list:  # type: ignore[type-arg]
    return [c for c in cal.walk() if c.name == "VEVENT"]


def _claims(url: str) -> dict:  # type: ignore[type-arg]
    token = parse_qs(urlparse(url).query)["jwt"][0]
    return jwt.decode(
        token,
        APP_SECRET,
        algorithms=["HS256"],
        audience="jitsi",
        issuer="tldops",
        options={"verify_nbf": False, "verify_exp": False},
    )


def _book(engine: Engine) -> int:
    with session_scope(engine) as session:
        build_org(session)
        svc = conf_service(session)
        add_deployment(svc)
        res = svc.book(
            BookingRequest(
                title="Giao ban trực tuyến toàn quốc",
                host_code="CB000",
                start=MON_8,
                end=MON_10,
                subtrees=(SubtreeSelector("TLD", 2),),
                rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=10",
                password="mat-khau-123",
                lobby=True,
            )
        )
        return res.conference_id


def test_every_contact_gets_a_valid_ics(engine: Engine, smtp: SmtpPeer) -> None:
    cid = _book(engine)
    with session_scope(engine) as session:
        svc = conf_service(session)
        assert svc.send_invitations(cid, mailer=smtp.mailer()) == 7
        conf = svc.conference(cid)
        uid, room = conf.uid, conf.room_name
        last_end = svc.occurrences(conf)[-1].end
    got = {m["To"]: m for m in smtp.messages}
    assert set(got) == {
        "chu@congdoan.vn",
        "hn@congdoan.vn",
        "hcm@congdoan.vn",
        "dn@congdoan.vn",
        "hp@congdoan.vn",
        "hai.hp@congdoan.vn",
        "ct@congdoan.vn",
    }
    for address, msg in got.items():
        assert _subject(msg).startswith("Thư mời hội nghị trực tuyến: Giao ban trực tuyến")
        cal, method_param = _calendar(msg)
        assert method_param == "REQUEST" and str(cal["METHOD"]) == "REQUEST"
        (tz,) = [c for c in cal.walk() if c.name == "VTIMEZONE"]
        assert str(tz["TZID"]) == "Asia/Ho_Chi_Minh"
        (ev,) = _events(cal)
        assert str(ev["UID"]) == uid and int(ev["SEQUENCE"]) == 0
        start = ev.decoded("DTSTART")
        assert start == MON_8 and start.tzinfo is not None
        assert start.astimezone(LOCAL_TZ).hour == 8
        assert ev["DTSTART"].params["TZID"] == "Asia/Ho_Chi_Minh"
        rrule = ev["RRULE"]
        assert rrule["FREQ"] == ["WEEKLY"] and rrule["COUNT"] == [10]
        url = str(ev["URL"])
        assert url.startswith(f"https://hq.meet.test/{room}?jwt=")
        assert url in str(ev["LOCATION"]) and url in str(ev["DESCRIPTION"])
        assert "mat-khau-123" in str(ev["DESCRIPTION"])
        assert str(ev["ATTENDEE"]) == f"mailto:{address}"
        body = msg.get_body(preferencelist=("plain",))
        assert url in body.get_content() and "Kính gửi đồng chí" in body.get_content()
        claims = _claims(url)
        assert claims["room"] == room
        assert claims["context"]["user"]["email"] == address
        assert claims["context"]["user"]["moderator"] is (address == "chu@congdoan.vn")
        # Valid for the whole series, and not much longer.
        exp = datetime.fromtimestamp(claims["exp"], UTC)
        assert last_end < exp <= last_end + timedelta(hours=1)


def test_reschedule_bumps_sequence_and_cancel_sends_cancel(engine: Engine, smtp: SmtpPeer) -> None:
    cid = _book(engine)
    with session_scope(engine) as session:
        svc = conf_service(session)
        svc.send_invitations(cid, mailer=smtp.mailer())
        uid = svc.conference(cid).uid
        moved_from = parse_local("08/03/2027 08:00")
        svc.reschedule(
            cid,
            occurrence=moved_from,
            start=parse_local("09/03/2027 14:00"),
            end=parse_local("09/03/2027 16:00"),
        )
        svc.send_invitations(cid, mailer=smtp.mailer())
    updates = smtp.messages[7:14]
    assert len(updates) == 7
    cal, _ = _calendar(updates[0])
    master, child = _events(cal)
    assert _subject(updates[0]).startswith("Cập nhật lịch hội nghị trực tuyến")
    assert str(master["UID"]) == str(child["UID"]) == uid
    assert int(master["SEQUENCE"]) == int(child["SEQUENCE"]) == 1
    assert child.decoded("RECURRENCE-ID") == moved_from
    assert child.decoded("DTSTART") == parse_local("09/03/2027 14:00")

    with session_scope(engine) as session:
        svc = conf_service(session)
        dropped = parse_local("15/03/2027 08:00")
        svc.cancel(cid, occurrence=dropped)
        svc.send_invitations(cid, mailer=smtp.mailer(), cancel_recurrence_id=dropped)
    one = smtp.messages[14]
    cal, method = _calendar(one)
    assert method == "CANCEL" and str(cal["METHOD"]) == "CANCEL"
    (ev,) = _events(cal)
    assert ev.decoded("RECURRENCE-ID") == dropped and str(ev["STATUS"]) == "CANCELLED"
    assert int(ev["SEQUENCE"]) == 2 and str(ev["UID"]) == uid

    with session_scope(engine) as session:
        svc = conf_service(session)
        svc.send_invitations(cid, mailer=smtp.mailer())  # REQUEST again lists the EXDATE
        svc.cancel(cid)
        svc.send_invitations(cid, mailer=smtp.mailer())
    cal, _ = _calendar(smtp.messages[21])
    (master, _child) = _events(cal)
    assert dropped in master.exdates
    final = smtp.messages[-1]
    assert len(smtp.messages) == 35
    cal, method = _calendar(final)
    (ev,) = _events(cal)
    assert method == "CANCEL" and str(ev["STATUS"]) == "CANCELLED" and int(ev["SEQUENCE"]) == 3
    assert _subject(final).startswith("Hủy hội nghị trực tuyến")


def test_reminders_sent_once_each(engine: Engine, smtp: SmtpPeer) -> None:
    cid = _book(engine)
    mailer = smtp.mailer()

    def at(text: str) -> int:
        when = parse_local(text)
        return send_due_reminders(engine, clock=lambda: when, mailer=mailer)

    assert at("27/02/2027 07:00") == 0  # 25 h before: nothing due
    # SMTP down when the 24 h reminder falls due: an error, nothing recorded, retried later.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = Mailer(SmtpSettings(host="127.0.0.1", port=sock.getsockname()[1], timeout=2))
    when = parse_local("28/02/2027 08:10")
    with pytest.raises(MailError, match="retried on the next run"):
        send_due_reminders(engine, clock=lambda: when, mailer=dead)
    assert at("28/02/2027 08:30") == 7  # 23.5 h before: the 24 h reminder
    assert at("28/02/2027 09:00") == 0  # already sent
    assert at("01/03/2027 07:50") == 7  # 10 min before: the 15 min reminder
    assert at("01/03/2027 07:55") == 0
    assert at("01/03/2027 08:05") == 0  # started: no more reminders for this sitting
    # Late job: first run for the second Monday happens 5 min before it, so only the
    # 15 min reminder goes out, once.
    assert at("08/03/2027 07:55") == 7
    assert at("08/03/2027 07:56") == 0
    first = smtp.messages[0]
    assert _subject(first).startswith("Nhắc lịch họp trực tuyến: Giao ban")
    text = first.get_body(preferencelist=("plain",)).get_content()
    assert "01/03/2027 08:00" in text and "?jwt=" in text and "24 giờ" in text
    assert "15 phút" in smtp.messages[7].get_body(preferencelist=("plain",)).get_content()
    with session_scope(engine) as session:
        conf_service(session).cancel(cid)
    assert at("14/03/2027 09:00") == 0  # cancelled: no reminders
