"""The daily expiry notice through a real aiosmtpd SMTP server on loopback, and its events."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.enums import ContactRole
from inventory.errors import OpsError
from inventory.mail import Mailer, SmtpSettings
from inventory.models import OpsEvent
from inventory.service import InventoryService
from ops_cli.scheduler import discover_jobs
from training_lms.jobs import notify_expiring_certificates
from training_lms.service import TrainingService


class _Collect:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailer, _Collect]]:
    handler = _Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), ready_timeout=5)
    controller.start()
    try:
        yield Mailer(SmtpSettings(host="127.0.0.1", port=controller.port, timeout=5)), handler
    finally:
        controller.stop()


def test_expiry_notice_once_per_certificate(
    session: Session, world: TrainingService, smtp: tuple[Mailer, _Collect]
) -> None:
    mailer, inbox = smtp
    inv = InventoryService(session)
    inv.update_officer("BD-1", email="binh@ldld.hanoi.vn")
    inv.create_officer(
        code="HN-TC", full_name="Đặng Thu Trang", unit_code="HN-BD", email="daotao@ldld.hanoi.vn"
    )
    inv.add_contact(unit_code="HN-BD", officer_code="HN-TC", role=ContactRole.training)
    world.create_class(
        code="X",
        course_code="IT-BASIC",
        unit_code="HN",
        starts_on=date(2024, 4, 1),
        ends_on=date(2024, 4, 1),
        capacity=9,
    )
    for o in ("BD-1", "BD-2", "HN-1"):
        world.enrol(class_code="X", officer_code=o)
        world.record_result(class_code="X", officer_code=o, score=7)
    # Expires 01/04/2026; on 15/02/2026 that is within the 60-day notice window.
    clock = lambda: datetime(2026, 2, 15, 1, tzinfo=UTC)  # noqa: E731
    summary = notify_expiring_certificates(session, clock, mailer)
    assert (summary.certificates, summary.units) == (3, 2)
    # HN-BD's training contact gets one list; BD-1 (the only holder with an e-mail) gets one.
    assert summary.messages == 2 and len(inbox.messages) == 2
    to_unit = next(m for m in inbox.messages if m["To"] == "daotao@ldld.hanoi.vn")
    body = to_unit.get_content()
    assert "BD-1 Trần Thị Bình" in body and "BD-2 Đỗ Văn Cường" in body
    assert "01/04/2026" in body and "HN-1" not in body
    assert "sắp hết hạn" in str(to_unit["Subject"])
    kinds = session.scalars(
        select(OpsEvent.kind).where(OpsEvent.source == "training_lms.jobs")
    ).all()
    assert kinds == ["certificate_expiring", "certificate_expiring"]
    # Second run: nothing new to say.
    again = notify_expiring_certificates(session, clock, mailer)
    assert again.certificates == 0 and len(inbox.messages) == 2
    # The scheduler of `tldops up` finds the job.
    assert "training_lms.jobs.notify_expiring_certificates" in [j.name for j in discover_jobs()]


def test_expiry_notice_retried_when_smtp_is_down(session: Session, world: TrainingService) -> None:
    InventoryService(session).update_officer("BD-1", email="binh@ldld.hanoi.vn")
    world.create_class(
        code="Y",
        course_code="IT-BASIC",
        unit_code="HN",
        starts_on=date(2024, 4, 1),
        ends_on=date(2024, 4, 1),
        capacity=9,
    )
    world.enrol(class_code="Y", officer_code="BD-1")
    world.record_result(class_code="Y", officer_code="BD-1", score=7)
    down = Mailer(SmtpSettings(host="127.0.0.1", port=_free_port(), timeout=2))
    clock = lambda: datetime(2026, 2, 15, 1, tzinfo=UTC)  # noqa: E731
    with pytest.raises(OpsError):
        notify_expiring_certificates(session, clock, down)
    (cert,) = world.certificates(officer_code="BD-1")
    assert cert.expiry_notice_on is None
