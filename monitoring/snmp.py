"""SNMP poller: pysnmp 7's asyncio engine for v3, a small BER codec for v2c.

One :class:`SnmpPoller` holds ONE shared ``SnmpEngine`` (v3: authPriv SHA/AES by default) and one
shared UDP socket for v2c (:mod:`monitoring.snmp_ber`), and a semaphore bounding how many devices
are polled at once. A device poll is a short series of GETBULK requests: the system scalars ride
as non-repeaters on the first request and every table column a profile needs is walked in
parallel; the poller remembers each agent's table size so the next poll asks for exactly what
is there (a small switch: one round trip). Through pysnmp, ``lookupMib=False``, no MIB compiler
and cached var-binds keep MIB machinery out of the hot path; pyasn1 decoding remains its cost,
which is why v2c — most of the federation's gear — goes through the BER codec::

    poller = SnmpPoller(timeout=2.0, retries=1, concurrency=64)
    target = PollTarget(device_id=7, host="127.0.0.1", port=1161, kind=DeviceKind.switch,
                        auth=SnmpAuth.v2c("public"))
    sample = await poller.poll(target)          # DeviceSample; never raises for a dead device
    samples = await poller.poll_many([target])  # one dead device never delays the others

Profiles per device kind (:data:`PROFILES`) name the modules polled; the same module names are
used for the generated ``snmp.yml`` (see :mod:`monitoring.promstack`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    usmAesCfb128Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
)
from pysnmp.proto import rfc1902, rfc1905

from inventory import netguard
from inventory.enums import DeviceKind
from monitoring.models import PollStatus
from monitoring.snmp_ber import SnmpError, V2cClient

# --- OIDs (numeric, so no MIB is ever loaded) -----------------------------------------------
SYS_DESCR = "1.3.6.1.2.1.1.1"
SYS_UPTIME = "1.3.6.1.2.1.1.3"
SYS_NAME = "1.3.6.1.2.1.1.5"

IF_COLUMNS = {
    "descr": "1.3.6.1.2.1.2.2.1.2",
    "speed": "1.3.6.1.2.1.2.2.1.5",
    "admin": "1.3.6.1.2.1.2.2.1.7",
    "oper": "1.3.6.1.2.1.2.2.1.8",
    "in_octets": "1.3.6.1.2.1.2.2.1.10",
    "in_errors": "1.3.6.1.2.1.2.2.1.14",
    "out_octets": "1.3.6.1.2.1.2.2.1.16",
    "out_errors": "1.3.6.1.2.1.2.2.1.20",
}
IFX_COLUMNS = {
    "name": "1.3.6.1.2.1.31.1.1.1.1",
    "hc_in_octets": "1.3.6.1.2.1.31.1.1.1.6",
    "hc_out_octets": "1.3.6.1.2.1.31.1.1.1.10",
    "high_speed": "1.3.6.1.2.1.31.1.1.1.15",
    "alias": "1.3.6.1.2.1.31.1.1.1.18",
}
HR_COLUMNS = {
    "cpu_load": "1.3.6.1.2.1.25.3.3.1.2",
    "storage_type": "1.3.6.1.2.1.25.2.3.1.2",
    "storage_descr": "1.3.6.1.2.1.25.2.3.1.3",
    "storage_units": "1.3.6.1.2.1.25.2.3.1.4",
    "storage_size": "1.3.6.1.2.1.25.2.3.1.5",
    "storage_used": "1.3.6.1.2.1.25.2.3.1.6",
}
HR_FIXED_DISK = "1.3.6.1.2.1.25.2.1.4"
UPS_SCALARS = {
    "battery_status": "1.3.6.1.2.1.33.1.2.1",
    "seconds_on_battery": "1.3.6.1.2.1.33.1.2.2",
    "minutes_remaining": "1.3.6.1.2.1.33.1.2.3",
    "charge_percent": "1.3.6.1.2.1.33.1.2.4",
    "output_source": "1.3.6.1.2.1.33.1.4.1",
}
PRINTER_COLUMNS = {
    "supply_type": "1.3.6.1.2.1.43.11.1.1.5",
    "supply_descr": "1.3.6.1.2.1.43.11.1.1.6",
    "supply_max": "1.3.6.1.2.1.43.11.1.1.8",
    "supply_level": "1.3.6.1.2.1.43.11.1.1.9",
    "printer_status": "1.3.6.1.2.1.25.3.5.1.1",
}

# Module name → (scalar OIDs fetched as GETNEXT non-repeaters, table columns walked).
MODULES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "system": ({"descr": SYS_DESCR, "uptime": SYS_UPTIME, "name": SYS_NAME}, {}),
    "interfaces": ({}, {**IF_COLUMNS, **IFX_COLUMNS}),
    "host_resources": ({}, HR_COLUMNS),
    "ups": (UPS_SCALARS, {}),
    "printer": ({}, PRINTER_COLUMNS),
}

NETWORK = ("system", "interfaces")
PROFILES: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.switch: NETWORK,
    DeviceKind.router: NETWORK,
    DeviceKind.firewall: NETWORK,
    DeviceKind.access_point: NETWORK,
    DeviceKind.server: (*NETWORK, "host_resources"),
    DeviceKind.storage: (*NETWORK, "host_resources"),
    DeviceKind.ups: ("system", "ups"),
    DeviceKind.printer: ("system", "printer"),
    DeviceKind.pc: ("system", "host_resources"),
    DeviceKind.laptop: ("system", "host_resources"),
    DeviceKind.other: ("system",),
}

_AUTH_PROTOCOLS = {
    "SHA": usmHMACSHAAuthProtocol,
    "SHA256": usmHMAC192SHA256AuthProtocol,
    "MD5": usmHMACMD5AuthProtocol,
}
_PRIV_PROTOCOLS = {
    "AES": usmAesCfb128Protocol,
    "AES256": usmAesCfb256Protocol,
    "DES": usmDESPrivProtocol,
}

NOT_ALLOWED = "not polled (outside allowed networks)"


@dataclass(frozen=True)
class SnmpAuth:
    """Credentials for one agent: v2c community, or a v3 user (authPriv SHA/AES by default)."""

    version: str  # "2c" | "3"
    community: str = ""
    username: str = ""
    auth_protocol: str = "SHA"
    auth_key: str = ""
    priv_protocol: str = "AES"
    priv_key: str = ""
    security_level: str = "authPriv"

    @classmethod
    def v2c(cls, community: str) -> SnmpAuth:
        """A v2c community.

        >>> SnmpAuth.v2c("public").version
        '2c'
        """
        return cls(version="2c", community=community)

    @classmethod
    def v3(
        cls,
        *,
        username: str,
        auth_key: str,
        priv_key: str,
        auth_protocol: str = "SHA",
        priv_protocol: str = "AES",
        security_level: str = "authPriv",
    ) -> SnmpAuth:
        """A v3 user; authPriv with SHA/AES unless told otherwise.

        >>> SnmpAuth.v3(username="ops", auth_key="a" * 8, priv_key="p" * 8).security_level
        'authPriv'
        """
        return cls(
            version="3",
            username=username,
            auth_protocol=auth_protocol,
            auth_key=auth_key,
            priv_protocol=priv_protocol,
            priv_key=priv_key,
            security_level=security_level,
        )

    def __repr__(self) -> str:  # never print keys or communities
        return f"SnmpAuth(version={self.version!r}, username={self.username!r})"

    def to_pysnmp(self) -> CommunityData | UsmUserData:
        if self.version == "2c":
            return CommunityData(self.community, mpModel=1)
        if self.security_level == "noAuthNoPriv":
            return UsmUserData(self.username)
        auth = _AUTH_PROTOCOLS[self.auth_protocol.upper()]
        if self.security_level == "authNoPriv":
            return UsmUserData(
                self.username,
                authKey=self.auth_key,
                authProtocol=auth,
            )
        return UsmUserData(
            self.username,
            authKey=self.auth_key,
            privKey=self.priv_key,
            authProtocol=auth,
            privProtocol=_PRIV_PROTOCOLS[self.priv_protocol.upper()],
        )


@dataclass(frozen=True)
class PollTarget:
    device_id: int
    host: str
    kind: DeviceKind
    auth: SnmpAuth
    port: int = 161
    modules: tuple[str, ...] | None = None  # None: the kind's profile

    @property
    def module_names(self) -> tuple[str, ...]:
        return self.modules if self.modules is not None else PROFILES[self.kind]


@dataclass(frozen=True)
class InterfaceSample:
    if_index: int
    name: str
    alias: str
    admin_up: bool
    oper_up: bool
    speed_bps: int | None
    in_octets: int
    out_octets: int
    in_errors: int
    out_errors: int
    counter_bits: int  # 64 when ifXTable HC counters were present


@dataclass(frozen=True)
class DeviceSample:
    """What one poll of one device found. ``status`` is never an exception."""

    device_id: int
    host: str
    status: PollStatus
    polled_at: datetime
    duration_ms: float
    error: str | None = None
    sys_descr: str | None = None
    sys_name: str | None = None
    sys_uptime: int | None = None
    interfaces: tuple[InterfaceSample, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is PollStatus.up


class SnmpFailure(Exception):
    """Internal: one request failed; carries the status the device should get."""

    def __init__(self, status: PollStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class _NoMibCompiler:
    """Stands in for pysmi's compiler: we only use numeric OIDs, so nothing is ever compiled.

    With pysmi installed, pysnmp would otherwise build a MIB parser on the first request (about
    a second of CPU) and could try to download MIB sources from the internet.
    """

    def compile(self, *names: str, **options: Any) -> dict[str, str]:
        return {}


def _make_engine() -> SnmpEngine:
    from pysnmp.smi import builder, view

    engine = SnmpEngine()
    mib_builder = builder.MibBuilder()
    mibs_dir = str(Path(rfc1902.__file__).parent.parent / "smi" / "mibs")
    mib_builder.set_mib_compiler(_NoMibCompiler(), mibs_dir)
    # hlapi looks the view controller up in the engine's cache before making its own.
    engine.cache["mibViewController"] = view.MibViewController(mib_builder)
    return engine


def _is_ipv4(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 4
    except ValueError:
        return False


def _py(value: Any) -> Any:
    """pysnmp value → plain Python (int, str, or None for noSuch*/endOfMibView)."""
    if isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView):
        return None
    if isinstance(value, rfc1902.OctetString):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.hex(":")
    if isinstance(value, rfc1902.ObjectIdentifier):
        return str(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)


def _under(oid: str, prefix: str) -> bool:
    return oid.startswith(prefix + ".")


async def _target_allowed(host: str, nets: netguard.Nets) -> bool:
    """netguard's verdict; an address is judged inline (no thread hop per device polled)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return await netguard.resolve_allowed_async(host, nets)
    return netguard.host_allowed(host, nets)


class SnmpPoller:
    """Polls devices with one shared engine and at most ``concurrency`` in flight.

    ``timeout`` is per request (pysnmp retransmits ``retries`` times); ``deadline`` bounds a whole
    device poll so a slow agent answering each request just in time still cannot hold a slot
    longer than that.
    """

    def __init__(
        self,
        *,
        timeout: float = 2.0,
        retries: int = 1,
        concurrency: int = 64,
        max_repetitions: int = 25,
        deadline: float | None = None,
        allowed_nets: netguard.Nets | None = None,
        clock: Any = None,
        fast_v2c: bool = True,
        table_sizes: dict[tuple[str, int], int] | None = None,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.concurrency = concurrency
        self.max_repetitions = max_repetitions
        self.deadline = deadline if deadline is not None else timeout * (retries + 1) * 4 + 1
        # Unset means the one platform-wide guard's setting (TLDOPS_ALLOWED_NETS).
        self.allowed_nets = (
            tuple(allowed_nets) if allowed_nets is not None else netguard.allowed_nets()
        )
        self.clock = clock or (lambda: datetime.now(UTC))
        self._engines: list[SnmpEngine] = []
        # username → key set → engine index. The engine's user table is keyed by username, so
        # two key sets for one username (one per site, say) polled at the same time would
        # overwrite each other; the second key set gets a second engine. Normally: one engine.
        self._v3_slots: dict[str, dict[SnmpAuth, int]] = {}
        self._sem: asyncio.Semaphore | None = None
        self._context = ContextData()
        self._auth_cache: dict[SnmpAuth, CommunityData | UsmUserData] = {}
        self._transports: dict[tuple[str, int], UdpTransportTarget | Udp6TransportTarget] = {}
        # Resolved request var-binds by OID: pysnmp skips its MIB lookup for a "clean" one.
        self._var_binds: dict[str, ObjectType] = {}
        # Rows seen per agent at the last poll: the next poll asks for exactly rows + 1 per
        # column, so a small switch is answered in one short GETBULK instead of 25 rows of
        # spill-over per column that would be decoded and thrown away.
        self._rows: dict[tuple[str, int], int] = {} if table_sizes is None else table_sizes
        # v2c over IPv4 uses our own BER codec (see monitoring.snmp_ber); v3 uses the engine.
        self.fast_v2c = fast_v2c
        self._v2c = V2cClient()

    @property
    def engine(self) -> SnmpEngine:
        """The shared engine (v3, and v2c when the BER fast path is off)."""
        return self._engine_at(0)

    def _engine_at(self, index: int) -> SnmpEngine:
        while len(self._engines) <= index:
            self._engines.append(_make_engine())
        return self._engines[index]

    def _engine_for(self, auth: SnmpAuth) -> SnmpEngine:
        if auth.version != "3":
            return self._engine_at(0)
        slots = self._v3_slots.setdefault(auth.username, {})
        return self._engine_at(slots.setdefault(auth, len(slots)))

    def close(self) -> None:
        """Release the sockets (call when done with the poller)."""
        self._v2c.close()
        for engine in self._engines:
            engine.close_dispatcher()
        self._engines = []
        self._v3_slots = {}

    # -- requests ----------------------------------------------------------------------------
    async def _bulk(
        self,
        engine: SnmpEngine,
        auth: CommunityData | UsmUserData,
        transport: UdpTransportTarget | Udp6TransportTarget,
        non_repeaters: Sequence[str],
        repeaters: Sequence[str],
        max_repetitions: int,
    ) -> list[tuple[str, Any]]:
        var_binds = [self._var_bind(o) for o in (*non_repeaters, *repeaters)]
        err_ind, err_status, err_index, out = await bulk_cmd(
            engine,
            auth,
            transport,
            self._context,
            len(non_repeaters),
            max_repetitions if repeaters else 0,
            *var_binds,
            lookupMib=False,
        )
        if err_ind:
            text = str(err_ind)
            status = PollStatus.down if "timeout" in text.lower() else PollStatus.error
            raise SnmpFailure(status, text)
        if err_status and int(err_status):
            raise SnmpFailure(
                PollStatus.error, f"agent error {err_status.prettyPrint()} at {err_index}"
            )
        return [(str(vb[0]), _py(vb[1])) for vb in out]

    def _var_bind(self, oid: str) -> ObjectType:
        vb = self._var_binds.get(oid)
        if vb is None:
            if len(self._var_binds) > 4096:
                self._var_binds.clear()
            vb = self._var_binds[oid] = ObjectType(ObjectIdentity(oid))
        return vb

    async def _transport(self, host: str, port: int) -> UdpTransportTarget | Udp6TransportTarget:
        key = (host, port)
        t = self._transports.get(key)
        if t is None:
            if len(self._transports) > 65536:
                self._transports.clear()
            kind = Udp6TransportTarget if ":" in host else UdpTransportTarget
            t = self._transports[key] = await kind.create(
                key, timeout=self.timeout, retries=self.retries
            )
        return t

    async def _collect(
        self,
        target: PollTarget,
        scalars: dict[str, str],
        columns: dict[str, str],
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """GETNEXT the scalars and walk every column in parallel with GETBULK."""
        if self.fast_v2c and target.auth.version == "2c" and _is_ipv4(target.host):
            community = target.auth.community

            async def request(nr: list[str], rep: list[str], reps: int) -> list[tuple[str, Any]]:
                try:
                    return await self._v2c.get_bulk(
                        (target.host, target.port),
                        community,
                        non_repeaters=nr,
                        repeaters=rep,
                        max_repetitions=reps,
                        timeout=self.timeout,
                        retries=self.retries,
                    )
                except TimeoutError as exc:
                    raise SnmpFailure(PollStatus.down, str(exc)) from exc
                except SnmpError as exc:
                    raise SnmpFailure(PollStatus.error, str(exc)) from exc

        else:
            auth = self._auth_cache.get(target.auth)
            if auth is None:
                auth = self._auth_cache[target.auth] = target.auth.to_pysnmp()
            transport = await self._transport(target.host, target.port)
            engine = self._engine_for(target.auth)

            async def request(nr: list[str], rep: list[str], reps: int) -> list[tuple[str, Any]]:
                return await self._bulk(engine, auth, transport, nr, rep, reps)

        known_rows = self._rows.get((target.host, target.port))
        reps = min(self.max_repetitions, known_rows + 1) if known_rows else self.max_repetitions
        scalar_vals: dict[str, Any] = {}
        table: dict[str, dict[str, Any]] = {name: {} for name in columns}
        cursor = dict(columns)  # column name → last OID seen (the next request starts there)
        scalar_items = list(scalars.items())
        first = True
        while first or cursor:
            names = list(cursor)
            nr = [oid for _, oid in scalar_items] if first else []
            rows = await request(nr, [cursor[n] for n in names], reps)
            reps = self.max_repetitions
            if first:
                for (name, base), (oid, val) in zip(scalar_items, rows, strict=False):
                    scalar_vals[name] = val if _under(oid, base) else None
                rows = rows[len(scalar_items) :]
                first = False
            if not names:
                break
            width = len(names)
            finished: set[str] = set()
            progressed = False
            # GETBULK answers row by row: varbind i belongs to repeater column i % width.
            for i, (oid, val) in enumerate(rows):
                name = names[i % width]
                if name in finished:
                    continue
                base = columns[name]
                # Past the column, an exception value, or an agent repeating itself: done.
                if not _under(oid, base) or val is None or oid == cursor.get(name):
                    finished.add(name)
                    continue
                table[name][oid[len(base) + 1 :]] = val
                cursor[name] = oid
                progressed = True
            for name in finished:
                cursor.pop(name, None)
            if not progressed:
                break  # an agent that returns nothing new would otherwise loop forever
        if table:
            self._rows[(target.host, target.port)] = max(len(v) for v in table.values())
        return scalar_vals, table

    async def poll(self, target: PollTarget) -> DeviceSample:
        """Poll one device within its deadline; failures come back as a status, not an error."""
        started = time.perf_counter()
        polled_at = self.clock()
        if not await _target_allowed(target.host, self.allowed_nets):
            return DeviceSample(
                device_id=target.device_id,
                host=target.host,
                status=PollStatus.skipped,
                polled_at=polled_at,
                duration_ms=0.0,
                error=NOT_ALLOWED,
            )
        scalars: dict[str, str] = {}
        columns: dict[str, str] = {}
        for module in target.module_names:
            s, c = MODULES[module]
            scalars.update({f"{module}.{k}": v for k, v in s.items()})
            columns.update({f"{module}.{k}": v for k, v in c.items()})
        try:
            sv, tv = await asyncio.wait_for(
                self._collect(target, scalars, columns), timeout=self.deadline
            )
        except SnmpFailure as exc:
            return self._failed(target, polled_at, started, exc.status, str(exc))
        except TimeoutError:
            return self._failed(
                target,
                polled_at,
                started,
                PollStatus.down,
                f"no complete answer in {self.deadline:g}s",
            )
        except (OSError, ValueError) as exc:
            return self._failed(
                target, polled_at, started, PollStatus.error, f"{type(exc).__name__}: {exc}"
            )
        if sv.get("system.uptime") is None and "system" in target.module_names:
            return self._failed(
                target, polled_at, started, PollStatus.error, "agent answered without sysUpTime"
            )
        metrics: dict[str, Any] = {}
        if "host_resources" in target.module_names:
            metrics.update(_host_resources(tv))
        if "ups" in target.module_names:
            metrics["ups"] = {k.split(".", 1)[1]: v for k, v in sv.items() if k.startswith("ups.")}
        if "printer" in target.module_names:
            metrics["printer"] = _printer(tv)
        return DeviceSample(
            device_id=target.device_id,
            host=target.host,
            status=PollStatus.up,
            polled_at=polled_at,
            duration_ms=(time.perf_counter() - started) * 1000,
            sys_descr=sv.get("system.descr"),
            sys_name=sv.get("system.name"),
            sys_uptime=sv.get("system.uptime"),
            interfaces=_interfaces(tv) if "interfaces" in target.module_names else (),
            metrics=metrics,
        )

    def _failed(
        self,
        target: PollTarget,
        polled_at: datetime,
        started: float,
        status: PollStatus,
        error: str,
    ) -> DeviceSample:
        return DeviceSample(
            device_id=target.device_id,
            host=target.host,
            status=status,
            polled_at=polled_at,
            duration_ms=(time.perf_counter() - started) * 1000,
            error=error,
        )

    async def poll_many(
        self,
        targets: Iterable[PollTarget],
        *,
        on_sample: Callable[[DeviceSample], None] | None = None,
    ) -> list[DeviceSample]:
        """Poll all targets, at most ``concurrency`` at a time; results in input order.

        ``on_sample`` is called as each device finishes (for a live view).
        """
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrency)
        sem = self._sem

        async def one(t: PollTarget) -> DeviceSample:
            async with sem:
                sample = await self.poll(t)
            if on_sample is not None:
                on_sample(sample)
            return sample

        return list(await asyncio.gather(*(one(t) for t in targets)))


def _interfaces(tv: dict[str, dict[str, Any]]) -> tuple[InterfaceSample, ...]:
    col = {k.split(".", 1)[1]: v for k, v in tv.items() if k.startswith("interfaces.")}
    out = []
    for idx in sorted(
        col.get("descr", {}) | col.get("name", {}), key=lambda s: int(s.split(".")[0])
    ):
        hc_in = col.get("hc_in_octets", {}).get(idx)
        hc_out = col.get("hc_out_octets", {}).get(idx)
        high = col.get("high_speed", {}).get(idx)
        speed32 = col.get("speed", {}).get(idx)
        if high:
            speed: int | None = int(high) * 1_000_000
        elif speed32 is not None:
            speed = int(speed32)
        else:
            speed = None
        use64 = hc_in is not None and hc_out is not None
        out.append(
            InterfaceSample(
                if_index=int(idx.split(".")[0]),
                name=str(col.get("name", {}).get(idx) or col.get("descr", {}).get(idx) or idx),
                alias=str(col.get("alias", {}).get(idx) or ""),
                admin_up=col.get("admin", {}).get(idx) == 1,
                oper_up=col.get("oper", {}).get(idx) == 1,
                speed_bps=speed,
                in_octets=int((hc_in if use64 else col.get("in_octets", {}).get(idx)) or 0),
                out_octets=int((hc_out if use64 else col.get("out_octets", {}).get(idx)) or 0),
                in_errors=int(col.get("in_errors", {}).get(idx) or 0),
                out_errors=int(col.get("out_errors", {}).get(idx) or 0),
                counter_bits=64 if use64 else 32,
            )
        )
    return tuple(out)


def _host_resources(tv: dict[str, dict[str, Any]]) -> dict[str, Any]:
    col = {k.split(".", 1)[1]: v for k, v in tv.items() if k.startswith("host_resources.")}
    loads = [int(v) for v in col.get("cpu_load", {}).values() if isinstance(v, int)]
    storage = []
    for idx, kind in col.get("storage_type", {}).items():
        if str(kind) != HR_FIXED_DISK:
            continue
        size = int(col.get("storage_size", {}).get(idx) or 0)
        used = int(col.get("storage_used", {}).get(idx) or 0)
        units = int(col.get("storage_units", {}).get(idx) or 1)
        if size <= 0:
            continue
        storage.append(
            {
                "descr": str(col.get("storage_descr", {}).get(idx) or idx),
                "size_bytes": size * units,
                "used_bytes": used * units,
                "used_percent": round(100.0 * used / size, 2),
            }
        )
    return {"cpu_percent": (sum(loads) / len(loads)) if loads else None, "storage": storage}


def _printer(tv: dict[str, dict[str, Any]]) -> dict[str, Any]:
    col = {k.split(".", 1)[1]: v for k, v in tv.items() if k.startswith("printer.")}
    supplies = []
    for idx, level in col.get("supply_level", {}).items():
        maximum = col.get("supply_max", {}).get(idx)
        pct = None
        # Printer-MIB: -2 unknown, -3 "some remaining"; only a real capacity gives a percentage.
        if isinstance(level, int) and isinstance(maximum, int) and maximum > 0 and level >= 0:
            pct = round(100.0 * level / maximum, 1)
        supplies.append(
            {
                "descr": str(col.get("supply_descr", {}).get(idx) or idx),
                "type": col.get("supply_type", {}).get(idx),
                "level": level,
                "max": maximum,
                "percent": pct,
            }
        )
    statuses = list(col.get("printer_status", {}).values())
    return {"supplies": supplies, "status": statuses[0] if statuses else None}
