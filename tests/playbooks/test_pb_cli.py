"""The `tldops play|backup|drill|failover` commands in-process (CliRunner on ops_cli.cli.app),
against real databases, the real sshd test host and real ansible-runner; plus the metrics
collector and the /api/operations router on a real FastAPI app."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from typer.testing import CliRunner

from inventory.config import Settings
from inventory.db import make_engine, session_scope
from inventory.enums import CredentialKind, DeviceKind, UnitKind
from inventory.errors import PermissionDenied
from inventory.models import OpsEvent, Unit
from inventory.secrets import SecretBox
from inventory.security import Grant, Principal, Role
from inventory.service import InventoryService
from ops_cli.cli import app
from playbooks.api import router
from playbooks.jobs import scheduled_config_backup, scheduled_db_backup
from playbooks.metrics import make_collector
from tests.playbooks.sshhosts import Sshd, TestUser

runner = CliRunner()


def _api(engine: Any, principal: Principal) -> FastAPI:
    """A FastAPI app carrying the router the way ops_cli mounts it (engine in app.state, the
    principal put on the request by middleware)."""
    api = FastAPI()
    api.state.engine = engine
    api.include_router(router)

    @api.middleware("http")
    async def _principal(request: Request, call_next: Any) -> Any:
        request.state.principal = principal
        return await call_next(request)

    return api


def _env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TLDOPS_DATABASE_URL": db_url,
        "TLDOPS_VAR_DIR": str(tmp_path / "var"),
        "TLDOPS_SECRET_KEY": os.environ["TLDOPS_SECRET_KEY"],
        "TLDOPS_ACTOR": "test:cli",
        "COLUMNS": "200",
    }


def test_backup_verify_drill_metrics_and_api(db_url: str, tmp_path: Path) -> None:
    env = _env(db_url, tmp_path)
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        InventoryService(s, actor="t").create_unit(
            code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central
        )
    # Nothing to verify yet: a clear error, exit 1, no traceback.
    res = runner.invoke(app, ["backup", "verify"], env=env)
    assert res.exit_code == 1 and "no backup to verify" in res.output
    assert "Traceback" not in res.output

    res = runner.invoke(app, ["backup", "db", "--keep", "3"], env=env)
    assert res.exit_code == 0, res.output
    assert "backup 1:" in res.output
    res = runner.invoke(app, ["backup", "verify"], env=env)
    assert res.exit_code == 0, res.output
    assert "units" in res.output and "OK" in res.output
    res = runner.invoke(app, ["drill", "restore", "--rto-hours", "4"], env=env)
    assert res.exit_code == 0, res.output
    assert "met" in res.output

    # The scheduler's entry point: backup + verify in one go.
    job = scheduled_db_backup(
        engine,
        clock=lambda: datetime.now(UTC),
        settings=Settings.from_env(env),
    )
    assert job.backup.ok and job.verify is not None and job.verify.ok

    registry = CollectorRegistry()
    registry.register(make_collector(engine))
    target = job.backup.path and db_url.split("://")[0]
    assert target
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in registry.collect()
        for s in fam.samples
    }
    verify_ok = [v for (n, _), v in samples.items() if n == "tldops_db_backup_last_verify_ok"]
    assert verify_ok == [1.0]
    last = [
        v for (n, _), v in samples.items() if n == "tldops_db_backup_last_success_timestamp_seconds"
    ]
    assert len(last) == 1 and abs(last[0] - datetime.now(UTC).timestamp()) < 300

    api = FastAPI()
    api.state.engine = engine
    api.include_router(router)

    # The real app (ops_cli) maps OpsError subclasses to statuses; this stand-in does the same
    # for the one this test needs.
    @api.exception_handler(PermissionDenied)
    async def _denied(_request: Request, exc: PermissionDenied) -> JSONResponse:
        return JSONResponse({"error": {"message": exc.message}}, status_code=403)

    who: dict[str, Principal | None] = {"p": Principal.system()}

    @api.middleware("http")
    async def _principal(request: Request, call_next: Any) -> Any:
        if who["p"] is not None:
            request.state.principal = who["p"]
        return await call_next(request)

    with TestClient(api) as client:
        body = client.get("/api/operations/data-backups").json()
        assert body["total"] == 2 and body["items"][0]["ok"] is True
        drills = client.get("/api/operations/drills").json()
        assert drills["total"] == 1 and drills["items"][0]["met_objective"] is True
        who["p"] = Principal(name="it.hn", grants=(Grant(Role.it_staff, "/999/"),))
        denied = client.get("/api/operations/data-backups")
        assert denied.status_code == 403 and "no admin permission" in denied.text
        who["p"] = None
        assert client.get("/api/operations/runs").status_code == 401
    engine.dispose()


def test_play_run_runs_show_and_secret_free_artifacts(
    sqlite_url: str, sshd: Sshd, ssh_user: TestUser, tmp_path: Path
) -> None:
    env = _env(sqlite_url, tmp_path)
    res = runner.invoke(app, ["play", "run", "no_such_playbook", "-i", "x"], env=env)
    assert res.exit_code == 2 and "no playbook" in res.output

    engine = make_engine(sqlite_url)
    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    with session_scope(engine) as s:
        InventoryService(s, actor="t").create_credential(
            name="restic-dc",
            kind=CredentialKind.ssh,
            username="backup",
            box=box,
            secret={"password": "Restic-Pw-77821"},
        )
    root = tmp_path / "srv1"
    inventory = {
        "all": {
            "hosts": {
                "srv-1": {
                    "ansible_host": "127.0.0.1",
                    "ansible_port": sshd.port,
                    "ansible_user": ssh_user.name,
                    "ansible_ssh_private_key_file": str(ssh_user.key),
                    "ansible_ssh_common_args": "-o StrictHostKeyChecking=no "
                    "-o UserKnownHostsFile=/dev/null",
                    "ansible_python_interpreter": "/usr/bin/python3",
                    "tldops_root": str(root),
                    "backup_install_packages": False,
                    "backup_daemon_reload_command": "",
                    "backup_enable_timer_command": "",
                    "backup_restic_repository": str(tmp_path / "restic-repo"),
                    "backup_paths": ["/etc/tldops-backup/paths", "/data"],
                }
            }
        }
    }
    inv_file = tmp_path / "inventory.json"
    inv_file.write_text(json.dumps(inventory))
    (root / "data").mkdir(parents=True)
    (root / "data" / "ho-so.txt").write_text("hồ sơ công đoàn\n")

    res = runner.invoke(app, ["play", "run", "backup_agent", "-i", str(inv_file)], env=env)
    assert res.exit_code == 0, res.output
    assert "srv-1" in res.output and "successful" in res.output
    env_file = root / "etc/tldops-backup/restic.env"
    assert "RESTIC_PASSWORD=Restic-Pw-77821" in env_file.read_text()
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    timer = (root / "etc/systemd/system/tldops-backup.timer").read_text()
    assert "OnCalendar=*-*-* 01:30:00" in timer

    # The script the role installed really backs up with restic and writes the metric.
    script = root / "usr/local/sbin/tldops-backup"
    out = subprocess.run([str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    prom = (root / "var/lib/prometheus/node-exporter/tldops_backup.prom").read_text()
    assert "tldops_backup_last_run_ok 1" in prom
    snaps = subprocess.run(
        ["restic", "-r", str(tmp_path / "restic-repo"), "snapshots", "--json"],
        env={**os.environ, "RESTIC_PASSWORD": "Restic-Pw-77821"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert len(json.loads(snaps.stdout)) == 1

    # tldops collects the agent's result over SSH (sudo: the metric file is root's).
    with session_scope(engine) as s:
        svc = InventoryService(s, actor="t")
        svc.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
        svc.create_credential(
            name="ssh-srv",
            kind=CredentialKind.ssh,
            username=ssh_user.name,
            box=box,
            secret={"password": ssh_user.password},
            params={"port": sshd.port, "sudo": True},
        )
        svc.create_device(
            asset_tag="TLD-SRV-1",
            kind=DeviceKind.server,
            unit_code="TLD",
            hostname="srv-1",
            mgmt_ip="127.0.0.1",
            platform="linux",
        )
        svc.attach_credentials("TLD-SRV-1", ssh="ssh-srv")
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / "known_hosts").write_text(sshd.known_hosts_line() + "\n")
    prom_path = str(root / "var/lib/prometheus/node-exporter/tldops_backup.prom")
    agents = ["backup", "agents", "--textfile", prom_path]
    res = runner.invoke(app, agents, env=env)
    assert res.exit_code == 0, res.output
    assert "TLD-SRV-1" in res.output and "new" in res.output
    res = runner.invoke(app, agents, env=env)
    assert res.exit_code == 0, res.output
    srv_row = next(line for line in res.output.splitlines() if "TLD-SRV-1" in line)
    assert srv_row.split("│")[5].strip() == ""  # same run is not recorded twice
    registry = CollectorRegistry()
    registry.register(make_collector(engine))
    fresh = registry.get_sample_value(
        "tldops_restic_backup_last_success_timestamp_seconds", {"target": "TLD-SRV-1"}
    )
    assert fresh is not None and abs(fresh - datetime.now(UTC).timestamp()) < 600

    # A run with a wrong repository password fails, and tldops says so.
    time.sleep(1.1)  # the agent stamps runs in whole seconds
    env_file.write_text(env_file.read_text().replace("Restic-Pw-77821", "wrong-password"))
    out = subprocess.run([str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    res = runner.invoke(app, agents, env=env)
    assert res.exit_code == 1 and "NO" in res.output
    with session_scope(engine) as s:
        kinds = [
            (e.kind, e.data["backup_kind"])
            for e in s.scalars(select(OpsEvent).where(OpsEvent.source == "playbooks.restic"))
        ]
    assert kinds == [("backup_succeeded", "restic"), ("backup_failed", "restic")]
    env_file.write_text(env_file.read_text().replace("wrong-password", "Restic-Pw-77821"))

    # Second run through the CLI in check mode: nothing would change.
    res = runner.invoke(
        app, ["play", "run", "backup_agent", "-i", str(inv_file), "--check", "--diff"], env=env
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["play", "runs"], env=env)
    assert res.exit_code == 0 and res.output.count("backup_agent.yml") == 2
    res = runner.invoke(app, ["play", "show", "2"], env=env)
    assert res.exit_code == 0, res.output
    assert "check=True" in res.output
    row = next(line for line in res.output.splitlines() if "srv-1" in line)
    assert row.split("│")[3].strip() == "0"  # changed column of the check run

    run_dir = tmp_path / "var" / "runs"
    leaked = [p for p in run_dir.rglob("*") if p.is_file() and b"Restic-Pw-77821" in p.read_bytes()]
    assert leaked == []
    with TestClient(_api(engine, Principal.system())) as client:
        runs = client.get("/api/operations/runs").json()
        assert runs["total"] == 2 and runs["items"][0]["check_mode"] is True
        detail = client.get(f"/api/operations/runs/{runs['items'][1]['id']}").json()
        assert detail["status"] == "successful"
        assert [(h["host"], h["failed"]) for h in detail["hosts"]] == [("srv-1", 0)]
    res = runner.invoke(app, ["play", "show", "99"], env=env)
    assert res.exit_code == 2 and "no run 99" in res.output
    engine.dispose()


def test_config_backup_and_failover_status_commands(
    sqlite_url: str,
    sshd: Sshd,
    ssh_user: TestUser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _env(sqlite_url, tmp_path)
    (ssh_user.home / "device" / "default.cfg").write_text("hostname dn-sw-1\nvlan 10\n")
    engine = make_engine(sqlite_url)
    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    with session_scope(engine) as s:
        svc = InventoryService(s, actor="t")
        svc.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
        svc.create_unit(
            code="DN",
            name="LĐLĐ thành phố Đà Nẵng",
            level=2,
            kind=UnitKind.province_federation,
            parent_code="TLD",
        )
        svc.create_credential(
            name="ssh-dn",
            kind=CredentialKind.ssh,
            username=ssh_user.name,
            box=box,
            secret={"password": ssh_user.password},
            params={"port": sshd.port, "sudo": True},
        )
        svc.create_device(
            asset_tag="DN-SW-1",
            kind=DeviceKind.switch,
            unit_code="DN",
            hostname="dn-sw-1",
            mgmt_ip="127.0.0.1",
            platform="linux",
        )
        svc.attach_credentials("DN-SW-1", ssh="ssh-dn")
    var = tmp_path / "var"
    var.mkdir(exist_ok=True)
    (var / "known_hosts").write_text(sshd.known_hosts_line() + "\n")

    res = runner.invoke(app, ["backup", "configs", "--unit", "DN"], env=env)
    assert res.exit_code == 0, res.output
    assert "DN-SW-1" in res.output and "first" in res.output
    (ssh_user.home / "device" / "default.cfg").write_text("hostname dn-sw-1\nvlan 10\nvlan 20\n")
    results = scheduled_config_backup(
        engine,
        clock=lambda: datetime.now(UTC),
        settings=Settings.from_env(env),
    )
    assert [r.outcome.value for r in results] == ["changed"]
    res = runner.invoke(app, ["backup", "diff", "DN-SW-1"], env=env)
    assert res.exit_code == 0 and "+vlan 20" in res.output

    monkeypatch.setenv("TLDOPS_VAR_DIR", env["TLDOPS_VAR_DIR"])
    with session_scope(engine) as s:
        dn_path = s.scalar(select(Unit.path).where(Unit.code == "DN"))
    assert dn_path
    viewer = Principal(name="it.dn", grants=(Grant(Role.it_staff, dn_path),))
    with TestClient(_api(engine, viewer)) as client:
        page = client.get("/api/operations/config-backups", params={"device": "DN-SW-1"}).json()
        assert page["total"] == 2
        assert [i["outcome"] for i in page["items"]] == ["changed", "first"]
        diff = client.get("/api/operations/config-backups/DN-SW-1/diff").json()
        assert "+vlan 20" in diff["diff"] and diff["repo_path"].endswith("dn_sw_1.cfg")
    other = Principal(name="it.hn", grants=(Grant(Role.it_staff, "/999/"),))
    with TestClient(_api(engine, other)) as client:
        page = client.get("/api/operations/config-backups").json()
        assert page["total"] == 0  # another province sees nothing

    # Two nodes whose notify-hook state files both say MASTER: split-brain, exit 1, event.
    states = tmp_path / "states"
    states.mkdir()
    (states / "a").write_text("MASTER 1764000000 VI_PORTAL\n")
    (states / "b").write_text("MASTER 1764000005 VI_PORTAL\n")
    pairs = tmp_path / "pairs.yaml"
    pairs.write_text(
        f"""- name: eis
  vip: 198.18.40.100
  virtual_router_id: 52
  unit: TLD
  nodes:
    - {{name: eis-a, ssh_host: 127.0.0.1, ssh_port: {sshd.port}, ssh_profile: ssh-dn,
       state_file: {states / "a"}, priority: 150}}
    - {{name: eis-b, ssh_host: 127.0.0.1, ssh_port: {sshd.port}, ssh_profile: ssh-dn,
       state_file: {states / "b"}}}
"""
    )
    res = runner.invoke(app, ["failover", "define", str(pairs)], env=env)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["failover", "status", "--json"], env=env)
    assert res.exit_code == 1, res.output
    data = json.loads(res.output)
    assert data[0]["health"] == "split_brain"
    (states / "b").write_text("BACKUP 1764000009 VI_PORTAL\n")
    res = runner.invoke(app, ["failover", "status"], env=env)
    assert res.exit_code == 0 and "ok" in res.output
    with session_scope(engine) as s:
        ev = s.scalars(select(OpsEvent).where(OpsEvent.kind == "split_brain")).all()
        assert len(ev) == 1 and ev[0].data["target"] == "eis"
    bad = tmp_path / "bad.yaml"
    bad.write_text("- name: x\n")
    res = runner.invoke(app, ["failover", "define", str(bad)], env=env)
    assert res.exit_code == 2 and "invalid file" in res.output
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")


def test_play_run_on_the_inventory_core_dynamic_inventory(
    sqlite_url: str, sshd: Sshd, ssh_user: TestUser, tmp_path: Path
) -> None:
    """`tldops play run --unit` with no -i: hosts come from inventory/ansible_plugin's script,
    the SSH password from the encrypted profile through the environment (sshpass), become via
    sudo as the non-root test user."""
    env = _env(sqlite_url, tmp_path)
    engine = make_engine(sqlite_url)
    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    with session_scope(engine) as s:
        svc = InventoryService(s, actor="t")
        svc.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
        svc.create_unit(
            code="QN",
            name="LĐLĐ tỉnh Quảng Ninh",
            level=2,
            kind=UnitKind.province_federation,
            parent_code="TLD",
        )
        svc.create_unit(
            code="HP",
            name="LĐLĐ thành phố Hải Phòng",
            level=2,
            kind=UnitKind.province_federation,
            parent_code="TLD",
        )
        svc.create_credential(
            name="ssh-office",
            kind=CredentialKind.ssh,
            username=ssh_user.name,
            box=box,
            secret={"password": ssh_user.password},
            params={"port": sshd.port},
        )
        for code, host in (("QN", "qn-pc-1"), ("HP", "hp-pc-1")):
            svc.create_device(
                asset_tag=host.upper(),
                kind=DeviceKind.server,
                unit_code=code,
                hostname=host,
                mgmt_ip="127.0.0.1",
                platform="linux",
            )
            svc.attach_credentials(host.upper(), ssh="ssh-office")
    root = tmp_path / "qn-root"
    args = [
        "play",
        "run",
        "office_baseline",
        "--unit",
        "QN",
        "-e",
        f"tldops_root={root}",
        "-e",
        "office_create_accounts=false",
        "-e",
        "office_install_packages=false",
        "-e",
        "office_sshd_reload_command=",
        "-e",
        "office_timesyncd_restart_command=",
    ]
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 0, res.output
    assert "qn-pc-1" in res.output and "hp-pc-1" not in res.output  # --unit limited the run
    assert os.readlink(root / "etc/localtime").endswith("Asia/Ho_Chi_Minh")
    assert (
        "PermitRootLogin no"
        in (root / "etc/ssh/sshd_config.d/10-tldops-hardening.conf").read_text()
    )
    res = runner.invoke(app, args, env=env)  # idempotent through the same path
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if "qn-pc-1" in line)
    assert row.split("│")[3].strip() == "0"
    leaked = [
        p
        for p in (tmp_path / "var" / "runs").rglob("*")
        if p.is_file() and ssh_user.password.encode() in p.read_bytes()
    ]
    assert leaked == []
    engine.dispose()
