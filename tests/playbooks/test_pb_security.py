"""Reliability and security of the playbooks domain, on real peers: no secret of the
environment in any file under ``var/``, private modes of what runs and backups write, the
allowed-networks guard before every outbound connection, exit codes, and 404 for what another
province owns."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from inventory.db import make_engine, session_scope
from inventory.enums import CredentialKind, DeviceKind, UnitKind
from inventory.secrets import SecretBox
from inventory.service import InventoryService
from ops_cli.cli import app
from tests.playbooks.sshhosts import Sshd, TestUser

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")


def _rand(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def _files_text(root: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file under ``root`` as bytes; git's zlib-compressed objects decompressed too."""
    for p in sorted(root.rglob("*")):
        if p.is_symlink() or not p.is_file():
            continue
        data = p.read_bytes()
        yield p, data
        if ".git" in p.parts:
            with contextlib.suppress(zlib.error):
                yield p, zlib.decompress(data)


LOCAL_PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - name: what the ansible-playbook child inherited
      ansible.builtin.copy:
        dest: "{{ out_dir }}/child-env.txt"
        content: "{{ lookup('ansible.builtin.pipe', 'env') }}\\n"
      no_log: true
    - name: a careless task echoing a credential
      ansible.builtin.debug:
        msg: "cred={{ lookup('ansible.builtin.env', 'TLDOPS_CRED_LAB_PASSWORD') }}"
"""


def test_no_secret_of_the_environment_anywhere_under_var(
    sqlite_url: str, sshd: Sshd, ssh_user: TestUser, tmp_path: Path
) -> None:
    key = Fernet.generate_key().decode()
    suffix = secrets.token_hex(4).upper()
    secret_env = {
        "TLDOPS_SECRET_KEY": key,
        "TLDOPS_SMTP_PASSWORD": _rand("smtp"),
        "TLDOPS_MOODLE_TOKEN": _rand("moodle"),
        "TLDOPS_JITSI_APP_SECRET": _rand("jitsi"),
        f"TLDOPS_X{suffix}_PASSWORD": _rand("pw"),
        f"TLDOPS_X{suffix}_TOKEN": _rand("tok"),
        f"TLDOPS_X{suffix}_SECRET": _rand("sec"),
        f"TLDOPS_X{suffix}_KEY": _rand("key"),
    }
    # Not secret-looking at all: the explicit child environment must still leave it out.
    other = _rand("other")
    var = tmp_path / "var"
    env = {
        "TLDOPS_DATABASE_URL": sqlite_url,
        "TLDOPS_VAR_DIR": str(var),
        "TLDOPS_ACTOR": "test:cli",
        "COLUMNS": "200",
        "SOME_OTHER_SETTING": other,
        **secret_env,
    }
    cred_password = _rand("cred")
    engine = make_engine(sqlite_url)
    box = SecretBox([key])
    with session_scope(engine) as s:
        svc = InventoryService(s, actor="t")
        svc.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
        svc.create_credential(
            name="lab",
            kind=CredentialKind.ssh,
            username="x",
            box=box,
            secret={"password": cred_password},
        )
        svc.create_credential(
            name="ssh-tld",
            kind=CredentialKind.ssh,
            username=ssh_user.name,
            box=box,
            secret={"password": ssh_user.password},
            params={"port": sshd.port},
        )
        svc.create_device(
            asset_tag="TLD-SW-1",
            kind=DeviceKind.switch,
            unit_code="TLD",
            hostname="tld-sw-1",
            mgmt_ip="127.0.0.1",
            platform="linux",
        )
        svc.attach_credentials("TLD-SW-1", ssh="ssh-tld")
    (ssh_user.home / "device" / "default.cfg").write_text("hostname tld-sw-1\nvlan 10\n")
    var.mkdir()
    (var / "known_hosts").write_text(sshd.known_hosts_line() + "\n")

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    playbook = tmp_path / "local_env.yml"
    playbook.write_text(LOCAL_PLAYBOOK)
    inv = tmp_path / "inventory.json"
    inv.write_text(
        json.dumps(
            {
                "all": {
                    "hosts": {
                        "lab-1": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                }
            }
        )
    )
    res = runner.invoke(
        app, ["play", "run", str(playbook), "-i", str(inv), "-e", f"out_dir={out_dir}"], env=env
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["backup", "db"], env=env)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["backup", "configs"], env=env)
    assert res.exit_code == 0, res.output
    assert "TLD-SW-1" in res.output and "first" in res.output

    # The child got the credential (through the FIFO) and nothing else of ours.
    child_env = (out_dir / "child-env.txt").read_text()
    assert f"TLDOPS_CRED_LAB_PASSWORD={cred_password}" in child_env
    for name, value in {**secret_env, "SOME_OTHER_SETTING": other}.items():
        assert name not in child_env and value not in child_env, name

    run_dir = var / "runs" / "1"
    command = json.loads((run_dir / "command").read_text())
    assert "TLDOPS_SECRET_KEY" not in command["env"] and "SOME_OTHER_SETTING" not in command["env"]
    assert "PATH" in command["env"] and "ANSIBLE_ROLES_PATH" in command["env"]
    # The careless task's echo is scrubbed from the run's output, not just hidden.
    assert "cred=<removed>" in (run_dir / "stdout").read_text()

    assert (var / "configs" / ".git").is_dir() and list((var / "backups" / "db").iterdir())
    values = [*secret_env.values(), cred_password, ssh_user.password, other]
    leaks = [
        (str(p.relative_to(var)), v[:8])
        for p, data in _files_text(var)
        for v in values
        if v.encode() in data
    ]
    assert leaks == []
    engine.dispose()


def _modes(root: Path) -> list[tuple[str, str]]:
    """Everything under ``root`` (itself included) that is not private: folders other than
    0700, files readable or writable by group or others."""
    bad: list[tuple[str, str]] = []
    for p in [root, *sorted(root.rglob("*"))]:
        if p.is_symlink():
            continue
        mode = stat.S_IMODE(os.stat(p).st_mode)
        if (p.is_dir() and mode != 0o700) or (p.is_file() and mode & 0o077):
            bad.append((str(p.relative_to(root.parent)), oct(mode)))
    return bad


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The permissive umask a service often runs with: modes must not depend on it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_runs_config_repo_and_db_backups_are_private(
    sqlite_url: str, sshd: Sshd, ssh_user: TestUser, tmp_path: Path, loose_umask: None
) -> None:
    from datetime import UTC, datetime

    from playbooks.configbackup import BackupSettings, ConfigRepo, backup_configs
    from playbooks.databackup import backup_database
    from playbooks.runner import run_playbook

    var = tmp_path / "var"
    var.mkdir()
    (var / "known_hosts").write_text(sshd.known_hosts_line() + "\n")
    engine = make_engine(sqlite_url)
    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    with session_scope(engine) as s:
        svc = InventoryService(s, actor="t")
        svc.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
        svc.create_credential(
            name="ssh-tld",
            kind=CredentialKind.ssh,
            username=ssh_user.name,
            box=box,
            secret={"password": ssh_user.password},
            params={"port": sshd.port},
        )
        svc.create_device(
            asset_tag="TLD-SW-1",
            kind=DeviceKind.switch,
            unit_code="TLD",
            hostname="tld-sw-1",
            mgmt_ip="127.0.0.1",
            platform="linux",
        )
        svc.attach_credentials("TLD-SW-1", ssh="ssh-tld")
    (ssh_user.home / "device" / "default.cfg").write_text("hostname tld-sw-1\nvlan 10\n")

    playbook = tmp_path / "local_env.yml"
    playbook.write_text(LOCAL_PLAYBOOK)
    with session_scope(engine) as s:
        outcome = run_playbook(
            s,
            playbook=str(playbook),
            runs_dir=var / "runs",
            actor="t",
            secrets={"TLDOPS_CRED_LAB_PASSWORD": "pw-123456"},
            inventory={
                "all": {
                    "hosts": {
                        "lab-1": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                }
            },
            extra_vars={"out_dir": str(tmp_path)},
        )
        assert outcome.status.value == "successful"
        results = backup_configs(
            s,
            box=box,
            repo=ConfigRepo(var / "configs"),
            settings=BackupSettings(known_hosts=var / "known_hosts"),
        )
        assert [r.outcome.value for r in results] == ["first"]
    backup = backup_database(
        engine, backup_dir=var / "backups" / "db", clock=lambda: datetime.now(UTC)
    )
    assert backup.ok and backup.path is not None
    assert (outcome.artifact_dir / "inventory" / "hosts.json").is_file()
    assert (var / "configs" / ".git" / "objects").is_dir()
    bad = [
        *_modes(var / "runs"),
        *_modes(var / "configs"),
        *_modes(var / "backups"),
    ]
    assert bad == []
    assert stat.S_IMODE(os.stat(backup.path).st_mode) == 0o600
    engine.dispose()


def test_allowed_networks_guard_config_backup_playbooks_and_failover(
    sqlite_url: str,
    sshd: Sshd,
    ssh_user: TestUser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from sqlalchemy import func, select

    from inventory.netguard import TargetNotAllowed
    from playbooks.failover import NodeSpec, define_pair, drill_failover, pair_status
    from playbooks.models import ConfigBackup, PlaybookRun
    from playbooks.runner import run_playbook

    monkeypatch.setenv("TLDOPS_ALLOWED_NETS", "127.0.0.0/8")
    var = tmp_path / "var"
    var.mkdir()
    (var / "known_hosts").write_text(sshd.known_hosts_line() + "\n")
    env = {
        "TLDOPS_DATABASE_URL": sqlite_url,
        "TLDOPS_VAR_DIR": str(var),
        "TLDOPS_SECRET_KEY": os.environ["TLDOPS_SECRET_KEY"],
        "TLDOPS_ALLOWED_NETS": "127.0.0.0/8",
        "TLDOPS_ACTOR": "test:cli",
        "COLUMNS": "250",
    }
    engine = make_engine(sqlite_url)
    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    with session_scope(engine) as s:
        svc = InventoryService(s, actor="t")
        svc.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
        svc.create_credential(
            name="ssh-tld",
            kind=CredentialKind.ssh,
            username=ssh_user.name,
            box=box,
            secret={"password": ssh_user.password},
            params={"port": sshd.port},
        )
        for tag, ip in (("TLD-SW-1", "127.0.0.1"), ("TLD-SW-2", "198.18.7.7")):
            svc.create_device(
                asset_tag=tag,
                kind=DeviceKind.switch,
                unit_code="TLD",
                hostname=tag.lower(),
                mgmt_ip=ip,
                platform="linux",
            )
            svc.attach_credentials(tag, ssh="ssh-tld")
    (ssh_user.home / "device" / "default.cfg").write_text("hostname tld-sw-1\n")

    # Config backup: the device outside is failed with the reason, the other one is backed up,
    # and the command exits non-zero with the count after the table.
    res = runner.invoke(app, ["backup", "configs", "--timeout", "5"], env=env)
    assert res.exit_code == 1, res.output
    assert "TLD-SW-1" in res.output and "first" in res.output
    assert "1/2 thiết bị sao lưu lỗi / 1 of 2 devices failed" in " ".join(res.output.split())
    with session_scope(engine) as s:
        row = s.scalar(
            select(ConfigBackup).where(ConfigBackup.outcome == "failed").order_by(ConfigBackup.id)
        )
        assert row is not None and row.device.asset_tag == "TLD-SW-2"
        assert row.error == (
            "Địa chỉ 198.18.7.7 nằm ngoài các mạng được phép (SSH) / "
            "198.18.7.7 is outside the allowed networks (SSH)"
        )
        assert row.duration_s < 0.5  # refused, not timed out

    # Playbook: refused before Ansible starts, naming the host; no run recorded.
    inventory = {
        "all": {
            "hosts": {
                "lab-1": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                },
                "far-1": {"ansible_host": "198.18.7.8"},
            }
        }
    }
    playbook = tmp_path / "local_env.yml"
    playbook.write_text(LOCAL_PLAYBOOK)
    with session_scope(engine) as s, pytest.raises(TargetNotAllowed) as err:
        run_playbook(
            s,
            playbook=str(playbook),
            runs_dir=var / "runs",
            actor="t",
            secrets={},
            inventory=inventory,
            extra_vars={"out_dir": str(tmp_path)},
        )
    assert "1 host(s) outside the allowed networks: far-1 (198.18.7.8)" in err.value.message
    inv_file = tmp_path / "inv.json"
    inv_file.write_text(json.dumps(inventory))
    res = runner.invoke(
        app,
        [
            "play",
            "run",
            str(playbook),
            "-i",
            str(inv_file),
            "--limit",
            "lab-1",
            "-e",
            f"out_dir={tmp_path}",
        ],
        env=env,
    )
    assert res.exit_code == 0, res.output  # --limit leaves the far host out: allowed
    res = runner.invoke(app, ["play", "run", str(playbook), "-i", str(inv_file)], env=env)
    assert res.exit_code == 3 and "far-1 (198.18.7.8)" in res.output, res.output
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(PlaybookRun)) == 1

    # Failover: nodes outside are never contacted; a drill refuses before stopping anything.
    with session_scope(engine) as s:
        define_pair(
            s,
            name="portal",
            vip="198.18.7.100",
            virtual_router_id=51,
            unit_code="TLD",
            actor="t",
            nodes=[
                NodeSpec(
                    name=n,
                    ssh_host=ip,
                    state_file="/run/ka.state",
                    stop_command="true",
                    start_command="true",
                    ssh_profile="ssh-tld",
                )
                for n, ip in (("web-a", "198.18.7.9"), ("web-b", "198.18.7.10"))
            ],
        )
    t0 = time.monotonic()
    with session_scope(engine) as s:
        (status,) = pair_status(s, box=box)
        assert [n.error for n in status.nodes] == [
            "Địa chỉ 198.18.7.9 nằm ngoài các mạng được phép (keepalived SSH) / "
            "198.18.7.9 is outside the allowed networks (keepalived SSH)",
            "Địa chỉ 198.18.7.10 nằm ngoài các mạng được phép (keepalived SSH) / "
            "198.18.7.10 is outside the allowed networks (keepalived SSH)",
        ]
        with pytest.raises(TargetNotAllowed, match="keepalived node web-a"):
            drill_failover(
                s,
                pair="portal",
                box=box,
                clock=lambda: __import__("datetime").datetime.now(),
                actor="t",
                timeout_s=5,
            )
    assert time.monotonic() - t0 < 2.0
    engine.dispose()


FAILING_PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - name: Data disk has room
      ansible.builtin.assert:
        that: false
        fail_msg: "disk /data is 97% full on {{ inventory_hostname }}"
      when: ansible_connection == 'local'
    - name: Reach the host
      ansible.builtin.ping:
"""


def test_play_show_prints_each_failed_hosts_reason(sqlite_url: str, tmp_path: Path) -> None:
    """A real check-mode run: one local host fails an assertion, one host is unreachable (SSH
    to a closed loopback port); `play show` and the API say why, host by host."""
    from fastapi import FastAPI, Request
    from fastapi.testclient import TestClient

    from inventory.security import Principal
    from playbooks.api import router
    from tests.playbooks.sshhosts import free_port

    var = tmp_path / "var"
    env = {
        "TLDOPS_DATABASE_URL": sqlite_url,
        "TLDOPS_VAR_DIR": str(var),
        "TLDOPS_SECRET_KEY": os.environ["TLDOPS_SECRET_KEY"],
        "TLDOPS_ACTOR": "test:cli",
        "COLUMNS": "250",
    }
    playbook = tmp_path / "failing.yml"
    playbook.write_text(FAILING_PLAYBOOK)
    closed = free_port()  # bound and released: nothing listens there
    inv = tmp_path / "inventory.json"
    inv.write_text(
        json.dumps(
            {
                "all": {
                    "hosts": {
                        "lab-1": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        },
                        "lab-2": {
                            "ansible_host": "127.0.0.1",
                            "ansible_port": closed,
                            "ansible_user": "nobody",
                            "ansible_ssh_common_args": "-o ConnectTimeout=3",
                        },
                    }
                }
            }
        )
    )
    res = runner.invoke(app, ["play", "run", str(playbook), "-i", str(inv), "--check"], env=env)
    assert res.exit_code == 1, res.output
    res = runner.invoke(app, ["play", "show", "1"], env=env)
    assert res.exit_code == 0, res.output
    rows = {
        line.split("│")[1].strip(): line.split("│")[7].strip()
        for line in res.output.splitlines()
        if line.count("│") >= 8 and "lab-" in line
    }
    assert rows["lab-1"] == "Data disk has room: disk /data is 97% full on lab-1"
    assert rows["lab-2"].startswith("Reach the host: Task failed: Failed to connect to the host")
    assert f"port {closed}: Connection refused" in rows["lab-2"]

    engine = make_engine(sqlite_url)
    api = FastAPI()
    api.state.engine = engine
    api.include_router(router)

    @api.middleware("http")
    async def _principal(request: Request, call_next: Any) -> Any:
        request.state.principal = Principal.system()
        return await call_next(request)

    with TestClient(api) as client:
        hosts = client.get("/api/operations/runs/1").json()["hosts"]
    assert [(h["host"], h["failed"], h["unreachable"]) for h in hosts] == [
        ("lab-1", 1, 0),
        ("lab-2", 0, 1),
    ]
    assert hosts[0]["error"] == rows["lab-1"] and "Connection refused" in hosts[1]["error"]
    engine.dispose()
