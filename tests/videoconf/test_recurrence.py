"""Recurrence expansion in Vietnam wall-clock time, exceptions, overrides, bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from videoconf.errors import RecurrenceError
from videoconf.recurrence import (
    BOOKING_HORIZON,
    MAX_OCCURRENCES,
    expand,
    fmt_local,
    normalise_rrule,
    parse_local,
)

S = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)  # Monday 08:00 ICT
E = S + timedelta(hours=2)


def test_parse_and_format_local_time() -> None:
    assert parse_local("01/03/2027 08:00") == S
    assert parse_local("2027-03-01T08:00") == S
    assert parse_local("2027-03-01T01:00:00+00:00") == S
    assert fmt_local(S) == "01/03/2027 08:00"
    with pytest.raises(RecurrenceError):
        parse_local("mai 8 giờ")


def test_weekly_rule_with_until_as_a_local_date() -> None:
    rule = normalise_rrule("RRULE:freq=weekly;byday=MO,TH;until=20270315", start=S)
    assert rule == "FREQ=WEEKLY;BYDAY=MO,TH;UNTIL=20270315T165959Z"
    occ = expand(start=S, end=E, rrule_text=rule)
    assert [fmt_local(o.start) for o in occ] == [
        "01/03/2027 08:00",
        "04/03/2027 08:00",
        "08/03/2027 08:00",
        "11/03/2027 08:00",
        "15/03/2027 08:00",
    ]
    assert all(o.end - o.start == timedelta(hours=2) for o in occ)


def test_exdate_and_override() -> None:
    second = S + timedelta(weeks=1)
    third = S + timedelta(weeks=2)
    moved = (third + timedelta(days=1, hours=6), third + timedelta(days=1, hours=7))
    occ = expand(
        start=S, end=E, rrule_text="FREQ=WEEKLY;COUNT=4", exdates=[second], overrides={third: moved}
    )
    assert [o.recurrence_id for o in occ] == [S, third, S + timedelta(weeks=3)]
    assert (occ[1].start, occ[1].end) == moved


def test_open_ended_rule_is_bounded_by_the_horizon() -> None:
    occ = expand(start=S, end=E, rrule_text="FREQ=WEEKLY")
    assert occ[-1].start <= S + BOOKING_HORIZON < occ[-1].start + timedelta(weeks=1)
    assert len(expand(start=S, end=E, rrule_text="FREQ=DAILY;COUNT=5000")) <= MAX_OCCURRENCES


@pytest.mark.parametrize(
    "rule",
    ["FREQ=MINUTELY;COUNT=3", "FREQ=WEEKLY;BYDAY=XX", "FREQ=WEEKLY;UNTIL=20260101", "nonsense"],
)
def test_bad_rules_are_refused(rule: str) -> None:
    with pytest.raises(RecurrenceError):
        normalise_rrule(rule, start=S)
