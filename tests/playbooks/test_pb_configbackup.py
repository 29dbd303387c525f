"""Config backup against real sshd daemons on loopback: netmiko (``linux`` device type; the test
user's ``show`` script prints a switch-like configuration) and fabric for server files.

Failure cases in the same run: wrong password, changed host key, a command that never finishes
(read timeout) and a port that accepts TCP but never speaks SSH. None of them stops the others.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.db import make_engine, make_sessionmaker
from inventory.enums import CredentialKind, DeviceKind, UnitKind
from inventory.models import OpsEvent
from inventory.secrets import SecretBox
from inventory.service import InventoryService
from playbooks.configbackup import BackupSettings, ConfigRepo, backup_configs, clean_config
from playbooks.enums import BackupOutcome
from playbooks.models import ConfigBackup
from tests.playbooks.sshhosts import Sshd, TestUser, free_port, start_sshd

CONFIG = """hostname hn-sw-core
username admin privilege 15 secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0
snmp-server community Pr1vateC0mm RO
interface GigabitEthernet0/1
 description uplink VNPT
"""


@pytest.fixture
def session(sqlite_url: str) -> Iterator[Session]:
    engine = make_engine(sqlite_url)
    s = make_sessionmaker(engine)()
    yield s
    s.close()
    engine.dispose()


@pytest.fixture
def slow_sshd(ssh_user: TestUser, tmp_path: Path) -> Iterator[Sshd]:
    d = start_sshd(tmp_path / "sshd-slow", set_env={"TPB_MODE": "slow"})
    yield d
    d.stop()
    subprocess.run(["pkill", "-u", ssh_user.name, "-f", "sleep 600"], capture_output=True)


@pytest.fixture
def rekeyed_sshd(ssh_user: TestUser, tmp_path: Path) -> Iterator[Sshd]:
    d = start_sshd(tmp_path / "sshd-rekeyed")
    yield d
    d.stop()


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """Accepts TCP connections (kernel backlog) and never says a word."""
    port = free_port()
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen(16)
    yield port
    sock.close()


def _profile(
    svc: InventoryService, box: SecretBox, name: str, password: str, **params: Any
) -> None:
    svc.create_credential(
        name=name,
        kind=CredentialKind.ssh,
        username="tpbuser",
        box=box,
        secret={"password": password},
        params=params,
    )


def test_backup_configs_with_dead_devices(
    session: Session,
    sshd: Sshd,
    slow_sshd: Sshd,
    rekeyed_sshd: Sshd,
    hanging_port: int,
    ssh_user: TestUser,
    tmp_path: Path,
) -> None:
    device_dir = ssh_user.home / "device"
    (device_dir / "default.cfg").write_text(CONFIG)
    srv_root = device_dir / "srv"
    (srv_root / "etc/keepalived").mkdir(parents=True, exist_ok=True)
    (srv_root / "etc/keepalived/keepalived.conf").write_text(
        "vrrp_instance VI_PORTAL {\n    auth_pass Vrrp-S3cret\n    priority 150\n}\n"
    )
    (srv_root / "etc/snmp").mkdir(parents=True, exist_ok=True)
    snmpd_conf = srv_root / "etc/snmp/snmpd.conf"
    snmpd_conf.write_text('createUser tldops SHA "AuthK-123456" AES "PrivK-654321"\n')
    snmpd_conf.chmod(0o600)  # root-only: needs `sudo -n cat`
    subprocess.run(["chown", "-R", "tpbuser:tpbuser", str(device_dir / "default.cfg")], check=True)

    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    svc = InventoryService(session, actor="test")
    svc.create_unit(
        code="TLD", name="Tổng Liên đoàn Lao động Việt Nam", level=1, kind=UnitKind.central
    )
    svc.create_unit(
        code="HN",
        name="LĐLĐ thành phố Hà Nội",
        level=2,
        kind=UnitKind.province_federation,
        parent_code="TLD",
    )
    svc.create_unit(
        code="HN-BD", name="LĐLĐ quận Ba Đình", level=3, kind=UnitKind.district, parent_code="HN"
    )
    _profile(svc, box, "ssh-good", ssh_user.password, port=sshd.port)
    _profile(svc, box, "ssh-badpw", "wrong-password", port=sshd.port)
    _profile(svc, box, "ssh-slow", ssh_user.password, port=slow_sshd.port)
    _profile(svc, box, "ssh-rekeyed", ssh_user.password, port=rekeyed_sshd.port)
    _profile(svc, box, "ssh-hang", ssh_user.password, port=hanging_port)
    _profile(
        svc,
        box,
        "ssh-server",
        ssh_user.password,
        port=sshd.port,
        sudo=True,
        backup_paths=[str(srv_root / "etc/keepalived/keepalived.conf"), str(snmpd_conf)],
    )
    devices = {
        "HN-SW-1": ("HN-BD", DeviceKind.switch, "ssh-good"),
        "HN-SW-2": ("HN-BD", DeviceKind.switch, "ssh-badpw"),
        "HN-SW-3": ("HN-BD", DeviceKind.switch, "ssh-slow"),
        "HN-SW-4": ("HN-BD", DeviceKind.switch, "ssh-rekeyed"),
        "HN-RT-5": ("HN", DeviceKind.router, "ssh-hang"),
        "HN-SRV-1": ("HN", DeviceKind.server, "ssh-server"),
    }
    for tag, (unit, kind, prof) in devices.items():
        svc.create_device(
            asset_tag=tag,
            kind=kind,
            unit_code=unit,
            hostname=tag.lower(),
            mgmt_ip="127.0.0.1",
            platform=None if kind is DeviceKind.server else "linux",
        )
        svc.attach_credentials(tag, ssh=prof)
    session.flush()

    other_key = tmp_path / "other_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True
    )
    wrong = " ".join(other_key.with_suffix(".pub").read_text().split()[:2])
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        "\n".join(
            [
                sshd.known_hosts_line(),
                slow_sshd.known_hosts_line(),
                f"[127.0.0.1]:{rekeyed_sshd.port} {wrong}",  # the device "was replaced"
            ]
        )
        + "\n"
    )
    settings = BackupSettings(
        known_hosts=known_hosts, workers=6, conn_timeout_s=4, read_timeout_s=4
    )
    repo = ConfigRepo(tmp_path / "configs")

    start = time.monotonic()
    first = {r.asset_tag: r for r in backup_configs(session, box=box, repo=repo, settings=settings)}
    elapsed = time.monotonic() - start
    assert first["HN-SW-1"].outcome is BackupOutcome.first, first["HN-SW-1"].error
    assert first["HN-SRV-1"].outcome is BackupOutcome.first, first["HN-SRV-1"].error
    for tag in ("HN-SW-2", "HN-SW-3", "HN-SW-4", "HN-RT-5"):
        assert first[tag].outcome is BackupOutcome.failed, tag
    assert "Authentication" in (first["HN-SW-2"].error or "")
    assert "host key changed" in (first["HN-SW-4"].error or "")
    assert "Timeout" in (first["HN-SW-3"].error or "")
    assert "timeout" in (first["HN-RT-5"].error or "").lower()
    assert first["HN-RT-5"].duration_s < 8
    # Concurrent: the three slow failures (each ~4 s) did not add up.
    assert elapsed < 11, (elapsed, sorted((r.duration_s, t) for t, r in first.items()))

    stored = repo.path / "ldld_thanh_pho_ha_noi/ldld_quan_ba_dinh/hn_sw_1.cfg"
    assert first["HN-SW-1"].repo_path == str(stored.relative_to(repo.path))
    text = stored.read_text()
    assert "hostname hn-sw-core" in text and "description uplink VNPT" in text
    assert "Pr1vateC0mm" not in text and "snmp-server community <removed> RO" in text
    assert "$1$mERr" not in text and "Last configuration change" not in text
    server_text = (repo.path / first["HN-SRV-1"].repo_path).read_text()  # type: ignore[operator]
    assert "priority 150" in server_text and "Vrrp-S3cret" not in server_text
    assert "createUser tldops SHA <removed> AES <removed>" in server_text  # read through sudo

    # Same config, new timestamp: nothing to commit.
    healthy = BackupSettings(known_hosts=known_hosts, workers=2, conn_timeout_s=4, read_timeout_s=4)
    second = backup_configs(session, box=box, repo=repo, settings=healthy, unit_code="HN-BD")
    assert {r.asset_tag: r.outcome for r in second}["HN-SW-1"] is BackupOutcome.unchanged
    (device_dir / "default.cfg").write_text(CONFIG + "interface Vlan20\n description camera\n")
    third = {
        r.asset_tag: r
        for r in backup_configs(session, box=box, repo=repo, settings=healthy, unit_code="HN-BD")
    }
    assert third["HN-SW-1"].outcome is BackupOutcome.changed
    assert third["HN-SW-1"].lines_added == 2 and third["HN-SW-1"].lines_removed == 0
    log = subprocess.run(
        ["git", "-C", str(repo.path), "log", "--format=%s", "--", stored.relative_to(repo.path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert log == ["HN-SW-1: configuration", "HN-SW-1: configuration"]
    diff = repo.diff(str(stored.relative_to(repo.path)))
    assert "+interface Vlan20" in diff and "+ description camera" in diff

    session.commit()
    kinds = [e.kind for e in session.scalars(select(OpsEvent).order_by(OpsEvent.id))]
    assert kinds.count("config_backup_failed") == 4 + 3 + 3  # SW-2,3,4 fail in runs 2 and 3 too
    assert kinds.count("config_changed") == 1
    changed = session.scalar(select(OpsEvent).where(OpsEvent.kind == "config_changed"))
    assert changed is not None and changed.data["target"] == "HN-SW-1"
    assert changed.data["backup_kind"] == "config"
    rows = session.scalars(select(ConfigBackup)).all()
    assert len(rows) == 6 + 4 + 4


def test_clean_config_masks_and_filters() -> None:
    raw = (
        "Building configuration...\r\n"
        "Current configuration : 1234 bytes\r\n"
        "! Last configuration change at 10:01:02 ICT Mon Nov 25 2026\r\n"
        "enable secret 9 $9$abc\r\n"
        "tacacs-server host 198.18.0.5 key 7 0822455D0A16\r\n"
        "ip route 0.0.0.0 0.0.0.0 198.18.0.1\r\n"
    )
    assert clean_config(raw) == (
        "enable secret 9 <removed>\n"
        "tacacs-server host 198.18.0.5 key 7 <removed>\n"
        "ip route 0.0.0.0 0.0.0.0 198.18.0.1\n"
    )
