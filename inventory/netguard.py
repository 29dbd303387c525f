"""The one allowed-networks guard for every outbound connection tldops makes.

SNMP polls, service checks, config backups (SSH), playbook targets and failover checks all ask
this module before they connect, so one setting bounds what the platform may ever talk to::

    TLDOPS_ALLOWED_NETS=127.0.0.0/8,198.18.0.0/15    # comma-separated CIDRs; empty = everything

``TLDOPS_MONITOR_ALLOWED_NETS`` (the older name) is read when ``TLDOPS_ALLOWED_NETS`` is unset.
A name is resolved first and allowed only if *every* address it resolves to is inside the
allowed networks, so a DNS name cannot smuggle a connection to a forbidden address.

>>> nets = parse_allowed_nets("127.0.0.0/8")
>>> host_allowed("127.0.0.9", nets), host_allowed("198.18.0.5", nets)
(True, False)
>>> resolve_allowed("localhost", nets)
True
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Mapping, Sequence

from inventory.errors import PermissionDenied

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Nets = Sequence[Network]

ENV = "TLDOPS_ALLOWED_NETS"
LEGACY_ENV = "TLDOPS_MONITOR_ALLOWED_NETS"
EVERYTHING: tuple[Network, ...] = (
    ipaddress.ip_network("0.0.0.0/0"),
    ipaddress.ip_network("::/0"),
)


class TargetNotAllowed(PermissionDenied):
    """A connection to an address outside the allowed networks was refused before it started."""


def parse_allowed_nets(text: str | None) -> tuple[Network, ...]:
    """Parse comma-separated CIDRs; empty means everything. Bad CIDRs raise ``ValueError``.

    >>> [str(n) for n in parse_allowed_nets("127.0.0.0/8, ::1/128")]
    ['127.0.0.0/8', '::1/128']
    >>> len(parse_allowed_nets(""))
    2
    """
    if not text or not text.strip():
        return EVERYTHING
    return tuple(
        ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip()
    )


def allowed_nets_text(environ: Mapping[str, str] | None = None) -> str:
    """The configured CIDR list as text (``TLDOPS_ALLOWED_NETS``, else the legacy name).

    >>> allowed_nets_text({"TLDOPS_MONITOR_ALLOWED_NETS": "127.0.0.0/8"})
    '127.0.0.0/8'
    >>> allowed_nets_text({"TLDOPS_ALLOWED_NETS": "10.0.0.0/8", LEGACY_ENV: "127.0.0.0/8"})
    '10.0.0.0/8'
    """
    env = os.environ if environ is None else environ
    value = env.get(ENV)
    if value is None or not value.strip():
        value = env.get(LEGACY_ENV, "")
    return value


def allowed_nets(environ: Mapping[str, str] | None = None) -> tuple[Network, ...]:
    """The allowed networks from the environment (see the module docstring)."""
    return parse_allowed_nets(allowed_nets_text(environ))


def host_allowed(host: str, nets: Nets) -> bool:
    """True when ``host`` is an IP address inside ``nets`` (names: see :func:`resolve_allowed`).

    >>> host_allowed("198.18.0.5", parse_allowed_nets("127.0.0.0/8"))
    False
    >>> host_allowed("not-an-ip", EVERYTHING)
    False
    """
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in nets)


def _addresses(host: str) -> list[str]:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return [host.strip("[]")]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def resolve_allowed(host: str, nets: Nets) -> bool:
    """True when ``host`` (address or name) resolves, and every address is inside ``nets``."""
    if nets == EVERYTHING:
        return True
    addrs = _addresses(host)
    return bool(addrs) and all(host_allowed(a, nets) for a in addrs)


async def resolve_allowed_async(host: str, nets: Nets) -> bool:
    """:func:`resolve_allowed` without blocking the event loop on DNS."""
    if nets == EVERYTHING:
        return True
    return await asyncio.to_thread(resolve_allowed, host, nets)


def ensure_allowed(host: str, nets: Nets | None = None, *, purpose: str = "") -> None:
    """Raise :class:`TargetNotAllowed` unless ``host`` may be contacted.

    >>> try:
    ...     ensure_allowed("198.18.0.5", parse_allowed_nets("127.0.0.0/8"), purpose="ssh")
    ... except TargetNotAllowed as err:
    ...     print(err.message.split(" / ")[1])
    198.18.0.5 is outside the allowed networks (ssh)
    """
    nets = allowed_nets() if nets is None else nets
    if resolve_allowed(host, nets):
        return
    why = f" ({purpose})" if purpose else ""
    raise TargetNotAllowed(
        f"Địa chỉ {host} nằm ngoài các mạng được phép{why} / "
        f"{host} is outside the allowed networks{why}",
        hint=f"{ENV} = {allowed_nets_text() or '(all)'}; add the network there if it is yours",
    )
