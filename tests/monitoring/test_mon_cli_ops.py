"""Operator surfaces of ``tldops monitor`` run in-process against a real SQLite database (and a
real snmpsim agent): the poll summary names devices it could not poll and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from inventory.db import make_engine, session_scope
from inventory.enums import DeviceKind
from inventory.service import InventoryService
from tests.monitoring.monpeers import Snmpsim, add_snmp_device, build_org


def _env(url: str) -> dict[str, str]:
    return {
        "TLDOPS_DATABASE_URL": url,
        "TLDOPS_ALLOWED_NETS": "127.0.0.0/8",
        "TLDOPS_MONITOR_TIMEOUT": "0.5",
        "TLDOPS_MONITOR_RETRIES": "0",
        "TLDOPS_ACTOR": "it.hn",
        "COLUMNS": "200",
    }


def _cli(url: str, *args: str) -> Any:
    from ops_cli.cli import app

    return CliRunner().invoke(app, ["monitor", *args], env=_env(url))


def test_poll_reports_devices_without_snmp_profile(sqlite_url: str, snmpsim: Snmpsim) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        svc = InventoryService(s, actor="test")
        for i in range(1, 8):  # seven switches with an address, none with an SNMP profile
            svc.create_device(
                asset_tag=f"HN-SW-0{i}",
                kind=DeviceKind.switch,
                unit_code="HN",
                hostname=f"hn-sw-0{i}",
                mgmt_ip=f"127.0.0.{10 + i}",
            )
        svc.create_device(asset_tag="HN-PC-01", kind=DeviceKind.pc, unit_code="HN")  # no address
    r = _cli(sqlite_url, "poll", "--once", "--no-checks")
    assert r.exit_code == 0, r.output
    assert "not polled 7" in r.output, r.output
    assert "7 not polled: chưa gắn hồ sơ SNMP / no SNMP credential profile" in r.output
    assert "hn-sw-01, hn-sw-02" in r.output and "(+2)" in r.output
    assert "hn-pc-01" not in r.output

    with session_scope(engine) as s:  # one gets a profile: polled, the rest still reported
        add_snmp_device(
            s,
            tag="HN-SW-99",
            kind=DeviceKind.switch,
            unit="HN",
            port=snmpsim.port,
            community="switch",
        )
    r = _cli(sqlite_url, "poll", "--once", "--no-checks", "--unit", "HN")
    assert r.exit_code == 0, r.output
    assert "up 1" in r.output and "not polled 7" in r.output
    r = _cli(sqlite_url, "poll", "--once", "--no-checks", "--unit", "HCM")
    assert r.exit_code == 0 and "not polled 0" in r.output
    assert "no SNMP credential profile" not in r.output
    assert "no active device with a management address in this subtree" in r.output


def test_service_add_list_remove_through_the_inventory(sqlite_url: str) -> None:
    import asyncio
    import socket

    from sqlalchemy import select

    from inventory.errors import Conflict, NotFound
    from inventory.models import AuditRecord, Service
    from monitoring.jobs import check_cycle
    from monitoring.service import MonitorSettings

    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    try:
        r = _cli(sqlite_url, "service", "add", "HN-BD", "cong-bd", "--kind", "tcp",
                 "--target", "127.0.0.1", "--port", str(port))  # fmt: skip
        assert r.exit_code == 0, r.output
        assert f"→ 127.0.0.1 port {port} [HN-BD]" in r.output
        r = _cli(sqlite_url, "service", "add", "HCM", "web-hcm", "--kind", "http",
                 "--target", "http://127.0.0.1:1/", "--expect", "200")  # fmt: skip
        assert r.exit_code == 0, r.output
        r = _cli(sqlite_url, "service", "add", "HN", "cong-bd", "--kind", "icmp",
                 "--target", "127.0.0.1")  # fmt: skip
        assert r.exit_code == Conflict.exit_code, r.output
        r = _cli(sqlite_url, "service", "add", "NOPE", "x", "--kind", "icmp", "--target", "h")
        assert r.exit_code == NotFound.exit_code and "NOPE" in r.output

        r = _cli(sqlite_url, "service", "list", "--unit", "HN")
        assert r.exit_code == 0, r.output
        assert "cong-bd" in r.output and "never checked" in r.output
        assert "web-hcm" not in r.output and "1 services" in r.output
        settings = MonitorSettings(allowed_nets="127.0.0.0/8", timeout=0.5, retries=0)
        asyncio.run(check_cycle(engine, settings=settings, unit_code="HN"))
        r = _cli(sqlite_url, "service", "list", "--unit", "HN")
        assert " ok " in r.output and "never checked" not in r.output, r.output
        r = _cli(sqlite_url, "service", "list")
        assert "cong-bd" in r.output and "web-hcm" in r.output and "2 services" in r.output
    finally:
        listener.close()

    r = _cli(sqlite_url, "service", "remove", "cong-bd")
    assert r.exit_code == 0, r.output
    r = _cli(sqlite_url, "service", "remove", "cong-bd")
    assert r.exit_code == NotFound.exit_code
    with session_scope(engine) as s:
        assert [svc.name for svc in s.scalars(select(Service))] == ["web-hcm"]
        trail = [
            (a.action, a.entity_key, a.actor)
            for a in s.scalars(
                select(AuditRecord).where(AuditRecord.entity == "service").order_by(AuditRecord.id)
            )
        ]
    assert trail == [
        ("create", "cong-bd", "it.hn"),
        ("create", "web-hcm", "it.hn"),
        ("delete", "cong-bd", "it.hn"),
    ]


def test_poll_honours_device_snmp_port_and_monitored_flag(
    sqlite_url: str, snmpsim: Snmpsim, tmp_path: Path
) -> None:
    """A device's own ``snmp_port`` wins over its profile's; ``monitored=False`` is left alone
    (neither polled nor reported as missing a profile) by the poll and the Prometheus export."""
    import asyncio

    from monitoring.jobs import poll_cycle
    from monitoring.models import PollStatus
    from monitoring.service import MonitorSettings

    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        # The profile names a port nobody answers on; the device's own port is the agent's.
        add_snmp_device(
            s, tag="HN-SW-01", kind=DeviceKind.switch, unit="HN", port=9, community="switch"
        )
        add_snmp_device(
            s, tag="HN-SW-02", kind=DeviceKind.switch, unit="HN", port=9, community="switch"
        )
        svc = InventoryService(s, actor="test")
        svc.set_device("HN-SW-01", snmp_port=snmpsim.port)
        svc.set_device("HN-SW-02", monitored=False)
        svc.create_device(asset_tag="HN-SW-03", kind=DeviceKind.switch, unit_code="HN",
                          mgmt_ip="127.0.0.9")  # fmt: skip
        svc.set_device("HN-SW-03", monitored=False)
    settings = MonitorSettings(allowed_nets="127.0.0.0/8", timeout=0.5, retries=0)
    summary = asyncio.run(poll_cycle(engine, settings=settings))
    assert [x.status for x in summary.samples] == [PollStatus.up]
    assert summary.unpolled == ()
    from inventory.config import Settings
    from inventory.mail import SmtpSettings
    from inventory.secrets import SecretBox
    from monitoring.promstack import ExportOptions, export_prometheus

    out = tmp_path / "prom"
    with session_scope(engine) as s:
        res = export_prometheus(
            s,
            out,
            options=ExportOptions(),
            box=SecretBox.from_settings(Settings.from_env()),
            smtp=SmtpSettings(host="127.0.0.1", port=2525),
        )
    assert res.targets == 1
    assert f"127.0.0.1:{snmpsim.port}" in (out / "targets" / "snmp-hn.json").read_text()
