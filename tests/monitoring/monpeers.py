"""Real peers for the monitoring tests (fixtures in conftest.py); loopback, ports 21000–21999.

- ``snmpd``: Net-SNMP's agent with its own config in tmp (v2c community + v3 authPriv SHA/AES
  user), started ``-f -Lo -C -c conf``.
- ``snmpsim``: ``snmpsim-command-responder`` serving the recorded ``data/*.snmprec`` devices; the
  community name selects the device (switch, ups, printer, counter-wrap and reboot sets, ...).
- ``smtp_server``: aiosmtpd collecting messages; ``webhook_sink``: http.server collecting POSTs.

Every daemon is torn down at the end and every wait is bounded.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DATA = Path(__file__).parent / "data"
VENV_BIN = Path(sys.executable).parent
PORT_RANGE = (21000, 21999)
V2C_COMMUNITY = "tldops-ro"
V3_USER = "tldopsv3"
V3_AUTH = "auth-pass-123"
V3_PRIV = "priv-pass-456"


def need(tool: str) -> str:
    """Path of an external tool; missing means FAIL under CI (``make test`` installs it)."""
    path = shutil.which(tool) or (str(VENV_BIN / tool) if (VENV_BIN / tool).exists() else None)
    if path is None:
        if IN_CI:
            pytest.fail(
                f"{tool} is not installed; `make test` installs it (APT_PACKAGES / pyproject)"
            )
        pytest.skip(f"{tool} is not installed")
    return path


_used: set[int] = set()


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A free loopback port inside our range (UDP or TCP)."""
    for _ in range(200):
        port = random.randint(*PORT_RANGE)
        if port in _used:
            continue
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _used.add(port)
        return port
    raise RuntimeError("no free port in 21000-21999")


def _wait_snmp(port: int, community: str, deadline_s: float = 20.0) -> None:
    snmpget = need("snmpget")
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        r = subprocess.run(
            [
                snmpget,
                "-v2c",
                "-c",
                community,
                "-t",
                "0.5",
                "-r",
                "0",
                "-On",
                f"127.0.0.1:{port}",
                "1.3.6.1.2.1.1.3.0",
            ],
            capture_output=True,
            text=True,
            timeout=5,
            env={**os.environ, "MIBS": ""},
        )
        if r.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"SNMP agent on {port} did not answer within {deadline_s}s")


def _stop(proc: subprocess.Popen[Any], log: Any = None) -> None:
    if log is not None:
        log.close()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass
class Snmpd:
    port: int
    proc: subprocess.Popen[Any]
    conf: Path
    log: Any = None
    community: str = V2C_COMMUNITY
    user: str = V3_USER
    auth_key: str = V3_AUTH
    priv_key: str = V3_PRIV

    def stop(self) -> None:
        _stop(self.proc, self.log)


def start_snmpd(workdir: Path) -> Snmpd:
    binary = need("snmpd")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "snmpd.conf"
    conf.write_text(
        f"agentAddress udp:127.0.0.1:{port},udp6:[::1]:{port}\n"
        f"rocommunity {V2C_COMMUNITY} 127.0.0.1\n"
        f"rocommunity6 {V2C_COMMUNITY} ::1\n"
        f"createUser {V3_USER} SHA {V3_AUTH} AES {V3_PRIV}\n"
        f"rouser {V3_USER} priv\n"
        "sysName tmon-snmpd\nsysLocation loopback\nsysContact it@congdoan.vn\n"
    )
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(workdir / "persist"), "MIBS": ""}
    log = open(workdir / "snmpd.log", "w")  # noqa: SIM115 - lives as long as the daemon
    proc = subprocess.Popen(
        [
            binary,
            "-f",
            "-Lo",
            "-C",
            "-c",
            str(conf),
            "-r",
            "-p",
            str(workdir / "snmpd.pid"),
            "-M",
            "/nonexistent",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    agent = Snmpd(port=port, proc=proc, conf=conf, log=log)
    try:
        _wait_snmp(port, V2C_COMMUNITY)
    except BaseException:
        agent.stop()
        raise
    return agent


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    agent = start_snmpd(tmp_path_factory.mktemp("snmpd"))
    yield agent
    agent.stop()


@dataclass
class Snmpsim:
    port: int
    proc: subprocess.Popen[Any]
    data_dir: Path
    log: Any = None

    def stop(self) -> None:
        _stop(self.proc, self.log)


def start_snmpsim(
    workdir: Path,
    *,
    data_dir: Path = DATA,
    wait_community: str = "switch",
    port: int | None = None,
    deadline_s: float = 60.0,
) -> Snmpsim:
    binary = need("snmpsim-command-responder")
    port = port or free_port()
    cache = workdir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    # snmpsim refuses to run as root unless told; the tests run as root in CI containers.
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    log = open(workdir / "snmpsim.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            binary,
            f"--data-dir={data_dir}",
            f"--cache-dir={cache}",
            f"--agent-udpv4-endpoint=127.0.0.1:{port}",
            "--log-level=error",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    sim = Snmpsim(port=port, proc=proc, data_dir=data_dir, log=log)
    try:
        _wait_snmp(port, wait_community, deadline_s)
    except BaseException:
        sim.stop()
        raise
    return sim


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    sim = start_snmpsim(tmp_path_factory.mktemp("snmpsim"))
    yield sim
    sim.stop()


# -- SMTP and webhook sinks -------------------------------------------------------------------
@dataclass
class SmtpSink:
    port: int
    messages: list[Any] = field(default_factory=list)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Any]:
        end = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < end:
            time.sleep(0.05)
        return list(self.messages)


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    sink = SmtpSink(port=free_port(socket.SOCK_STREAM))

    class Collect(Message):
        def handle_message(self, message: Any) -> None:
            # Re-parse with the modern policy so headers come back decoded (UTF-8 subjects).
            sink.messages.append(
                email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
            )

    ctl = Controller(Collect(), hostname="127.0.0.1", port=sink.port)
    ctl.start()
    yield sink
    ctl.stop()


@dataclass
class WebhookSink:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    port = free_port(socket.SOCK_STREAM)
    sink = WebhookSink(url=f"http://127.0.0.1:{port}/alertmanager-hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            sink.bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield sink
    server.shutdown()
    server.server_close()


# -- injected clock ---------------------------------------------------------------------------
class FakeClock:
    """A clock the test moves by hand (alerts' for-durations, ack timeouts)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 25, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- an organisation to monitor ---------------------------------------------------------------
@dataclass(frozen=True)
class Org:
    """TLD (root) → HN (province) → HN-BD (district); TLD → HCM. Each has an IT contact."""

    emails: dict[str, str]  # unit code → IT contact e-mail


def build_org(session: Any) -> Org:
    from inventory.enums import ContactRole, UnitKind
    from inventory.service import InventoryService

    svc = InventoryService(session, actor="test")
    svc.create_unit(
        code="TLD", name="Tổng Liên đoàn Lao động Việt Nam", level=1, kind=UnitKind.central
    )
    svc.create_unit(
        code="HN",
        name="LĐLĐ Thành phố Hà Nội",
        level=2,
        kind=UnitKind.province_federation,
        parent_code="TLD",
    )
    svc.create_unit(
        code="HN-BD", name="LĐLĐ quận Ba Đình", level=3, kind=UnitKind.district, parent_code="HN"
    )
    svc.create_unit(
        code="HCM",
        name="LĐLĐ TP Hồ Chí Minh",
        level=2,
        kind=UnitKind.province_federation,
        parent_code="TLD",
    )
    emails = {}
    for unit in ("TLD", "HN", "HN-BD", "HCM"):
        email = f"it.{unit.lower()}@congdoan.vn"
        svc.create_officer(
            code=f"IT-{unit}",
            full_name=f"Cán bộ CNTT {unit}",
            unit_code=unit,
            email=email,
            it_staff=True,
        )
        svc.add_contact(unit_code=unit, officer_code=f"IT-{unit}", role=ContactRole.it)
        svc.create_site(code=f"{unit}-OFFICE", name=f"Trụ sở {unit}", unit_code=unit)
        emails[unit] = email
    session.flush()
    return Org(emails=emails)


def add_snmp_device(
    session: Any,
    *,
    tag: str,
    kind: Any,
    unit: str,
    port: int,
    community: str | None = None,
    v3: tuple[str, str, str] | None = None,
    site: str | None = None,
    ip: str = "127.0.0.1",
) -> Any:
    """A device with its own SNMP credential profile (community or v3 user) on ``port``."""
    from inventory.config import Settings
    from inventory.enums import CredentialKind
    from inventory.secrets import SecretBox
    from inventory.service import InventoryService

    svc = InventoryService(session, actor="test")
    box = SecretBox.from_settings(Settings.from_env())
    if v3 is not None:
        svc.create_credential(
            name=f"cred-{tag}",
            kind=CredentialKind.snmp_v3,
            username=v3[0],
            secret={"auth_key": v3[1], "priv_key": v3[2]},
            box=box,
            params={"port": port},
        )
    else:
        svc.create_credential(
            name=f"cred-{tag}",
            kind=CredentialKind.snmp_v2c,
            secret={"community": community or "public"},
            box=box,
            params={"port": port},
        )
    svc.create_device(
        asset_tag=tag, kind=kind, unit_code=unit, hostname=tag.lower(), mgmt_ip=ip, site_code=site
    )
    return svc.attach_credentials(tag, snmp=f"cred-{tag}")
