"""Scheduled work: reminders before each occurrence (the web app's scheduler calls this).

    sent = send_due_reminders(engine, clock=utcnow, mailer=Mailer(SmtpSettings.from_env()))

Each (conference, occurrence, offset) reminder is sent at most once: a row in ``vc_reminders``
records it in the same transaction. When the job runs late only the closest reminder goes out
(the 24 h one is skipped once the 15 min one is due), and a reminder whose moment had already
passed when the conference was booked is skipped (the invitation itself just arrived).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from inventory.db import session_scope
from inventory.mail import Mailer, MailError
from videoconf.models import Conference, ConferenceStatus, ReminderSent
from videoconf.recurrence import fmt_local
from videoconf.service import ConferenceService

DEFAULT_OFFSETS: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(minutes=15))


def send_due_reminders(
    engine: Engine,
    *,
    clock: Callable[[], datetime],
    mailer: Mailer,
    offsets: Sequence[timedelta] = DEFAULT_OFFSETS,
) -> int:
    """Send every reminder that is due now; returns the number of e-mails sent.

    >>> send_due_reminders(engine, clock=lambda: datetime(2027, 3, 1, 0, 50, tzinfo=UTC),
    ...                    mailer=mailer)      # 15 min before an 08:00 ICT meeting
    12
    """
    now = clock()
    ordered = sorted(offsets, reverse=True)  # 24 h first, 15 min last
    if not ordered:
        return 0
    longest = ordered[0]
    with session_scope(engine) as session:
        ids = session.scalars(
            select(Conference.id).where(
                Conference.status == ConferenceStatus.scheduled,
                Conference.start_at <= now + longest,
                Conference.series_end_at > now,
            )
        ).all()
    sent = 0
    failed: list[str] = []
    for conference_id in ids:
        # One transaction per conference: a mail failure for one never un-records (and so
        # re-sends) the reminders already delivered for the others.
        try:
            with session_scope(engine) as session:
                sent += _remind_one(
                    session, conference_id, now=now, ordered=ordered, clock=clock, mailer=mailer
                )
        except MailError as exc:
            failed.append(f"#{conference_id}: {exc.message}")
    if failed:
        raise MailError(
            f"Không gửi được nhắc lịch cho {len(failed)} hội nghị / reminders failed for "
            f"{len(failed)} conference(s) ({sent} sent): " + "; ".join(failed[:5]),
            hint="check TLDOPS_SMTP_*; the failed reminders are retried on the next run",
        )
    return sent


def _remind_one(
    session: Session,
    conference_id: int,
    *,
    now: datetime,
    ordered: Sequence[timedelta],
    clock: Callable[[], datetime],
    mailer: Mailer,
) -> int:
    svc = ConferenceService(session, actor="scheduler", clock=clock)
    conf = svc.conference(conference_id)
    longest = ordered[0]
    done = {
        (r.occurrence_start, r.minutes_before)
        for r in session.scalars(select(ReminderSent).where(ReminderSent.conference_id == conf.id))
    }
    sent = 0
    for occ in svc.occurrences(conf):
        if occ.start <= now or occ.start - longest > now:
            continue
        due = [off for off in ordered if occ.start - off <= now]
        if not due:
            continue
        closest = due[-1]
        minutes = int(closest.total_seconds() // 60)
        if (occ.start, minutes) in done:
            continue
        booked_late = conf.created_at > occ.start - closest
        count = 0
        if not booked_late:
            count = _send(svc, conf, occ.start, minutes, mailer)
            sent += count
        # Mark this and every longer reminder as handled so none goes out late.
        for off in due:
            key = (occ.start, int(off.total_seconds() // 60))
            if key not in done:
                session.add(
                    ReminderSent(
                        conference_id=conf.id,
                        occurrence_start=occ.start,
                        minutes_before=key[1],
                        sent_at=now,
                        recipients=count if off == closest else 0,
                    )
                )
                done.add(key)
        session.flush()
    return sent


def _send(
    svc: ConferenceService, conf: Conference, start: datetime, minutes: int, mailer: Mailer
) -> int:
    lead = f"{minutes // 60} giờ" if minutes >= 60 else f"{minutes} phút"
    messages = []
    end = start + (conf.end_at - conf.start_at)
    for inv in conf.invitations:
        if not inv.email:
            continue
        link = svc.join_link(conf, inv)
        text = (
            f"Kính gửi đồng chí {inv.officer.full_name},\n\n"
            f'Nhắc lịch: hội nghị trực tuyến "{conf.title}" bắt đầu sau {lead}, '
            f"lúc {fmt_local(start)} (giờ Việt Nam), kết thúc {fmt_local(end)}.\n"
            f"Đường dẫn tham dự của đồng chí: {link}\n"
        )
        password = svc.password(conf)
        if password:
            text += f"Mật khẩu phòng họp: {password}\n"
        messages.append(
            mailer.new_message(
                to=[inv.email],
                subject=f"Nhắc lịch họp trực tuyến: {conf.title} ({fmt_local(start)})",
                text=text,
            )
        )
    mailer.send_many(messages)
    return len(messages)
