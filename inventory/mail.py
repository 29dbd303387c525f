"""Outgoing e-mail for every domain (alert notifications, conference invitations, reminders).

Settings come from the environment::

    TLDOPS_SMTP_HOST (default 127.0.0.1)  TLDOPS_SMTP_PORT (default 25)
    TLDOPS_SMTP_USER / TLDOPS_SMTP_PASSWORD (optional, AUTH after STARTTLS if offered)
    TLDOPS_SMTP_FROM (default "tldops <tldops@congdoan.vn>")  TLDOPS_SMTP_TLS = none|starttls|ssl

    mailer = Mailer(SmtpSettings.from_env())
    msg = mailer.new_message(to=["an@congdoan.vn"], subject="Thư mời họp", text="...")
    mailer.send(msg)
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from inventory.errors import OpsError


class MailError(OpsError):
    """The SMTP server refused or could not be reached."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "tldops <tldops@congdoan.vn>"
    username: str | None = None
    password: str | None = None
    tls: str = "none"  # none | starttls | ssl
    timeout: float = 10.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SmtpSettings:
        env = os.environ if environ is None else environ
        return cls(
            host=env.get("TLDOPS_SMTP_HOST", "127.0.0.1"),
            port=int(env.get("TLDOPS_SMTP_PORT", "25")),
            sender=env.get("TLDOPS_SMTP_FROM", "tldops <tldops@congdoan.vn>"),
            username=env.get("TLDOPS_SMTP_USER") or None,
            password=env.get("TLDOPS_SMTP_PASSWORD") or None,
            tls=env.get("TLDOPS_SMTP_TLS", "none"),
        )


class Mailer:
    """Sends :class:`EmailMessage` objects over SMTP; one connection per :meth:`send_many`."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def new_message(
        self, *, to: Sequence[str], subject: str, text: str, html: str | None = None
    ) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = ", ".join(to)
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain="tldops")
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
        return msg

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        client: smtplib.SMTP
        if s.tls == "ssl":
            client = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
        if s.username and s.password:
            client.login(s.username, s.password)
        return client

    def send(self, message: EmailMessage) -> None:
        self.send_many([message])

    def send_many(self, messages: Sequence[EmailMessage]) -> None:
        """Send all messages over one connection; raises :class:`MailError` on failure."""
        if not messages:
            return
        try:
            with self._connect() as client:
                for msg in messages:
                    client.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"Không gửi được thư qua {self.settings.host}:{self.settings.port} / "
                f"cannot send mail: {exc}",
                hint="check TLDOPS_SMTP_HOST/PORT and that the server accepts the sender",
            ) from exc
