"""Collect the results of the restic backup agents (role ``backup_agent``) into tldops.

Each agent writes ``tldops_backup.prom`` into node exporter's textfile directory after every
run. This module reads that file over SSH from every active server, records each *new* run as a
``pb_data_backups`` row of kind ``restic`` and raises ``backup_succeeded`` / ``backup_failed``
(``data.backup_kind == "restic"``) so monitoring alerts on failing or stale agents::

    results = collect_agent_status(session, box=box, settings=BackupSettings(...))
    [(r.asset_tag, r.ok, r.new_run) for r in results]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.enums import Severity
from inventory.secrets import SecretBox
from inventory.service import record_event
from playbooks.configbackup import BackupSettings, DeviceTarget, fetch_all, select_targets
from playbooks.enums import ConfigSource, DataBackupKind
from playbooks.models import DataBackup

SOURCE = "playbooks.restic"
TEXTFILE = "/var/lib/prometheus/node-exporter/tldops_backup.prom"


@dataclass(frozen=True)
class AgentStatus:
    asset_tag: str
    reachable: bool
    ok: bool | None  # last run succeeded (None: unknown)
    last_run: datetime | None
    last_success: datetime | None
    new_run: bool  # a run not recorded before
    error: str | None


def parse_textfile(text: str) -> dict[str, float]:
    """Metric name → value of an (unlabelled) Prometheus text file.

    >>> parse_textfile("# HELP x\\ntldops_backup_last_run_ok 1\\n")
    {'tldops_backup_last_run_ok': 1.0}
    """
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) >= 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                continue
    return out


def _fetch_textfile(target: DeviceTarget, settings: BackupSettings) -> str:
    from playbooks.configbackup import fetch_server_files

    text = fetch_server_files(target, settings)
    # fetch_server_files prefixes "### <path>"; a missing file comes back as "<unreadable: ...>".
    body = text.split("\n", 1)[1] if text.startswith("### ") else text
    if body.startswith("<unreadable"):
        raise FileNotFoundError(body.strip())
    return body


def collect_agent_status(
    session: Session,
    *,
    box: SecretBox,
    settings: BackupSettings,
    unit_code: str | None = None,
    textfile: str = TEXTFILE,
) -> list[AgentStatus]:
    """Read every server's agent metrics; record new runs and their events (flushes only)."""
    targets, _ = select_targets(session, box=box, unit_code=unit_code)
    # A server profile's backup_paths list config files; the agent's metric file is separate.
    servers = [
        replace(t, server_paths=(textfile,))
        for t in targets
        if t.source is ConfigSource.server_files
    ]
    fetched = fetch_all(servers, settings=settings, fetcher=_fetch_textfile)
    out: list[AgentStatus] = []
    for res in fetched:
        t = res.target
        if res.text is None:
            out.append(AgentStatus(t.asset_tag, False, None, None, None, False, res.error))
            continue
        m = parse_textfile(res.text)
        run_ts = m.get("tldops_backup_last_run_timestamp_seconds")
        ok_v = m.get("tldops_backup_last_run_ok")
        succ_ts = m.get("tldops_backup_last_success_timestamp_seconds")
        last_run = datetime.fromtimestamp(run_ts, UTC) if run_ts else None
        last_success = datetime.fromtimestamp(succ_ts, UTC) if succ_ts else None
        ok = None if ok_v is None else ok_v == 1.0
        new = False
        if last_run is not None and ok is not None:
            seen = session.scalar(
                select(DataBackup.id).where(
                    DataBackup.kind == DataBackupKind.restic,
                    DataBackup.target == t.asset_tag,
                    DataBackup.started_at == last_run,
                )
            )
            if seen is None:
                new = True
                session.add(
                    DataBackup(
                        kind=DataBackupKind.restic,
                        target=t.asset_tag,
                        dialect="restic",
                        path=None,
                        started_at=last_run,
                        finished_at=last_success if ok else None,
                        ok=ok,
                        error=None if ok else "restic run failed (see the host's journal)",
                        manifest={},
                    )
                )
                record_event(
                    session,
                    source=SOURCE,
                    kind="backup_succeeded" if ok else "backup_failed",
                    severity=Severity.info if ok else Severity.critical,
                    unit_id=t.unit_id,
                    device_id=t.device_id,
                    message=f"{t.asset_tag}: restic backup {'ok' if ok else 'FAILED'}",
                    data={
                        "target": t.asset_tag,
                        "backup_kind": "restic",
                        "last_run": last_run.isoformat(),
                        "last_success": last_success.isoformat() if last_success else None,
                    },
                )
        out.append(AgentStatus(t.asset_tag, True, ok, last_run, last_success, new, None))
    session.flush()
    return out
