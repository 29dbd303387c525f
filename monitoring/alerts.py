"""Alert rules and their lifecycle: pending → firing → resolved, org-aware.

One evaluation (:meth:`AlertEngine.evaluate`) does, in order:

1. **Conditions** — read the latest observations (poll state, interfaces, checks, events) and
   list every rule condition that holds now (:func:`gather_conditions`).
2. **Lifecycle** — one open alert per fingerprint (rule + identifying labels: de-duplication);
   a new condition opens a *pending* alert, which becomes *firing* once it has held for the rule's
   ``for`` duration; a condition that is gone resolves its alert.
3. **Suppression** — notifications are held back (the alert still shows) for: a maintenance window
   or a silence covering the alert's unit subtree (neither FIRING nor RESOLVED is mailed while
   it lasts); a *site down* (a gateway device down or an
   uplink down at the site mutes every other alert of that site: one alert, not fifty);
   *flapping* (the same fingerprint resolved ``flap_threshold`` times within ``flap_window``).
4. **Routing** — a firing alert goes to the IT contacts (``UnitContact`` role ``it``) of its
   unit, or of the nearest ancestor that has some; if nobody acknowledges it within the ack
   timeout it escalates to the next ancestor with contacts, and so on up to the root.

::

    engine = AlertEngine(session, clock=clock, notifier=Notifier(mailer=mailer), settings=s)
    summary = engine.evaluate()        # AlertSummary(pending=.., firing=.., notified=..)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from inventory.enums import ContactRole, DeviceKind, Severity
from inventory.models import Device, Officer, OpsEvent, Service, Site, Unit, UnitContact
from inventory.service import audit
from monitoring.errors import AlertNotFound
from monitoring.models import (
    Alert,
    AlertState,
    CheckState,
    InterfaceState,
    MaintenanceWindow,
    NotificationLog,
    PollState,
    PollStatus,
    Silence,
)
from monitoring.notify import AlertView, Message, Notifier
from monitoring.service import MonitorSettings, load_units, province_of

Clock = Callable[[], datetime]

GATEWAY_KINDS = frozenset({DeviceKind.router, DeviceKind.firewall})
# Failed deliveries of one piece of news before giving up (retried once per evaluation).
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Rule:
    """A built-in alert rule. ``for_seconds``: how long the condition must hold to fire."""

    name: str
    severity: Severity
    for_seconds: float
    summary: str
    description: str


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            "device_down",
            Severity.critical,
            300,
            "Thiết bị mất kết nối / device down",
            "no SNMP answer for the rule's duration",
        ),
        Rule(
            "snmp_error",
            Severity.warning,
            600,
            "Lỗi SNMP / SNMP refused",
            "the agent answers but refuses our credentials or sends malformed replies",
        ),
        Rule(
            "uplink_down",
            Severity.critical,
            120,
            "Đường truyền lên mất / uplink down",
            "an interface described as uplink/WAN is admin up but oper down",
        ),
        Rule(
            "interface_down",
            Severity.warning,
            300,
            "Cổng mạng mất / interface down",
            "a described interface is admin up but oper down",
        ),
        Rule(
            "uplink_saturated",
            Severity.warning,
            600,
            "Đường truyền quá tải / uplink saturated",
            "uplink traffic above 90% of its speed",
        ),
        Rule(
            "ups_on_battery",
            Severity.warning,
            60,
            "UPS đang chạy pin / UPS on battery",
            "upsOutputSource is battery",
        ),
        Rule(
            "ups_low_runtime",
            Severity.critical,
            0,
            "UPS sắp hết pin / UPS low runtime",
            "estimated minutes remaining below 10 or battery low/depleted",
        ),
        Rule(
            "disk_full",
            Severity.warning,
            900,
            "Ổ đĩa gần đầy / disk above 90%",
            "a fixed disk is more than 90% used",
        ),
        Rule(
            "service_down",
            Severity.critical,
            180,
            "Dịch vụ không đáp ứng / service down",
            "a service check fails",
        ),
        Rule(
            "cert_expiring",
            Severity.warning,
            0,
            "Chứng chỉ sắp hết hạn / certificate expiring",
            "the TLS certificate expires within 14 days",
        ),
        Rule(
            "toner_low",
            Severity.warning,
            0,
            "Mực in sắp hết / toner low",
            "a printer supply is below 10%",
        ),
        Rule(
            "backup_stale",
            Severity.critical,
            0,
            "Sao lưu quá hạn / backup stale",
            "the newest successful backup is older than the threshold (default 26 h)",
        ),
        Rule(
            "backup_failed",
            Severity.critical,
            0,
            "Sao lưu thất bại / backup failed",
            "the newest backup (or verify, or config backup) event of a target is a failure",
        ),
        Rule(
            "split_brain",
            Severity.critical,
            0,
            "Hai máy chủ cùng làm chính / split brain",
            "a failover pair reported split brain in the last hour",
        ),
    )
}

THRESHOLDS = {
    "disk_used_percent": 90.0,
    "uplink_utilisation": 0.9,
    "ups_minutes_remaining": 10,
    "toner_percent": 10.0,
    "cert_days": 14.0,
}

# Failure event kind → the kinds that count as a later success for the same target.
FAILURE_EVENTS: dict[str, tuple[str, ...]] = {
    "backup_failed": ("backup_succeeded",),
    "backup_verify_failed": ("backup_verified",),
    "config_backup_failed": ("config_changed", "config_backup_succeeded"),
}


@dataclass(frozen=True)
class Condition:
    """A rule condition that holds now, for one object."""

    rule: str
    unit_id: int
    identity: dict[str, str]  # labels that identify the object (part of the fingerprint)
    device_id: int | None = None
    site_id: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    description: str = ""
    since: datetime | None = None  # when the condition started, if the data knows
    gateway: bool = False  # its firing means the whole site is cut off

    @property
    def fingerprint(self) -> str:
        text = self.rule + "|" + "|".join(f"{k}={v}" for k, v in sorted(self.identity.items()))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class AlertSummary:
    conditions: int
    pending: int
    firing: int
    resolved: int
    suppressed: int
    notifications: int
    escalations: int
    notify_failures: int


@dataclass(frozen=True)
class _DeviceInfo:
    id: int
    unit_id: int
    site_id: int | None
    kind: DeviceKind
    name: str
    ip: str


def gather_conditions(
    session: Session, *, now: datetime, settings: MonitorSettings
) -> list[Condition]:
    """Every rule condition that holds at ``now``, from the stored observations."""
    out: list[Condition] = []
    devices = {
        d.id: _DeviceInfo(
            d.id, d.unit_id, d.site_id, d.kind, d.hostname or d.asset_tag, d.mgmt_ip or ""
        )
        for d in session.scalars(select(Device))
    }

    def dev_cond(
        rule: str, d: _DeviceInfo, extra: dict[str, str] | None = None, **kw: Any
    ) -> Condition:
        identity = {"device": d.name, **(extra or {})}
        return Condition(
            rule=rule,
            unit_id=d.unit_id,
            identity=identity,
            device_id=d.id,
            site_id=d.site_id,
            labels={"kind": d.kind.value, "instance": d.ip, **identity},
            **kw,
        )

    up_devices: set[int] = set()
    for ps in session.scalars(select(PollState)):
        d = devices.get(ps.device_id)
        if d is None:
            continue
        if ps.status is PollStatus.down:
            out.append(
                dev_cond(
                    "device_down",
                    d,
                    description=ps.error or "",
                    since=ps.down_since,
                    gateway=d.kind in GATEWAY_KINDS,
                )
            )
        elif ps.status is PollStatus.error:
            out.append(dev_cond("snmp_error", d, description=ps.error or "", since=ps.down_since))
        if ps.status is not PollStatus.up:
            continue
        up_devices.add(d.id)
        m = ps.metrics or {}
        for disk in m.get("storage") or []:
            if float(disk.get("used_percent") or 0) > THRESHOLDS["disk_used_percent"]:
                out.append(
                    dev_cond(
                        "disk_full",
                        d,
                        {"mount": str(disk.get("descr"))},
                        description=f"{disk.get('used_percent')}% used",
                    )
                )
        ups = m.get("ups") or {}
        if ups.get("output_source") == 5:
            out.append(
                dev_cond(
                    "ups_on_battery", d, description=f"{ups.get('seconds_on_battery')} s on battery"
                )
            )
        minutes = ups.get("minutes_remaining")
        if (isinstance(minutes, int) and minutes < THRESHOLDS["ups_minutes_remaining"]) or ups.get(
            "battery_status"
        ) in (3, 4):
            out.append(dev_cond("ups_low_runtime", d, description=f"{minutes} minutes remaining"))
        for sup in (m.get("printer") or {}).get("supplies") or []:
            pct = sup.get("percent")
            if pct is not None and pct < THRESHOLDS["toner_percent"]:
                out.append(
                    dev_cond(
                        "toner_low",
                        d,
                        {"supply": str(sup.get("descr"))},
                        description=f"{pct}% left",
                    )
                )

    for iface in session.scalars(select(InterfaceState)):
        d = devices.get(iface.device_id)
        # Interfaces of a device that does not answer are stale: device_down covers them.
        if d is None or d.id not in up_devices:
            continue
        extra = {"interface": iface.name}
        if iface.admin_up and not iface.oper_up:
            if iface.is_uplink:
                out.append(dev_cond("uplink_down", d, extra, description=iface.alias, gateway=True))
            elif iface.alias:
                out.append(dev_cond("interface_down", d, extra, description=iface.alias))
        if iface.is_uplink and iface.speed_bps and iface.oper_up:
            peak = max(iface.in_bps or 0.0, iface.out_bps or 0.0)
            if peak / iface.speed_bps > THRESHOLDS["uplink_utilisation"]:
                out.append(
                    dev_cond(
                        "uplink_saturated",
                        d,
                        extra,
                        description=f"{peak / iface.speed_bps:.0%} of {iface.speed_bps} bit/s",
                    )
                )

    for cs, svc in session.execute(
        select(CheckState, Service).join(Service, Service.id == CheckState.service_id)
    ):
        if not svc.enabled or cs.skipped:
            continue
        ident = {"service": svc.name}
        labels = {"kind": f"service_{svc.kind.value}", "instance": svc.target, **ident}
        if not cs.ok:
            out.append(
                Condition(
                    "service_down",
                    svc.unit_id,
                    ident,
                    site_id=svc.site_id,
                    labels=labels,
                    description=cs.detail,
                    since=cs.down_since,
                )
            )
        if cs.cert_days_left is not None and cs.cert_days_left < THRESHOLDS["cert_days"]:
            out.append(
                Condition(
                    "cert_expiring",
                    svc.unit_id,
                    ident,
                    site_id=svc.site_id,
                    labels=labels,
                    description=cs.detail,
                )
            )

    out.extend(_event_conditions(session, now=now, settings=settings))
    return out


def _event_conditions(
    session: Session, *, now: datetime, settings: MonitorSettings
) -> list[Condition]:
    kinds = {"backup_succeeded", "split_brain", *FAILURE_EVENTS}
    for ok_kinds in FAILURE_EVENTS.values():
        kinds.update(ok_kinds)
    root_id = session.scalar(select(Unit.id).where(Unit.parent_id.is_(None)).order_by(Unit.id))
    newest = newest_events(session, kinds)
    out: list[Condition] = []
    stale_after = timedelta(hours=settings.backup_stale_hours)
    for (kind, target), ev in newest.items():
        unit_id = ev.unit_id or root_id
        if unit_id is None:
            continue
        bkind = str((ev.data or {}).get("backup_kind", ""))
        ident = {"target": target}
        labels = {"target": target, "backup_kind": bkind, "kind": "backup"}
        if kind == "backup_succeeded" and now - ev.at > stale_after:
            age_h = (now - ev.at).total_seconds() / 3600
            out.append(
                Condition(
                    "backup_stale",
                    unit_id,
                    ident,
                    device_id=ev.device_id,
                    labels=labels,
                    description=f"newest successful backup {age_h:.1f} h old",
                )
            )
        elif kind in FAILURE_EVENTS:
            later_ok = [newest.get((k, target)) for k in FAILURE_EVENTS[kind]]
            if any(o is not None and o.at > ev.at for o in later_ok):
                continue
            out.append(
                Condition(
                    "backup_failed",
                    unit_id,
                    {**ident, "event": kind},
                    device_id=ev.device_id,
                    labels={**labels, "event": kind},
                    description=ev.message,
                )
            )
        elif kind == "split_brain" and now - ev.at < timedelta(hours=1):
            out.append(
                Condition(
                    "split_brain",
                    unit_id,
                    ident,
                    device_id=ev.device_id,
                    labels=labels,
                    description=ev.message,
                )
            )
    return out


def newest_events(session: Session, kinds: Iterable[str]) -> dict[tuple[str, str], OpsEvent]:
    """The newest event per (kind, target), found with one GROUP BY (the table only grows)."""
    target = OpsEvent.data["target"].as_string()
    groups = session.execute(
        select(OpsEvent.kind, target, OpsEvent.device_id, OpsEvent.unit_id, func.max(OpsEvent.at))
        .where(OpsEvent.kind.in_(list(kinds)))
        .group_by(OpsEvent.kind, target, OpsEvent.device_id, OpsEvent.unit_id)
    ).all()
    if not groups:
        return {}
    stamps = {g[4] for g in groups}
    out: dict[tuple[str, str], OpsEvent] = {}
    for ev in session.scalars(
        select(OpsEvent)
        .where(OpsEvent.kind.in_(list(kinds)), OpsEvent.at.in_(stamps))
        .order_by(OpsEvent.at, OpsEvent.id)
    ):
        out[(ev.kind, event_target(ev))] = ev  # later rows overwrite earlier ones
    return out


def event_target(ev: OpsEvent) -> str:
    target = (ev.data or {}).get("target")
    if target:
        return str(target)
    if ev.device_id is not None:
        return f"device:{ev.device_id}"
    return f"unit:{ev.unit_id}"


class AlertEngine:
    """Evaluates rules and drives notifications for one session (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        *,
        clock: Clock,
        notifier: Notifier | None,
        settings: MonitorSettings,
        rules: dict[str, Rule] | None = None,
        flap_threshold: int = 3,
        flap_window: timedelta = timedelta(hours=1),
    ) -> None:
        self.session = session
        self.clock = clock
        self.notifier = notifier
        self.settings = settings
        self.rules = rules or RULES
        self.flap_threshold = flap_threshold
        self.flap_window = flap_window

    # -- lifecycle ---------------------------------------------------------------------------
    def evaluate(self) -> AlertSummary:
        """One evaluation cycle; returns what happened. Commit is the caller's business."""
        now = self.clock()
        conds = [
            c
            for c in gather_conditions(self.session, now=now, settings=self.settings)
            if c.rule in self.rules
        ]
        by_fp: dict[str, Condition] = {}
        for c in conds:
            by_fp.setdefault(c.fingerprint, c)
        units = load_units(self.session)
        sites = {s.id: s.code for s in self.session.scalars(select(Site))}
        open_alerts = {
            a.fingerprint: a
            for a in self.session.scalars(
                select(Alert).where(Alert.state.in_([AlertState.pending, AlertState.firing]))
            )
        }
        resolved_now: list[Alert] = []
        for fp, a in open_alerts.items():
            if fp not in by_fp:
                a.state = AlertState.resolved
                a.ends_at = now
                resolved_now.append(a)
        for fp, c in by_fp.items():
            rule = self.rules[c.rule]
            existing = open_alerts.get(fp)
            a = existing if existing is not None else self._open(c, rule, now, units, sites)
            open_alerts[fp] = a
            a.last_seen_at = now
            a.description = c.description[:2000]
            if (
                a.state is AlertState.pending
                and (now - a.starts_at).total_seconds() >= rule.for_seconds
            ):
                a.state = AlertState.firing
                a.fired_at = now
        self.session.flush()
        live = [a for a in open_alerts.values() if a.state is not AlertState.resolved]
        self._suppress(live, by_fp, now, units)
        # Silenced or in maintenance means no mail either way: the news that an alert is over
        # is held back like the news that it fired (the alert list still shows both).
        windows, silences = self._quiet_periods(now)
        for a in resolved_now:
            a.suppressed_by = self._held_by(a, units[a.unit_id].path, windows, silences)
        sent, escalated, failures = self._notify(live, resolved_now, now, units)
        self.session.flush()
        return AlertSummary(
            conditions=len(by_fp),
            pending=sum(1 for a in live if a.state is AlertState.pending),
            firing=sum(1 for a in live if a.state is AlertState.firing),
            resolved=len(resolved_now),
            suppressed=sum(1 for a in live if a.suppressed_by),
            notifications=sent,
            escalations=escalated,
            notify_failures=failures,
        )

    def _open(
        self, c: Condition, rule: Rule, now: datetime, units: dict[int, Unit], sites: dict[int, str]
    ) -> Alert:
        unit = units[c.unit_id]
        province = province_of(units, unit)
        labels = {
            "alertname": c.rule,
            "severity": rule.severity.value,
            "unit": unit.code,
            "province": province.code,
            "site": sites.get(c.site_id, "") if c.site_id else "",
            **c.labels,
        }
        recent_flaps = self.session.scalar(
            select(Alert.id)
            .where(
                Alert.fingerprint == c.fingerprint,
                Alert.state == AlertState.resolved,
                Alert.ends_at >= now - self.flap_window,
            )
            .offset(self.flap_threshold - 1)
            .limit(1)
        )
        # The condition may be older than this evaluation (device down since the first failed
        # poll): count the for-duration from then, not from when we first looked.
        starts = c.since if c.since is not None and c.since <= now else now
        a = Alert(
            fingerprint=c.fingerprint,
            rule=c.rule,
            severity=rule.severity,
            state=AlertState.pending,
            unit_id=c.unit_id,
            device_id=c.device_id,
            site_id=c.site_id,
            labels={k: str(v) for k, v in labels.items()},
            summary=f"{rule.summary}: {_subject(c)}",
            description=c.description[:2000],
            starts_at=starts,
            last_seen_at=now,
            flapping=recent_flaps is not None,
            escalation_level=0,
        )
        self.session.add(a)
        return a

    # -- suppression -------------------------------------------------------------------------
    def _quiet_periods(self, now: datetime) -> tuple[list[Any], list[Any]]:
        """Maintenance windows ``(id, unit path)`` and silences ``(Silence, unit path)`` now."""
        windows = self.session.execute(
            select(MaintenanceWindow.id, Unit.path)
            .join(Unit, MaintenanceWindow.unit_id == Unit.id)
            .where(MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now)
        ).all()
        silences = self.session.execute(
            select(Silence, Unit.path)
            .join(Unit, Silence.unit_id == Unit.id)
            .where(Silence.starts_at <= now, Silence.ends_at > now)
        ).all()
        return list(windows), list(silences)

    @staticmethod
    def _held_by(a: Alert, path: str, windows: list[Any], silences: list[Any]) -> str | None:
        """The maintenance window or silence covering ``a`` (unit subtree, rule, device)."""
        for wid, wpath in windows:
            if path.startswith(wpath):
                return f"maintenance:{wid}"
        for s, spath in silences:
            if (
                path.startswith(spath)
                and (s.rule is None or s.rule == a.rule)
                and (s.device_id is None or s.device_id == a.device_id)
            ):
                return f"silence:{s.id}"
        return None

    def _suppress(
        self, live: list[Alert], conds: dict[str, Condition], now: datetime, units: dict[int, Unit]
    ) -> None:
        windows, silences = self._quiet_periods(now)
        # A site is cut off when one of its gateway conditions is firing; its alert stays
        # loud, everything else at that site is muted behind it.
        cut: dict[str, int] = {}
        for a in live:
            c = conds.get(a.fingerprint)
            if c is not None and c.gateway and a.state is AlertState.firing:
                cut.setdefault(_site_key(a), a.id)
        for a in live:
            reason = self._held_by(a, units[a.unit_id].path, windows, silences)
            if reason is None:
                site_alert = cut.get(_site_key(a))
                c = conds.get(a.fingerprint)
                if site_alert is not None and site_alert != a.id and not (c and c.gateway):
                    reason = f"site_down:{site_alert}"
            if reason is None and a.flapping:
                reason = "flapping"
            a.suppressed_by = reason

    # -- routing and notification ------------------------------------------------------------
    def contact_levels(
        self, unit: Unit, units: dict[int, Unit]
    ) -> list[tuple[Unit, tuple[str, ...]]]:
        """Escalation ladder: (unit, e-mails) for the unit and each ancestor with IT contacts."""
        chain = [units[i] for i in reversed(unit.ancestor_ids()) if i in units]
        rows = self.session.execute(
            select(UnitContact.unit_id, Officer.email)
            .join(Officer, Officer.id == UnitContact.officer_id)
            .where(
                UnitContact.unit_id.in_([u.id for u in chain]),
                UnitContact.role == ContactRole.it,
                Officer.active.is_(True),
                Officer.email.is_not(None),
            )
            .order_by(Officer.email)
        ).all()
        emails: dict[int, list[str]] = {}
        for uid, email in rows:
            if email:
                emails.setdefault(uid, []).append(email)
        return [(u, tuple(emails[u.id])) for u in chain if emails.get(u.id)]

    def _notify(
        self, live: list[Alert], resolved: list[Alert], now: datetime, units: dict[int, Unit]
    ) -> tuple[int, int, int]:
        sent = escalated = failures = 0
        ack_timeout = timedelta(minutes=self.settings.ack_timeout_minutes)
        ladders: dict[int, list[tuple[Unit, tuple[str, ...]]]] = {}

        def ladder_of(a: Alert) -> list[tuple[Unit, tuple[str, ...]]]:
            if a.unit_id not in ladders:
                ladders[a.unit_id] = self.contact_levels(units[a.unit_id], units)
            return ladders[a.unit_id]

        for a in live:
            if a.state is not AlertState.firing or a.suppressed_by:
                continue
            due = a.notified_firing_at is None or (
                a.acknowledged_at is None and now - a.notified_firing_at >= ack_timeout
            )
            if not due:
                continue
            ladder = ladder_of(a)
            if a.notified_firing_at is None:
                ok, n = self._send(a, AlertState.firing, ladder, 0, now)
                sent += n
                failures += 0 if ok else 1
                if ok or self._gave_up(a, AlertState.firing):
                    a.notified_firing_at = now
                    a.escalation_level = 0
            elif a.escalation_level + 1 < len(ladder):
                a.escalation_level += 1
                ok, n = self._send(a, AlertState.firing, ladder, a.escalation_level, now)
                sent += n
                escalated += 1
                failures += 0 if ok else 1
                # The ack timeout restarts at each level.
                a.notified_firing_at = now
        for a in resolved:
            if a.notified_firing_at is None or a.notified_resolved_at is not None:
                continue
            if a.suppressed_by is not None:
                continue  # a silence or maintenance window covers it (see evaluate)
            ok, n = self._send(a, AlertState.resolved, ladder_of(a), a.escalation_level, now)
            sent += n
            failures += 0 if ok else 1
            if ok or self._gave_up(a, AlertState.resolved):
                a.notified_resolved_at = now
        return sent, escalated, failures

    def _gave_up(self, a: Alert, status: AlertState) -> bool:
        """After ``MAX_ATTEMPTS`` failed deliveries of the same news, stop retrying (the
        notification log keeps every attempt); until then the next cycle tries again."""
        self.session.flush()
        failed = self.session.scalar(
            select(func.count())
            .select_from(NotificationLog)
            .where(
                NotificationLog.alert_id == a.id,
                NotificationLog.status == status,
                NotificationLog.ok.is_(False),
            )
        )
        return (failed or 0) >= MAX_ATTEMPTS

    def _send(
        self,
        a: Alert,
        status: AlertState,
        ladder: list[tuple[Unit, tuple[str, ...]]],
        level: int,
        now: datetime,
    ) -> tuple[bool, int]:
        if self.notifier is None:
            return True, 0
        if ladder:
            lvl = min(level, len(ladder) - 1)
            receiver_unit = ladder[lvl][0]
            # Resolved goes to everyone who was told it was firing.
            recipients: tuple[str, ...] = (
                tuple(dict.fromkeys(e for _, emails in ladder[: lvl + 1] for e in emails))
                if status is AlertState.resolved
                else ladder[lvl][1]
            )
            receiver = f"unit-{receiver_unit.code}"
        else:
            recipients = ()
            receiver = "unit-none"
        message = Message(
            receiver=receiver,
            status=status,
            alerts=(alert_view(a),),
            recipients=recipients,
            escalation_level=level,
            external_url=self.settings.external_url,
            group_labels={"alertname": a.rule, "unit": a.labels.get("unit", "")},
        )
        outcomes = self.notifier.send(message)
        for o in outcomes:
            self.session.add(
                NotificationLog(
                    alert_id=a.id,
                    at=now,
                    channel=o.channel,
                    status=status,
                    recipients=list(o.recipients),
                    escalation_level=level,
                    ok=o.ok,
                    error=o.error,
                )
            )
        return all(o.ok for o in outcomes), len(outcomes)


def _subject(c: Condition) -> str:
    ident = c.identity
    name = ident.get("device") or ident.get("service") or ident.get("target", "")
    return f"{name} {ident['interface']}" if "interface" in ident else name


def _site_key(a: Alert) -> str:
    return f"site:{a.site_id}" if a.site_id is not None else f"unit:{a.unit_id}"


def alert_view(a: Alert) -> AlertView:
    rule = RULES.get(a.rule)
    return AlertView(
        id=a.id,
        fingerprint=a.fingerprint,
        status=a.state,
        labels=dict(a.labels),
        annotations={
            "summary": a.summary,
            "description": a.description or (rule.description if rule else ""),
        },
        starts_at=a.starts_at,
        ends_at=a.ends_at,
    )


# -- human actions ----------------------------------------------------------------------------
def acknowledge(
    session: Session, *, alert_id: int, actor: str, comment: str = "", clock: Clock
) -> Alert:
    """Acknowledge an alert: escalation stops; the alert stays until its condition clears.

    >>> # acknowledge(session, alert_id=12, actor="it.hanoi", comment="on it", clock=utcnow)
    """
    a = session.get(Alert, alert_id)
    if a is None:
        raise AlertNotFound(
            f"Không có cảnh báo số {alert_id} / no alert {alert_id}",
            hint="list alerts with `tldops monitor alerts`",
        )
    a.acknowledged_at = clock()
    a.acknowledged_by = actor
    a.ack_comment = comment
    session.flush()
    audit(
        session,
        actor=actor,
        action="acknowledge",
        entity="alert",
        entity_key=str(a.id),
        after={"comment": comment},
        unit_path=a.unit.path,
        at=a.acknowledged_at,
    )
    return a


def add_silence(
    session: Session,
    *,
    unit: Unit,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
    comment: str = "",
    rule: str | None = None,
    device_id: int | None = None,
) -> Silence:
    """Silence alerts of ``unit``'s subtree (optionally one rule / one device) for a time."""
    s = Silence(
        unit_id=unit.id,
        rule=rule,
        device_id=device_id,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=actor,
        comment=comment,
    )
    session.add(s)
    session.flush()
    audit(
        session,
        actor=actor,
        action="create",
        entity="silence",
        entity_key=str(s.id),
        after={
            "unit": unit.code,
            "rule": rule,
            "device_id": device_id,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "comment": comment,
        },
        unit_path=unit.path,
        at=starts_at,
    )
    return s


def expire_silence(session: Session, *, silence_id: int, actor: str, clock: Clock) -> Silence:
    """End a silence now (alerts it held back are notified at the next evaluation).

    >>> # expire_silence(session, silence_id=3, actor="it.hn", clock=utcnow)
    """
    s = session.get(Silence, silence_id)
    if s is None:
        raise AlertNotFound(
            f"Không có lệnh tắt cảnh báo số {silence_id} / no silence {silence_id}",
            hint="list silences with `tldops monitor silences`",
        )
    now = clock()
    before = {"ends_at": s.ends_at.isoformat()}
    if s.ends_at > now:
        s.ends_at = max(now, s.starts_at)
    session.flush()
    audit(
        session,
        actor=actor,
        action="expire",
        entity="silence",
        entity_key=str(s.id),
        before=before,
        after={"ends_at": s.ends_at.isoformat()},
        unit_path=s.unit.path,
        at=now,
    )
    return s


def add_maintenance(
    session: Session,
    *,
    unit: Unit,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
    reason: str = "",
) -> MaintenanceWindow:
    """Declare planned work on ``unit``'s subtree: its alerts are held back while it lasts."""
    w = MaintenanceWindow(
        unit_id=unit.id, starts_at=starts_at, ends_at=ends_at, reason=reason, created_by=actor
    )
    session.add(w)
    session.flush()
    audit(
        session,
        actor=actor,
        action="create",
        entity="maintenance",
        entity_key=str(w.id),
        after={
            "unit": unit.code,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "reason": reason,
        },
        unit_path=unit.path,
        at=starts_at,
    )
    return w


def open_alerts_query(unit_path: str, *, include_resolved: bool = False) -> Any:
    q = (
        select(Alert)
        .join(Unit, Alert.unit_id == Unit.id)
        .where(and_(Unit.path >= unit_path, Unit.path < unit_path + "~"))
    )
    if not include_resolved:
        q = q.where(or_(Alert.state == AlertState.pending, Alert.state == AlertState.firing))
    return q.order_by(Alert.severity, Alert.starts_at.desc(), Alert.id.desc())
