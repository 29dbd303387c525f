"""Service checks for the federation's services (``inventory.models.Service`` rows).

Each check is a coroutine taking a :class:`CheckSpec` and returning a :class:`CheckResult`; a
failure is a result with ``ok=False`` and a ``detail`` saying why, never an exception::

    spec = CheckSpec(service_id=1, name="portal", kind=ServiceKind.http,
                     target="https://congdoan.vn/", params={"timeout": 5})
    result = await run_check(spec)   # allowed_nets: netguard.allowed_nets() unless given
    result.ok, result.latency_ms, result.status_code

Kinds: ``tcp`` (connect to host:port), ``http`` (status + latency; ``expect_status`` param, default
any 2xx/3xx), ``tls`` (certificate days to expiry, read even when the chain is not trusted),
``smtp`` (a ``220`` banner), ``dns`` (the name resolves; ``expect`` param: an address that must be
among the answers), ``icmp`` (echo reply; ICMP datagram socket, raw socket as fallback).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509

from inventory import netguard
from inventory.enums import ServiceKind
from monitoring.snmp import NOT_ALLOWED

Nets = netguard.Nets


@dataclass(frozen=True)
class CheckSpec:
    service_id: int
    name: str
    kind: ServiceKind
    target: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def timeout(self) -> float:
        return float(self.params.get("timeout", 5.0))


@dataclass(frozen=True)
class CheckResult:
    service_id: int
    ok: bool
    checked_at: datetime
    latency_ms: float | None = None
    status_code: int | None = None
    cert_days_left: float | None = None
    detail: str = ""
    skipped: bool = False


def split_host_port(target: str, default_port: int) -> tuple[str, int]:
    """``"mail.congdoan.vn:25"`` → (host, port); IPv6 as ``[::1]:25``; URLs give their netloc.

    >>> split_host_port("https://[::1]:8443/x", 443)
    ('::1', 8443)
    >>> split_host_port("127.0.0.1", 25)
    ('127.0.0.1', 25)
    """
    if "://" in target:
        parts = urlsplit(target)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return parts.hostname or "", port
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    if target.count(":") == 1:
        host, port_text = target.split(":")
        return host, int(port_text)
    return target, default_port


async def _resolve(host: str) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(i[4][0]) for i in infos})


def _now() -> datetime:
    return datetime.now(UTC)


async def check_tcp(spec: CheckSpec) -> CheckResult:
    host, port = split_host_port(spec.target, int(spec.params.get("port", 80)))
    start = time.perf_counter()
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), spec.timeout)
    except (OSError, TimeoutError) as exc:
        return CheckResult(spec.service_id, False, _now(), detail=_why(exc, spec.timeout))
    latency = (time.perf_counter() - start) * 1000
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    return CheckResult(spec.service_id, True, _now(), latency_ms=latency, detail="connected")


async def check_http(spec: CheckSpec, *, client: httpx.AsyncClient | None = None) -> CheckResult:
    expect = spec.params.get("expect_status")
    own = client is None
    http = client or httpx.AsyncClient(
        verify=_verify(spec.params), timeout=spec.timeout, follow_redirects=False
    )
    start = time.perf_counter()
    try:
        resp = await http.get(spec.target, timeout=spec.timeout)
    except httpx.HTTPError as exc:
        return CheckResult(
            spec.service_id, False, _now(), detail=f"{type(exc).__name__}: {exc}"[:500]
        )
    finally:
        if own:
            await http.aclose()
    latency = (time.perf_counter() - start) * 1000
    ok = resp.status_code == int(expect) if expect is not None else 200 <= resp.status_code < 400
    return CheckResult(
        spec.service_id,
        ok,
        _now(),
        latency_ms=latency,
        status_code=resp.status_code,
        detail=f"HTTP {resp.status_code}",
    )


def _verify(params: dict[str, Any]) -> bool | ssl.SSLContext:
    ca = params.get("ca_file")
    if ca:
        return ssl.create_default_context(cafile=str(ca))
    return bool(params.get("verify", True))


async def check_tls(spec: CheckSpec, *, clock: Any = None) -> CheckResult:
    """Days until the server certificate expires; read without trusting the chain on purpose,
    because an expiring self-signed or internal-CA certificate must still be reported."""
    host, port = split_host_port(spec.target, 443)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    server_name = str(spec.params.get("server_name") or host)
    start = time.perf_counter()
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, server_hostname=server_name),
            spec.timeout,
        )
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return CheckResult(spec.service_id, False, _now(), detail=_why(exc, spec.timeout))
    latency = (time.perf_counter() - start) * 1000
    sslobj = writer.get_extra_info("ssl_object")
    der = sslobj.getpeercert(binary_form=True) if sslobj else None
    writer.close()
    if not der:
        return CheckResult(spec.service_id, False, _now(), detail="no certificate presented")
    cert = x509.load_der_x509_certificate(der)
    now = (clock or _now)()
    days = (cert.not_valid_after_utc - now).total_seconds() / 86400
    return CheckResult(
        spec.service_id,
        days > 0,
        now,
        latency_ms=latency,
        cert_days_left=round(days, 2),
        detail=f"certificate expires {cert.not_valid_after_utc:%Y-%m-%d} ({days:.1f} days)",
    )


async def check_smtp(spec: CheckSpec) -> CheckResult:
    host, port = split_host_port(spec.target, 25)
    start = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), spec.timeout)
    except (OSError, TimeoutError) as exc:
        return CheckResult(spec.service_id, False, _now(), detail=_why(exc, spec.timeout))
    try:
        line = await asyncio.wait_for(reader.readline(), spec.timeout)
        latency = (time.perf_counter() - start) * 1000
        writer.write(b"QUIT\r\n")
        await writer.drain()
    except (OSError, TimeoutError) as exc:
        return CheckResult(spec.service_id, False, _now(), detail=_why(exc, spec.timeout))
    finally:
        writer.close()
    banner = line.decode("utf-8", "replace").strip()
    ok = banner.startswith("220")
    return CheckResult(spec.service_id, ok, _now(), latency_ms=latency, detail=banner[:300])


async def check_dns(spec: CheckSpec) -> CheckResult:
    start = time.perf_counter()
    try:
        addrs = await asyncio.wait_for(_resolve(spec.target), spec.timeout)
    except (OSError, TimeoutError) as exc:
        return CheckResult(spec.service_id, False, _now(), detail=_why(exc, spec.timeout))
    latency = (time.perf_counter() - start) * 1000
    expect = spec.params.get("expect")
    ok = bool(addrs) and (expect is None or str(expect) in addrs)
    return CheckResult(
        spec.service_id, ok, _now(), latency_ms=latency, detail="answers: " + ", ".join(addrs)
    )


def _icmp_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


async def check_icmp(spec: CheckSpec) -> CheckResult:
    """One ICMP echo (IPv4). Uses an unprivileged ICMP datagram socket where the kernel allows it
    (``net.ipv4.ping_group_range``), else a raw socket (root)."""
    host = spec.target
    try:
        addr = (await _resolve(host))[0]
    except (OSError, IndexError) as exc:
        return CheckResult(spec.service_id, False, _now(), detail=f"cannot resolve: {exc}")
    raw = False
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    except OSError:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            raw = True
        except OSError as exc:
            return CheckResult(spec.service_id, False, _now(), detail=f"no ICMP socket: {exc}")
    sock.setblocking(False)
    ident = os.getpid() & 0xFFFF
    seq = spec.service_id & 0xFFFF
    payload = b"tldops-icmp-check"
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    packet = struct.pack("!BBHHH", 8, 0, _icmp_checksum(header + payload), ident, seq) + payload
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    deadline = start + spec.timeout
    try:
        await loop.sock_sendto(sock, packet, (addr, 0))
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError
            data = await asyncio.wait_for(loop.sock_recv(sock, 2048), remaining)
            if raw:
                data = data[(data[0] & 0x0F) * 4 :]  # strip the IP header
            if len(data) >= 8 and data[0] == 0:
                _t, _c, _sum, rid, rseq = struct.unpack("!BBHHH", data[:8])
                # Datagram sockets rewrite the id to the socket's port; match on seq there.
                if rseq == seq and (not raw or rid == ident):
                    break
    except (OSError, TimeoutError) as exc:
        return CheckResult(spec.service_id, False, _now(), detail=_why(exc, spec.timeout))
    finally:
        sock.close()
    latency = (time.perf_counter() - start) * 1000
    return CheckResult(
        spec.service_id, True, _now(), latency_ms=latency, detail=f"echo reply from {addr}"
    )


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timeout after {timeout:g}s"
    return f"{type(exc).__name__}: {exc}"[:500]


def _target_host(spec: CheckSpec) -> str | None:
    if spec.kind is ServiceKind.dns:
        return None  # the check asks the system resolver; the name itself is not contacted
    if spec.kind is ServiceKind.icmp:
        return spec.target
    return split_host_port(spec.target, 0)[0]


async def run_check(
    spec: CheckSpec, *, allowed_nets: Nets | None = None, client: httpx.AsyncClient | None = None
) -> CheckResult:
    """Run one check inside the allowed networks (``inventory.netguard``; skipped, not failed).

    ``allowed_nets`` defaults to ``netguard.allowed_nets()`` (``TLDOPS_ALLOWED_NETS``). A name is
    refused unless every address it resolves to is inside, and one that does not resolve is
    refused too: nothing is contacted that the guard could not judge.

    >>> # await run_check(CheckSpec(1, "smtp", ServiceKind.smtp, "127.0.0.1:2525"),
    >>> #                 allowed_nets=netguard.parse_allowed_nets("127.0.0.0/8"))
    """
    nets = netguard.allowed_nets() if allowed_nets is None else allowed_nets
    host = _target_host(spec)
    if host is not None and not await netguard.resolve_allowed_async(host, nets):
        return CheckResult(spec.service_id, False, _now(), detail=NOT_ALLOWED, skipped=True)
    if spec.kind is ServiceKind.tcp:
        return await check_tcp(spec)
    if spec.kind is ServiceKind.http:
        return await check_http(spec, client=client)
    if spec.kind is ServiceKind.tls:
        return await check_tls(spec)
    if spec.kind is ServiceKind.smtp:
        return await check_smtp(spec)
    if spec.kind is ServiceKind.dns:
        return await check_dns(spec)
    return await check_icmp(spec)


async def run_checks(
    specs: Sequence[CheckSpec], *, allowed_nets: Nets | None = None, concurrency: int = 32
) -> list[CheckResult]:
    """Run checks concurrently (bounded); results in input order."""
    nets = netguard.allowed_nets() if allowed_nets is None else allowed_nets
    sem = asyncio.Semaphore(concurrency)

    async def one(s: CheckSpec) -> CheckResult:
        async with sem:
            return await run_check(s, allowed_nets=nets)

    return list(await asyncio.gather(*(one(s) for s in specs)))
