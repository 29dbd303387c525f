"""RFC 5545 invitations built with ``icalendar``: one calendar per invitee (their own link).

    ics = build_ics(InviteEvent(...), method="REQUEST", stamp=now)
    Calendar.from_ical(ics)      # METHOD:REQUEST, VTIMEZONE Asia/Ho_Chi_Minh, VEVENT(s)

A series is one master VEVENT (RRULE, EXDATE) plus one VEVENT per moved occurrence (same UID,
RECURRENCE-ID = original start). ``method="CANCEL"`` cancels the series, or one occurrence when
``cancel_recurrence_id`` is given. SEQUENCE is the conference's sequence, bumped on every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal

from icalendar import Calendar, Event, Timezone, vCalAddress, vRecur, vText

from videoconf.recurrence import LOCAL_TZ, fmt_local, to_local

Method = Literal["REQUEST", "CANCEL"]


@dataclass(frozen=True)
class MovedOccurrence:
    recurrence_id: datetime
    start: datetime
    end: datetime


@dataclass(frozen=True)
class InviteEvent:
    """What one invitee's calendar says about the conference."""

    uid: str
    sequence: int
    title: str
    description: str
    start: datetime
    end: datetime
    rrule: str | None
    exdates: tuple[datetime, ...]
    moved: tuple[MovedOccurrence, ...]
    organizer_name: str
    organizer_email: str
    attendee_name: str
    attendee_email: str
    join_url: str
    location: str  # physical rooms, if any


@lru_cache(maxsize=1)
def _vtimezone() -> Timezone:
    """Built once: deriving the transitions from tzdata costs ~25 ms, per calendar that adds up
    to many seconds for a nationwide invitation run. The component is only read afterwards."""
    return Timezone.from_tzid(str(LOCAL_TZ))


def _event(ev: InviteEvent, *, stamp: datetime, start: datetime, end: datetime) -> Event:
    vevent = Event()
    vevent.add("uid", ev.uid)
    vevent.add("sequence", ev.sequence)
    vevent.add("dtstamp", stamp)
    vevent.add("dtstart", to_local(start))
    vevent.add("dtend", to_local(end))
    vevent.add("summary", ev.title)
    vevent.add("description", ev.description)
    # The join link is the place that matters; physical rooms follow it.
    location = ev.join_url if not ev.location else f"{ev.join_url} ; {ev.location}"
    vevent.add("location", location)
    vevent.add("url", ev.join_url)
    organizer = vCalAddress(f"mailto:{ev.organizer_email}")
    organizer.params["cn"] = vText(ev.organizer_name)
    vevent.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{ev.attendee_email}")
    attendee.params["cn"] = vText(ev.attendee_name)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = vText("NEEDS-ACTION")
    attendee.params["rsvp"] = vText("TRUE")
    vevent.add("attendee", attendee)
    return vevent


def build_ics(
    ev: InviteEvent,
    *,
    method: Method,
    stamp: datetime,
    cancel_recurrence_id: datetime | None = None,
) -> bytes:
    """The ``.ics`` bytes for one invitee.

    >>> cal = Calendar.from_ical(build_ics(ev, method="REQUEST", stamp=now))
    >>> cal["METHOD"]
    'REQUEST'
    """
    cal = Calendar()
    cal.add("prodid", "-//tldops//videoconf//VI")
    cal.add("version", "2.0")
    cal.add("method", method)
    cal.add_component(_vtimezone())
    if method == "CANCEL" and cancel_recurrence_id is not None:
        vevent = _event(
            ev,
            stamp=stamp,
            start=cancel_recurrence_id,
            end=cancel_recurrence_id + (ev.end - ev.start),
        )
        vevent.add("recurrence-id", to_local(cancel_recurrence_id))
        vevent.add("status", "CANCELLED")
        cal.add_component(vevent)
        return cal.to_ical()
    master = _event(ev, stamp=stamp, start=ev.start, end=ev.end)
    if ev.rrule:
        master.add("rrule", vRecur.from_ical(ev.rrule))
        for ex in ev.exdates:
            master.add("exdate", to_local(ex))
    master.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    cal.add_component(master)
    if method == "REQUEST":
        for moved in ev.moved:
            child = _event(ev, stamp=stamp, start=moved.start, end=moved.end)
            child.add("recurrence-id", to_local(moved.recurrence_id))
            child.add("status", "CONFIRMED")
            cal.add_component(child)
    return cal.to_ical()


def describe(
    *,
    title: str,
    host: str,
    when: str,
    join_url: str,
    password: str | None,
    lobby: bool,
    location: str,
    recurrence_note: str,
) -> str:
    """The Vietnamese body used in the e-mail and the iCalendar DESCRIPTION."""
    lines = [
        f"Kính mời đồng chí tham dự hội nghị trực tuyến: {title}",
        f"Thời gian (giờ Việt Nam): {when}",
    ]
    if recurrence_note:
        lines.append(f"Lịch lặp: {recurrence_note}")
    lines.append(f"Chủ trì: {host}")
    lines.append(f"Đường dẫn tham dự (riêng của đồng chí, không chia sẻ): {join_url}")
    if password:
        lines.append(f"Mật khẩu phòng họp: {password}")
    if lobby:
        lines.append("Phòng chờ: bật — chủ trì sẽ cho đồng chí vào phòng.")
    if location:
        lines.append(f"Điểm cầu / phòng họp: {location}")
    lines.append("")
    lines.append("Thư này được gửi tự động bởi hệ thống tldops.")
    return "\n".join(lines)


def when_text(start: datetime, end: datetime) -> str:
    """``08:00–10:00 ngày 01/03/2027`` style span in Vietnam time."""
    s, e = to_local(start), to_local(end)
    if s.date() == e.date():
        return f"{s:%H:%M}–{e:%H:%M} ngày {s:%d/%m/%Y}"
    return f"{fmt_local(start)} – {fmt_local(end)}"
