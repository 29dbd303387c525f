"""Closed vocabularies of the playbooks domain (values are what the database and API carry)."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Life of one ``tldops play run`` (ansible-runner's own status words)."""

    running = "running"
    successful = "successful"
    failed = "failed"
    timeout = "timeout"
    canceled = "canceled"
    error = "error"


class BackupOutcome(StrEnum):
    """What one configuration fetch did to the git repository."""

    first = "first"  # the file did not exist before
    changed = "changed"
    unchanged = "unchanged"
    failed = "failed"


class ConfigSource(StrEnum):
    """How a configuration was collected."""

    netmiko = "netmiko"  # network device: `show running-config` or equivalent
    server_files = "server_files"  # server: files over SFTP (fabric/paramiko)


class DataBackupKind(StrEnum):
    db = "db"
    restic = "restic"


class DrillKind(StrEnum):
    restore = "restore"
    failover = "failover"


class VrrpState(StrEnum):
    """keepalived states as its notify hooks name them (plus ``unknown`` when unreadable)."""

    master = "MASTER"
    backup = "BACKUP"
    fault = "FAULT"
    stop = "STOP"
    unknown = "UNKNOWN"


class PairHealth(StrEnum):
    """Verdict on a keepalived pair: exactly one master is the only healthy answer."""

    ok = "ok"
    split_brain = "split_brain"
    no_master = "no_master"
    degraded = "degraded"  # one master, but a node could not be read
