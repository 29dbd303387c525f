"""Occurrences of a (possibly recurring) conference, in UTC, from an RFC 5545 RRULE.

Rules are expanded in Asia/Ho_Chi_Minh wall-clock time (an 08:00 weekly briefing stays at 08:00
local whatever UTC says) and bounded by the booking horizon, so an open-ended rule still yields a
finite list::

    occ = expand(start=datetime(2027, 3, 1, 1, 0, tzinfo=UTC), end=..., rrule="FREQ=WEEKLY;COUNT=4")
    [o.start for o in occ]       # four Mondays, 01:00 UTC = 08:00 ICT

``exdates`` remove occurrences by their original start; ``overrides`` move one occurrence
(the iCalendar RECURRENCE-ID stays the original start).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr

from videoconf.errors import RecurrenceError

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# Recurrences are checked for conflicts and capacity, and tokens are valid, this far ahead.
BOOKING_HORIZON = timedelta(days=366)
MAX_OCCURRENCES = 520
_ALLOWED_FREQ = {DAILY, WEEKLY, MONTHLY, YEARLY}
_UNTIL = re.compile(r"UNTIL=([0-9TZ]+)", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Occurrence:
    """One sitting of a conference. ``recurrence_id`` is its original start (UTC)."""

    start: datetime
    end: datetime
    recurrence_id: datetime

    def overlaps(self, other: Occurrence) -> bool:
        return self.start < other.end and other.start < self.end


def to_local(value: datetime) -> datetime:
    return value.astimezone(LOCAL_TZ)


def fmt_local(value: datetime) -> str:
    """``dd/mm/yyyy HH:MM`` in Vietnam time, as users read dates.

    >>> fmt_local(datetime(2027, 3, 1, 1, 0, tzinfo=UTC))
    '01/03/2027 08:00'
    """
    return to_local(value).strftime("%d/%m/%Y %H:%M")


def parse_local(text: str) -> datetime:
    """Read a time typed by a user: ``dd/mm/yyyy HH:MM`` or ISO 8601; naive means Vietnam time.

    >>> parse_local("01/03/2027 08:00").isoformat()
    '2027-03-01T01:00:00+00:00'
    """
    raw = text.strip()
    value: datetime | None = None
    for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S"):
        try:
            value = datetime.strptime(raw, fmt)
            break
        except ValueError:
            continue
    if value is None:
        try:
            value = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise RecurrenceError(
                f"Không đọc được thời gian {text!r} / cannot read the time {text!r}",
                hint='write "dd/mm/yyyy HH:MM" (Vietnam time) or ISO 8601, e.g. 2027-03-01T08:00',
            ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    return value.astimezone(UTC)


def normalise_rrule(rule: str, *, start: datetime) -> str:
    """Validate ``rule`` and return it in the form stored and sent in invitations.

    UNTIL is rewritten in UTC (RFC 5545 requires that when DTSTART carries a TZID); sub-daily
    frequencies are refused (a conference series repeats by day, week, month or year).

    >>> normalise_rrule("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20270331", start=datetime(2027, 3, 1, 1,
    ...                 tzinfo=UTC))
    'FREQ=WEEKLY;BYDAY=MO;UNTIL=20270331T165959Z'
    """
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    text = text.upper()
    match = _UNTIL.search(text)
    if match:
        until_utc = _parse_until(match.group(1))
        text = text.replace(match.group(0), f"UNTIL={until_utc.strftime('%Y%m%dT%H%M%SZ')}")
    parsed = _parse(text, start=start)
    if getattr(parsed, "_freq", None) not in _ALLOWED_FREQ:
        raise RecurrenceError(
            f"Tần suất lặp không hỗ trợ trong {rule!r} / unsupported frequency in {rule!r}",
            hint="use FREQ=DAILY, WEEKLY, MONTHLY or YEARLY",
        )
    if parsed.after(to_local(start).replace(tzinfo=None), inc=True) is None:
        raise RecurrenceError(
            f"Quy tắc lặp {rule!r} không sinh buổi họp nào / {rule!r} yields no occurrence",
            hint="check COUNT/UNTIL against the start time",
        )
    return text


def _parse_until(value: str) -> datetime:
    """UNTIL as an aware UTC instant; a date or local time means the end of that local day/time."""
    v = value.upper()
    try:
        if v.endswith("Z"):
            return datetime.strptime(v, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if "T" in v:
            return datetime.strptime(v, "%Y%m%dT%H%M%S").replace(tzinfo=LOCAL_TZ).astimezone(UTC)
        day = datetime.strptime(v, "%Y%m%d").date()
    except ValueError as exc:
        raise RecurrenceError(
            f"UNTIL={value} không hợp lệ / invalid UNTIL={value}",
            hint="write UNTIL=YYYYMMDD or UNTIL=YYYYMMDDTHHMMSSZ",
        ) from exc
    end_of_day = datetime.combine(day, datetime.max.time().replace(microsecond=0), LOCAL_TZ)
    return end_of_day.astimezone(UTC)


def _parse(text: str, *, start: datetime) -> rrule:
    """dateutil rule on naive local time (UNTIL turned into naive local time to match)."""
    local_text = text
    match = _UNTIL.search(text)
    if match:
        until_local = to_local(_parse_until(match.group(1))).replace(tzinfo=None)
        local_text = text.replace(match.group(0), f"UNTIL={until_local.strftime('%Y%m%dT%H%M%S')}")
    try:
        parsed = rrulestr(local_text, dtstart=to_local(start).replace(tzinfo=None))
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(
            f"Quy tắc lặp không hợp lệ {text!r} / invalid RRULE {text!r}: {exc}",
            hint="e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=10 (RFC 5545)",
        ) from exc
    if not isinstance(parsed, rrule):
        raise RecurrenceError(f"RRULE phải là một quy tắc / one RRULE expected: {text!r}")
    return parsed


def expand(
    *,
    start: datetime,
    end: datetime,
    rrule_text: str | None,
    exdates: Iterable[datetime] = (),
    overrides: Mapping[datetime, tuple[datetime, datetime]] | None = None,
    horizon_end: datetime | None = None,
    strict: bool = False,
) -> list[Occurrence]:
    """Every occurrence (sorted, UTC) up to ``horizon_end`` (default: start + booking horizon).

    More than :data:`MAX_OCCURRENCES` within the horizon is cut short, or refused when
    ``strict`` (a new booking must not be silently shortened).

    >>> s = datetime(2027, 3, 1, 1, tzinfo=UTC)
    >>> len(expand(start=s, end=s + timedelta(hours=1), rrule_text="FREQ=DAILY;COUNT=3"))
    3
    """
    duration = end - start
    limit = horizon_end or start + BOOKING_HORIZON
    if rrule_text:
        rule = _parse(rrule_text, start=start)
        local_limit = to_local(limit).replace(tzinfo=None)
        starts: list[datetime] = []
        for naive in rule:
            if naive > local_limit:
                break
            if len(starts) >= MAX_OCCURRENCES:
                if strict:
                    raise RecurrenceError(
                        f"Tối đa {MAX_OCCURRENCES} buổi họp trong {BOOKING_HORIZON.days} ngày / "
                        f"at most {MAX_OCCURRENCES} occurrences within "
                        f"{BOOKING_HORIZON.days} days",
                        hint="use a COUNT or UNTIL, or a less frequent rule",
                    )
                break
            starts.append(naive.replace(tzinfo=LOCAL_TZ).astimezone(UTC))
    else:
        starts = [start.astimezone(UTC)]
    excluded = {e.astimezone(UTC) for e in exdates}
    moved = {k.astimezone(UTC): v for k, v in (overrides or {}).items()}
    out: list[Occurrence] = []
    for s in starts:
        if s in excluded:
            continue
        if s in moved:
            ns, ne = moved[s]
            out.append(Occurrence(start=ns, end=ne, recurrence_id=s))
        else:
            out.append(Occurrence(start=s, end=s + duration, recurrence_id=s))
    out.sort()
    return out


def day_of(value: datetime) -> date:
    return to_local(value).date()
