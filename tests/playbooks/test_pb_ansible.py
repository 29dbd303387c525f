"""Real ansible-playbook runs through ansible-runner against a real sshd on loopback.

The "hosts" are sandboxes: every role path is prefixed with ``tldops_root`` (a temp directory)
and service actions are pointed at commands that leave a trace, so the machine's own
/etc/ssh/sshd_config, time zone and apt sources are never touched.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.db import make_engine, make_sessionmaker
from inventory.enums import CredentialKind
from inventory.secrets import SecretBox
from inventory.service import InventoryService
from playbooks.enums import RunStatus
from playbooks.models import HostResult, PlaybookRun
from playbooks.runner import RunProgress, credential_secrets, run_playbook
from tests.playbooks.sshhosts import Sshd, TestUser

AUTH_KEY = "AuthKey-Sekret-4417"
PRIV_KEY = "PrivKey-Sekret-9923"


def _host(sshd: Sshd, user: TestUser, root: Path, **hostvars: Any) -> dict[str, Any]:
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": sshd.port,
        "ansible_user": user.name,
        "ansible_ssh_private_key_file": str(user.key),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_become_method": "sudo",
        "tldops_root": str(root),
        **hostvars,
    }


@pytest.fixture
def session(sqlite_url: str) -> Any:
    engine = make_engine(sqlite_url)
    s = make_sessionmaker(engine)()
    yield s
    s.close()
    engine.dispose()


def test_office_baseline_real_state_and_idempotent(
    session: Session, sshd: Sshd, ssh_user: TestUser, tmp_path: Path
) -> None:
    roots = {name: tmp_path / "hosts" / name for name in ("office-hn", "office-dn")}
    common = {
        "office_create_accounts": False,
        "office_install_packages": False,
        "office_admins": [{"name": "nvan", "keys": [ssh_user.pubkey]}],
        "office_antivirus_package": "bkav-endpoint",
    }
    inventory = {
        "all": {
            "hosts": {
                name: _host(
                    sshd,
                    ssh_user,
                    root,
                    office_sshd_reload_command=f"sh -c 'echo reload >> {root}/sshd-reloads'",
                    office_timesyncd_restart_command="",
                    **common,
                )
                for name, root in roots.items()
            }
        }
    }
    seen: list[RunProgress] = []
    first = run_playbook(
        session,
        playbook="office_baseline",
        runs_dir=tmp_path / "runs",
        actor="test",
        secrets={},
        inventory=inventory,
        on_progress=seen.append,
    )
    assert first.status is RunStatus.successful, (first.artifact_dir / "stdout").read_text()
    assert {h.host for h in first.hosts} == set(roots)
    assert all(h.changed > 5 and h.failed == 0 for h in first.hosts)
    assert seen and seen[-1].hosts_seen == 2 and seen[-1].hosts_failed == 0

    for root in roots.values():
        assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Asia/Ho_Chi_Minh"
        assert (root / "etc/timezone").read_text() == "Asia/Ho_Chi_Minh\n"
        hardening = (root / "etc/ssh/sshd_config.d/10-tldops-hardening.conf").read_text()
        assert "PermitRootLogin no" in hardening and "PasswordAuthentication no" in hardening
        # sshd itself accepts the drop-in (syntax check against a throw-away host key).
        assert (
            subprocess.run(
                [
                    "/usr/sbin/sshd",
                    "-t",
                    "-f",
                    str(root / "etc/ssh/sshd_config.d/10-tldops-hardening.conf"),
                    "-h",
                    str(sshd.workdir / "ssh_host_ed25519_key"),
                ],
                capture_output=True,
            ).returncode
            == 0
        )
        assert (
            "NTP=0.vn.pool.ntp.org"
            in (root / "etc/systemd/timesyncd.conf.d/tldops.conf").read_text()
        )
        assert (root / "home/nvan/.ssh/authorized_keys").read_text().strip() == ssh_user.pubkey
        sudoers = root / "etc/sudoers.d/tldops-admins"
        assert subprocess.run(["visudo", "-cf", str(sudoers)], capture_output=True).returncode == 0
        assert '"1"' in (root / "etc/apt/apt.conf.d/20auto-upgrades").read_text()
        assert (root / "etc/tldops-antivirus").read_text() == "antivirus_package=bkav-endpoint\n"
        assert (root / "sshd-reloads").read_text() == "reload\n"

    second = run_playbook(
        session,
        playbook="office_baseline.yml",
        runs_dir=tmp_path / "runs",
        actor="test",
        secrets={},
        inventory=inventory,
    )
    assert second.status is RunStatus.successful
    assert second.changed_total == 0, [(h.host, h.changed) for h in second.hosts]
    for root in roots.values():  # the handler did not fire again
        assert (root / "sshd-reloads").read_text() == "reload\n"

    session.commit()
    runs = session.scalars(select(PlaybookRun).order_by(PlaybookRun.id)).all()
    assert [r.status for r in runs] == [RunStatus.successful, RunStatus.successful]
    rows = session.scalars(select(HostResult).where(HostResult.run_id == runs[1].id)).all()
    assert sorted(r.host for r in rows) == sorted(roots) and all(r.changed == 0 for r in rows)
    assert Path(runs[0].artifact_dir or "", "stdout").is_file()
    assert Path(runs[0].artifact_dir or "", "rc").read_text().strip() == "0"


def test_dc_baseline_snmpv3_secret_stays_off_disk(
    session: Session, sshd: Sshd, ssh_user: TestUser, tmp_path: Path
) -> None:
    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    svc = InventoryService(session, actor="test")
    svc.create_credential(
        name="snmp-dc",
        kind=CredentialKind.snmp_v3,
        username="tldops",
        box=box,
        secret={"auth_key": AUTH_KEY, "priv_key": PRIV_KEY},
    )
    session.flush()
    secrets = credential_secrets(session, box=box)
    assert secrets["TLDOPS_CRED_SNMP_DC_AUTH_KEY"] == AUTH_KEY
    root = tmp_path / "dc1"
    inventory = {
        "all": {
            "hosts": {
                "dc-web-1": _host(
                    sshd,
                    ssh_user,
                    root,
                    dc_install_packages=False,
                    dc_sysctl_apply_command="",
                    dc_snmpd_restart_command="",
                    dc_node_exporter_restart_command="",
                    dc_rsyslog_restart_command="",
                    dc_snmp_agent_address="udp:127.0.0.1:22161",
                )
            }
        }
    }
    outcome = run_playbook(
        session,
        playbook="dc_baseline",
        runs_dir=tmp_path / "runs",
        actor="test",
        secrets=secrets,
        inventory=inventory,
        diff=True,
    )
    assert outcome.status is RunStatus.successful, (outcome.artifact_dir / "stdout").read_text()
    conf = (root / "etc/snmp/snmpd.conf").read_text()
    assert f'createUser tldops SHA "{AUTH_KEY}" AES "{PRIV_KEY}"' in conf
    assert "rouser tldops priv" in conf
    assert (root / "etc/sysctl.d/60-tldops-hardening.conf").read_text().count(" = ") == 7
    node_exporter = (root / "etc/default/prometheus-node-exporter").read_text()
    assert "collector.textfile.directory=/var/lib/prometheus/node-exporter" in node_exporter
    forward = (root / "etc/rsyslog.d/90-tldops-forward.conf").read_text()
    assert 'target="loghost.tld.local"' in forward

    # Not one byte of either key anywhere in the run folder (command, env, stdout, job events).
    def leaks(path: Path) -> bool:
        data = path.read_bytes()
        return AUTH_KEY.encode() in data or PRIV_KEY.encode() in data

    assert [p for p in outcome.artifact_dir.rglob("*") if p.is_file() and leaks(p)] == []
    assert (outcome.artifact_dir / "command").is_file()
    # ... and the secrets did reach the rendered file, so the test would have seen a leak.
    assert AUTH_KEY in conf


def test_dc_baseline_snmpd_answers_snmpv3_and_is_idempotent(
    session: Session, sshd: Sshd, ssh_user: TestUser, tmp_path: Path
) -> None:
    """The rendered snmpd.conf runs in a real snmpd (loopback port of this engineer's range)
    and answers an SNMPv3 authPriv GET with the profile's keys; a second run changes nothing."""
    from tests.playbooks.sshhosts import free_port

    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    InventoryService(session, actor="test").create_credential(
        name="snmp dc core",
        kind=CredentialKind.snmp_v3,
        username="tldops",
        box=box,
        secret={"auth_key": AUTH_KEY, "priv_key": PRIV_KEY},
    )
    session.flush()
    root = tmp_path / "dc2"
    port = free_port()
    hostvars = {
        "dc_snmp_profile": "snmp dc core",
        "dc_install_packages": False,
        "dc_sysctl_apply_command": "",
        "dc_snmpd_restart_command": "",
        "dc_node_exporter_restart_command": "",
        "dc_rsyslog_restart_command": "",
        "dc_snmp_agent_address": f"udp:127.0.0.1:{port}",
        "dc_snmp_location": "Trung tam du lieu TLD - Ha Noi",
    }
    inventory = {"all": {"hosts": {"dc-db-1": _host(sshd, ssh_user, root, **hostvars)}}}
    secrets = credential_secrets(session, box=box, profile_names={"snmp dc core"})
    assert set(secrets) == {
        "TLDOPS_CRED_SNMP_DC_CORE_AUTH_KEY",
        "TLDOPS_CRED_SNMP_DC_CORE_PRIV_KEY",
    }
    first = run_playbook(
        session,
        playbook="dc_baseline",
        runs_dir=tmp_path / "runs",
        actor="test",
        secrets=secrets,
        inventory=inventory,
    )
    assert first.status is RunStatus.successful, (first.artifact_dir / "stdout").read_text()
    second = run_playbook(
        session,
        playbook="dc_baseline",
        runs_dir=tmp_path / "runs",
        actor="test",
        secrets=secrets,
        inventory=inventory,
    )
    assert second.status is RunStatus.successful and second.changed_total == 0

    conf = root / "etc/snmp/snmpd.conf"
    snmpd = subprocess.Popen(
        ["/usr/sbin/snmpd", "-f", "-Lo", "-C", "-c", str(conf), "-p", str(tmp_path / "snmpd.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        out = None
        for _ in range(20):  # snmpd needs a moment to bind; bounded
            out = subprocess.run(
                [
                    "snmpget",
                    "-v3",
                    "-l",
                    "authPriv",
                    "-u",
                    "tldops",
                    "-a",
                    "SHA",
                    "-A",
                    AUTH_KEY,
                    "-x",
                    "AES",
                    "-X",
                    PRIV_KEY,
                    "-t",
                    "1",
                    "-r",
                    "0",
                    "-Oqv",
                    f"udp:127.0.0.1:{port}",
                    "1.3.6.1.2.1.1.6.0",
                ],
                capture_output=True,
                text=True,
                timeout=10,
            )
            if out.returncode == 0:
                break
            time.sleep(0.3)
        assert out is not None and out.returncode == 0, out.stderr if out else ""
        assert "Trung tam du lieu TLD" in out.stdout
        wrong = subprocess.run(
            [
                "snmpget",
                "-v3",
                "-l",
                "authPriv",
                "-u",
                "tldops",
                "-a",
                "SHA",
                "-A",
                "not-the-key-123",
                "-x",
                "AES",
                "-X",
                PRIV_KEY,
                "-t",
                "1",
                "-r",
                "0",
                f"udp:127.0.0.1:{port}",
                "1.3.6.1.2.1.1.6.0",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert wrong.returncode != 0  # authPriv really enforced
    finally:
        snmpd.terminate()
        snmpd.wait(timeout=10)
