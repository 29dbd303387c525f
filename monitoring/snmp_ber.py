"""A small SNMPv2c GETBULK client: hand-written BER for the handful of types SNMP uses, on one
shared asyncio UDP socket.

Why: decoding with pyasn1 (what pysnmp does for every message) is where a pysnmp poll spends most
of its CPU — about four times the whole cost of Go's snmp_exporter for the same walk. v2c
messages are simple enough to decode directly: a response is a SEQUENCE of version, community and
a PDU whose var-binds are (OID, value) pairs. SNMPv3 (authentication, privacy, engine discovery)
stays with pysnmp's engine; see :class:`monitoring.snmp.SnmpPoller`.

Anything that does not parse, or does not match an outstanding request (id, community, peer) is
dropped, like pysnmp does: a garbage-spewing agent looks like a silent one and times out::

    client = V2cClient()
    rows = await client.get_bulk(("127.0.0.1", 161), "public", non_repeaters=["1.3.6.1.2.1.1.3"],
                                 repeaters=["1.3.6.1.2.1.2.2.1.10"], max_repetitions=10,
                                 timeout=2.0, retries=1)
    client.close()
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from typing import Any

# Universal and SNMP application tags.
INTEGER, OCTET_STRING, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
IP_ADDRESS, COUNTER32, GAUGE32, TIMETICKS, OPAQUE, COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
GET_BULK, RESPONSE = 0xA5, 0xA2
_UNSIGNED = frozenset({COUNTER32, GAUGE32, TIMETICKS, COUNTER64})
_EXCEPTIONS = frozenset({NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW})


class BerError(ValueError):
    """The bytes are not the BER we expect."""


class SnmpError(Exception):
    """The agent answered with an error status (``status`` is the RFC 3416 code)."""

    def __init__(self, status: int, index: int) -> None:
        super().__init__(f"agent error status {status} at var-bind {index}")
        self.status = status
        self.index = index


# -- encoding ---------------------------------------------------------------------------------
def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _len(len(body)) + body


def _int(value: int) -> bytes:
    return _tlv(INTEGER, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def encode_oid(oid: str) -> bytes:
    """BER encoding of a dotted OID.

    >>> encode_oid("1.3.6.1.2.1.1.3").hex()
    '06072b060102010103'
    """
    arcs = [int(a) for a in oid.strip(".").split(".")]
    if len(arcs) < 2:
        raise BerError(f"OID too short: {oid!r}")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _tlv(OID, bytes(out))


def encode_get_bulk(
    *,
    request_id: int,
    community: bytes,
    oids: Sequence[str],
    non_repeaters: int,
    max_repetitions: int,
) -> bytes:
    """A complete v2c GetBulkRequest message."""
    var_binds = b"".join(_tlv(SEQUENCE, encode_oid(o) + b"\x05\x00") for o in oids)
    pdu = _tlv(
        GET_BULK,
        _int(request_id) + _int(non_repeaters) + _int(max_repetitions) + _tlv(SEQUENCE, var_binds),
    )
    return _tlv(SEQUENCE, _int(1) + _tlv(OCTET_STRING, community) + pdu)


# -- decoding ---------------------------------------------------------------------------------
def _header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the TLV at ``pos``."""
    try:
        tag = data[pos]
        first = data[pos + 1]
    except IndexError as exc:
        raise BerError("truncated header") from exc
    pos += 2
    if first & 0x80:
        n = first & 0x7F
        if n == 0 or n > 4:
            raise BerError("unsupported length form")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    else:
        length = first
    end = pos + length
    if end > len(data):
        raise BerError("value runs past the end of the message")
    return tag, pos, end


def decode_oid(body: bytes) -> str:
    """Dotted text of a BER-encoded OID body.

    >>> decode_oid(bytes.fromhex("2b060102010103"))
    '1.3.6.1.2.1.1.3'
    """
    if not body:
        raise BerError("empty OID")
    arcs: list[int] = []
    value = 0
    for b in body:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    if body[-1] & 0x80:
        raise BerError("unterminated OID")
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(map(str, head + arcs[1:]))


def _value(tag: int, body: bytes) -> Any:
    if tag == INTEGER:
        return int.from_bytes(body, "big", signed=True)
    if tag in _UNSIGNED:
        return int.from_bytes(body, "big")
    if tag in (OCTET_STRING, OPAQUE):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return body.hex(":")
    if tag == OID:
        return decode_oid(body)
    if tag == IP_ADDRESS:
        return ".".join(str(b) for b in body)
    if tag == NULL or tag in _EXCEPTIONS:
        return None
    raise BerError(f"unexpected value tag 0x{tag:02x}")


def decode_response(data: bytes) -> tuple[int, bytes, int, int, list[tuple[str, Any]]]:
    """(request id, community, error status, error index, var-binds) of a v2c Response."""
    tag, pos, _end = _header(data, 0)
    if tag != SEQUENCE:
        raise BerError("not a SEQUENCE")
    tag, p, e = _header(data, pos)
    if tag != INTEGER or int.from_bytes(data[p:e], "big") != 1:
        raise BerError("not SNMPv2c")
    tag, p, e2 = _header(data, e)
    if tag != OCTET_STRING:
        raise BerError("no community")
    community = data[p:e2]
    tag, pos, pdu_end = _header(data, e2)
    if tag != RESPONSE:
        raise BerError("not a Response-PDU")
    fields = []
    for _ in range(3):
        tag, p, e = _header(data, pos)
        if tag != INTEGER:
            raise BerError("bad PDU header")
        fields.append(int.from_bytes(data[p:e], "big", signed=True))
        pos = e
    tag, pos, vb_end = _header(data, pos)
    if tag != SEQUENCE or vb_end > pdu_end:
        raise BerError("bad var-bind list")
    out: list[tuple[str, Any]] = []
    while pos < vb_end:
        tag, p, vb_stop = _header(data, pos)
        if tag != SEQUENCE:
            raise BerError("bad var-bind")
        tag, op, oe = _header(data, p)
        if tag != OID:
            raise BerError("var-bind without OID")
        vtag, vp, ve = _header(data, oe)
        out.append((decode_oid(data[op:oe]), _value(vtag, data[vp:ve])))
        pos = vb_stop
    return fields[0], community, fields[1], fields[2], out


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: V2cClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.client._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the request will time out on its own.
        pass


class V2cClient:
    """GETBULK over one UDP socket shared by every request of the poller."""

    def __init__(self) -> None:
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[int, tuple[asyncio.Future[list[tuple[str, Any]]], bytes, Any]] = {}
        self._ids = itertools.count(random.randint(1, 1 << 30))
        self._opening: asyncio.Lock | None = None

    async def _ensure(self) -> asyncio.DatagramTransport:
        if self._transport is None:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:
                if self._transport is None:
                    loop = asyncio.get_running_loop()
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _Protocol(self), local_addr=("0.0.0.0", 0)
                    )
                    self._transport = transport
        return self._transport

    def _received(self, data: bytes, addr: Any) -> None:
        try:
            request_id, community, status, index, var_binds = decode_response(data)
        except (BerError, IndexError, ValueError):
            return  # malformed or truncated: dropped, the request times out
        entry = self._pending.get(request_id)
        if entry is None:
            return
        future, want_community, peer = entry
        if community != want_community or (addr[0], addr[1]) != peer or future.done():
            return
        if status:
            future.set_exception(SnmpError(status, index))
        else:
            future.set_result(var_binds)

    async def get_bulk(
        self,
        peer: tuple[str, int],
        community: str,
        *,
        non_repeaters: Sequence[str],
        repeaters: Sequence[str],
        max_repetitions: int,
        timeout: float,
        retries: int,
    ) -> list[tuple[str, Any]]:
        """One GETBULK; raises ``TimeoutError`` after ``retries`` retransmissions."""
        transport = await self._ensure()
        loop = asyncio.get_running_loop()
        request_id = next(self._ids) & 0x7FFFFFFF
        secret = community.encode("utf-8")
        message = encode_get_bulk(
            request_id=request_id,
            community=secret,
            oids=[*non_repeaters, *repeaters],
            non_repeaters=len(non_repeaters),
            max_repetitions=max_repetitions if repeaters else 0,
        )
        future: asyncio.Future[list[tuple[str, Any]]] = loop.create_future()
        self._pending[request_id] = (future, secret, peer)
        try:
            for _attempt in range(retries + 1):
                transport.sendto(message, peer)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), timeout)
                except TimeoutError:
                    continue
            raise TimeoutError("No SNMP response received before timeout")
        finally:
            self._pending.pop(request_id, None)
            if not future.done():
                future.cancel()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
