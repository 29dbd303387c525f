"""Periodic training jobs, run daily by ``tldops up``'s scheduler (``ops_cli.scheduler``), which
injects the arguments by name (``session``, ``clock``, ``mailer``)::

    summary = notify_expiring_certificates(session, clock=utcnow, mailer=mailer)
    summary.certificates, summary.messages
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.config import TIMEZONE
from inventory.enums import ContactRole, Severity
from inventory.mail import Mailer
from inventory.models import Officer, Unit, UnitContact
from inventory.service import audit, record_event
from training_lms.enums import CertificateStatus
from training_lms.models import Certificate, Course

NOTICE_DAYS = 60


@dataclass(frozen=True)
class NoticeSummary:
    certificates: int
    units: int
    messages: int


def notify_expiring_certificates(
    session: Session,
    clock: Callable[[], datetime],
    mailer: Mailer | None = None,
    *,
    days: int = NOTICE_DAYS,
) -> NoticeSummary:
    """Tell holders and their units' training contacts about certificates that stop counting
    within ``days`` — once per certificate — and record one ``certificate_expiring`` event per
    unit for monitoring. Without a mailer only the events are written.

    Mail is sent before the certificates are marked, so a failing SMTP server (MailError)
    leaves them unmarked and the next run tries again.
    """
    today = clock().astimezone(TIMEZONE).date()
    rows = session.execute(
        select(Certificate, Officer, Unit, Course)
        .join(Officer, Officer.id == Certificate.officer_id)
        .join(Unit, Unit.id == Officer.unit_id)
        .join(Course, Course.id == Certificate.course_id)
        .where(
            Certificate.status == CertificateStatus.valid,
            Certificate.expiry_notice_on.is_(None),
            Certificate.expires_on > today,
            Certificate.expires_on <= today + timedelta(days=days),
            Officer.active.is_(True),
        )
        .order_by(Unit.path, Officer.code, Certificate.expires_on)
    ).all()
    if not rows:
        return NoticeSummary(certificates=0, units=0, messages=0)
    by_unit: dict[int, list[tuple[Certificate, Officer, Unit, Course]]] = defaultdict(list)
    for cert, officer, unit, course in rows:
        by_unit[unit.id].append((cert, officer, unit, course))
    contacts: dict[int, list[str]] = defaultdict(list)
    for unit_id, email in session.execute(
        select(UnitContact.unit_id, Officer.email)
        .join(Officer, Officer.id == UnitContact.officer_id)
        .where(
            UnitContact.unit_id.in_(list(by_unit)),
            UnitContact.role == ContactRole.training,
            Officer.active.is_(True),
            Officer.email.is_not(None),
        )
    ).all():
        if email:
            contacts[unit_id].append(email)

    def line(cert: Certificate, officer: Officer, course: Course) -> str:
        assert cert.expires_on is not None
        return (
            f"- {officer.code} {officer.full_name}: {course.code} ({course.title}), "
            f"chứng chỉ {cert.number}, hết hạn {cert.expires_on:%d/%m/%Y}"
        )

    messages: list[EmailMessage] = []
    for unit_id, items in by_unit.items():
        unit = items[0][2]
        record_event(
            session,
            source="training_lms.jobs",
            kind="certificate_expiring",
            severity=Severity.warning,
            unit_id=unit_id,
            message=f"{unit.code}: {len(items)} chứng chỉ sắp hết hạn / certificate(s) expiring",
            data={"certificates": [c.number for c, *_ in items]},
            at=clock(),
        )
        if mailer is None:
            continue
        if contacts.get(unit_id):
            messages.append(
                mailer.new_message(
                    to=sorted(set(contacts[unit_id])),
                    subject=f"[tldops] {unit.name}: {len(items)} chứng chỉ tin học sắp hết hạn",
                    text="Các chứng chỉ sau sẽ hết hạn trong "
                    f"{days} ngày tới; cần bố trí học lại:\n\n"
                    + "\n".join(line(c, o, k) for c, o, _, k in items)
                    + "\n\n(tldops training gaps --expiring "
                    f"{days}d --unit {unit.code})\n",
                )
            )
        for cert, officer, _, course in items:
            if officer.email:
                messages.append(
                    mailer.new_message(
                        to=[officer.email],
                        subject=f"[tldops] Chứng chỉ {course.code} của bạn sắp hết hạn",
                        text=f"Kính gửi {officer.full_name},\n\n{line(cert, officer, course)}\n\n"
                        "Vui lòng đăng ký lớp học lại với cán bộ phụ trách đào tạo.\n",
                    )
                )
    if mailer is not None:
        mailer.send_many(messages)
    for cert, _officer, unit, _course in rows:
        cert.expiry_notice_on = today
        audit(
            session,
            actor="training_lms.jobs",
            action="notify",
            entity="training_certificate",
            entity_key=cert.number,
            after={"expiry_notice_on": today.isoformat()},
            unit_path=unit.path,
            at=clock(),
        )
    session.flush()
    return NoticeSummary(certificates=len(rows), units=len(by_unit), messages=len(messages))
