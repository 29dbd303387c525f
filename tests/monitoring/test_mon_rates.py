"""Counter rates: 32/64-bit wraps and reboots, as arithmetic and across two real polls of
snmpsim recordings whose counters sit near 2^32 / 2^64 (``c32-a``→``c32-b``, ``hc-a``→``hc-b``)
and whose sysUpTime drops (``c32-reboot``)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from inventory.db import make_engine, session_scope
from inventory.enums import DeviceKind
from monitoring.models import InterfaceState, PollState
from monitoring.rates import CounterSample, counter_rate, rebooted
from monitoring.service import store_samples
from monitoring.snmp import PollTarget, SnmpAuth, SnmpPoller
from tests.monitoring.monpeers import FakeClock, Snmpsim, add_snmp_device, build_org


def test_plain_rate() -> None:
    r = counter_rate(CounterSample(1_000, 100, 0.0), CounterSample(3_000, 1_100, 10.0), bits=64)
    assert r.rate == 200.0 and not r.wrapped and not r.reset


def test_32bit_wrap() -> None:
    r = counter_rate(CounterSample(2**32 - 100, 100, 0.0), CounterSample(900, 1100, 10.0), bits=32)
    assert r.wrapped and r.rate == 100.0


def test_64bit_wrap() -> None:
    r = counter_rate(CounterSample(2**64 - 5, 100, 0.0), CounterSample(15, 600, 5.0), bits=64)
    assert r.wrapped and r.rate == 4.0


def test_reboot_gives_no_rate_even_if_counter_grew() -> None:
    r = counter_rate(CounterSample(100, 900_000, 0.0), CounterSample(5_000, 300, 10.0), bits=32)
    assert r.reset and r.rate is None


def test_implausible_drop_is_a_reset_not_a_wrap() -> None:
    r = counter_rate(CounterSample(1_000_000, 100, 0.0), CounterSample(5, 1100, 10.0), bits=32)
    assert r.reset and r.rate is None


def test_no_time_elapsed() -> None:
    assert counter_rate(CounterSample(1, 1, 5.0), CounterSample(2, 2, 5.0), bits=32).rate is None


@pytest.mark.parametrize(
    "prev,cur,expected", [(100, 50, True), (2**32 - 10, 5, False), (None, 5, False), (5, 5, False)]
)
def test_rebooted(prev: int | None, cur: int, expected: bool) -> None:
    assert rebooted(prev, cur) is expected


def _poll(port: int, dev_id: int, community: str, clock: FakeClock) -> object:
    async def go() -> object:
        p = SnmpPoller(timeout=1.0, retries=1, clock=clock)
        try:
            return await p.poll(
                PollTarget(
                    device_id=dev_id,
                    host="127.0.0.1",
                    port=port,
                    kind=DeviceKind.switch,
                    auth=SnmpAuth.v2c(community),
                )
            )
        finally:
            p.close()

    return asyncio.run(go())


@pytest.mark.parametrize(
    "first,second,bits,in_bps,out_bps",
    [("c32-a", "c32-b", 32, 1600.0, 1600.0), ("hc-a", "hc-b", 64, 8000.0, 800.0)],
)
def test_wrap_across_two_real_polls(
    sqlite_url: str,
    snmpsim: Snmpsim,
    clock: FakeClock,
    first: str,
    second: str,
    bits: int,
    in_bps: float,
    out_bps: float,
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        dev_id = add_snmp_device(s, tag="SW", kind=DeviceKind.switch, unit="HN", port=1).id
    for community in (first, second):
        sample = _poll(snmpsim.port, dev_id, community, clock)
        with session_scope(engine) as s:
            store_samples(s, [sample], clock=clock)  # type: ignore[list-item]
        clock.advance(seconds=10)
    with session_scope(engine) as s:
        (iface,) = s.scalars(select(InterfaceState)).all()
        assert iface.counter_bits == bits
        assert iface.in_bps == pytest.approx(in_bps) and iface.out_bps == pytest.approx(out_bps)
        assert s.get(PollState, dev_id).rebooted_at is None  # type: ignore[union-attr]


def test_reboot_detected_from_sysuptime(
    sqlite_url: str, snmpsim: Snmpsim, clock: FakeClock
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        dev_id = add_snmp_device(s, tag="SW", kind=DeviceKind.switch, unit="HN", port=1).id
    for community in ("c32-a", "c32-reboot"):
        sample = _poll(snmpsim.port, dev_id, community, clock)
        with session_scope(engine) as s:
            store_samples(s, [sample], clock=clock)  # type: ignore[list-item]
        clock.advance(seconds=10)
    with session_scope(engine) as s:
        (iface,) = s.scalars(select(InterfaceState)).all()
        # The counters went from near 2^32 to 100: a wrap would claim ~4 kB/s; it was a reboot.
        assert iface.in_bps is None and iface.out_bps is None
        ps = s.get(PollState, dev_id)
        assert ps is not None and ps.rebooted_at == clock() - timedelta(seconds=10)
        assert ps.sys_uptime == 1_200
