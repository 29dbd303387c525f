"""A real tldops web server on a free loopback port, over a seeded SQLite database.

The fault tests need what only a real server shows: the response leaving before or after the
commit, many connections at once, a second process holding the database lock. The server is
``uvicorn --factory ops_cli.web:app_from_env``, the production entry point, with the
scheduler off so only the test's own requests touch the database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from inventory.db import make_engine, session_scope, upgrade
from inventory.demo import PLANS, seed_plan
from inventory.models import Device, Unit, subtree_filter
from inventory.security import Role
from ops_cli.accounts import AccountService


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    base: str
    db_path: Path
    token: str
    unit: str  # a unit the token's account may write in
    device: str  # a device of that unit
    process: subprocess.Popen[bytes]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def seed(db_path: Path) -> tuple[str, str, str]:
    """Seed the small demo plan and an it_staff account on HNI; (token, unit, device)."""
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    seed_plan(engine, plan=PLANS["small"])
    with session_scope(engine) as s:
        svc = AccountService(s, actor="test")
        svc.create_user(username="it_hni", password="it-hni-Strong-pass-2026")
        svc.grant(username="it_hni", role=Role.it_staff, unit_code="HNI")
        token, _ = svc.create_token(username="it_hni", name="faults")
        hni = s.scalar(select(Unit.path).where(Unit.code == "HNI"))
        assert hni is not None
        device = s.scalar(
            select(Device.asset_tag)
            .join(Unit)
            .where(subtree_filter(Unit.path, hni))
            .order_by(Device.asset_tag)
            .limit(1)
        )
    engine.dispose()
    assert device is not None
    return token, "HNI", device


@contextmanager
def run_server(db_path: Path, var_dir: Path, **env: str) -> Iterator[Server]:
    key = os.environ.get("TLDOPS_SECRET_KEY") or Fernet.generate_key().decode()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLDOPS_SECRET_KEY", key)
        token, unit, device = seed(db_path)
    port = free_port()
    environ = {
        **os.environ,
        "TLDOPS_DATABASE_URL": f"sqlite:///{db_path}",
        "TLDOPS_VAR_DIR": str(var_dir),
        "TLDOPS_SCHEDULER": "off",
        "TLDOPS_COOKIE_SECURE": "false",
        "TLDOPS_SECRET_KEY": key,
        **env,
    }
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "ops_cli.web:app_from_env",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"server did not start: {err[-2000:]}")
            time.sleep(0.2)
        yield Server(base, db_path, token, unit, device, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("faults")
    with run_server(root / "tldops.db", root / "var") as srv:
        yield srv
