"""Prometheus metrics of the playbooks domain, computed from the database at scrape time.

    registry = CollectorRegistry()
    registry.register(make_collector(engine))

Metrics (timestamps are Unix seconds; alert on ``time() - metric``):

``tldops_db_backup_last_success_timestamp_seconds{target}``
``tldops_db_backup_last_size_bytes{target}``
``tldops_db_backup_last_verified_timestamp_seconds{target}``   newest successful restore test
``tldops_db_backup_last_verify_ok{target}``                     1/0 for the newest verification
``tldops_db_restore_seconds{target}``                           restore time of that verification
``tldops_config_backup_last_success_timestamp_seconds``         newest successful device fetch
``tldops_config_backup_failed_devices``                         devices whose latest fetch failed
``tldops_failover_last_drill_timestamp_seconds{pair}`` / ``..._seconds{pair}`` / ``..._ok{pair}``
``tldops_vrrp_node_master{pair,node}``                          1 if the node was last seen MASTER
``tldops_restic_backup_last_success_timestamp_seconds{target}`` restic agent on a server
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from inventory.db import session_scope
from playbooks.enums import BackupOutcome, DataBackupKind, DrillKind, VrrpState
from playbooks.models import (
    BackupVerification,
    ConfigBackup,
    DataBackup,
    Drill,
    VrrpNode,
    VrrpPair,
)


class PlaybooksCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        last_ok = GaugeMetricFamily(
            "tldops_db_backup_last_success_timestamp_seconds",
            "When the newest successful database backup finished.",
            labels=["target"],
        )
        size = GaugeMetricFamily(
            "tldops_db_backup_last_size_bytes",
            "Size of the newest database backup.",
            labels=["target"],
        )
        verified = GaugeMetricFamily(
            "tldops_db_backup_last_verified_timestamp_seconds",
            "When a backup was last restored and matched its source.",
            labels=["target"],
        )
        verify_ok = GaugeMetricFamily(
            "tldops_db_backup_last_verify_ok",
            "1 if the newest restore verification matched, else 0.",
            labels=["target"],
        )
        restore_s = GaugeMetricFamily(
            "tldops_db_restore_seconds",
            "Restore time measured by the newest verification.",
            labels=["target"],
        )
        cfg_last = GaugeMetricFamily(
            "tldops_config_backup_last_success_timestamp_seconds",
            "When a device configuration was last fetched successfully.",
        )
        cfg_failed = GaugeMetricFamily(
            "tldops_config_backup_failed_devices",
            "Devices whose latest configuration fetch failed.",
        )
        drill_ts = GaugeMetricFamily(
            "tldops_failover_last_drill_timestamp_seconds",
            "When the last failover drill of a pair ran.",
            labels=["pair"],
        )
        drill_s = GaugeMetricFamily(
            "tldops_failover_last_drill_seconds",
            "Measured failover time of the last drill.",
            labels=["pair"],
        )
        drill_ok = GaugeMetricFamily(
            "tldops_failover_last_drill_ok", "1 if the last drill succeeded.", labels=["pair"]
        )
        master = GaugeMetricFamily(
            "tldops_vrrp_node_master",
            "1 if the node was MASTER at the last status read.",
            labels=["pair", "node"],
        )
        restic = GaugeMetricFamily(
            "tldops_restic_backup_last_success_timestamp_seconds",
            "When a server's restic agent last reported a successful run.",
            labels=["target"],
        )
        with session_scope(self.engine) as s:
            for target, ts in s.execute(
                select(DataBackup.target, func.max(DataBackup.finished_at))
                .where(DataBackup.kind == DataBackupKind.restic, DataBackup.ok.is_(True))
                .group_by(DataBackup.target)
            ).all():
                if ts is not None:
                    restic.add_metric([target], ts.timestamp())
            backups = s.scalars(
                select(DataBackup)
                .where(DataBackup.kind == DataBackupKind.db, DataBackup.ok.is_(True))
                .order_by(DataBackup.target, DataBackup.finished_at.desc())
            ).all()
            seen: set[str] = set()
            for b in backups:
                if b.target in seen or b.finished_at is None:
                    continue
                seen.add(b.target)
                last_ok.add_metric([b.target], b.finished_at.timestamp())
                size.add_metric([b.target], float(b.size_bytes))
            rows = s.execute(
                select(DataBackup.target, BackupVerification)
                .join(BackupVerification, BackupVerification.backup_id == DataBackup.id)
                .order_by(DataBackup.target, BackupVerification.at.desc())
            ).all()
            newest: set[str] = set()
            good: set[str] = set()
            for target, v in rows:
                if target not in newest:
                    newest.add(target)
                    verify_ok.add_metric([target], 1.0 if v.ok else 0.0)
                    restore_s.add_metric([target], v.restore_seconds)
                if v.ok and target not in good:
                    good.add(target)
                    verified.add_metric([target], v.at.timestamp())
            cfg_ts = s.scalar(
                select(func.max(ConfigBackup.at)).where(
                    ConfigBackup.outcome != BackupOutcome.failed
                )
            )
            if cfg_ts is not None:
                cfg_last.add_metric([], cfg_ts.timestamp())
            latest = (
                select(ConfigBackup.device_id, func.max(ConfigBackup.id).label("mid"))
                .group_by(ConfigBackup.device_id)
                .subquery()
            )
            n_failed = s.scalar(
                select(func.count())
                .select_from(ConfigBackup)
                .join(latest, ConfigBackup.id == latest.c.mid)
                .where(ConfigBackup.outcome == BackupOutcome.failed)
            )
            cfg_failed.add_metric([], float(n_failed or 0))
            drills = s.scalars(
                select(Drill)
                .where(Drill.kind == DrillKind.failover)
                .order_by(Drill.target, Drill.started_at.desc())
            ).all()
            done: set[str] = set()
            for d in drills:
                if d.target in done:
                    continue
                done.add(d.target)
                drill_ts.add_metric([d.target], d.started_at.timestamp())
                drill_ok.add_metric([d.target], 1.0 if d.ok else 0.0)
                if d.measured_seconds is not None:
                    drill_s.add_metric([d.target], d.measured_seconds)
            for pair_name, node in s.execute(
                select(VrrpPair.name, VrrpNode).join(VrrpNode, VrrpNode.pair_id == VrrpPair.id)
            ).all():
                master.add_metric(
                    [pair_name, node.name], 1.0 if node.last_state is VrrpState.master else 0.0
                )
        yield from (
            last_ok,
            size,
            verified,
            verify_ok,
            restore_s,
            cfg_last,
            cfg_failed,
            drill_ts,
            drill_s,
            drill_ok,
            master,
            restic,
        )


def make_collector(engine: Engine) -> Collector:
    """The playbooks collector for the main ``/metrics`` (register it on your own registry).

    >>> registry = CollectorRegistry(); registry.register(make_collector(engine))
    """
    return PlaybooksCollector(engine)
