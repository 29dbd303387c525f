"""Service checks against real local servers: http.server (plain and TLS with a self-signed
certificate generated here with a known expiry), aiosmtpd for the SMTP banner, the system
resolver for ``localhost``, ICMP echo to 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from inventory.db import make_engine, session_scope
from inventory.enums import ServiceKind
from inventory.netguard import parse_allowed_nets
from inventory.service import InventoryService
from monitoring.checks import CheckSpec, run_check
from monitoring.jobs import alert_cycle, check_cycle
from monitoring.models import Alert, AlertState, CheckState
from monitoring.service import MonitorSettings
from monitoring.snmp import NOT_ALLOWED
from tests.monitoring.monpeers import FakeClock, SmtpSink, build_org, free_port

ALL = parse_allowed_nets("")
LOOPBACK = parse_allowed_nets("127.0.0.0/8")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 503 if self.path.startswith("/down") else 200
        body = b"ok" if code == 200 else b"maintenance"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Server:
    port: int
    url: str


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return t


@pytest.fixture(scope="module")
def http_server() -> Iterator[Server]:
    port = free_port(socket.SOCK_STREAM)
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    _serve(srv)
    yield Server(port, f"http://127.0.0.1:{port}")
    srv.shutdown()
    srv.server_close()


@dataclass
class TlsServer(Server):
    ca_file: Path
    not_after: dt.datetime


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """HTTPS with a self-signed certificate for 127.0.0.1 that expires in exactly 10 days."""
    d = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    not_after = now + dt.timedelta(days=10)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cong-thong-tin.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = d / "cert.pem"
    key_pem = d / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = free_port(socket.SOCK_STREAM)
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_pem, key_pem)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    _serve(srv)
    yield TlsServer(port, f"https://127.0.0.1:{port}/", cert_pem, not_after)
    srv.shutdown()
    srv.server_close()


def check(kind: ServiceKind, target: str, nets: Any = ALL, **params: Any) -> Any:
    spec = CheckSpec(service_id=1, name="t", kind=kind, target=target, params=params)
    return asyncio.run(run_check(spec, allowed_nets=nets))


def test_http_ok_and_failing_status(http_server: Server) -> None:
    ok = check(ServiceKind.http, http_server.url + "/", timeout=3)
    assert ok.ok and ok.status_code == 200 and ok.latency_ms is not None and ok.latency_ms > 0
    bad = check(ServiceKind.http, http_server.url + "/down", timeout=3)
    assert not bad.ok and bad.status_code == 503
    expected = check(ServiceKind.http, http_server.url + "/down", timeout=3, expect_status=503)
    assert expected.ok


def test_https_with_the_servers_ca_and_untrusted(tls_server: TlsServer) -> None:
    trusted = check(ServiceKind.http, tls_server.url, ca_file=str(tls_server.ca_file), timeout=3)
    assert trusted.ok and trusted.status_code == 200
    untrusted = check(ServiceKind.http, tls_server.url, timeout=3)
    assert not untrusted.ok and "certificate" in untrusted.detail.lower()


def test_tls_days_to_expiry(tls_server: TlsServer) -> None:
    r = check(ServiceKind.tls, f"127.0.0.1:{tls_server.port}", timeout=3)
    assert r.ok
    expected = (tls_server.not_after - dt.datetime.now(dt.UTC)).total_seconds() / 86400
    assert r.cert_days_left == pytest.approx(expected, abs=0.01)
    assert 9.9 < r.cert_days_left < 10.01


def test_smtp_banner(smtp_server: SmtpSink) -> None:
    r = check(ServiceKind.smtp, f"127.0.0.1:{smtp_server.port}", timeout=3)
    assert r.ok and r.detail.startswith("220")


def test_tcp_open_and_closed(http_server: Server) -> None:
    assert check(ServiceKind.tcp, f"127.0.0.1:{http_server.port}", timeout=2).ok
    closed = check(ServiceKind.tcp, f"127.0.0.1:{free_port(socket.SOCK_STREAM)}", timeout=2)
    assert not closed.ok and "refused" in closed.detail.lower()


def test_dns_resolution() -> None:
    r = check(ServiceKind.dns, "localhost", expect="127.0.0.1", timeout=3)
    assert r.ok and "127.0.0.1" in r.detail
    assert not check(ServiceKind.dns, "khong-ton-tai.invalid", timeout=3).ok


def test_icmp_echo_loopback() -> None:
    r = check(ServiceKind.icmp, "127.0.0.1", timeout=2)
    assert r.ok, r.detail
    assert r.latency_ms is not None and r.latency_ms < 1000


def test_outside_allowed_networks_is_skipped_not_failed() -> None:
    r = check(ServiceKind.http, "http://198.18.7.7/", nets=LOOPBACK, timeout=1)
    assert r.skipped and not r.ok and r.detail == NOT_ALLOWED


def test_check_cycle_stores_results_and_raises_cert_alert(
    sqlite_url: str, tls_server: TlsServer, http_server: Server, clock: FakeClock
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        svc = InventoryService(s, actor="test")
        svc.create_service(
            name="Cổng thông tin",
            kind=ServiceKind.tls,
            target=f"127.0.0.1:{tls_server.port}",
            unit_code="TLD",
        )
        svc.create_service(
            name="EIS",
            kind=ServiceKind.http,
            target=http_server.url + "/down",
            unit_code="TLD",
            params={"timeout": 2},
        )
        svc.create_service(
            name="Jitsi", kind=ServiceKind.http, target="https://198.18.1.1/", unit_code="TLD"
        )
    settings = MonitorSettings(allowed_nets="127.0.0.0/8")
    summary = asyncio.run(check_cycle(engine, settings=settings, clock=clock))
    assert (summary.checked, summary.ok, summary.failed, summary.skipped) == (3, 1, 1, 1)
    alert_cycle(engine, clock=clock, mailer=None, settings=settings)
    with session_scope(engine) as s:
        states = {c.service_id: c for c in s.scalars(select(CheckState))}
        assert len(states) == 3
        rules = {(a.rule, a.state) for a in s.scalars(select(Alert))}
    # The certificate alert has no for-duration; service_down waits its 3 minutes.
    assert rules == {("cert_expiring", AlertState.firing), ("service_down", AlertState.pending)}
