"""The SNMP poller against real agents: Net-SNMP snmpd, snmpsim recordings, and broken peers."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inventory.enums import DeviceKind
from inventory.netguard import parse_allowed_nets
from monitoring.models import PollStatus
from monitoring.snmp import NOT_ALLOWED, PollTarget, SnmpAuth, SnmpPoller
from tests.monitoring.monpeers import DATA, Snmpd, Snmpsim, free_port, start_snmpsim


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def target(
    port: int, auth: SnmpAuth, kind: DeviceKind = DeviceKind.switch, dev: int = 1
) -> PollTarget:
    return PollTarget(device_id=dev, host="127.0.0.1", port=port, kind=kind, auth=auth)


async def poll_one(t: PollTarget, *, fast: bool = True, **kw: float) -> object:
    p = SnmpPoller(timeout=kw.get("timeout", 1.0), retries=int(kw.get("retries", 0)), fast_v2c=fast)
    try:
        return await p.poll(t)
    finally:
        p.close()


# v2c runs through our BER codec by default; the same tests run through pysnmp's engine too.
BOTH = pytest.mark.parametrize("fast", [True, False], ids=["ber", "pysnmp"])


@BOTH
def test_v2c_snmpd_system_interfaces_and_host_resources(snmpd: Snmpd, fast: bool) -> None:
    s = run(
        poll_one(target(snmpd.port, SnmpAuth.v2c(snmpd.community), DeviceKind.server), fast=fast)
    )
    assert s.status is PollStatus.up, s.error
    assert s.sys_name == "tmon-snmpd"
    assert s.sys_uptime is not None and s.sys_uptime >= 0
    names = {i.name for i in s.interfaces}
    assert "lo" in names
    lo = next(i for i in s.interfaces if i.name == "lo")
    assert lo.counter_bits == 64 and lo.oper_up and lo.in_octets > 0
    # HOST-RESOURCES: the root filesystem is a fixed disk with a size.
    assert any(d["descr"] == "/" and d["size_bytes"] > 0 for d in s.metrics["storage"])


def test_ipv6_agent(snmpd: Snmpd) -> None:
    t = PollTarget(
        device_id=1,
        host="::1",
        port=snmpd.port,
        kind=DeviceKind.switch,
        auth=SnmpAuth.v2c(snmpd.community),
    )
    s = run(poll_one(t))
    assert s.status is PollStatus.up, s.error
    assert s.sys_name == "tmon-snmpd"


def test_v3_authpriv_sha_aes(snmpd: Snmpd) -> None:
    auth = SnmpAuth.v3(username=snmpd.user, auth_key=snmpd.auth_key, priv_key=snmpd.priv_key)
    s = run(poll_one(target(snmpd.port, auth)))
    assert s.status is PollStatus.up, s.error
    assert s.sys_name == "tmon-snmpd"
    assert len(s.interfaces) >= 1


def test_v3_wrong_key_is_an_error_not_down(snmpd: Snmpd) -> None:
    auth = SnmpAuth.v3(username=snmpd.user, auth_key="not-the-key-1", priv_key=snmpd.priv_key)
    s = run(poll_one(target(snmpd.port, auth)))
    assert s.status is PollStatus.error
    assert "digest" in (s.error or "").lower()
    assert "not-the-key" not in repr(auth)  # keys never printed


@BOTH
def test_wrong_community_times_out_within_budget(snmpd: Snmpd, fast: bool) -> None:
    started = time.monotonic()
    s = run(poll_one(target(snmpd.port, SnmpAuth.v2c("wrong-community")), fast=fast, timeout=0.5))
    assert s.status is PollStatus.down
    assert time.monotonic() - started < 3


@BOTH
def test_snmpsim_switch_ifxtable_uplink_alias(snmpsim: Snmpsim, fast: bool) -> None:
    s = run(poll_one(target(snmpsim.port, SnmpAuth.v2c("switch")), fast=fast))
    assert s.status is PollStatus.up, s.error
    assert s.sys_name == "hn-sw-01" and s.sys_uptime == 8_640_000
    by_idx = {i.if_index: i for i in s.interfaces}
    assert sorted(by_idx) == [1, 2, 3, 4]
    up = by_idx[1]
    assert up.alias == "uplink to VNPT" and up.counter_bits == 64
    assert up.in_octets == 123_456_789 and up.speed_bps == 1_000_000_000
    assert by_idx[2].admin_up and not by_idx[2].oper_up
    assert not by_idx[3].admin_up
    assert by_idx[4].speed_bps == 100_000_000


@BOTH
def test_snmpsim_ups_and_printer_profiles(snmpsim: Snmpsim, fast: bool) -> None:
    ups = run(poll_one(target(snmpsim.port, SnmpAuth.v2c("ups"), DeviceKind.ups), fast=fast))
    assert ups.status is PollStatus.up, ups.error
    assert ups.metrics["ups"] == {
        "battery_status": 2,
        "seconds_on_battery": 420,
        "minutes_remaining": 6,
        "charge_percent": 35,
        "output_source": 5,
    }
    assert ups.interfaces == ()
    prn = run(
        poll_one(target(snmpsim.port, SnmpAuth.v2c("printer"), DeviceKind.printer), fast=fast)
    )
    assert prn.status is PollStatus.up, prn.error
    supplies = {s["descr"]: s for s in prn.metrics["printer"]["supplies"]}
    assert supplies["Black Toner Cartridge HP 59A"]["percent"] == 5.0
    assert supplies["Imaging Drum"]["percent"] == 80.0
    assert prn.metrics["printer"]["status"] == 3


def test_32bit_only_agent_uses_iftable_counters(snmpsim: Snmpsim) -> None:
    s = run(poll_one(target(snmpsim.port, SnmpAuth.v2c("c32-a"))))
    assert s.status is PollStatus.up
    (eth0,) = s.interfaces
    assert eth0.counter_bits == 32 and eth0.in_octets == 2**32 - 500


def test_allowed_networks_skip_without_contact() -> None:
    p = SnmpPoller(timeout=0.2, retries=0, allowed_nets=parse_allowed_nets("127.0.0.0/8"))
    t = PollTarget(device_id=9, host="198.18.0.10", kind=DeviceKind.switch, auth=SnmpAuth.v2c("x"))
    s = run(p.poll(t))
    p.close()
    assert s.status is PollStatus.skipped and s.error == NOT_ALLOWED and s.duration_ms == 0.0


# -- broken peers ------------------------------------------------------------------------------
class BadAgent:
    """A UDP server that answers every request with ``reply`` (or never, if ``reply`` is None)."""

    def __init__(self, reply: bytes | None) -> None:
        self.port = free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.reply = reply
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                _data, addr = self.sock.recvfrom(65535)
            except OSError:
                continue
            self.requests += 1
            if self.reply is not None:
                self.sock.sendto(self.reply, addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def bad_agents() -> Iterator[dict[str, BadAgent]]:
    agents = {
        "silent": BadAgent(None),
        "garbage": BadAgent(b"\xde\xad\xbe\xef not ber at all"),
        # A SEQUENCE claiming 1280 bytes that stops after the community.
        "truncated": BadAgent(b"\x30\x82\x05\x00\x02\x01\x01\x04\x06public\xa2\x82"),
        # ~60 kB: a long-form length and a sea of zeros (larger than any sane response).
        "oversized": BadAgent(b"\x30\x83\x00\xea\x5a" + b"\x00" * 60000),
    }
    yield agents
    for a in agents.values():
        a.close()


@BOTH
def test_broken_agents_fail_alone_and_fast(
    bad_agents: dict[str, BadAgent], snmpd: Snmpd, fast: bool
) -> None:
    """Dead, mute and malformed agents each cost at most their own timeout; the good agent in
    the same batch answers at its normal speed, and the engine still works afterwards."""
    closed = free_port()  # nothing listens here
    targets = [
        target(a.port, SnmpAuth.v2c("public"), dev=i) for i, a in enumerate(bad_agents.values(), 1)
    ]
    targets.append(target(closed, SnmpAuth.v2c("public"), dev=50))
    targets.append(target(snmpd.port, SnmpAuth.v2c(snmpd.community), dev=99))
    finished: dict[int, float] = {}
    started = time.monotonic()

    async def go() -> list[object]:
        p = SnmpPoller(timeout=0.6, retries=1, concurrency=16, fast_v2c=fast)
        try:
            out = await p.poll_many(
                targets, on_sample=lambda s: finished.setdefault(s.device_id, time.monotonic())
            )
            again = await p.poll(target(snmpd.port, SnmpAuth.v2c(snmpd.community), dev=100))
            return [*out, again]
        finally:
            p.close()

    samples = run(go())
    elapsed = time.monotonic() - started
    by_dev = {s.device_id: s for s in samples}
    for dev in (1, 2, 3, 4, 50):
        assert by_dev[dev].status in (PollStatus.down, PollStatus.error), by_dev[dev]
        assert by_dev[dev].duration_ms < 3000
    assert by_dev[99].status is PollStatus.up and by_dev[100].status is PollStatus.up
    # The healthy agent finished long before the broken ones gave up.
    assert finished[99] - started < 1.0
    assert all(finished[99] < finished[d] for d in (1, 2, 3, 4, 50))
    assert elapsed < 4
    assert all(a.requests >= 1 for a in bad_agents.values())


@BOTH
def test_agent_stopped_mid_poll(tmp_path: Path, snmpd: Snmpd, fast: bool) -> None:
    """snmpsim answers ifDescr.1 after 1.5 s; we kill it while our request is in flight."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(DATA / "slow.snmprec", data / "slow.snmprec")
    sim = start_snmpsim(tmp_path, data_dir=data, wait_community="slow")
    try:

        async def go() -> list[object]:
            p = SnmpPoller(timeout=2.5, retries=0, concurrency=4, fast_v2c=fast)
            try:
                task = asyncio.ensure_future(
                    p.poll_many(
                        [
                            target(sim.port, SnmpAuth.v2c("slow"), dev=1),
                            target(snmpd.port, SnmpAuth.v2c(snmpd.community), dev=2),
                        ]
                    )
                )
                await asyncio.sleep(0.5)
                sim.proc.kill()  # the agent dies with our GETBULK outstanding
                return list(await task)
            finally:
                p.close()

        started = time.monotonic()
        slow, good = run(go())
        assert slow.status is PollStatus.down, slow
        assert "timeout" in (slow.error or "").lower() or "no complete answer" in (slow.error or "")
        assert good.status is PollStatus.up
        assert time.monotonic() - started < 5
    finally:
        sim.stop()


def test_ber_codec_rejects_garbage_and_truncation() -> None:
    from monitoring.snmp_ber import BerError, decode_response, encode_get_bulk

    msg = encode_get_bulk(
        request_id=7, community=b"c", oids=["1.3.6.1.2.1.1.3"], non_repeaters=1, max_repetitions=0
    )
    assert msg[0] == 0x30 and b"\xa5" in msg
    for bad in (
        b"",
        b"\x30",
        b"\xde\xad\xbe\xef",
        msg,
        msg[:-3],
        b"\x30\x83\x00\xea\x5a" + b"\x00" * 100,
    ):
        with pytest.raises((BerError, IndexError, ValueError)):
            decode_response(bad)


def test_many_simulated_devices_one_cycle(tmp_path: Path) -> None:
    """120 devices (snmpsim: one recording under 120 community names) in one bounded cycle,
    plus 5 dead ones that must not hold the others up."""
    data = tmp_path / "many"
    data.mkdir()
    recording = (DATA / "switch.snmprec").read_text()
    for i in range(120):
        (data / f"sw{i:03d}.snmprec").write_text(recording)
    sim = start_snmpsim(tmp_path, data_dir=data, wait_community="sw000")
    try:
        targets = [target(sim.port, SnmpAuth.v2c(f"sw{i:03d}"), dev=i) for i in range(120)]
        targets += [target(free_port(), SnmpAuth.v2c("x"), dev=1000 + i) for i in range(5)]

        async def go() -> list[object]:
            p = SnmpPoller(timeout=1.0, retries=1, concurrency=32)
            try:
                return list(await p.poll_many(targets))
            finally:
                p.close()

        started = time.monotonic()
        samples = run(go())
        elapsed = time.monotonic() - started
        up = [s for s in samples if s.status is PollStatus.up]
        assert len(up) == 120 and all(len(s.interfaces) == 4 for s in up)
        assert [s.status for s in samples[120:]] == [PollStatus.down] * 5
        assert elapsed < 20
    finally:
        sim.stop()


def test_snmpsim_server_host_resources(snmpsim: Snmpsim) -> None:
    s = run(poll_one(target(snmpsim.port, SnmpAuth.v2c("server"), DeviceKind.server)))
    assert s.status is PollStatus.up, s.error
    assert s.metrics["cpu_percent"] == 40.0  # mean of the two processors
    disks = {d["descr"]: d for d in s.metrics["storage"]}
    assert set(disks) == {"/", "/srv"}  # physical memory is not a fixed disk
    assert disks["/srv"]["used_percent"] == 95.0
    assert disks["/srv"]["size_bytes"] == 50_000_000 * 4096
