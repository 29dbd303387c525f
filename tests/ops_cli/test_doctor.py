"""``tldops doctor`` through the real CLI app (in-process CliRunner) against a real site on disk:
a temp var folder (0700), a migrated SQLite database (0600), a key file (0600). A good site
passes; then each test breaks one thing and checks that its check (and only the exit code it
should) changes. Peers are real and on loopback: aiosmtpd, an http.server, closed ports."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from typer.testing import CliRunner, Result

from inventory.config import Settings
from inventory.db import alembic_config, make_engine, session_scope, upgrade
from inventory.models import AuditRecord
from ops_cli.cli import app
from ops_cli.doctor import GIB, TIMEOUT, free_space_check

runner = CliRunner()

# Every setting doctor reads, so the developer's own environment cannot leak into a test.
SETTINGS = (
    "TLDOPS_DATABASE_URL",
    "TLDOPS_SECRET_KEY",
    "TLDOPS_ALLOWED_NETS",
    "TLDOPS_MONITOR_ALLOWED_NETS",
    "TLDOPS_EXTERNAL_URL",
    "TLDOPS_MONITOR_EXTERNAL_URL",
    "TLDOPS_SMTP_HOST",
    "TLDOPS_SMTP_PORT",
    "TLDOPS_SMTP_TLS",
    "TLDOPS_PROMETHEUS_URL",
    "TLDOPS_ALERTMANAGER_URL",
    "TLDOPS_SCHEDULER",
    "TLDOPS_DB_BACKUP_KEEP",
)


@dataclass
class Site:
    var: Path
    db: Path
    key_file: Path
    env: dict[str, str | None]

    def doctor(self, *args: str, **overrides: str | None) -> Result:
        return runner.invoke(app, ["doctor", *args], env={**self.env, **overrides})

    def checks(self, **overrides: str | None) -> tuple[int, dict[str, dict[str, str]]]:
        result = self.doctor("--format", "json", **overrides)
        rows = json.loads(result.stdout)
        return result.exit_code, {row["id"]: row for row in rows}

    def engine(self) -> Any:
        return make_engine(f"sqlite:///{self.db}")


@pytest.fixture
def site(tmp_path: Path, sqlite_template: Path) -> Site:
    var = tmp_path / "var"
    var.mkdir(mode=0o700)
    db = var / "tldops.db"
    shutil.copyfile(sqlite_template, db)
    db.chmod(0o600)
    key_file = var / "secret.key"
    key_file.write_text(Fernet.generate_key().decode() + "\n", encoding="ascii")
    key_file.chmod(0o600)
    env: dict[str, str | None] = dict.fromkeys(SETTINGS)
    env |= {
        "TLDOPS_VAR_DIR": str(var),
        "TLDOPS_EXTERNAL_URL": "https://tldops.congdoan.vn",
        "TLDOPS_ALLOWED_NETS": "127.0.0.0/8,198.18.0.0/15",
        "COLUMNS": "200",
    }
    return Site(var=var, db=db, key_file=key_file, env=env)


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_port() -> Iterator[int]:
    """A real aiosmtpd server on 127.0.0.1."""
    controller = Controller(Sink(), hostname="127.0.0.1", port=_closed_port(), ready_timeout=5)
    controller.start()
    try:
        yield int(controller.port)
    finally:
        controller.stop()


class _Health(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        code = 200 if self.path == "/-/healthy" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def healthy_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 answering 200 on /-/healthy, like Prometheus does."""
    paths: list[str] = []
    handler = type("Health", (_Health,), {"paths": paths})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- the good site -----------------------------------------------------------------------------


def test_good_site_passes_and_json_lists_every_check(site: Site) -> None:
    code, checks = site.checks()
    assert code == 0
    assert not [c for c in checks.values() if c["status"] == "fail"], checks
    for cid in ("database", "schema", "secret_key", "var_dir", "database_file", "allowed_nets"):
        assert checks[cid]["status"] == "ok", checks[cid]
    for cid in ("external_url", "timezone", "clock", "prometheus", "alertmanager"):
        assert checks[cid]["status"] == "ok", checks[cid]
    assert checks["secret_key"]["message_en"].endswith(f"(file {site.key_file})")
    assert checks["prometheus"]["message_en"].startswith("not configured")
    assert checks["smtp"]["status"] == "warn"  # not configured
    assert checks["backup_verified"]["status"] == "warn"  # no backup taken yet
    row = checks["schema"]
    assert set(row) == {"id", "status", "message_vi", "message_en", "fix_vi", "fix_en"}


def test_table_is_vietnamese_first_with_a_summary(site: Site) -> None:
    result = site.doctor(TLDOPS_ALLOWED_NETS="10.0.0.0/33")
    assert result.exit_code == 1
    out = result.stdout
    assert "Kiểm tra / Check" in out and "lỗi / fail" in out and "đạt / ok" in out
    assert "TLDOPS_ALLOWED_NETS không hợp lệ" in out
    assert "1 lỗi / " in out and ", 1 fail" in out


# -- one thing broken at a time --------------------------------------------------------------


def _heads_by_package(engine: Any) -> dict[str, str]:
    scripts = ScriptDirectory.from_config(alembic_config(engine))
    return {Path(scripts.get_revision(h).path).parents[2].name: h for h in scripts.get_heads()}


def test_database_behind_on_some_branches_fails_schema(site: Site) -> None:
    site.db.unlink()
    engine = site.engine()
    heads = _heads_by_package(engine)
    upgrade(engine, heads["inventory"])  # inventory at head, no other domain migrated
    engine.dispose()
    code, checks = site.checks()
    assert code == 1
    schema = checks["schema"]
    assert schema["status"] == "fail"
    assert "tldops db upgrade" in schema["fix_en"] and "tldops db upgrade" in schema["fix_vi"]
    behind = schema["message_en"].split("schema not at head for: ")[1].split(", ")
    assert sorted(behind) == sorted(set(heads) - {"inventory"})
    assert checks["database"]["status"] == "ok"


def test_empty_database_fails_schema(site: Site) -> None:
    site.db.unlink()
    sqlite3.connect(site.db).close()
    site.db.chmod(0o600)
    code, checks = site.checks()
    assert code == 1 and checks["schema"]["status"] == "fail"
    assert "inventory" in checks["schema"]["message_en"]


def test_missing_database_is_reported_not_created(site: Site) -> None:
    site.db.unlink()
    code, checks = site.checks()
    assert code == 1
    assert checks["database"]["status"] == "fail"
    assert checks["schema"]["status"] == "fail"
    assert not site.db.exists()


def test_key_file_readable_by_others_fails(site: Site) -> None:
    site.key_file.chmod(0o644)
    code, checks = site.checks()
    assert code == 1
    key = checks["secret_key"]
    assert key["status"] == "fail"
    assert "644" in key["message_en"] and key["fix_en"] == f"chmod 600 {site.key_file}"
    assert site.key_file.stat().st_mode & 0o777 == 0o644  # doctor reports, never repairs


def test_no_key_at_all_fails(site: Site) -> None:
    site.key_file.unlink()
    code, checks = site.checks()
    assert code == 1 and checks["secret_key"]["status"] == "fail"


def test_var_dir_and_database_open_to_others_fail(site: Site) -> None:
    site.var.chmod(0o755)
    site.db.chmod(0o644)
    code, checks = site.checks()
    assert code == 1
    assert checks["var_dir"]["status"] == "fail" and "chmod 700" in checks["var_dir"]["fix_en"]
    assert checks["database_file"]["status"] == "fail"
    assert site.db.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("nets", ["10.0.0.0/33", "127.0.0.0/8,banana"])
def test_unparseable_allowed_nets_fail(site: Site, nets: str) -> None:
    code, checks = site.checks(TLDOPS_ALLOWED_NETS=nets)
    assert code == 1 and checks["allowed_nets"]["status"] == "fail"


def test_unset_allowed_nets_and_external_url_only_warn(site: Site) -> None:
    code, checks = site.checks(TLDOPS_ALLOWED_NETS=None, TLDOPS_EXTERNAL_URL=None)
    assert checks["allowed_nets"]["status"] == "warn"
    assert checks["external_url"]["status"] == "warn"
    assert code == 0


def test_relative_external_url_fails(site: Site) -> None:
    code, checks = site.checks(TLDOPS_EXTERNAL_URL="tldops.congdoan.vn/dashboard")
    assert code == 1 and checks["external_url"]["status"] == "fail"


def test_smtp_on_a_closed_port_fails(site: Site) -> None:
    port = _closed_port()
    code, checks = site.checks(TLDOPS_SMTP_HOST="127.0.0.1", TLDOPS_SMTP_PORT=str(port))
    assert code == 1
    smtp = checks["smtp"]
    assert smtp["status"] == "fail" and f"127.0.0.1:{port}" in smtp["message_en"]


def test_silent_smtp_server_fails_within_the_timeout(site: Site) -> None:
    """A server that accepts but never greets: the check gives up after TIMEOUT, not later."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel completes the handshake; nobody ever speaks
        port = silent.getsockname()[1]
        started = time.monotonic()
        code, checks = site.checks(TLDOPS_SMTP_HOST="127.0.0.1", TLDOPS_SMTP_PORT=str(port))
        took = time.monotonic() - started
    assert code == 1 and checks["smtp"]["status"] == "fail"
    assert "timed out" in checks["smtp"]["message_en"]
    assert TIMEOUT - 0.5 < took < TIMEOUT + 3


def test_smtp_server_answering_is_ok(site: Site, smtp_port: int) -> None:
    code, checks = site.checks(TLDOPS_SMTP_HOST="127.0.0.1", TLDOPS_SMTP_PORT=str(smtp_port))
    assert code == 0
    smtp = checks["smtp"]
    assert smtp["status"] == "ok", smtp
    assert f"127.0.0.1:{smtp_port} answers: 220" in smtp["message_en"]


def test_prometheus_on_a_closed_port_fails(site: Site) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    code, checks = site.checks(TLDOPS_PROMETHEUS_URL=url)
    assert code == 1
    assert checks["prometheus"]["status"] == "fail" and url in checks["prometheus"]["message_en"]
    assert checks["alertmanager"]["status"] == "ok"  # still not configured


def test_healthy_alertmanager_is_ok_and_only_healthy_is_asked(
    site: Site, healthy_server: tuple[str, list[str]]
) -> None:
    url, paths = healthy_server
    code, checks = site.checks(TLDOPS_ALERTMANAGER_URL=url + "/")
    assert code == 0
    assert checks["alertmanager"]["status"] == "ok", checks["alertmanager"]
    assert paths == ["/-/healthy"]


def test_prometheus_answering_not_healthy_fails(
    site: Site, healthy_server: tuple[str, list[str]]
) -> None:
    url, paths = healthy_server
    code, checks = site.checks(TLDOPS_PROMETHEUS_URL=f"{url}/shard-1")
    assert code == 1
    assert paths == ["/shard-1/-/healthy"]
    assert "HTTP 404" in checks["prometheus"]["message_en"]


def test_clock_behind_the_newest_record_warns(site: Site) -> None:
    engine = site.engine()
    with session_scope(engine) as s:
        s.add(
            AuditRecord(
                at=datetime.now(UTC) + timedelta(days=1),
                actor="test",
                action="update",
                entity="unit",
                entity_key="TLD",
            )
        )
    engine.dispose()
    code, checks = site.checks()
    assert checks["clock"]["status"] == "warn"
    assert "behind the newest record" in checks["clock"]["message_en"]
    assert code == 0


def test_verified_backup_and_running_scheduler_make_backup_checks_ok(site: Site) -> None:
    from ops_cli.scheduler import Lease
    from playbooks.jobs import scheduled_db_backup

    engine = site.engine()
    settings = Settings.from_env({"TLDOPS_VAR_DIR": str(site.var)})
    job = scheduled_db_backup(engine, clock=lambda: datetime.now(UTC), settings=settings)
    assert job.verify is not None and job.verify.ok
    lease = Lease(engine, holder="doctor-test:1")
    assert lease.acquire()
    try:
        code, checks = site.checks()
        assert code == 0
        assert checks["backup_verified"]["status"] == "ok", checks["backup_verified"]
        assert checks["backup_schedule"]["status"] == "ok", checks["backup_schedule"]
        assert "doctor-test:1" in checks["backup_schedule"]["message_en"]
        off = site.checks(TLDOPS_SCHEDULER="off")[1]["backup_schedule"]
        assert off["status"] == "warn" and "TLDOPS_SCHEDULER=off" in off["message_en"]
    finally:
        lease.release()
        engine.dispose()


def test_backup_verified_three_days_ago_warns(site: Site) -> None:
    from playbooks.jobs import scheduled_db_backup

    engine = site.engine()
    settings = Settings.from_env({"TLDOPS_VAR_DIR": str(site.var)})
    then = datetime.now(UTC) - timedelta(days=3)
    assert scheduled_db_backup(engine, clock=lambda: then, settings=settings).backup.ok
    engine.dispose()
    code, checks = site.checks()
    verified = checks["backup_verified"]
    assert verified["status"] == "warn" and "3.0 days ago" in verified["message_en"]
    assert code == 0


def test_free_space_thresholds(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    not_yet_made = tmp_path / "backups" / "db"
    assert free_space_check("d", ("a", "b"), not_yet_made, warn_below=free + GIB).status == "warn"
    assert free_space_check("d", ("a", "b"), tmp_path, fail_below=free + GIB).status == "fail"
    enough = free_space_check("d", ("a", "b"), tmp_path, warn_below=1, fail_below=1)
    assert enough.status == "ok" and str(tmp_path) in enough.message_en
