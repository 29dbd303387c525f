"""Alerts end to end: real polls or stored observations → rules → e-mail to a real aiosmtpd
server and the Alertmanager-v4 webhook to a local HTTP server, with an injected clock.

Where a test needs a device to be down or up at an exact minute, it stores the observation with
``store_samples`` (the same writer the poller uses) instead of waiting for real timeouts; the
first test does the whole path with real SNMP polls.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from inventory.db import make_engine, session_scope
from inventory.enums import DeviceKind, Severity
from inventory.mail import Mailer, SmtpSettings
from inventory.models import CredentialProfile, Device, Unit
from inventory.service import record_event
from monitoring.alerts import acknowledge, add_maintenance, add_silence
from monitoring.jobs import alert_cycle, poll_cycle
from monitoring.models import Alert, AlertState, NotificationLog, PollStatus
from monitoring.service import MonitorSettings, store_samples
from monitoring.snmp import DeviceSample
from tests.monitoring.monpeers import (
    FakeClock,
    SmtpSink,
    Snmpd,
    Snmpsim,
    WebhookSink,
    add_snmp_device,
    build_org,
)

SETTINGS = MonitorSettings(allowed_nets="127.0.0.0/8", timeout=0.3, retries=0, concurrency=32)


def mailer(smtp: SmtpSink) -> Mailer:
    return Mailer(SmtpSettings(host="127.0.0.1", port=smtp.port, timeout=5))


def observe(engine: Any, device_id: int, status: PollStatus, clock: FakeClock) -> None:
    sample = DeviceSample(
        device_id=device_id,
        host="127.0.0.1",
        status=status,
        polled_at=clock(),
        duration_ms=1.0,
        error=None if status is PollStatus.up else "No SNMP response received before timeout",
        sys_uptime=100 if status is PollStatus.up else None,
    )
    with session_scope(engine) as s:
        store_samples(s, [sample], clock=clock)


def alerts(engine: Any) -> list[Alert]:
    with session_scope(engine) as s:
        return list(s.scalars(select(Alert).order_by(Alert.id)))


def recipients(messages: list[Any]) -> list[str]:
    return [m["To"] for m in messages]


def test_device_down_pending_firing_email_resolved(
    db_url: str, snmpd: Snmpd, smtp_server: SmtpSink, clock: FakeClock
) -> None:
    """Real polls: nothing answers → down → pending → firing after 5 min → e-mail; the agent
    comes back → resolved → resolved e-mail. Runs on SQLite and PostgreSQL."""
    engine = make_engine(db_url)
    dead_port = snmpd.port + 1 if snmpd.port < 21999 else snmpd.port - 1
    with session_scope(engine) as s:
        org = build_org(s)
        dev = add_snmp_device(
            s,
            tag="HN-SW-01",
            kind=DeviceKind.switch,
            unit="HN",
            port=dead_port,
            community=snmpd.community,
            site="HN-OFFICE",
        )
        dev_id = dev.id
    m = mailer(smtp_server)

    def cycle() -> Any:
        asyncio.run(poll_cycle(engine, settings=SETTINGS, clock=clock))
        return alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)

    first = cycle()
    assert (first.pending, first.firing, first.notifications) == (1, 0, 0)
    clock.advance(minutes=3)
    assert cycle().pending == 1
    clock.advance(minutes=3)
    fired = cycle()
    assert (fired.firing, fired.notifications) == (1, 1)
    (msg,) = smtp_server.wait_for(1)
    assert msg["To"] == org.emails["HN"]
    assert "device_down" in msg["Subject"] and "hn-sw-01" in msg["Subject"]
    (a,) = alerts(engine)
    assert a.state is AlertState.firing and a.labels["province"] == "HN"
    assert a.labels["site"] == "HN-OFFICE" and a.labels["kind"] == "switch"

    # The agent answers again: fix the profile's port, poll, resolve.
    with session_scope(engine) as s:
        prof = s.scalar(
            select(CredentialProfile)
            .join(Device, Device.snmp_profile_id == CredentialProfile.id)
            .where(Device.id == dev_id)
        )
        prof.params = {**prof.params, "port": snmpd.port}
    clock.advance(minutes=1)
    done = cycle()
    assert (done.resolved, done.firing) == (1, 0)
    msgs = smtp_server.wait_for(2)
    assert len(msgs) == 2 and "RESOLVED" in msgs[1]["Subject"]
    (a,) = alerts(engine)
    assert a.state is AlertState.resolved and a.ends_at == clock()
    engine.dispose()


def test_flapping_alert_is_not_notified(
    sqlite_url: str, smtp_server: SmtpSink, clock: FakeClock
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        dev_id = add_snmp_device(s, tag="HN-SW-02", kind=DeviceKind.switch, unit="HN", port=1).id
    m = mailer(smtp_server)
    for _ in range(3):  # down 6 min, up 4 min: three full alert lives in 30 minutes
        observe(engine, dev_id, PollStatus.down, clock)
        alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
        clock.advance(minutes=6)
        alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
        observe(engine, dev_id, PollStatus.up, clock)
        alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
        clock.advance(minutes=4)
    assert len(smtp_server.wait_for(6)) == 6  # 3 × (firing + resolved)
    observe(engine, dev_id, PollStatus.down, clock)
    alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    clock.advance(minutes=6)
    summary = alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    assert summary.firing == 1 and summary.suppressed == 1 and summary.notifications == 0
    last = alerts(engine)[-1]
    assert last.flapping and last.suppressed_by == "flapping"
    assert len(smtp_server.wait_for(7, timeout=0.5)) == 6


def test_silence_covers_the_subtree_only(
    sqlite_url: str, smtp_server: SmtpSink, clock: FakeClock
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        org = build_org(s)
        bd = add_snmp_device(s, tag="BD-SW-01", kind=DeviceKind.switch, unit="HN-BD", port=1).id
        hcm = add_snmp_device(s, tag="HCM-SW-01", kind=DeviceKind.switch, unit="HCM", port=1).id
        hn = s.scalar(select(Unit).where(Unit.code == "HN"))
        add_silence(
            s,
            unit=hn,
            starts_at=clock(),
            ends_at=clock() + timedelta(hours=2),
            actor="it.hn",
            comment="thay switch",
        )
    for dev in (bd, hcm):
        observe(engine, dev, PollStatus.down, clock)
    alert_cycle(engine, clock=clock, mailer=mailer(smtp_server), settings=SETTINGS)
    clock.advance(minutes=6)
    summary = alert_cycle(engine, clock=clock, mailer=mailer(smtp_server), settings=SETTINGS)
    assert summary.firing == 2 and summary.suppressed == 1 and summary.notifications == 1
    (msg,) = smtp_server.wait_for(1)
    assert msg["To"] == org.emails["HCM"]
    silenced = next(a for a in alerts(engine) if a.device_id == bd)
    assert silenced.suppressed_by is not None and silenced.suppressed_by.startswith("silence:")


def test_maintenance_window_holds_then_releases(
    sqlite_url: str, smtp_server: SmtpSink, clock: FakeClock
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        org = build_org(s)
        dev = add_snmp_device(s, tag="BD-SRV-01", kind=DeviceKind.server, unit="HN-BD", port=1).id
        bd = s.scalar(select(Unit).where(Unit.code == "HN-BD"))
        add_maintenance(
            s,
            unit=bd,
            starts_at=clock(),
            ends_at=clock() + timedelta(minutes=30),
            actor="it.bd",
            reason="nâng cấp máy chủ",
        )
    observe(engine, dev, PollStatus.down, clock)
    m = mailer(smtp_server)
    alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    clock.advance(minutes=10)
    held = alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    assert held.firing == 1 and held.suppressed == 1 and held.notifications == 0
    assert alerts(engine)[0].suppressed_by.startswith("maintenance:")  # type: ignore[union-attr]
    clock.advance(minutes=25)  # window over, still down: now it is news
    released = alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    assert released.notifications == 1
    (msg,) = smtp_server.wait_for(1)
    assert msg["To"] == org.emails["HN-BD"]


def test_site_gateway_down_gives_one_alert_not_fifty(
    sqlite_url: str, smtp_server: SmtpSink, clock: FakeClock
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        org = build_org(s)
        router = add_snmp_device(
            s, tag="HN-RT-01", kind=DeviceKind.router, unit="HN", port=1, site="HN-OFFICE"
        ).id
        switches = [
            add_snmp_device(
                s, tag=f"HN-SW-{i:02d}", kind=DeviceKind.switch, unit="HN", port=1, site="HN-OFFICE"
            ).id
            for i in range(12)
        ]
        other = add_snmp_device(
            s, tag="HCM-SW-01", kind=DeviceKind.switch, unit="HCM", port=1, site="HCM-OFFICE"
        ).id
    for dev in (router, *switches, other):
        observe(engine, dev, PollStatus.down, clock)
    m = mailer(smtp_server)
    alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    clock.advance(minutes=6)
    summary = alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    assert summary.firing == 14
    assert summary.suppressed == 12
    assert summary.notifications == 2  # the router at HN-OFFICE, and the unrelated HCM switch
    msgs = smtp_server.wait_for(2)
    subjects = sorted(m["Subject"] for m in msgs)
    assert any("hn-rt-01" in s for s in subjects) and any("hcm-sw-01" in s for s in subjects)
    assert sorted(recipients(msgs)) == sorted([org.emails["HN"], org.emails["HCM"]])
    router_alert = next(a for a in alerts(engine) if a.device_id == router)
    muted = [a for a in alerts(engine) if a.device_id in switches]
    assert all(a.suppressed_by == f"site_down:{router_alert.id}" for a in muted)
    # The router comes back: its alert resolves and the switches' alerts become news.
    observe(engine, router, PollStatus.up, clock)
    after = alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    assert after.resolved == 1 and after.suppressed == 0 and after.notifications == 13


def test_uplink_down_from_real_poll_mutes_its_site(
    sqlite_url: str, snmpsim: Snmpsim, smtp_server: SmtpSink, clock: FakeClock
) -> None:
    """snmpsim's ``switch-uplink-down`` recording: the uplink port is oper down."""
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        add_snmp_device(
            s,
            tag="BD-SW-CORE",
            kind=DeviceKind.switch,
            unit="HN-BD",
            port=snmpsim.port,
            community="switch-uplink-down",
            site="HN-BD-OFFICE",
        )
        printer = add_snmp_device(
            s,
            tag="BD-PRN-01",
            kind=DeviceKind.printer,
            unit="HN-BD",
            port=snmpsim.port,
            community="printer",
            site="HN-BD-OFFICE",
        ).id
    summary = asyncio.run(poll_cycle(engine, settings=SETTINGS, clock=clock))
    assert summary.up == 2, summary.samples
    m = mailer(smtp_server)
    alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    clock.advance(minutes=6)
    asyncio.run(poll_cycle(engine, settings=SETTINGS, clock=clock))
    result = alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    by_rule = {a.rule: a for a in alerts(engine)}
    assert {"uplink_down", "interface_down", "toner_low"} <= set(by_rule)
    assert by_rule["uplink_down"].labels["interface"] == "Gi0/1"
    assert by_rule["uplink_down"].suppressed_by is None
    assert by_rule["toner_low"].device_id == printer
    assert by_rule["toner_low"].suppressed_by == f"site_down:{by_rule['uplink_down'].id}"
    assert by_rule["interface_down"].suppressed_by == f"site_down:{by_rule['uplink_down'].id}"
    assert result.notifications == 1


def test_escalation_up_the_tree_until_acknowledged(
    sqlite_url: str, smtp_server: SmtpSink, clock: FakeClock
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        org = build_org(s)
        dev = add_snmp_device(s, tag="BD-SW-01", kind=DeviceKind.switch, unit="HN-BD", port=1).id
    m = mailer(smtp_server)
    observe(engine, dev, PollStatus.down, clock)
    alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    clock.advance(minutes=6)
    alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    assert recipients(smtp_server.wait_for(1)) == [org.emails["HN-BD"]]
    clock.advance(minutes=20)  # inside the 30-minute ack timeout: nothing new
    assert alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS).escalations == 0
    clock.advance(minutes=11)
    esc = alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    assert esc.escalations == 1
    msgs = smtp_server.wait_for(2)
    assert recipients(msgs)[1] == org.emails["HN"]
    assert "escalated 1" in msgs[1]["Subject"]
    (a,) = alerts(engine)
    with session_scope(engine) as s:
        acknowledge(s, alert_id=a.id, actor="it.hn", comment="đang xử lý", clock=clock)
    clock.advance(minutes=45)
    assert alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS).escalations == 0
    # Resolved goes to everyone who was told.
    observe(engine, dev, PollStatus.up, clock)
    alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    msgs = smtp_server.wait_for(3)
    assert "RESOLVED" in msgs[2]["Subject"]
    assert set(msgs[2]["To"].split(", ")) == {org.emails["HN-BD"], org.emails["HN"]}
    with session_scope(engine) as s:
        log = s.scalars(select(NotificationLog).order_by(NotificationLog.id)).all()
        assert [(n.status, n.escalation_level, n.ok) for n in log] == [
            (AlertState.firing, 0, True),
            (AlertState.firing, 1, True),
            (AlertState.resolved, 1, True),
        ]


def test_webhook_alertmanager_v4_payload(
    sqlite_url: str, webhook_sink: WebhookSink, clock: FakeClock
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        dev = add_snmp_device(
            s, tag="HCM-RT-01", kind=DeviceKind.router, unit="HCM", port=1, site="HCM-OFFICE"
        ).id
    settings = MonitorSettings(
        allowed_nets="127.0.0.0/8",
        webhook_url=webhook_sink.url,
        external_url="https://tldops.congdoan.vn",
    )
    observe(engine, dev, PollStatus.down, clock)
    alert_cycle(engine, clock=clock, mailer=None, settings=settings)
    clock.advance(minutes=6)
    alert_cycle(engine, clock=clock, mailer=None, settings=settings)
    observe(engine, dev, PollStatus.up, clock)
    clock.advance(minutes=1)
    alert_cycle(engine, clock=clock, mailer=None, settings=settings)
    assert len(webhook_sink.bodies) == 2
    firing, resolved = webhook_sink.bodies
    assert set(firing) >= {
        "version",
        "groupKey",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
        "truncatedAlerts",
    }
    assert firing["version"] == "4" and firing["status"] == "firing"
    assert firing["receiver"] == "unit-HCM"
    assert firing["externalURL"] == "https://tldops.congdoan.vn"
    assert firing["groupLabels"] == {"alertname": "device_down", "unit": "HCM"}
    assert firing["groupKey"] == '{}:{alertname="device_down", unit="HCM"}'
    assert firing["commonLabels"]["severity"] == "critical"
    (fa,) = firing["alerts"]
    assert set(fa) == {
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    }
    assert fa["labels"]["alertname"] == "device_down" and fa["labels"]["device"] == "hcm-rt-01"
    assert fa["endsAt"] == "0001-01-01T00:00:00Z"
    assert fa["startsAt"].endswith("Z") and fa["generatorURL"].startswith(
        "https://tldops.congdoan.vn/"
    )
    (ra,) = resolved["alerts"]
    assert resolved["status"] == "resolved" and ra["status"] == "resolved"
    assert ra["fingerprint"] == fa["fingerprint"] and ra["endsAt"] != "0001-01-01T00:00:00Z"


def test_backup_events_stale_and_failed(db_url: str, clock: FakeClock) -> None:
    """Runs on SQLite and PostgreSQL: the newest event per target is a JSON GROUP BY."""
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        build_org(s)
        hn = s.scalar(select(Unit).where(Unit.code == "HN"))
        record_event(
            s,
            source="playbooks.backup",
            kind="backup_succeeded",
            message="ok",
            unit_id=hn.id,
            data={"target": "db-main", "backup_kind": "db"},
            at=clock() - timedelta(hours=30),
        )
        record_event(
            s,
            source="playbooks.backup",
            kind="backup_succeeded",
            message="ok",
            unit_id=hn.id,
            data={"target": "restic-hn", "backup_kind": "restic"},
            at=clock() - timedelta(hours=2),
        )
        record_event(
            s,
            source="playbooks.backup",
            kind="backup_failed",
            message="repo locked",
            severity=Severity.critical,
            unit_id=hn.id,
            data={"target": "restic-hn", "backup_kind": "restic"},
            at=clock() - timedelta(hours=1),
        )
    alert_cycle(engine, clock=clock, mailer=None, settings=SETTINGS)
    got = {(a.rule, a.labels["target"]) for a in alerts(engine) if a.state is AlertState.firing}
    assert got == {("backup_stale", "db-main"), ("backup_failed", "restic-hn")}
    with session_scope(engine) as s:
        hn = s.scalar(select(Unit).where(Unit.code == "HN"))
        record_event(
            s,
            source="playbooks.backup",
            kind="backup_succeeded",
            message="ok",
            unit_id=hn.id,
            data={"target": "restic-hn", "backup_kind": "restic"},
            at=clock(),
        )
    summary = alert_cycle(engine, clock=clock, mailer=None, settings=SETTINGS)
    assert summary.resolved == 1 and summary.firing == 1
    engine.dispose()


@pytest.mark.parametrize(
    "community,rules", [("ups", {"ups_on_battery", "ups_low_runtime"}), ("ups-normal", set())]
)
def test_ups_rules_from_recordings(
    sqlite_url: str, snmpsim: Snmpsim, clock: FakeClock, community: str, rules: set[str]
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        add_snmp_device(
            s,
            tag="HN-UPS-01",
            kind=DeviceKind.ups,
            unit="HN",
            port=snmpsim.port,
            community=community,
        )
    asyncio.run(poll_cycle(engine, settings=SETTINGS, clock=clock))
    alert_cycle(engine, clock=clock, mailer=None, settings=SETTINGS)
    clock.advance(minutes=2)
    alert_cycle(engine, clock=clock, mailer=None, settings=SETTINGS)
    assert {a.rule for a in alerts(engine) if a.state is AlertState.firing} == rules


def test_v3_profiles_through_poll_cycle_and_snmp_error_rule(
    sqlite_url: str, snmpd: Snmpd, clock: FakeClock
) -> None:
    """A v3 profile with the right keys polls up; one with a wrong key is an SNMP *error*
    (the agent answers, refusing us), which raises snmp_error, not device_down."""
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        add_snmp_device(
            s,
            tag="HN-FW-01",
            kind=DeviceKind.firewall,
            unit="HN",
            port=snmpd.port,
            v3=(snmpd.user, snmpd.auth_key, snmpd.priv_key),
        )
        add_snmp_device(
            s,
            tag="HN-FW-02",
            kind=DeviceKind.firewall,
            unit="HN",
            port=snmpd.port,
            v3=(snmpd.user, "wrong-auth-key", snmpd.priv_key),
        )
    summary = asyncio.run(poll_cycle(engine, settings=SETTINGS, clock=clock))
    assert (summary.up, summary.error, summary.down) == (1, 1, 0)
    alert_cycle(engine, clock=clock, mailer=None, settings=SETTINGS)
    clock.advance(minutes=11)
    asyncio.run(poll_cycle(engine, settings=SETTINGS, clock=clock))
    alert_cycle(engine, clock=clock, mailer=None, settings=SETTINGS)
    (a,) = alerts(engine)
    assert a.rule == "snmp_error" and a.state is AlertState.firing
    assert a.labels["device"] == "hn-fw-02" and "digest" in a.description.lower()


def test_uplink_saturated_disk_full_and_dedup(sqlite_url: str, clock: FakeClock) -> None:
    """Stored observations: an uplink carrying 960 Mbit/s of 1 Gbit/s and a 95 % full disk.
    Re-evaluating never opens a second alert for the same condition."""
    from monitoring.snmp import InterfaceSample

    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        sw = add_snmp_device(s, tag="HN-SW-CORE", kind=DeviceKind.switch, unit="HN", port=1).id
        srv = add_snmp_device(s, tag="HN-SRV-01", kind=DeviceKind.server, unit="HN", port=1).id

    def sample(octets: int, uptime: int) -> DeviceSample:
        uplink = InterfaceSample(
            if_index=1,
            name="Gi0/1",
            alias="Uplink VNPT",
            admin_up=True,
            oper_up=True,
            speed_bps=1_000_000_000,
            in_octets=octets,
            out_octets=0,
            in_errors=0,
            out_errors=0,
            counter_bits=64,
        )
        return DeviceSample(
            device_id=sw,
            host="127.0.0.1",
            status=PollStatus.up,
            polled_at=clock(),
            duration_ms=1.0,
            sys_uptime=uptime,
            interfaces=(uplink,),
        )

    disk = DeviceSample(
        device_id=srv,
        host="127.0.0.1",
        status=PollStatus.up,
        polled_at=clock(),
        duration_ms=1.0,
        sys_uptime=100,
        metrics={
            "cpu_percent": 12.0,
            "storage": [
                {"descr": "/srv", "size_bytes": 100, "used_bytes": 95, "used_percent": 95.0}
            ],
        },
    )
    with session_scope(engine) as s:
        store_samples(s, [sample(0, 1000), disk], clock=clock)
    clock.advance(seconds=10)
    with session_scope(engine) as s:
        store_samples(s, [sample(1_200_000_000, 2000)], clock=clock)  # 960 Mbit/s
    for _ in range(3):
        alert_cycle(engine, clock=clock, mailer=None, settings=SETTINGS)
    assert {(a.rule, a.state) for a in alerts(engine)} == {
        ("uplink_saturated", AlertState.pending),
        ("disk_full", AlertState.pending),
    }
    clock.advance(minutes=16)
    summary = alert_cycle(engine, clock=clock, mailer=None, settings=SETTINGS)
    assert summary.firing == 2 and len(alerts(engine)) == 2
    sat = next(a for a in alerts(engine) if a.rule == "uplink_saturated")
    assert sat.labels["interface"] == "Gi0/1" and "96%" in sat.description


def test_mail_server_down_then_back_retries_delivery(
    sqlite_url: str, smtp_server: SmtpSink, clock: FakeClock
) -> None:
    import socket

    from tests.monitoring.monpeers import free_port

    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        org = build_org(s)
        dev = add_snmp_device(s, tag="HCM-SW-01", kind=DeviceKind.switch, unit="HCM", port=1).id
    dead = Mailer(SmtpSettings(host="127.0.0.1", port=free_port(socket.SOCK_STREAM), timeout=2))
    observe(engine, dev, PollStatus.down, clock)
    alert_cycle(engine, clock=clock, mailer=dead, settings=SETTINGS)
    clock.advance(minutes=6)
    failed = alert_cycle(engine, clock=clock, mailer=dead, settings=SETTINGS)
    assert failed.notify_failures == 1
    assert alerts(engine)[0].notified_firing_at is None  # not marked: tried again next cycle
    clock.advance(minutes=1)
    ok = alert_cycle(engine, clock=clock, mailer=mailer(smtp_server), settings=SETTINGS)
    assert ok.notify_failures == 0 and ok.notifications == 1
    assert recipients(smtp_server.wait_for(1)) == [org.emails["HCM"]]
    clock.advance(minutes=1)
    assert (
        alert_cycle(
            engine, clock=clock, mailer=mailer(smtp_server), settings=SETTINGS
        ).notifications
        == 0
    )
    with session_scope(engine) as s:
        log = s.scalars(select(NotificationLog).order_by(NotificationLog.id)).all()
        assert [n.ok for n in log] == [False, True]
        assert "cannot send mail" in (log[0].error or "")


def test_without_secret_key_devices_are_unpolled_not_down(
    sqlite_url: str, snmpd: Snmpd, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitoring.service import NO_KEY

    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        add_snmp_device(
            s,
            tag="HN-SW-01",
            kind=DeviceKind.switch,
            unit="HN",
            port=snmpd.port,
            community=snmpd.community,
        )
    monkeypatch.delenv("TLDOPS_SECRET_KEY")
    summary = asyncio.run(poll_cycle(engine, settings=SETTINGS, clock=clock))
    assert summary.polled == 0 and [u.reason for u in summary.unpolled] == [NO_KEY]
    assert alert_cycle(engine, clock=clock, mailer=None, settings=SETTINGS).conditions == 0


@pytest.mark.parametrize("quiet", ["silence", "maintenance"])
def test_alert_resolving_while_silenced_mails_nothing(
    sqlite_url: str, smtp_server: SmtpSink, clock: FakeClock, quiet: str
) -> None:
    """Fired and mailed, then silenced (or under maintenance), then over: no RESOLVED mail, not
    even after the silence ends. A device outside the silence still gets its RESOLVED mail."""
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        org = build_org(s)
        bd = add_snmp_device(s, tag="BD-SW-01", kind=DeviceKind.switch, unit="HN-BD", port=1).id
        hcm = add_snmp_device(s, tag="HCM-SW-01", kind=DeviceKind.switch, unit="HCM", port=1).id
    m = mailer(smtp_server)
    for dev in (bd, hcm):
        observe(engine, dev, PollStatus.down, clock)
    alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    clock.advance(minutes=6)
    fired = alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    assert (fired.firing, fired.notifications) == (2, 2)
    assert len(smtp_server.wait_for(2)) == 2
    with session_scope(engine) as s:
        hn = s.scalar(select(Unit).where(Unit.code == "HN"))
        ends = clock() + timedelta(minutes=30)
        if quiet == "silence":
            add_silence(s, unit=hn, starts_at=clock(), ends_at=ends, actor="it.hn")
        else:
            add_maintenance(s, unit=hn, starts_at=clock(), ends_at=ends, actor="it.hn")
    clock.advance(minutes=1)
    for dev in (bd, hcm):
        observe(engine, dev, PollStatus.up, clock)
    done = alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS)
    assert (done.resolved, done.notifications) == (2, 1)
    msgs = smtp_server.wait_for(3)
    assert "RESOLVED" in msgs[2]["Subject"] and msgs[2]["To"] == org.emails["HCM"]
    quiet_alert = next(a for a in alerts(engine) if a.device_id == bd)
    assert quiet_alert.state is AlertState.resolved and quiet_alert.notified_resolved_at is None
    assert (quiet_alert.suppressed_by or "").startswith(f"{quiet}:")
    clock.advance(minutes=40)  # the silence is over; the alert stays over, and quiet
    assert alert_cycle(engine, clock=clock, mailer=m, settings=SETTINGS).notifications == 0
    assert len(smtp_server.wait_for(4, timeout=0.5)) == 3
