"""Videoconf test peers: a Jitsi stand-in on loopback, a real aiosmtpd server, an org tree.

Jitsi Meet (Prosody + Jicofo + videobridge) cannot run on this machine, so
:class:`FakeJitsi` is a small threaded HTTP server on 127.0.0.1 speaking only the documented
endpoints our wrapper reads — jicofo ``/about/health`` (200 empty body / 5xx), videobridge
``/colibri/stats`` (JSON), Prosody mod_muc_size ``/room-size`` and ``/room`` (404 when the room
is empty). It is the edge of the world; everything on our side of it is real.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from inventory.config import Settings
from inventory.enums import ContactRole, UnitKind
from inventory.mail import Mailer, SmtpSettings
from inventory.secrets import SecretBox
from inventory.service import InventoryService
from videoconf.service import ConferenceService

APP_SECRET = "s3cret-for-tests-only-0123456789abcdef"
WEBHOOK_TOKEN = "webhook-token-for-tests-0123456789"


@dataclass
class JitsiState:
    health_status: int = 200
    fail_next: int = 0  # answer this many requests with 503 first (retry tests)
    colibri: dict[str, Any] = field(
        default_factory=lambda: {
            "conferences": 2,
            "participants": 17,
            "largest_conference": 12,
            "stress_level": 0.12,
            "bit_rate_download": 15000.0,
            "bit_rate_upload": 21000.0,
            "version": "2.3-test",
        }
    )
    rooms: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    muc_domain: str = "conference.meet.test"


class FakeJitsi:
    """Threaded HTTP server standing in for Jitsi (see the module docstring)."""

    def __init__(self) -> None:
        self.state = JitsiState()
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _send(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                state.requests.append(url.path)
                if state.fail_next > 0:
                    state.fail_next -= 1
                    self._send(503, {"error": "overloaded"})
                    return
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/about/health":
                    self._send(state.health_status)
                elif url.path == "/colibri/stats":
                    self._send(200, state.colibri)
                elif url.path in ("/room-size", "/room"):
                    if query.get("domain") != state.muc_domain:
                        self._send(400, {"error": "domain"})
                        return
                    occupants = state.rooms.get(query.get("room", ""), [])
                    if not occupants:
                        self._send(404)
                    elif url.path == "/room-size":
                        self._send(200, {"participants": len(occupants)})
                    else:
                        self._send(200, occupants)
                else:
                    self._send(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeJitsi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def fake_jitsi() -> Iterator[FakeJitsi]:
    server = FakeJitsi().start()
    yield server
    server.stop()


class _Collect:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.rcpt: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.rcpt.append(list(envelope.rcpt_tos))
        return "250 OK"


@dataclass
class SmtpPeer:
    host: str
    port: int
    handler: _Collect

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def mailer(self) -> Mailer:
        return Mailer(SmtpSettings(host=self.host, port=self.port, timeout=5.0))

    def env(self) -> dict[str, str]:
        return {"TLDOPS_SMTP_HOST": self.host, "TLDOPS_SMTP_PORT": str(self.port)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[SmtpPeer]:
    """A real aiosmtpd SMTP server on loopback collecting every message."""
    handler = _Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), ready_timeout=5)
    controller.start()
    yield SmtpPeer(host="127.0.0.1", port=controller.port, handler=handler)
    controller.stop()


# -- the organisation ---------------------------------------------------------------------
PROVINCES = ("HN", "HCM", "DN", "HP", "CT")


def build_org(session: Session) -> InventoryService:
    """TLĐ, five provinces (HN..CT), a district under HN, officers and contacts.

    Contacts: each province has a ``meeting`` contact with an e-mail, except CT which only has
    a ``leader`` (the fallback) and HP which has a meeting contact plus a second one. A sixth
    province, KT, has no contact at all. The host CB000 works at TLĐ.
    """
    svc = InventoryService(session, actor="test")
    svc.create_unit(
        code="TLD", name="Tổng Liên đoàn Lao động Việt Nam", level=1, kind=UnitKind.central
    )
    names = {
        "HN": "LĐLĐ thành phố Hà Nội",
        "HCM": "LĐLĐ Thành phố Hồ Chí Minh",
        "DN": "LĐLĐ thành phố Đà Nẵng",
        "HP": "LĐLĐ thành phố Hải Phòng",
        "CT": "LĐLĐ thành phố Cần Thơ",
        "KT": "LĐLĐ tỉnh Kon Tum",
    }
    for code, name in names.items():
        svc.create_unit(
            code=code, name=name, level=2, kind=UnitKind.province_federation, parent_code="TLD"
        )
    svc.create_unit(
        code="HN-BD", name="LĐLĐ quận Ba Đình", level=3, kind=UnitKind.district, parent_code="HN"
    )
    svc.create_officer(
        code="CB000", full_name="Nguyễn Văn Chủ", unit_code="TLD", email="chu@congdoan.vn"
    )
    svc.create_officer(
        code="CB999", full_name="Lê Thị Khác", unit_code="TLD", email="khac@congdoan.vn"
    )
    for i, code in enumerate(PROVINCES, start=1):
        off = svc.create_officer(
            code=f"CB{i:03d}",
            full_name=f"Trần Văn {code}",
            unit_code=code,
            email=f"{code.lower()}@congdoan.vn",
        )
        role = ContactRole.leader if code == "CT" else ContactRole.meeting
        svc.add_contact(unit_code=code, officer_code=off.code, role=role)
    svc.create_officer(
        code="CB041", full_name="Phạm Thị Hải", unit_code="HP", email="hai.hp@congdoan.vn"
    )
    svc.add_contact(unit_code="HP", officer_code="CB041", role=ContactRole.meeting)
    # A leader of HN who must NOT be invited: HN has a meeting contact.
    svc.create_officer(
        code="CB011", full_name="Đỗ Văn Lãnh", unit_code="HN", email="lanh.hn@congdoan.vn"
    )
    svc.add_contact(unit_code="HN", officer_code="CB011", role=ContactRole.leader)
    svc.create_officer(
        code="CB100", full_name="Vũ Quận", unit_code="HN-BD", email="quan@congdoan.vn"
    )
    svc.add_contact(unit_code="HN-BD", officer_code="CB100", role=ContactRole.meeting)
    session.flush()
    return svc


NOW = datetime(2027, 2, 20, 0, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return NOW


def conf_service(session: Session, *, actor: str = "test") -> ConferenceService:
    return ConferenceService(
        session, actor=actor, clock=fixed_clock, box=SecretBox.from_settings(Settings.from_env())
    )


def add_deployment(
    svc: ConferenceService,
    *,
    name: str = "hq",
    url: str = "http://127.0.0.1:9",
    max_participants: int = 100,
    bandwidth_mbps: int = 1000,
    per_participant_kbps: int = 1500,
) -> None:
    svc.add_deployment(
        name=name,
        base_url=f"https://{name}.meet.test",
        app_id="tldops",
        app_secret=APP_SECRET,
        domain="meet.test",
        muc_domain="conference.meet.test",
        jicofo_url=url,
        prosody_url=url,
        bridge_urls=[url],
        max_participants=max_participants,
        bandwidth_mbps=bandwidth_mbps,
        per_participant_kbps=per_participant_kbps,
        webhook_token=WEBHOOK_TOKEN,
    )
