"""``tldops user ...`` in-process, the pieces of ``tldops up``, the scheduler, and one real
``tldops up --demo`` process on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from inventory.db import make_engine, session_scope
from inventory.enums import DeviceKind, UnitKind
from inventory.models import AuditRecord
from inventory.security import Role
from inventory.service import InventoryService
from ops_cli.accounts import AccountService
from ops_cli.cli import app
from ops_cli.scheduler import Job, Scheduler, call_job, discover_jobs
from ops_cli.up import ensure_first_admin, ensure_secret_key, seed_if_empty

runner = CliRunner()


def _tree(engine: Engine) -> None:
    with session_scope(engine) as s:
        inv = InventoryService(s, actor="test")
        inv.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
        inv.create_unit(
            code="HN",
            name="LĐLĐ Hà Nội",
            level=2,
            kind=UnitKind.province_federation,
            parent_code="TLD",
        )


def test_user_commands(db_url: str) -> None:
    engine = make_engine(db_url)
    _tree(engine)
    env = {"TLDOPS_DATABASE_URL": db_url, "TLDOPS_ACTOR": "cli:tester"}
    added = runner.invoke(app, ["user", "add", "it.hanoi", "--name", "Nguyễn Văn An"], env=env)
    assert added.exit_code == 0, added.output
    otp = re.search(r"one-time password: (\S+)", added.output)
    assert otp is not None
    again = runner.invoke(app, ["user", "add", "it.hanoi"], env=env)
    assert again.exit_code == 2 and "already exists" in again.output
    granted = runner.invoke(app, ["user", "grant", "it.hanoi", "it_staff", "HN"], env=env)
    assert granted.exit_code == 0, granted.output
    bad_unit = runner.invoke(app, ["user", "grant", "it.hanoi", "viewer", "NOPE"], env=env)
    assert bad_unit.exit_code == 2 and "NOPE" in bad_unit.output
    listed = runner.invoke(app, ["user", "list"], env=env)
    assert "it.hanoi" in listed.output and "it_staff@HN" in listed.output
    tok = runner.invoke(
        app, ["user", "token", "it.hanoi", "--name", "cron", "--days", "30"], env=env
    )
    raw = re.search(r"(tld_\S+)", tok.output)
    assert tok.exit_code == 0 and raw is not None
    reset = runner.invoke(app, ["user", "passwd", "it.hanoi"], env=env)
    new_otp = re.search(r"one-time password: (\S+)", reset.output)
    assert new_otp is not None and new_otp.group(1) != otp.group(1)
    revoked = runner.invoke(app, ["user", "revoke", "it.hanoi", "it_staff", "HN"], env=env)
    assert revoked.exit_code == 0
    with session_scope(engine) as s:
        svc = AccountService(s)
        user = svc.token_user(raw.group(1))
        assert user is not None and user.username == "it.hanoi"
        assert svc.principal_for(user).grants == ()
        assert svc.authenticate(username="it.hanoi", password=new_otp.group(1), ip="127.0.0.1")
    engine.dispose()


def test_secret_key_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TLDOPS_SECRET_KEY", raising=False)
    key = ensure_secret_key(tmp_path)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.environ["TLDOPS_SECRET_KEY"] == key
    monkeypatch.delenv("TLDOPS_SECRET_KEY")
    assert ensure_secret_key(tmp_path) == key  # reused, not regenerated
    monkeypatch.setenv("TLDOPS_SECRET_KEY", "from-env")
    assert ensure_secret_key(tmp_path) == "from-env"


def test_first_admin_and_seed_only_once(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    assert seed_if_empty(engine) is True
    assert seed_if_empty(engine) is False
    first = ensure_first_admin(engine)
    assert first is not None and first[0] == "admin"
    assert ensure_first_admin(engine) is None
    with session_scope(engine) as s:
        svc = AccountService(s)
        admin = svc.authenticate(username="admin", password=first[1], ip="127.0.0.1")
        assert admin.must_change_password
        principal = svc.principal_for(admin)
        root = InventoryService(s).root()
        assert principal.can(Role.admin, root.path)
    engine.dispose()


def test_scheduler_injects_arguments_and_survives_failures(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    seen: list[str] = []

    def needs_engine(engine: Engine) -> None:
        seen.append(f"engine:{engine.dialect.name}")

    def needs_session_and_clock(session: object, *, clock: object) -> None:
        seen.append(f"session:{type(session).__name__}:{callable(clock)}")

    def broken(engine: Engine) -> None:
        raise RuntimeError("SNMP agent on fire")

    async def polls(engine: Engine, *, clock: object) -> None:
        await asyncio.sleep(0)
        seen.append("async")

    now = [0.0]
    jobs = [
        Job("broken", broken, every=10),
        Job("a", needs_engine, every=10),
        Job("b", needs_session_and_clock, every=5),
        Job("c", polls, every=100),
    ]
    sched = Scheduler(
        engine, jobs=jobs, monotonic=lambda: now[0], clock=lambda: datetime(2026, 3, 2, tzinfo=UTC)
    )
    assert sched.run_due() == 4
    assert seen == ["engine:sqlite", "session:Session:True", "async"]
    assert jobs[0].failures == 1 and "on fire" in (jobs[0].last_error or "")
    now[0] = 6
    assert sched.run_due() == 1  # only "b" is due
    now[0] = 11
    assert sched.run_due() == 3
    assert jobs[0].failures == 2 and jobs[1].runs == 2
    with pytest.raises(TypeError):
        call_job(lambda mystery: None, engine)
    # Known domain jobs are found only when their modules exist, and every one is callable;
    # daily ones wait before their first run, and excluded ones are left out.
    found = discover_jobs(now=1000.0)
    for job in found:
        assert callable(job.func) and job.every > 0 and job.next_at >= 1000.0
    names = {j.name for j in found}
    if "playbooks.jobs.scheduled_config_backup" in names:
        skipped = discover_jobs(exclude=frozenset({"playbooks.jobs.scheduled_config_backup"}))
        assert "playbooks.jobs.scheduled_config_backup" not in {j.name for j in skipped}
    sched.start()
    sched.stop(timeout=5)
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_tldops_up_demo_serves_the_dashboard(tmp_path: Path) -> None:
    """The real command of `make demo`: migrate, seed, first admin, scheduler, HTTP."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "TLDOPS_SECRET_KEY"}
    env.update({"TLDOPS_VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1", "COLUMNS": "250"})
    env.pop("TLDOPS_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops_cli", "up", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = ""
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while f"http://127.0.0.1:{port}/" not in out:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, f"tldops up exited:\n{out}"
            out += line
            assert time.monotonic() < deadline, f"no URL within 120 s:\n{out}"
        otp = re.search(r"one-time password: (\S+)", out)
        assert otp is not None, out
        key = tmp_path / "var" / "secret.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=10, follow_redirects=True) as c:
            form = c.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            resp = c.post(
                "/login",
                data={"username": "admin", "password": otp.group(1), "csrf_token": token.group(1)},
            )
            assert resp.status_code == 200 and "/account/password" in str(resp.url)
            assert c.get("/metrics").status_code == 200
        assert (tmp_path / "var" / "tldops.db").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_web_api_on_both_engines(db_url: str) -> None:
    """The front door on SQLite and PostgreSQL: token auth, subtree lists, search, a write
    with its audit record, the scorecard, and a disabled account locked out."""
    from fastapi.testclient import TestClient

    from ops_cli.web import create_app

    engine = make_engine(db_url)
    _tree(engine)
    with session_scope(engine) as s:
        inv = InventoryService(s, actor="test")
        inv.create_unit(
            code="HN-BD",
            name="LĐLĐ quận Ba Đình",
            level=3,
            kind=UnitKind.district,
            parent_code="HN",
        )
        inv.create_unit(
            code="HCM",
            name="LĐLĐ Thành phố Hồ Chí Minh",
            level=2,
            kind=UnitKind.province_federation,
            parent_code="TLD",
        )
        inv.create_device(
            asset_tag="HCM-PC-1",
            kind=DeviceKind.pc,
            unit_code="HCM",
        )
        svc = AccountService(s, actor="test")
        svc.create_user(username="it.hn", password="it.hn-password")
        svc.grant(username="it.hn", role=Role.it_staff, unit_code="HN")
        raw, _ = svc.create_token(username="it.hn", name="t")
    headers = {"Authorization": f"Bearer {raw}"}
    with TestClient(create_app(engine, secure_cookies=False)) as c:
        units = c.get("/api/units", headers=headers).json()
        assert {u["code"] for u in units["items"]} == {"HN", "HN-BD"}
        found = c.get("/api/units", params={"q": "ba dinh"}, headers=headers).json()
        assert [u["code"] for u in found["items"]] == ["HN-BD"]
        made = c.post(
            "/api/devices",
            headers=headers,
            json={"asset_tag": "HN-BD-PRN-1", "kind": "printer", "unit_code": "HN-BD"},
        )
        assert made.status_code == 201, made.text
        assert c.get("/api/devices", headers=headers).json()["total"] == 1
        assert c.get("/api/devices/HCM-PC-1", headers=headers).status_code == 404
        report = c.get("/api/targets", headers=headers).json()
        assert report["unit"]["code"] == "HN" and report["indicators"]
        with session_scope(engine) as s:
            rec = s.scalar(select(AuditRecord).where(AuditRecord.entity_key == "HN-BD-PRN-1"))
            assert rec is not None and rec.actor == "web:it.hn"
        env = {"TLDOPS_DATABASE_URL": db_url}
        assert runner.invoke(app, ["user", "disable", "it.hn"], env=env).exit_code == 0
        time.sleep(0.1)
        # Disabled through the CLI: cached token resolutions are dropped (at most 5 s when the
        # CLI runs as another process).
        deadline = time.monotonic() + 8
        while c.get("/api/units", headers=headers).status_code != 401:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    engine.dispose()
