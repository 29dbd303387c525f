"""Monitoring operations on the database: what to poll, storing what was found, status per unit.

This module is the only writer of the ``mon_*`` observation tables. Alerts have their own writer
(:mod:`monitoring.alerts`)::

    settings = MonitorSettings.from_env()
    targets, unpolled = poll_targets(session, box=box, unit_code="HN")
    samples = await poller.poll_many(targets)
    store_samples(session, samples, clock=utcnow)
    report = unit_status(session, unit_code="HN")
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from inventory import netguard
from inventory.db import utcnow
from inventory.enums import CredentialKind, DeviceStatus
from inventory.errors import NotFound, SecretError
from inventory.models import CredentialProfile, Device, Service, Site, Unit, subtree_filter
from inventory.secrets import SecretBox
from inventory.service import audit
from monitoring.checks import CheckResult, CheckSpec
from monitoring.errors import ConfigInvalid
from monitoring.models import (
    Alert,
    AlertState,
    CheckState,
    InterfaceState,
    PollState,
    PollStatus,
)
from monitoring.rates import CounterSample, counter_rate, rebooted
from monitoring.snmp import DeviceSample, PollTarget, SnmpAuth

Clock = Callable[[], datetime]


DEFAULT_EXTERNAL_URL = "http://localhost:8080"  # `tldops up`'s default port
EXTERNAL_URL_ENV = "TLDOPS_EXTERNAL_URL"
LEGACY_EXTERNAL_URL_ENV = "TLDOPS_MONITOR_EXTERNAL_URL"
SELF_CHECK_PATH = "/healthz"


def external_url(environ: Mapping[str, str] | None = None) -> str:
    """The web app's base URL: ``TLDOPS_EXTERNAL_URL``, else the older monitoring-only name.

    >>> external_url({"TLDOPS_MONITOR_EXTERNAL_URL": "http://tldops.lan:9000/"})
    'http://tldops.lan:9000'
    >>> external_url({"TLDOPS_EXTERNAL_URL": "https://a", "TLDOPS_MONITOR_EXTERNAL_URL": "https://b"})
    'https://a'
    """
    env = os.environ if environ is None else environ
    value = (env.get(EXTERNAL_URL_ENV) or "").strip() or (
        env.get(LEGACY_EXTERNAL_URL_ENV) or ""
    ).strip()
    return (value or DEFAULT_EXTERNAL_URL).rstrip("/")


def point_self_checks(session: Session, base_url: str, *, actor: str = "system") -> int:
    """Aim every service check marked as the app's own (``params["self"]`` true) at
    ``<base_url>/healthz``; returns how many targets changed (each change is audited).

    ``tldops up`` calls this at start-up with the URL it serves on, so the demo's self-check
    follows the port actually used instead of a port written into the seed.
    """
    target = base_url.rstrip("/") + SELF_CHECK_PATH
    changed = 0
    for svc in session.scalars(select(Service).order_by(Service.id)):
        if not (svc.params or {}).get("self") or svc.target == target:
            continue
        before = svc.target
        svc.target = target
        audit(
            session,
            actor=actor,
            action="update",
            entity="service",
            entity_key=svc.name,
            before={"target": before},
            after={"target": target},
            unit_path=svc.unit.path,
            note="self-check follows the served URL",
        )
        changed += 1
    session.flush()
    return changed


@dataclass(frozen=True)
class MonitorSettings:
    """Monitoring settings from the environment.

    ``TLDOPS_ALLOWED_NETS``           comma-separated CIDRs the poller and checks may contact
                                      (default: all; read by ``inventory.netguard``, which also
                                      reads the older ``TLDOPS_MONITOR_ALLOWED_NETS``); others
                                      are "not polled"
    ``TLDOPS_MONITOR_TIMEOUT``        seconds per SNMP request (default 2)
    ``TLDOPS_MONITOR_RETRIES``        SNMP retransmissions (default 1)
    ``TLDOPS_MONITOR_CONCURRENCY``    devices polled at once (default 64)
    ``TLDOPS_MONITOR_ACK_TIMEOUT``    minutes before an unacknowledged alert escalates (30)
    ``TLDOPS_MONITOR_WEBHOOK_URL``    Alertmanager-v4 webhook receiver (optional)
    ``TLDOPS_EXTERNAL_URL``           base URL of the web app, used in alert links (default
                                      ``http://localhost:8080``, where ``tldops up`` serves;
                                      the older ``TLDOPS_MONITOR_EXTERNAL_URL`` is still read)
    ``TLDOPS_MONITOR_BACKUP_STALE_HOURS``  newest successful backup older than this alerts (26)

    >>> MonitorSettings.from_env({"TLDOPS_ALLOWED_NETS": "127.0.0.0/8"}).allowed_nets
    '127.0.0.0/8'
    >>> MonitorSettings.from_env({"TLDOPS_MONITOR_ALLOWED_NETS": "127.0.0.0/8"}).allowed_nets
    '127.0.0.0/8'
    >>> MonitorSettings.from_env({}).external_url
    'http://localhost:8080'
    """

    allowed_nets: str = ""
    timeout: float = 2.0
    retries: int = 1
    concurrency: int = 64
    ack_timeout_minutes: float = 30.0
    webhook_url: str | None = None
    external_url: str = DEFAULT_EXTERNAL_URL
    backup_stale_hours: float = 26.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> MonitorSettings:
        env = os.environ if environ is None else environ
        try:
            settings = cls(
                allowed_nets=netguard.allowed_nets_text(env),
                timeout=float(env.get("TLDOPS_MONITOR_TIMEOUT", "2")),
                retries=int(env.get("TLDOPS_MONITOR_RETRIES", "1")),
                concurrency=int(env.get("TLDOPS_MONITOR_CONCURRENCY", "64")),
                ack_timeout_minutes=float(env.get("TLDOPS_MONITOR_ACK_TIMEOUT", "30")),
                webhook_url=env.get("TLDOPS_MONITOR_WEBHOOK_URL") or None,
                external_url=external_url(env),
                backup_stale_hours=float(env.get("TLDOPS_MONITOR_BACKUP_STALE_HOURS", "26")),
            )
            netguard.parse_allowed_nets(settings.allowed_nets)
        except ValueError as exc:
            raise ConfigInvalid(
                f"Cấu hình giám sát không hợp lệ / invalid monitoring setting: {exc}",
                hint=f"{netguard.ENV} (or the older {netguard.LEGACY_ENV}) takes CIDRs like "
                "127.0.0.0/8,198.18.0.0/15; numbers must be numbers",
            ) from exc
        return settings

    @property
    def nets(self) -> tuple[netguard.Network, ...]:
        return netguard.parse_allowed_nets(self.allowed_nets)


def auth_from_profile(profile: CredentialProfile, box: SecretBox) -> SnmpAuth:
    """Decrypt a credential profile into :class:`SnmpAuth` (the secret stays in memory only)."""
    secret = box.open(profile.secret_blob)
    params = profile.params or {}
    if profile.kind is CredentialKind.snmp_v2c:
        return SnmpAuth.v2c(str(secret["community"]))
    return SnmpAuth.v3(
        username=profile.username or "",
        auth_key=str(secret.get("auth_key", "")),
        priv_key=str(secret.get("priv_key", "")),
        auth_protocol=str(params.get("auth_protocol", "SHA")),
        priv_protocol=str(params.get("priv_protocol", "AES")),
        security_level=str(params.get("security_level", "authPriv")),
    )


NO_PROFILE = "chưa gắn hồ sơ SNMP / no SNMP credential profile"
NO_KEY = "not polled: TLDOPS_SECRET_KEY is not set, credential profiles cannot be decrypted"


@dataclass(frozen=True)
class Unpolled:
    device_id: int
    reason: str


def _unit_or_root(session: Session, unit_code: str | None) -> Unit:
    if unit_code is None:
        root = session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
        if root is None:
            raise NotFound("Chưa có cây tổ chức / the organisation tree is empty")
        return root
    unit = session.scalar(select(Unit).where(Unit.code == unit_code))
    if unit is None:
        raise NotFound(f"Không có đơn vị mã {unit_code!r} / no unit with code {unit_code!r}")
    return unit


def poll_targets(
    session: Session, *, box: SecretBox | None, unit_code: str | None = None
) -> tuple[list[PollTarget], list[Unpolled]]:
    """Active devices with a management address and an SNMP profile in a unit's subtree.

    Devices that cannot be polled come back in the second list with the reason: a profile that
    cannot be decrypted, or an address but no SNMP credential profile (:data:`NO_PROFILE`), so a
    poll never reports a silent ``0/0``. Devices without a management address are not
    monitored by SNMP, nor are those marked ``monitored=False``. A device's ``snmp_port``
    overrides its profile's port.

    >>> # targets, unpolled = poll_targets(session, box=box, unit_code="HN")
    """
    unit = _unit_or_root(session, unit_code)
    rows = session.execute(
        select(Device, CredentialProfile)
        .join(Unit, Device.unit_id == Unit.id)
        .join(CredentialProfile, Device.snmp_profile_id == CredentialProfile.id)
        .where(
            subtree_filter(Unit.path, unit.path),
            Device.status == DeviceStatus.active,
            Device.monitored.is_(True),
            Device.mgmt_ip.is_not(None),
            CredentialProfile.kind.in_([CredentialKind.snmp_v2c, CredentialKind.snmp_v3]),
        )
        .order_by(Device.id)
    ).all()
    auths: dict[int, SnmpAuth | str] = {}
    targets: list[PollTarget] = []
    unpolled: list[Unpolled] = []
    for device, profile in rows:
        if profile.id not in auths:
            if box is None:
                auths[profile.id] = NO_KEY
            else:
                try:
                    auths[profile.id] = auth_from_profile(profile, box)
                except (SecretError, KeyError) as exc:
                    auths[profile.id] = f"credential profile {profile.name!r} unusable: {exc}"
        auth = auths[profile.id]
        if isinstance(auth, str):
            unpolled.append(Unpolled(device.id, auth))
            continue
        modules = (profile.params or {}).get("modules")
        targets.append(
            PollTarget(
                device_id=device.id,
                host=str(device.mgmt_ip),
                # The device's own agent port wins over its profile's (shared by many).
                port=device.snmp_port or int((profile.params or {}).get("port", 161)),
                kind=device.kind,
                auth=auth,
                modules=tuple(modules) if modules else None,
            )
        )
    missing = session.scalars(
        select(Device.id)
        .join(Unit, Device.unit_id == Unit.id)
        .outerjoin(CredentialProfile, Device.snmp_profile_id == CredentialProfile.id)
        .where(
            subtree_filter(Unit.path, unit.path),
            Device.status == DeviceStatus.active,
            Device.monitored.is_(True),
            Device.mgmt_ip.is_not(None),
            or_(
                Device.snmp_profile_id.is_(None),
                CredentialProfile.kind.not_in([CredentialKind.snmp_v2c, CredentialKind.snmp_v3]),
            ),
        )
        .order_by(Device.id)
    )
    unpolled += [Unpolled(device_id, NO_PROFILE) for device_id in missing]
    return targets, unpolled


def store_samples(
    session: Session, samples: Iterable[DeviceSample], *, clock: Clock = utcnow
) -> None:
    """Write poll results: one ``PollState`` per device, interface counters and their rates.

    Rates use the previous stored sample (wrap and reboot aware, see :mod:`monitoring.rates`).
    """
    samples = list(samples)
    if not samples:
        return
    ids = [s.device_id for s in samples]
    states = {
        p.device_id: p
        for p in session.scalars(select(PollState).where(PollState.device_id.in_(ids)))
    }
    ifaces: dict[tuple[int, int], InterfaceState] = {
        (i.device_id, i.if_index): i
        for i in session.scalars(select(InterfaceState).where(InterfaceState.device_id.in_(ids)))
    }
    for s in samples:
        st = states.get(s.device_id)
        if st is None:
            st = PollState(
                device_id=s.device_id, status=s.status, consecutive_failures=0, metrics={}
            )
            session.add(st)
        prev_uptime = st.sys_uptime
        st.polled_at = s.polled_at
        st.duration_ms = s.duration_ms
        st.status = s.status
        st.error = s.error
        if s.status is PollStatus.up:
            if rebooted(prev_uptime, s.sys_uptime):
                st.rebooted_at = s.polled_at
            st.consecutive_failures = 0
            st.last_up_at = s.polled_at
            st.down_since = None
            st.sys_name = s.sys_name
            st.sys_descr = s.sys_descr
            st.sys_uptime = s.sys_uptime
            st.metrics = dict(s.metrics)
            _store_interfaces(session, s, ifaces, prev_uptime)
        elif s.status is PollStatus.skipped:
            st.consecutive_failures = 0
            st.down_since = None
        else:
            st.consecutive_failures = (st.consecutive_failures or 0) + 1
            if st.down_since is None:
                st.down_since = s.polled_at
    session.flush()


def _store_interfaces(
    session: Session,
    s: DeviceSample,
    ifaces: dict[tuple[int, int], InterfaceState],
    prev_uptime: int | None,
) -> None:
    for i in s.interfaces:
        row = ifaces.get((s.device_id, i.if_index))
        in_bps = out_bps = err_rate = None
        if row is not None and row.counter_bits == i.counter_bits:
            t0 = row.sampled_at.timestamp()
            t1 = s.polled_at.timestamp()
            r_in = counter_rate(
                CounterSample(int(row.in_octets), row.sys_uptime, t0),
                CounterSample(i.in_octets, s.sys_uptime, t1),
                bits=i.counter_bits,
            )
            r_out = counter_rate(
                CounterSample(int(row.out_octets), row.sys_uptime, t0),
                CounterSample(i.out_octets, s.sys_uptime, t1),
                bits=i.counter_bits,
            )
            r_err = counter_rate(
                CounterSample(int(row.in_errors) + int(row.out_errors), row.sys_uptime, t0),
                CounterSample(i.in_errors + i.out_errors, s.sys_uptime, t1),
                bits=32,
            )
            in_bps = r_in.rate * 8 if r_in.rate is not None else None
            out_bps = r_out.rate * 8 if r_out.rate is not None else None
            err_rate = r_err.rate
        if row is None:
            row = InterfaceState(device_id=s.device_id, if_index=i.if_index)
            session.add(row)
            ifaces[(s.device_id, i.if_index)] = row
        row.name = i.name[:255]
        row.alias = i.alias[:255]
        row.admin_up = i.admin_up
        row.oper_up = i.oper_up
        row.speed_bps = i.speed_bps
        row.counter_bits = i.counter_bits
        row.in_octets = str(i.in_octets)
        row.out_octets = str(i.out_octets)
        row.in_errors = str(i.in_errors)
        row.out_errors = str(i.out_errors)
        row.sampled_at = s.polled_at
        row.sys_uptime = s.sys_uptime
        row.in_bps = in_bps
        row.out_bps = out_bps
        row.errors_per_s = err_rate


def check_specs(session: Session, *, unit_code: str | None = None) -> list[CheckSpec]:
    """Enabled services of a unit's subtree as check specs."""
    unit = _unit_or_root(session, unit_code)
    rows = session.scalars(
        select(Service)
        .join(Unit, Service.unit_id == Unit.id)
        .where(subtree_filter(Unit.path, unit.path), Service.enabled.is_(True))
        .order_by(Service.id)
    ).all()
    return [
        CheckSpec(
            service_id=r.id, name=r.name, kind=r.kind, target=r.target, params=dict(r.params or {})
        )
        for r in rows
    ]


def store_checks(session: Session, results: Iterable[CheckResult]) -> None:
    """Write the latest result of each check (``down_since`` kept across failures)."""
    results = list(results)
    if not results:
        return
    states = {
        c.service_id: c
        for c in session.scalars(
            select(CheckState).where(CheckState.service_id.in_([r.service_id for r in results]))
        )
    }
    for r in results:
        st = states.get(r.service_id)
        if st is None:
            st = CheckState(service_id=r.service_id, ok=r.ok)
            session.add(st)
        failed = not r.ok and not r.skipped
        st.down_since = (st.down_since or r.checked_at) if failed else None
        st.ok = r.ok
        st.skipped = r.skipped
        st.checked_at = r.checked_at
        st.latency_ms = r.latency_ms
        st.status_code = r.status_code
        st.cert_days_left = r.cert_days_left
        st.detail = r.detail
    session.flush()


# -- status per unit --------------------------------------------------------------------------
@dataclass(frozen=True)
class UnitStatus:
    """Counts for one unit's subtree (what the CLI table and the API show)."""

    code: str
    name: str
    path: str
    devices: int
    up: int
    down: int
    error: int
    not_polled: int
    never_polled: int
    services_ok: int
    services_failed: int
    alerts_firing: int


@dataclass(frozen=True)
class DeviceStatusRow:
    device_id: int
    asset_tag: str
    hostname: str | None
    kind: str
    unit_code: str
    site_code: str | None
    mgmt_ip: str | None
    status: str  # PollStatus value or "never_polled"
    detail: str
    polled_at: datetime | None
    uptime_seconds: float | None


@dataclass(frozen=True)
class StatusReport:
    unit: UnitStatus
    children: tuple[UnitStatus, ...] = ()
    devices: tuple[DeviceStatusRow, ...] = field(default_factory=tuple)


def unit_status(
    session: Session, *, unit_code: str | None = None, with_devices: bool = True
) -> StatusReport:
    """Status of a unit's subtree and of each child subtree (up/down/not polled, alerts).

    >>> # report = unit_status(session, unit_code="HN"); report.unit.down
    """
    unit = _unit_or_root(session, unit_code)
    children = session.scalars(
        select(Unit).where(Unit.parent_id == unit.id).order_by(Unit.code)
    ).all()
    rows = session.execute(
        select(Device, Unit.path, Unit.code, Site.code, PollState)
        .join(Unit, Device.unit_id == Unit.id)
        .outerjoin(Site, Device.site_id == Site.id)
        .outerjoin(PollState, PollState.device_id == Device.id)
        .where(
            subtree_filter(Unit.path, unit.path),
            Device.status == DeviceStatus.active,
            Device.snmp_profile_id.is_not(None),
        )
        .order_by(Unit.path, Device.asset_tag)
    ).all()
    svc_rows = session.execute(
        select(Unit.path, CheckState.ok, CheckState.skipped)
        .join(Service, Service.id == CheckState.service_id)
        .join(Unit, Service.unit_id == Unit.id)
        .where(subtree_filter(Unit.path, unit.path))
    ).all()
    alert_paths = session.scalars(
        select(Unit.path)
        .join(Alert, Alert.unit_id == Unit.id)
        .where(subtree_filter(Unit.path, unit.path), Alert.state == AlertState.firing)
    ).all()

    # One pass over the rows: each lands in the unit's total and in its child's bucket.
    depth = len(unit.ancestor_ids())

    def bucket(path: str) -> str:
        parts = path.strip("/").split("/")
        return "/" + "/".join(parts[: depth + 1]) + "/" if len(parts) > depth else unit.path

    tallies: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def tally(path: str, key: str) -> None:
        tallies[unit.path][key] += 1
        child = bucket(path)
        if child != unit.path:
            tallies[child][key] += 1

    for _dev, path, _uc, _sc, ps in rows:
        tally(path, "devices")
        tally(path, ps.status.value if ps else "never")
    for path, good, skipped in svc_rows:
        if not skipped:
            tally(path, "svc_ok" if good else "svc_bad")
    for path in alert_paths:
        tally(path, "alerts")

    def summarize(u: Unit) -> UnitStatus:
        t = tallies.get(u.path, {})
        return UnitStatus(
            code=u.code,
            name=u.name,
            path=u.path,
            devices=t.get("devices", 0),
            up=t.get("up", 0),
            down=t.get("down", 0),
            error=t.get("error", 0),
            not_polled=t.get("skipped", 0),
            never_polled=t.get("never", 0),
            services_ok=t.get("svc_ok", 0),
            services_failed=t.get("svc_bad", 0),
            alerts_firing=t.get("alerts", 0),
        )

    devices: list[DeviceStatusRow] = []
    if with_devices:
        for dev, _path, ucode, scode, ps in rows:
            devices.append(
                DeviceStatusRow(
                    device_id=dev.id,
                    asset_tag=dev.asset_tag,
                    hostname=dev.hostname,
                    kind=dev.kind.value,
                    unit_code=ucode,
                    site_code=scode,
                    mgmt_ip=dev.mgmt_ip,
                    status=ps.status.value if ps else "never_polled",
                    detail=(ps.error or ps.sys_name or "") if ps else "",
                    polled_at=ps.polled_at if ps else None,
                    uptime_seconds=(ps.sys_uptime / 100)
                    if ps and ps.sys_uptime is not None
                    else None,
                )
            )
    return StatusReport(
        unit=summarize(unit), children=tuple(summarize(c) for c in children), devices=tuple(devices)
    )


def ancestors_chain(units_by_id: dict[int, Unit], unit: Unit) -> list[Unit]:
    """The unit and its ancestors, nearest first."""
    return [units_by_id[i] for i in reversed(unit.ancestor_ids()) if i in units_by_id]


def province_of(units_by_id: dict[int, Unit], unit: Unit) -> Unit:
    """The level-2 ancestor (province federation / sector union), or the root for the root."""
    ids = unit.ancestor_ids()
    pid = ids[1] if len(ids) > 1 else ids[0]
    return units_by_id.get(pid, unit)


def load_units(session: Session, ids: Sequence[int] | None = None) -> dict[int, Unit]:
    """Units by id (all of them, or ``ids`` and their ancestors)."""
    if ids is None:
        return {u.id: u for u in session.scalars(select(Unit))}
    first = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(set(ids))))}
    wanted = {a for u in first.values() for a in u.ancestor_ids()} - set(first)
    if wanted:
        first.update({u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(wanted)))})
    return first
