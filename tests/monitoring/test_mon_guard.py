"""The poller and the service checks ask ``inventory.netguard`` (``TLDOPS_ALLOWED_NETS``), the
one allowed-networks guard, before contacting anything: real snmpsim agent, real TCP listener."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from inventory.db import make_engine, session_scope
from inventory.enums import DeviceKind, ServiceKind
from inventory.netguard import parse_allowed_nets
from inventory.service import InventoryService
from monitoring.checks import CheckSpec, run_check
from monitoring.jobs import check_cycle, poll_cycle
from monitoring.models import CheckState, PollState, PollStatus
from monitoring.service import MonitorSettings
from monitoring.snmp import NOT_ALLOWED, PollTarget, SnmpAuth, SnmpPoller
from tests.monitoring.monpeers import FakeClock, Snmpsim, add_snmp_device, build_org

OUTSIDE = "198.18.0.0/15"  # loopback is not in it


@pytest.fixture
def tcp_port() -> Iterator[int]:
    """A real listening TCP socket on loopback (the kernel completes the handshake)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv.getsockname()[1]
    srv.close()


@pytest.fixture
def no_guard_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("TLDOPS_ALLOWED_NETS", raising=False)
    monkeypatch.delenv("TLDOPS_MONITOR_ALLOWED_NETS", raising=False)
    return monkeypatch


@pytest.mark.parametrize("var", ["TLDOPS_ALLOWED_NETS", "TLDOPS_MONITOR_ALLOWED_NETS"])
def test_settings_read_the_platform_guard_and_its_legacy_name(var: str) -> None:
    assert MonitorSettings.from_env({var: OUTSIDE}).allowed_nets == OUTSIDE
    both = {"TLDOPS_ALLOWED_NETS": "127.0.0.0/8", "TLDOPS_MONITOR_ALLOWED_NETS": OUTSIDE}
    assert MonitorSettings.from_env(both).allowed_nets == "127.0.0.0/8"


def test_poll_cycle_honours_tldops_allowed_nets(
    sqlite_url: str, snmpsim: Snmpsim, clock: FakeClock, no_guard_env: pytest.MonkeyPatch
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        add_snmp_device(
            s,
            tag="HN-SW-01",
            kind=DeviceKind.switch,
            unit="HN",
            port=snmpsim.port,
            community="switch",
        )
    no_guard_env.setenv("TLDOPS_ALLOWED_NETS", OUTSIDE)
    summary = asyncio.run(poll_cycle(engine, settings=MonitorSettings.from_env(), clock=clock))
    assert (summary.polled, summary.skipped, summary.up) == (1, 1, 0)
    assert summary.samples[0].error == NOT_ALLOWED
    no_guard_env.setenv("TLDOPS_ALLOWED_NETS", "127.0.0.0/8")
    summary = asyncio.run(poll_cycle(engine, settings=MonitorSettings.from_env(), clock=clock))
    assert (summary.polled, summary.up) == (1, 1)
    with session_scope(engine) as s:
        assert s.scalar(select(PollState.status)) is PollStatus.up


def test_check_cycle_honours_tldops_allowed_nets(
    sqlite_url: str, tcp_port: int, clock: FakeClock, no_guard_env: pytest.MonkeyPatch
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        InventoryService(s, actor="test").create_service(
            name="Cổng", kind=ServiceKind.tcp, target=f"127.0.0.1:{tcp_port}", unit_code="HN"
        )
    no_guard_env.setenv("TLDOPS_ALLOWED_NETS", OUTSIDE)
    summary = asyncio.run(check_cycle(engine, settings=MonitorSettings.from_env(), clock=clock))
    assert (summary.checked, summary.skipped, summary.ok) == (1, 1, 0)
    with session_scope(engine) as s:
        assert s.scalar(select(CheckState.detail)) == NOT_ALLOWED
    no_guard_env.setenv("TLDOPS_ALLOWED_NETS", "127.0.0.0/8")
    summary = asyncio.run(check_cycle(engine, settings=MonitorSettings.from_env(), clock=clock))
    assert (summary.checked, summary.ok) == (1, 1)


async def _poll(poller: SnmpPoller, t: PollTarget) -> object:
    try:
        return await poller.poll(t)
    finally:
        poller.close()  # inside the loop: pysnmp's transports close through it


def test_unset_nets_mean_the_environment_guard(
    snmpsim: Snmpsim, tcp_port: int, no_guard_env: pytest.MonkeyPatch
) -> None:
    no_guard_env.setenv("TLDOPS_ALLOWED_NETS", OUTSIDE)
    t = PollTarget(1, "127.0.0.1", DeviceKind.switch, SnmpAuth.v2c("switch"), port=snmpsim.port)
    sample: Any = asyncio.run(_poll(SnmpPoller(timeout=0.5, retries=0), t))
    assert sample.status is PollStatus.skipped and sample.error == NOT_ALLOWED
    spec = CheckSpec(1, "t", ServiceKind.tcp, f"127.0.0.1:{tcp_port}", params={"timeout": 1})
    result = asyncio.run(run_check(spec))
    assert result.skipped and result.detail == NOT_ALLOWED


def test_names_are_judged_by_what_they_resolve_to(snmpsim: Snmpsim, tcp_port: int) -> None:
    """``localhost`` resolves to 127.0.0.1 here: refused outside, polled/checked inside."""
    auth = SnmpAuth.v2c("switch")
    t = PollTarget(1, "localhost", DeviceKind.switch, auth, port=snmpsim.port)
    spec = CheckSpec(1, "t", ServiceKind.tcp, f"localhost:{tcp_port}", params={"timeout": 1})
    for nets, polled in (
        (parse_allowed_nets(OUTSIDE), False),
        (parse_allowed_nets("127.0.0.0/8"), True),
    ):
        sample: Any = asyncio.run(_poll(SnmpPoller(timeout=0.5, retries=0, allowed_nets=nets), t))
        result = asyncio.run(run_check(spec, allowed_nets=nets))
        if polled:
            assert sample.status is PollStatus.up, sample.error
            assert result.ok, result.detail
        else:
            assert sample.status is PollStatus.skipped and sample.error == NOT_ALLOWED
            assert result.skipped and result.detail == NOT_ALLOWED


def test_a_name_that_does_not_resolve_is_not_contacted() -> None:
    spec = CheckSpec(1, "t", ServiceKind.http, "http://khong-ton-tai.invalid/")
    result = asyncio.run(run_check(spec, allowed_nets=parse_allowed_nets("127.0.0.0/8")))
    assert result.skipped and result.detail == NOT_ALLOWED
