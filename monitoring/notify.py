"""Alert notifications: e-mail through :class:`inventory.mail.Mailer` and the Alertmanager
webhook (payload version 4), so receivers written for Alertmanager work unchanged::

    notifier = Notifier(mailer=Mailer(SmtpSettings.from_env()),
                        webhook_url="http://127.0.0.1:9099/hook", http=httpx.Client(timeout=5))
    outcome = notifier.send(message)     # NotifyOutcome per channel; failures are data

The webhook body follows https://prometheus.io/docs/alerting/latest/configuration/#webhook_config:
``version``, ``groupKey``, ``truncatedAlerts``, ``status``, ``receiver``, ``groupLabels``,
``commonLabels``, ``commonAnnotations``, ``externalURL`` and ``alerts[]`` (``status``, ``labels``,
``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``, ``fingerprint``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from inventory.errors import OpsError
from inventory.mail import Mailer
from monitoring.models import AlertState, NotifyChannel

# Alertmanager writes this for "no end yet".
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class AlertView:
    """What a notification says about one alert (built from a ``mon_alerts`` row)."""

    id: int
    fingerprint: str
    status: AlertState
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None


@dataclass(frozen=True)
class Message:
    """One notification: some alerts, for one receiver (a unit's IT contacts)."""

    receiver: str
    status: AlertState  # firing or resolved
    alerts: tuple[AlertView, ...]
    recipients: tuple[str, ...]
    escalation_level: int
    external_url: str
    group_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NotifyOutcome:
    channel: NotifyChannel
    ok: bool
    recipients: tuple[str, ...]
    error: str | None = None


def _iso(value: datetime | None) -> str:
    if value is None:
        return ZERO_TIME
    return value.isoformat().replace("+00:00", "Z")


def _common(dicts: Sequence[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def webhook_payload(message: Message) -> dict[str, Any]:
    """The Alertmanager v4 webhook body for ``message``.

    >>> # webhook_payload(msg)["version"] == "4"
    """
    group_labels = dict(sorted(message.group_labels.items()))
    group_key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in group_labels.items()) + "}"
    alerts = []
    for a in message.alerts:
        alerts.append(
            {
                "status": "resolved" if a.status is AlertState.resolved else "firing",
                "labels": dict(sorted(a.labels.items())),
                "annotations": dict(sorted(a.annotations.items())),
                "startsAt": _iso(a.starts_at),
                "endsAt": _iso(a.ends_at if a.status is AlertState.resolved else None),
                "generatorURL": f"{message.external_url.rstrip('/')}/monitoring/alerts/{a.id}",
                "fingerprint": a.fingerprint[:16],
            }
        )
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "resolved" if message.status is AlertState.resolved else "firing",
        "receiver": message.receiver,
        "groupLabels": group_labels,
        "commonLabels": _common([a.labels for a in message.alerts]),
        "commonAnnotations": _common([a.annotations for a in message.alerts]),
        "externalURL": message.external_url,
        "alerts": alerts,
    }


def email_text(message: Message) -> tuple[str, str]:
    """Subject and body (Vietnamese first, English second)."""
    state_vi = "ĐÃ KHẮC PHỤC" if message.status is AlertState.resolved else "CẢNH BÁO"
    state_en = "RESOLVED" if message.status is AlertState.resolved else "FIRING"
    first = message.alerts[0]
    more = f" (+{len(message.alerts) - 1})" if len(message.alerts) > 1 else ""
    esc = f" [leo thang/escalated {message.escalation_level}]" if message.escalation_level else ""
    subject = (
        f"[{state_vi}/{state_en}] {first.labels.get('alertname', '')} "
        f"{first.labels.get('unit', '')}: {first.annotations.get('summary', '')}{more}{esc}"
    )
    lines = [
        f"Trạng thái / status: {state_vi} / {state_en}",
        f"Người nhận / receiver: {message.receiver}",
        "",
    ]
    for a in message.alerts:
        lines.append(f"- {a.annotations.get('summary', '')}")
        if a.annotations.get("description"):
            lines.append(f"  {a.annotations['description']}")
        lines.append(
            "  "
            + ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if v)
            + f"; từ/since {_iso(a.starts_at)}"
        )
        lines.append(f"  {message.external_url.rstrip('/')}/monitoring/alerts/{a.id}")
    if message.status is AlertState.firing:
        lines += [
            "",
            "Xác nhận để dừng leo thang / acknowledge to stop escalation: "
            f"tldops monitor ack {' '.join(str(a.id) for a in message.alerts)}",
        ]
    return subject, "\n".join(lines)


class Notifier:
    """Delivers :class:`Message` objects by e-mail and webhook; never raises for a delivery
    failure (the outcome says what failed, and the notification log keeps it)."""

    def __init__(
        self,
        *,
        mailer: Mailer | None,
        webhook_url: str | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.mailer = mailer
        self.webhook_url = webhook_url
        self.http = http

    def send(self, message: Message) -> list[NotifyOutcome]:
        out: list[NotifyOutcome] = []
        if self.mailer is not None and message.recipients:
            subject, text = email_text(message)
            mail = self.mailer.new_message(to=list(message.recipients), subject=subject, text=text)
            try:
                self.mailer.send(mail)
                out.append(NotifyOutcome(NotifyChannel.email, True, message.recipients))
            except OpsError as exc:
                out.append(
                    NotifyOutcome(NotifyChannel.email, False, message.recipients, exc.message)
                )
        if self.webhook_url:
            body = json.dumps(webhook_payload(message), ensure_ascii=False).encode("utf-8")
            client = self.http or httpx.Client(timeout=10)
            try:
                resp = client.post(
                    self.webhook_url,
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                ok = resp.status_code < 300
                out.append(
                    NotifyOutcome(
                        NotifyChannel.webhook,
                        ok,
                        (self.webhook_url,),
                        None if ok else f"HTTP {resp.status_code}",
                    )
                )
            except httpx.HTTPError as exc:
                out.append(
                    NotifyOutcome(NotifyChannel.webhook, False, (self.webhook_url,), str(exc))
                )
            finally:
                if self.http is None:
                    client.close()
        return out
