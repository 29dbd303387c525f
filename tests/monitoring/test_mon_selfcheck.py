"""The app's own health check and links follow one setting: ``TLDOPS_EXTERNAL_URL`` (default
port 8080, where ``tldops up`` serves), and ``point_self_checks`` aims the demo's self-check at
the URL actually served — checked end to end against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from inventory.db import make_engine, session_scope
from inventory.demo import PLANS, seed_plan
from inventory.models import AuditRecord, Service
from monitoring.jobs import check_cycle
from monitoring.models import CheckState
from monitoring.promstack import ExportOptions
from monitoring.service import MonitorSettings, point_self_checks
from tests.monitoring.monpeers import FakeClock


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 200 if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def test_external_url_one_setting_legacy_name_and_8080_default() -> None:
    assert MonitorSettings().external_url == "http://localhost:8080"
    assert MonitorSettings.from_env({}).external_url == "http://localhost:8080"
    env = {"TLDOPS_EXTERNAL_URL": "http://10.1.2.3:8443/"}
    assert MonitorSettings.from_env(env).external_url == "http://10.1.2.3:8443"
    legacy = {"TLDOPS_MONITOR_EXTERNAL_URL": "https://tldops.congdoan.vn"}
    assert MonitorSettings.from_env(legacy).external_url == "https://tldops.congdoan.vn"
    both = {**env, **legacy}
    assert MonitorSettings.from_env(both).external_url == "http://10.1.2.3:8443"
    assert ExportOptions().tldops_metrics == "127.0.0.1:8080"


def test_point_self_checks_aims_the_demo_check_at_the_served_url(
    sqlite_url: str, web: str, clock: FakeClock
) -> None:
    engine = make_engine(sqlite_url)
    seed_plan(engine, plan=PLANS["small"], seed=3)
    with session_scope(engine) as s:
        before = {svc.name: svc.target for svc in s.scalars(select(Service))}
        (own,) = [svc.name for svc in s.scalars(select(Service)) if svc.params.get("self")]
        assert before[own] == "http://127.0.0.1:8080/healthz"
        assert point_self_checks(s, web + "/") == 1
    with session_scope(engine) as s:
        after = {svc.name: svc.target for svc in s.scalars(select(Service))}
        assert after[own] == f"{web}/healthz"
        assert {k: v for k, v in after.items() if k != own} == {
            k: v for k, v in before.items() if k != own
        }
        (rec,) = s.scalars(
            select(AuditRecord).where(
                AuditRecord.entity == "service", AuditRecord.entity_key == own
            )
        ).all()
        assert rec.before == {"target": before[own]} and rec.after == {"target": f"{web}/healthz"}
        assert point_self_checks(s, web) == 0  # already there: nothing changes, nothing audited
    # The check now reaches the app that is actually serving.
    settings = MonitorSettings(allowed_nets="127.0.0.0/8", timeout=0.5, retries=0)
    asyncio.run(check_cycle(engine, settings=settings, clock=clock))
    with session_scope(engine) as s:
        own_id = s.scalar(select(Service.id).where(Service.name == own))
        state = s.get(CheckState, own_id)
        assert state is not None and state.ok and state.status_code == 200, state and state.detail
