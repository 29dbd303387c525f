"""Prometheus exposition: a custom Collector that builds samples at scrape time from the
latest observations in the database (no metric objects live between scrapes).

Every device series carries the organisation labels ``unit``, ``province``, ``site``, ``kind``
(plus ``device`` and ``instance``), so Prometheus queries and Alertmanager routes can follow the
tree. The registry is injected, never the global one::

    registry = CollectorRegistry()
    registry.register(make_collector(engine))
    generate_latest(registry)          # what the web app serves at /metrics

``make_collector(engine, path_prefix=principal.visible_paths())`` limits a scrape to unit
subtrees (one path or several): devices, interfaces, services and alerts of other units, and
backup events of other units or of no unit, are left out. ``None`` (the default) is everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from inventory.db import make_sessionmaker, utcnow
from inventory.enums import DeviceStatus
from inventory.models import Device, Service, Site, Unit
from monitoring.alerts import newest_events
from monitoring.models import Alert, AlertState, CheckState, InterfaceState, PollState, PollStatus
from monitoring.service import load_units, province_of

ORG = ["unit", "province", "site", "kind", "device", "instance"]


class MonitoringCollector(Collector):
    """Reads the ``mon_*`` tables and ``events`` on each scrape (one short read transaction)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utcnow,
        path_prefix: str | Sequence[str] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self._sessions = make_sessionmaker(engine)
        self._prefixes: tuple[str, ...] | None = (
            None
            if path_prefix is None
            else (path_prefix,)
            if isinstance(path_prefix, str)
            else tuple(path_prefix)
        )

    def _in_scope(self, path: str | None) -> bool:
        if self._prefixes is None:
            return True
        return path is not None and any(path.startswith(p) for p in self._prefixes)

    def describe(self) -> Iterator[Metric]:
        # Registration must not touch the database; names are only known at scrape time.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        with self._sessions() as session:
            yield from self._collect(session)

    def _collect(self, session: Session) -> Iterator[Metric]:
        units = load_units(session)
        sites = {s.id: s.code for s in session.scalars(select(Site))}
        dev_labels: dict[int, list[str]] = {}
        for d in session.scalars(
            select(Device)
            .join(PollState, PollState.device_id == Device.id)
            .where(Device.status == DeviceStatus.active)
        ):
            unit = units[d.unit_id]
            if not self._in_scope(unit.path):
                continue  # its poll, interface and disk series are skipped with it
            dev_labels[d.id] = [
                unit.code,
                province_of(units, unit).code,
                sites.get(d.site_id, "") if d.site_id else "",
                d.kind.value,
                d.hostname or d.asset_tag,
                d.mgmt_ip or "",
            ]

        up = GaugeMetricFamily(
            "tldops_device_up", "1 if the device answered SNMP at the last poll", labels=ORG
        )
        polled = GaugeMetricFamily(
            "tldops_device_polled",
            "1 if the device was polled; 0 if skipped (outside allowed networks)",
            labels=ORG,
        )
        uptime = GaugeMetricFamily(
            "tldops_device_uptime_seconds", "sysUpTime at the last poll", labels=ORG
        )
        duration = GaugeMetricFamily(
            "tldops_device_poll_duration_seconds", "duration of the last poll", labels=ORG
        )
        last = GaugeMetricFamily(
            "tldops_device_last_poll_timestamp_seconds",
            "when the device was last polled",
            labels=ORG,
        )
        cpu = GaugeMetricFamily("tldops_device_cpu_percent", "hrProcessorLoad average", labels=ORG)
        disk = GaugeMetricFamily(
            "tldops_disk_used_ratio",
            "used/size of a fixed disk (HOST-RESOURCES)",
            labels=[*ORG, "mount"],
        )
        ups_batt = GaugeMetricFamily(
            "tldops_ups_on_battery", "1 when upsOutputSource is battery", labels=ORG
        )
        ups_min = GaugeMetricFamily(
            "tldops_ups_minutes_remaining", "upsEstimatedMinutesRemaining", labels=ORG
        )
        ups_charge = GaugeMetricFamily(
            "tldops_ups_charge_percent", "upsEstimatedChargeRemaining", labels=ORG
        )
        toner = GaugeMetricFamily(
            "tldops_printer_supply_percent",
            "printer supply level in percent",
            labels=[*ORG, "supply"],
        )
        for ps in session.scalars(select(PollState)):
            lab = dev_labels.get(ps.device_id)
            if lab is None:
                continue
            polled.add_metric(lab, 0.0 if ps.status is PollStatus.skipped else 1.0)
            if ps.status is PollStatus.skipped:
                continue
            up.add_metric(lab, 1.0 if ps.status is PollStatus.up else 0.0)
            last.add_metric(lab, ps.polled_at.timestamp())
            if ps.duration_ms is not None:
                duration.add_metric(lab, ps.duration_ms / 1000)
            if ps.status is not PollStatus.up:
                continue
            if ps.sys_uptime is not None:
                uptime.add_metric(lab, ps.sys_uptime / 100)
            m = ps.metrics or {}
            if m.get("cpu_percent") is not None:
                cpu.add_metric(lab, float(m["cpu_percent"]))
            for d in m.get("storage") or []:
                disk.add_metric(
                    [*lab, str(d.get("descr"))], float(d.get("used_percent") or 0) / 100
                )
            u = m.get("ups") or {}
            if u:
                ups_batt.add_metric(lab, 1.0 if u.get("output_source") == 5 else 0.0)
                if u.get("minutes_remaining") is not None:
                    ups_min.add_metric(lab, float(u["minutes_remaining"]))
                if u.get("charge_percent") is not None:
                    ups_charge.add_metric(lab, float(u["charge_percent"]))
            for s in (m.get("printer") or {}).get("supplies") or []:
                if s.get("percent") is not None:
                    toner.add_metric([*lab, str(s.get("descr"))], float(s["percent"]))
        yield from (
            up,
            polled,
            uptime,
            duration,
            last,
            cpu,
            disk,
            ups_batt,
            ups_min,
            ups_charge,
            toner,
        )

        # ifindex keeps series unique when an agent reports two ports with the same name.
        if_labels = [*ORG, "ifindex", "interface", "alias"]
        oper = GaugeMetricFamily("tldops_interface_up", "1 if ifOperStatus is up", labels=if_labels)
        speed = GaugeMetricFamily("tldops_interface_speed_bps", "interface speed", labels=if_labels)
        in_oct = CounterMetricFamily(
            "tldops_interface_in_octets", "octets received", labels=if_labels
        )
        out_oct = CounterMetricFamily(
            "tldops_interface_out_octets", "octets sent", labels=if_labels
        )
        in_bps = GaugeMetricFamily(
            "tldops_interface_in_bps", "receive rate, bit/s", labels=if_labels
        )
        out_bps = GaugeMetricFamily(
            "tldops_interface_out_bps", "send rate, bit/s", labels=if_labels
        )
        for i in session.scalars(select(InterfaceState)):
            lab = dev_labels.get(i.device_id)
            if lab is None:
                continue
            il = [*lab, str(i.if_index), i.name, i.alias]
            oper.add_metric(il, 1.0 if i.oper_up else 0.0)
            if i.speed_bps:
                speed.add_metric(il, float(i.speed_bps))
            in_oct.add_metric(il, float(i.in_octets))
            out_oct.add_metric(il, float(i.out_octets))
            if i.in_bps is not None:
                in_bps.add_metric(il, i.in_bps)
            if i.out_bps is not None:
                out_bps.add_metric(il, i.out_bps)
        yield from (oper, speed, in_oct, out_oct, in_bps, out_bps)

        svc_labels = ["unit", "province", "site", "kind", "service", "instance"]
        s_up = GaugeMetricFamily(
            "tldops_service_up", "1 if the service check passed", labels=svc_labels
        )
        s_lat = GaugeMetricFamily(
            "tldops_service_latency_seconds", "latency of the last check", labels=svc_labels
        )
        s_cert = GaugeMetricFamily(
            "tldops_tls_cert_days_remaining",
            "days until the certificate expires",
            labels=svc_labels,
        )
        for cs, svc in session.execute(
            select(CheckState, Service).join(Service, Service.id == CheckState.service_id)
        ):
            unit = units[svc.unit_id]
            if cs.skipped or not self._in_scope(unit.path):
                continue
            sl = [
                unit.code,
                province_of(units, unit).code,
                sites.get(svc.site_id, "") if svc.site_id else "",
                svc.kind.value,
                svc.name,
                svc.target,
            ]
            s_up.add_metric(sl, 1.0 if cs.ok else 0.0)
            if cs.latency_ms is not None:
                s_lat.add_metric(sl, cs.latency_ms / 1000)
            if cs.cert_days_left is not None:
                s_cert.add_metric(sl, cs.cert_days_left)
        yield from (s_up, s_lat, s_cert)

        yield from self._backups(session, units)

        alerts = GaugeMetricFamily(
            "tldops_alerts",
            "open alerts by state and severity",
            labels=["state", "severity", "province"],
        )
        rows = session.execute(
            select(Alert.state, Alert.severity, Unit.path, func.count())
            .join(Unit, Alert.unit_id == Unit.id)
            .where(Alert.state.in_([AlertState.pending, AlertState.firing]))
            .group_by(Alert.state, Alert.severity, Unit.path)
        ).all()
        agg: dict[tuple[str, str, str], int] = {}
        by_path = {u.path: u for u in units.values()}
        for state, sev, path, n in rows:
            if not self._in_scope(path):
                continue
            prov = province_of(units, by_path[path]).code if path in by_path else ""
            key = (state.value, sev.value, prov)
            agg[key] = agg.get(key, 0) + int(n)
        for key, n in sorted(agg.items()):
            alerts.add_metric(list(key), float(n))
        yield alerts

    def _backups(self, session: Session, units: dict[int, Unit]) -> Iterator[Metric]:
        ok_ts = GaugeMetricFamily(
            "tldops_backup_last_success_timestamp_seconds",
            "newest backup_succeeded event per target",
            labels=["target", "backup_kind"],
        )
        fail_ts = GaugeMetricFamily(
            "tldops_backup_last_failure_timestamp_seconds",
            "newest backup_failed event per target",
            labels=["target", "backup_kind"],
        )
        for (kind, target), ev in sorted(
            newest_events(session, ["backup_succeeded", "backup_failed"]).items()
        ):
            unit = units.get(ev.unit_id) if ev.unit_id is not None else None
            if not self._in_scope(unit.path if unit is not None else None):
                continue
            bkind = str((ev.data or {}).get("backup_kind", ""))
            family = ok_ts if kind == "backup_succeeded" else fail_ts
            family.add_metric([target, bkind], ev.at.timestamp())
        yield ok_ts
        yield fail_ts


def make_collector(
    engine: Engine,
    *,
    clock: Callable[[], datetime] = utcnow,
    path_prefix: str | Sequence[str] | None = None,
) -> MonitoringCollector:
    """The collector the web app registers in its own registry for ``/metrics``.

    ``path_prefix``: unit path(s) the scrape is limited to (e.g. a principal's
    ``visible_paths()``); ``None`` means the whole tree.

    >>> # registry = CollectorRegistry(); registry.register(make_collector(engine))
    """
    return MonitoringCollector(engine, clock=clock, path_prefix=path_prefix)


__all__ = ["MonitoringCollector", "make_collector"]
