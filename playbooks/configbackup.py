"""Configuration backup of network devices (netmiko) and servers (fabric), kept in git.

Like Oxidized/RANCID: every device's running configuration is fetched concurrently (a bounded
thread pool; one dead device never stops the others), cleaned (volatile lines dropped, secrets
masked), written to a git repository laid out by the organisation tree
(``<province>/<unit>/<host>.cfg``) and committed only when something really changed::

    results = backup_configs(session, box=box, repo=ConfigRepo(Path("var/configs")),
                             settings=BackupSettings(known_hosts=Path("var/known_hosts")))
    [(r.asset_tag, r.outcome.value) for r in results]
    # [('HN-SW-1', 'changed'), ('HN-SW-2', 'unchanged'), ('DN-RT-1', 'failed')]

Each change raises a ``config_changed`` event and each failure ``config_backup_failed``
(:func:`inventory.service.record_event`), which monitoring turns into alerts.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory import netguard
from inventory.db import utcnow
from inventory.enums import DeviceKind, DeviceStatus, Severity
from inventory.models import CredentialProfile, Device, Unit, subtree_filter
from inventory.secrets import SecretBox
from inventory.security import Principal
from inventory.service import record_event
from inventory.text import slugify
from playbooks.authz import require_unit_write
from playbooks.enums import BackupOutcome, ConfigSource
from playbooks.errors import ConfigRepoError, DeviceUnreachable
from playbooks.models import ConfigBackup
from playbooks.private import UMASK, lock_down, private_dir, write_private

SOURCE = "playbooks.config_backup"

# The command printing the running configuration, per netmiko device_type. tldops' Linux-based
# network appliances expose a `show running-config` wrapper too.
CONFIG_COMMANDS: Mapping[str, str] = {
    "cisco_ios": "show running-config",
    "cisco_xe": "show running-config",
    "cisco_nxos": "show running-config",
    "cisco_asa": "show running-config",
    "arista_eos": "show running-config",
    "hp_procurve": "show running-config",
    "hp_comware": "display current-configuration",
    "huawei": "display current-configuration",
    "juniper_junos": "show configuration | display set",
    "mikrotik_routeros": "/export",
    "fortinet": "show full-configuration",
    "linux": "show running-config",
}

# Lines that change on every fetch without any configuration change.
VOLATILE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"^Building configuration",
        r"^Current configuration\s*:\s*\d+ bytes",
        r"^! Last configuration change at",
        r"^! NVRAM config last updated at",
        r"^! No configuration change since last restart",
        r"^ntp clock-period \d+",
        r"^# \w{3}/\d{2}/\d{4} \d{2}:\d{2}:\d{2} by RouterOS",
        r"^#config-version=.*",
        r"^## Last commit:",
    )
)

# (pattern, replacement): keep the keyword, replace the secret with a marker.
SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), r)
    for p, r in (
        (r"^(\s*username \S+(?: privilege \d+)? (?:secret|password)(?: \d+)? )\S+", r"\1<removed>"),
        (r"^(\s*enable (?:secret|password)(?: \d+)? )\S+", r"\1<removed>"),
        (r"^(\s*snmp-server community )\S+", r"\1<removed>"),
        (
            r"^(\s*snmp-server user \S+ \S+ v3 auth \S+ )\S+( priv \S+(?: \S+)? )\S+",
            r"\1<removed>\2<removed>",
        ),
        (r"^(\s*(?:tacacs|radius)-server (?:host \S+ )?key(?: \d+)? )\S+", r"\1<removed>"),
        (r"^(\s*(?:pre-shared-key|key-string|authentication-key)(?: \d+)? )\S+", r"\1<removed>"),
        (r"^(\s*set \S.* (?:secret|password|encrypted-password) )\S+", r"\1<removed>"),
        (r"^(\s*createUser \S+ \S+ )\S+( \S+ )\S+", r"\1<removed>\2<removed>"),
        (r"^(\s*(?:rocommunity|rwcommunity)6? )\S+", r"\1<removed>"),
        (r"^(\s*auth_pass )\S+", r"\1<removed>"),
    )
)


def clean_config(text: str) -> str:
    """Drop volatile lines and mask secrets; normalise line ends.

    >>> clean_config("! Last configuration change at 10:01\\nsnmp-server community s3cr3t RO\\n")
    'snmp-server community <removed> RO\\n'
    """
    out: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        if any(p.search(line) for p in VOLATILE_PATTERNS):
            continue
        for pattern, repl in SECRET_PATTERNS:
            line = pattern.sub(repl, line)
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class DeviceTarget:
    """Everything needed to reach one device, secrets already decrypted (kept in memory only)."""

    device_id: int
    asset_tag: str
    unit_id: int
    host: str
    port: int
    platform: str
    username: str
    password: str | None = field(repr=False)
    repo_path: str
    source: ConfigSource
    server_paths: tuple[str, ...] = ()
    use_sudo: bool = False


@dataclass(frozen=True)
class BackupSettings:
    """Knobs of a backup run. ``known_hosts`` holds the devices' SSH host keys; with
    ``strict_host_keys`` an unknown or changed key is a failure, never silently accepted."""

    known_hosts: Path | None = None
    strict_host_keys: bool = True
    workers: int = 8
    conn_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    commands: Mapping[str, str] = field(default_factory=lambda: dict(CONFIG_COMMANDS))
    server_paths: tuple[str, ...] = ("/etc/keepalived/keepalived.conf", "/etc/snmp/snmpd.conf")


@dataclass(frozen=True)
class FetchResult:
    target: DeviceTarget
    text: str | None
    error: str | None
    duration_s: float


@dataclass(frozen=True)
class DeviceBackupResult:
    """What happened to one device (a failure is data here, not an exception)."""

    asset_tag: str
    outcome: BackupOutcome
    repo_path: str | None
    commit: str | None
    lines_added: int
    lines_removed: int
    error: str | None
    duration_s: float


class Fetcher(Protocol):
    def __call__(self, target: DeviceTarget, settings: BackupSettings) -> str: ...


def fetch_netmiko(target: DeviceTarget, settings: BackupSettings) -> str:
    """Fetch the running configuration of a network device with netmiko."""
    from netmiko import ConnectHandler

    command = settings.commands.get(target.platform)
    if command is None:
        raise DeviceUnreachable(
            f"Không biết lệnh lấy cấu hình cho {target.platform!r} / "
            f"no config command for platform {target.platform!r}",
            hint="set Device.platform to a netmiko device_type listed in CONFIG_COMMANDS",
        )
    params: dict[str, Any] = {
        "device_type": target.platform,
        "host": target.host,
        "port": target.port,
        "username": target.username,
        "password": target.password or "",
        "conn_timeout": settings.conn_timeout_s,
        "banner_timeout": settings.conn_timeout_s,
        "auth_timeout": settings.conn_timeout_s,
        "ssh_strict": settings.strict_host_keys,
        "system_host_keys": False,
        "alt_host_keys": settings.known_hosts is not None,
        "alt_key_file": str(settings.known_hosts or ""),
        "allow_agent": False,
        "use_keys": False,
        "fast_cli": False,
    }
    conn = ConnectHandler(**params)
    try:
        output = conn.send_command(command, read_timeout=settings.read_timeout_s)
    except BaseException:
        # A graceful disconnect waits on a device that is already stuck: cut the socket.
        client = getattr(conn, "remote_conn_pre", None)
        if client is not None:
            client.close()
        raise
    conn.disconnect()
    return str(output)


def fetch_server_files(target: DeviceTarget, settings: BackupSettings) -> str:
    """Fetch configuration files of a server over SSH with fabric (``sudo -n cat`` if asked)."""
    import paramiko
    from fabric import Connection

    conn = Connection(
        host=target.host,
        port=target.port,
        user=target.username,
        connect_timeout=int(settings.conn_timeout_s),
        connect_kwargs={
            "password": target.password,
            "allow_agent": False,
            "look_for_keys": False,
            "banner_timeout": settings.conn_timeout_s,
            "auth_timeout": settings.conn_timeout_s,
        },
    )
    client = conn.client
    if settings.known_hosts is not None and settings.known_hosts.is_file():
        client.load_host_keys(str(settings.known_hosts))
    client.set_missing_host_key_policy(
        paramiko.RejectPolicy() if settings.strict_host_keys else paramiko.WarningPolicy()
    )
    parts: list[str] = []
    try:
        for path in target.server_paths or settings.server_paths:
            cmd = f"cat -- {shlex.quote(path)}"
            if target.use_sudo:
                cmd = f"sudo -n {cmd}"
            res = conn.run(
                cmd, hide=True, warn=True, in_stream=False, timeout=int(settings.read_timeout_s)
            )
            body = res.stdout if res.ok else f"<unreadable: {res.stderr.strip()}>\n"
            parts.append(f"### {path}\n{body}")
    finally:
        conn.close()
    return "".join(parts)


def default_fetcher(target: DeviceTarget, settings: BackupSettings) -> str:
    if target.source is ConfigSource.server_files:
        return fetch_server_files(target, settings)
    return fetch_netmiko(target, settings)


def _describe(exc: BaseException) -> str:
    """One line for the operator; a changed host key is called out whatever wraps it."""
    import paramiko

    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 5:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    text = " ".join(" ".join(str(e).split()) for e in chain)
    if any(isinstance(e, paramiko.BadHostKeyException) for e in chain) or (
        "does not match" in text and "key" in text.lower()
    ):
        return (
            "host key changed: possible man-in-the-middle or replaced device; "
            f"verify it and update known_hosts ({type(exc).__name__})"
        )
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]


def fetch_all(
    targets: Sequence[DeviceTarget],
    *,
    settings: BackupSettings,
    fetcher: Fetcher = default_fetcher,
    on_done: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Fetch every target concurrently with at most ``settings.workers`` threads.

    Every exception is caught per device and returned as ``FetchResult.error``. A device
    outside the allowed networks (:mod:`inventory.netguard`) is never contacted: its result
    is that refusal.
    """
    nets = netguard.allowed_nets()

    def one(t: DeviceTarget) -> FetchResult:
        start = time.monotonic()
        try:
            netguard.ensure_allowed(t.host, nets, purpose="SSH")
        except netguard.TargetNotAllowed as exc:
            return FetchResult(t, None, exc.message, time.monotonic() - start)
        try:
            text = fetcher(t, settings)
            return FetchResult(t, text, None, time.monotonic() - start)
        except Exception as exc:
            return FetchResult(t, None, _describe(exc), time.monotonic() - start)

    results: list[FetchResult] = []
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        for res in pool.map(one, targets):
            results.append(res)
            if on_done is not None:
                on_done(res)
    return results


class ConfigRepo:
    """The git repository of configurations (``git`` CLI, one commit per changed device)."""

    def __init__(self, path: Path, *, author: str = "tldops <tldops@localhost>") -> None:
        self.path = path
        self.author = author
        self._locked = False

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        name, _, email = self.author.partition(" <")
        env_args = [
            "-c",
            f"user.name={name}",
            "-c",
            f"user.email={email.rstrip('>')}",
            "-c",
            "commit.gpgsign=false",
        ]
        proc = subprocess.run(
            ["git", *env_args, "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            timeout=60,
            umask=UMASK,  # objects, index and refs readable by tldops only
        )
        if check and proc.returncode != 0:
            raise ConfigRepoError(
                f"git {args[0]} lỗi / git {args[0]} failed: {proc.stderr.strip()}",
                hint=f"check the repository at {self.path}",
            )
        return proc

    def ensure(self) -> None:
        """Create the repository if needed; the whole tree is private (0700/0600)."""
        if not (self.path / ".git").is_dir():
            private_dir(self.path)
            self._git("init", "-q", "-b", "main")
        if not self._locked:
            # Once per instance: a repository made by an older version may be world-readable.
            lock_down(self.path)
            self._locked = True

    def store(self, rel_path: str, text: str, *, message: str) -> tuple[str | None, int, int]:
        """Write ``text`` at ``rel_path`` and commit if it differs: (commit, added, removed)."""
        self.ensure()
        target = self.path / rel_path
        private_dir(target.parent)
        write_private(target, text)
        self._git("add", "--", rel_path)
        if self._git("diff", "--cached", "--quiet", "--", rel_path, check=False).returncode == 0:
            return None, 0, 0
        numstat = self._git("diff", "--cached", "--numstat", "--", rel_path).stdout.split()
        added, removed = (int(numstat[0]), int(numstat[1])) if len(numstat) >= 2 else (0, 0)
        self._git("commit", "-q", "-m", message, "--", rel_path)
        sha = self._git("rev-parse", "HEAD").stdout.strip()
        return sha, added, removed

    def history(self, rel_path: str, *, limit: int = 20) -> list[tuple[str, str, str]]:
        """(commit, ISO date, subject) of the commits touching ``rel_path``, newest first."""
        if not (self.path / ".git").is_dir():
            return []
        out = self._git(
            "log", f"-n{limit}", "--format=%H%x09%cI%x09%s", "--", rel_path, check=False
        ).stdout
        return [tuple(line.split("\t", 2)) for line in out.splitlines() if line]  # type: ignore[misc]

    def diff(self, rel_path: str, *, rev: str | None = None) -> str:
        """Unified diff of ``rel_path``: from ``rev`` (default: its previous version) to now."""
        hist = self.history(rel_path, limit=2)
        if not hist:
            raise ConfigRepoError(
                f"Chưa có bản sao lưu cấu hình {rel_path} / no backup of {rel_path} yet",
                hint="run `tldops backup configs` first",
            )
        if rev is None:
            if len(hist) < 2:
                return self._git("show", "--format=", hist[0][0], "--", rel_path).stdout
            rev = hist[1][0]
        return self._git("diff", rev, hist[0][0], "--", rel_path).stdout


def repo_path_for(device: Device, units_by_id: Mapping[int, Unit]) -> str:
    """``<province>/<unit>/<host>.cfg`` from the org tree (province = level-2 ancestor)."""
    unit = units_by_id[device.unit_id]
    chain = [units_by_id[i] for i in unit.ancestor_ids() if i in units_by_id]
    province = next((u for u in chain if u.level == 2), chain[0] if chain else unit)
    host = slugify(device.hostname or device.asset_tag)
    return f"{province.slug or slugify(province.code)}/{unit.slug or slugify(unit.code)}/{host}.cfg"


def select_targets(
    session: Session, *, box: SecretBox, unit_code: str | None = None
) -> tuple[list[DeviceTarget], list[Device]]:
    """Active devices with a management IP and an SSH profile, in ``unit_code``'s subtree.

    Returns the reachable targets and the devices that were skipped (no IP/profile/platform).
    """
    q = (
        select(Device)
        .join(Unit, Unit.id == Device.unit_id)
        .where(Device.status == DeviceStatus.active)
        .where(Device.ssh_profile_id.is_not(None))
        .order_by(Device.asset_tag)
    )
    if unit_code:
        root = session.scalar(select(Unit).where(Unit.code == unit_code))
        if root is None:
            from inventory.errors import NotFound

            raise NotFound(f"Không có đơn vị {unit_code!r} / no unit {unit_code!r}")
        q = q.where(subtree_filter(Unit.path, root.path))
    devices = list(session.scalars(q))
    unit_ids: set[int] = set()
    for d in devices:
        unit_ids.add(d.unit_id)
        unit_ids.update(d.unit.ancestor_ids())
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(unit_ids)))}
    profiles = {
        p.id: p
        for p in session.scalars(
            select(CredentialProfile).where(
                CredentialProfile.id.in_({d.ssh_profile_id for d in devices})
            )
        )
    }
    targets: list[DeviceTarget] = []
    skipped: list[Device] = []
    for d in devices:
        prof = profiles.get(d.ssh_profile_id or -1)
        is_server = d.kind is DeviceKind.server
        if not d.mgmt_ip or prof is None or (not is_server and not d.platform):
            skipped.append(d)
            continue
        secret = box.open(prof.secret_blob)
        params = prof.params or {}
        targets.append(
            DeviceTarget(
                device_id=d.id,
                asset_tag=d.asset_tag,
                unit_id=d.unit_id,
                host=d.mgmt_ip,
                port=int(params.get("port", 22)),
                platform=d.platform or "linux",
                username=prof.username or "",
                password=secret.get("password"),
                repo_path=repo_path_for(d, units),
                source=ConfigSource.server_files if is_server else ConfigSource.netmiko,
                server_paths=tuple(params.get("backup_paths", ())),
                use_sudo=bool(params.get("sudo", False)),
            )
        )
    return targets, skipped


def backup_configs(
    session: Session,
    *,
    box: SecretBox,
    repo: ConfigRepo,
    settings: BackupSettings,
    unit_code: str | None = None,
    fetcher: Fetcher = default_fetcher,
    on_done: Callable[[FetchResult], None] | None = None,
    principal: Principal | None = None,
) -> list[DeviceBackupResult]:
    """Fetch, clean, commit and record every device's configuration (flushes, no commit).

    >>> [r.outcome for r in backup_configs(session, box=box, repo=repo,
    ...                                    settings=BackupSettings(), unit_code="HN")]
    [<BackupOutcome.first: 'first'>]
    """
    require_unit_write(session, principal, unit_code=unit_code)
    targets, _skipped = select_targets(session, box=box, unit_code=unit_code)
    fetched = fetch_all(targets, settings=settings, fetcher=fetcher, on_done=on_done)
    results: list[DeviceBackupResult] = []
    for res in fetched:  # git writes one at a time: the index is not thread-safe
        t = res.target
        existed = (repo.path / t.repo_path).exists()
        row = ConfigBackup(
            device_id=t.device_id,
            at=utcnow(),
            source=t.source,
            repo_path=t.repo_path,
            duration_s=round(res.duration_s, 3),
            outcome=BackupOutcome.failed,
        )
        if res.text is None:
            row.error = res.error
            record_event(
                session,
                source=SOURCE,
                kind="config_backup_failed",
                severity=Severity.warning,
                unit_id=t.unit_id,
                device_id=t.device_id,
                message=f"{t.asset_tag}: {res.error}",
                data={"target": t.asset_tag, "backup_kind": "config", "error": res.error},
            )
        else:
            sha, added, removed = repo.store(
                t.repo_path, clean_config(res.text), message=f"{t.asset_tag}: configuration"
            )
            row.commit, row.lines_added, row.lines_removed = sha, added, removed
            if sha is None:
                row.outcome = BackupOutcome.unchanged
            elif not existed:
                row.outcome = BackupOutcome.first
            else:
                row.outcome = BackupOutcome.changed
                record_event(
                    session,
                    source=SOURCE,
                    kind="config_changed",
                    severity=Severity.info,
                    unit_id=t.unit_id,
                    device_id=t.device_id,
                    message=f"{t.asset_tag}: +{added} -{removed} lines",
                    data={
                        "target": t.asset_tag,
                        "backup_kind": "config",
                        "commit": sha,
                        "repo_path": t.repo_path,
                        "lines_added": added,
                        "lines_removed": removed,
                    },
                )
        session.add(row)
        results.append(
            DeviceBackupResult(
                asset_tag=t.asset_tag,
                outcome=row.outcome,
                repo_path=t.repo_path,
                commit=row.commit,
                lines_added=row.lines_added or 0,
                lines_removed=row.lines_removed or 0,
                error=row.error,
                duration_s=row.duration_s,
            )
        )
    session.flush()
    return results


def device_repo_path(session: Session, asset_tag: str) -> str:
    """Where ``asset_tag``'s configuration lives in the repository."""
    from inventory.errors import NotFound

    dev = session.scalar(select(Device).where(Device.asset_tag == asset_tag))
    if dev is None:
        raise NotFound(f"Không có thiết bị {asset_tag!r} / no device {asset_tag!r}")
    ids = set(dev.unit.ancestor_ids()) | {dev.unit_id}
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))}
    return repo_path_for(dev, units)
