"""``tldops up``: the one process that runs the platform (web app, API, /metrics, scheduler).

::

    tldops up --demo                 # var/tldops.db, demo federation, http://127.0.0.1:8080
    tldops up --host 0.0.0.0 --port 8443   # behind a TLS proxy: cookies stay Secure
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, func, select

from inventory.config import Settings
from inventory.db import make_engine, session_scope, upgrade
from inventory.errors import NotFound
from inventory.models import Unit
from inventory.runtime import console
from inventory.secrets import load_secret_key
from inventory.security import Role

log = logging.getLogger("tldops.up")


def ensure_secret_key(var_dir: Path) -> str:
    """``TLDOPS_SECRET_KEY`` if set; else the key in ``var/secret.key`` (created 0600)."""
    key = load_secret_key(var_dir, create=True)
    assert key is not None  # create=True makes one when there is none
    return key


def point_self_checks(engine: Engine, base_url: str) -> int:
    """Aim the app's own health check at the address it really serves (0 if monitoring is
    not installed)."""
    try:
        from monitoring.service import point_self_checks as point
    except ImportError:
        return 0
    with session_scope(engine) as session:
        return point(session, base_url)


def seed_if_empty(engine: Engine) -> bool:
    """Seed the demo federation when the database has no units; True if it seeded."""
    with session_scope(engine) as session:
        if session.scalar(select(func.count()).select_from(Unit)):
            return False
    from inventory.demo import seed_demo

    seed_demo(engine, size="demo")
    return True


def seed_demo_extras(engine: Engine) -> list[str]:
    """What the demo needs from domains beyond the inventory: a Jitsi deployment record so the
    booking form works (its URL is never contacted in demo mode). Returns what was added; a
    domain that is missing or changed its API is skipped with a log line."""
    added: list[str] = []
    try:
        import secrets

        from videoconf.service import ConferenceService

        with session_scope(engine) as session:
            svc = ConferenceService(session, actor="tldops-up")
            try:
                svc.deployment("demo")
            except NotFound:
                svc.add_deployment(
                    name="demo",
                    base_url="https://meet.congdoan.vn",
                    app_id="tldops",
                    app_secret=secrets.token_urlsafe(48),
                    domain="meet.congdoan.vn",
                    max_participants=500,
                    bandwidth_mbps=1000,
                )
                added.append("videoconf deployment 'demo'")
    except ImportError:
        pass
    except Exception:
        log.exception("demo extras for videoconf skipped")
    return added


def ensure_first_admin(engine: Engine) -> tuple[str, str] | None:
    """Create ``admin`` with a one-time password when there is no account; returns
    (username, password) once, or None when accounts already exist."""
    from ops_cli.accounts import AccountService

    with session_scope(engine) as session:
        svc = AccountService(session, actor="tldops-up")
        if svc.count_users():
            return None
        user, otp = svc.create_user(username="admin", display_name="Quản trị hệ thống")
        root = session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
        if root is not None:
            svc.grant(username=user.username, role=Role.admin, unit_code=root.code)
        assert otp is not None
        return user.username, otp


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def register(app: typer.Typer) -> None:
    """Add the ``up`` command to the top-level ``tldops`` app."""

    @app.command("up")
    def up(
        demo: Annotated[
            bool, typer.Option("--demo", help="seed the demo federation if empty")
        ] = False,
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port")] = 8080,
        scheduler: Annotated[bool, typer.Option("--scheduler/--no-scheduler")] = True,
    ) -> None:
        """Migrate, (demo) seed, start the scheduler and serve the dashboard, API and /metrics."""
        import uvicorn

        from ops_cli.scheduler import Scheduler, discover_jobs
        from ops_cli.web import create_app, freeze_long_lived, private_var_dir

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        # Alembic narrates every revision at INFO; the banner below says what matters.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        settings = Settings.from_env()
        private_var_dir(settings.var_dir)
        ensure_secret_key(settings.var_dir)
        # Links in e-mails and the app's own health check use the address actually served.
        shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
        os.environ.setdefault("TLDOPS_EXTERNAL_URL", f"http://{shown}:{port}")
        if demo:
            # Demo devices live in 198.18.0.0/15 and must never be contacted.
            os.environ.setdefault("TLDOPS_MONITOR_ALLOWED_NETS", "127.0.0.0/8")
        engine = make_engine(settings.database_url)
        console.print("Cập nhật cơ sở dữ liệu / migrating the database …")
        upgrade(engine)
        if demo:
            with console.status("Tạo dữ liệu mẫu / seeding the demo federation …"):
                if seed_if_empty(engine):
                    console.print("Đã tạo dữ liệu mẫu / demo federation seeded")
                for extra in seed_demo_extras(engine):
                    console.print(f"+ {extra}")
        point_self_checks(engine, os.environ["TLDOPS_EXTERNAL_URL"])
        first = ensure_first_admin(engine)
        if first is not None:
            console.print(
                f"Tài khoản quản trị / first admin: [bold]{first[0]}[/]  mật khẩu một lần / "
                f"one-time password: [bold]{first[1]}[/]  (đổi khi đăng nhập / change at login)",
                highlight=False,
                soft_wrap=True,  # never break the password across lines
            )
            with session_scope(engine) as session:
                empty = session.scalar(select(func.count()).select_from(Unit)) == 0
            if empty:
                console.print(
                    "Cây tổ chức trống: admin chưa có quyền trên đơn vị nào / the organisation "
                    "tree is empty, so admin has no grant yet → import units, then "
                    "`tldops user grant admin admin <ROOT_CODE>` (or use --demo)",
                    highlight=False,
                )
        secure_env = os.environ.get("TLDOPS_COOKIE_SECURE")
        secure = (secure_env.lower() in {"1", "true", "yes"}) if secure_env else not _loopback(host)
        # The demo's devices are fake: config backups would only try SSH on each of them.
        skip = frozenset({"playbooks.jobs.scheduled_config_backup"}) if demo else frozenset()
        sched = Scheduler(engine, jobs=discover_jobs(exclude=skip)) if scheduler else None
        if sched is not None:
            console.print(
                "Lịch chạy / scheduled jobs: " + (", ".join(j.name for j in sched.jobs) or "—")
            )
        web = create_app(engine, secure_cookies=secure, scheduler=sched)
        freeze_long_lived()
        console.print(f"tldops: [bold]http://{host}:{port}/[/]", highlight=False)
        uvicorn.run(web, host=host, port=port, log_level="warning")
