"""Run the playbooks in ``playbooks/ansible`` through ansible-runner, with typed results.

ansible-runner's public API takes untyped ``**kwargs``; :func:`run_playbook` is the explicit
front. Each run gets a row in ``pb_runs``, one ``pb_host_results`` row per host from the PLAY
RECAP, and a folder ``<runs_dir>/<run id>/`` that stays on disk (``stdout``, ``status``, ``rc``,
``job_events/``, ``command``)::

    outcome = run_playbook(session, playbook="office_baseline.yml", runs_dir=Path("var/runs"),
                           secrets=credential_secrets(session, box=box), actor="cli:root",
                           limit="hn-*", check=True)
    outcome.status, [h.changed for h in outcome.hosts]

Secrets (SSH passwords, SNMPv3 keys, restic passwords) reach ``ansible-playbook`` only as
environment variables named by :func:`inventory.secrets.credential_env_var`, handed over through
a FIFO (see :mod:`playbooks._secret_exec`), so neither ansible-runner's ``command`` file nor
``env/envvars`` ever contains them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.db import utcnow
from inventory.models import CredentialProfile
from inventory.secrets import SecretBox, credential_env_var
from playbooks.enums import RunStatus
from playbooks.errors import PlaybookNotFound, RunFailed
from playbooks.models import HostResult, PlaybookRun

ANSIBLE_DIR = Path(__file__).parent / "ansible"
SECRET_EXEC = Path(__file__).parent / "_secret_exec.py"
# Written by the inventory engineer; used when no inventory is given explicitly.
INVENTORY_SCRIPT = (
    Path(__file__).resolve().parent.parent / "inventory" / "ansible_plugin" / "tldops_inventory.py"
)


@dataclass(frozen=True)
class HostStats:
    """One line of Ansible's PLAY RECAP."""

    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0

    @property
    def succeeded(self) -> bool:
        return self.failed == 0 and self.unreachable == 0


@dataclass(frozen=True)
class RunProgress:
    """What the progress bar shows while a run is going."""

    tasks_done: int
    hosts_seen: int
    hosts_failed: int
    task: str


@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    status: RunStatus
    rc: int | None
    hosts: tuple[HostStats, ...]
    artifact_dir: Path

    @property
    def changed_total(self) -> int:
        return sum(h.changed for h in self.hosts)

    @property
    def failed_hosts(self) -> tuple[str, ...]:
        return tuple(h.host for h in self.hosts if not h.succeeded)


def list_playbooks(ansible_dir: Path = ANSIBLE_DIR) -> list[str]:
    """Playbook file names shipped with tldops.

    >>> "office_baseline.yml" in list_playbooks()
    True
    """
    return sorted(p.name for p in ansible_dir.glob("*.yml"))


def resolve_playbook(name: str, *, ansible_dir: Path = ANSIBLE_DIR) -> Path:
    """Path of playbook ``name`` (``office_baseline`` or ``office_baseline.yml`` or a path)."""
    candidates = [Path(name), ansible_dir / name, ansible_dir / f"{name}.yml"]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise PlaybookNotFound(
        f"Không có playbook {name!r} / no playbook {name!r}",
        hint=f"available: {', '.join(list_playbooks(ansible_dir))}",
    )


def credential_secrets(
    session: Session, *, box: SecretBox, profile_names: set[str] | None = None
) -> dict[str, str]:
    """Decrypt credential profiles into ``{env var name: value}`` for the Ansible child process.

    >>> credential_secrets(session, box=box, profile_names={"ssh-hn"})
    {'TLDOPS_CRED_SSH_HN_PASSWORD': '...'}
    """
    q = select(CredentialProfile)
    if profile_names is not None:
        q = q.where(CredentialProfile.name.in_(sorted(profile_names)))
    out: dict[str, str] = {}
    for prof in session.scalars(q):
        for field, value in box.open(prof.secret_blob).items():
            if value is not None:
                out[credential_env_var(prof.name, field)] = str(value)
    return out


class _SecretFeeder:
    """Writes the secrets JSON into a FIFO once the launcher opens it; cleans up afterwards."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="tldops-sec-"))
        os.chmod(self._dir, 0o700)
        self.path = self._dir / "secrets.fifo"
        os.mkfifo(self.path, 0o600)
        self._payload = json.dumps(dict(secrets)).encode("utf-8")
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY)  # blocks until the launcher opens it
        except OSError:
            return
        try:
            os.write(fd, self._payload)
        except OSError:
            pass
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._thread.is_alive():
            # The launcher never started: open the read end once so the writer unblocks.
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
                self._thread.join(timeout=2)
                os.close(fd)
            except OSError:
                pass
        self._thread.join(timeout=2)
        shutil.rmtree(self._dir, ignore_errors=True)


def _recap(stats: Mapping[str, Any]) -> tuple[HostStats, ...]:
    keys = {
        "ok": "ok",
        "changed": "changed",
        "failures": "failed",
        "dark": "unreachable",
        "skipped": "skipped",
    }
    hosts: dict[str, dict[str, int]] = {}
    for src, dst in keys.items():
        for host, n in (stats.get(src) or {}).items():
            hosts.setdefault(host, {})[dst] = int(n)
    return tuple(HostStats(host=h, **c) for h, c in sorted(hosts.items()))


def run_playbook(
    session: Session,
    *,
    playbook: str,
    runs_dir: Path,
    actor: str,
    secrets: Mapping[str, str],
    inventory: Mapping[str, Any] | Path | None = None,
    limit: str | None = None,
    unit_id: int | None = None,
    check: bool = False,
    diff: bool = False,
    extra_vars: Mapping[str, Any] | None = None,
    forks: int = 10,
    timeout_s: int | None = 3600,
    env: Mapping[str, str] | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
) -> RunOutcome:
    """Run ``playbook`` and record the run and its per-host recap.

    ``inventory`` is a dynamic-inventory dict (``{"all": {"hosts": ...}}``), a path to an
    inventory file/script, or ``None`` for the inventory core's script. ``secrets`` go to the
    child environment only. ``env`` adds non-secret variables (e.g. ``TLDOPS_DATABASE_URL`` for
    the inventory script). The session is flushed, not committed.

    >>> run_playbook(session, playbook="dc_baseline", runs_dir=Path("var/runs"), actor="cli",
    ...              secrets={}, limit="dc-*", check=True).status
    <RunStatus.successful: 'successful'>
    """
    import ansible_runner  # heavy import: only when a run really happens
    from ansible_runner.config.runner import RunnerConfig

    path = resolve_playbook(playbook)
    if inventory is None:
        if not INVENTORY_SCRIPT.is_file():
            raise RunFailed(
                "Chưa có inventory động / the dynamic inventory script is missing",
                hint=f"expected {INVENTORY_SCRIPT}; or pass an inventory explicitly",
            )
        inventory = INVENTORY_SCRIPT
    run = PlaybookRun(
        playbook=path.name,
        limit=limit,
        unit_id=unit_id,
        check_mode=check,
        diff_mode=diff,
        status=RunStatus.running,
        actor=actor,
        started_at=utcnow(),
    )
    session.add(run)
    session.flush()
    private_dir = (runs_dir / str(run.id)).resolve()
    private_dir.mkdir(parents=True, exist_ok=True)
    run.artifact_dir = str(private_dir)

    cmdline = []
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    rc_env = {
        "ANSIBLE_ROLES_PATH": str(ANSIBLE_DIR / "roles"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        **(env or {}),
    }
    if isinstance(inventory, Mapping):
        # Kept with the run so `cat` shows what was targeted; it holds lookups, never secrets.
        inv_file = private_dir / "inventory" / "hosts.json"
        inv_file.parent.mkdir(exist_ok=True)
        inv_file.write_text(json.dumps(inventory, indent=1, sort_keys=True), encoding="utf-8")
        inv_arg = str(inv_file)
    else:
        inv_arg = str(inventory)
    config = RunnerConfig(
        private_data_dir=str(private_dir),
        artifact_dir=str(runs_dir.resolve()),
        ident=str(run.id),
        playbook=str(path),
        project_dir=str(ANSIBLE_DIR),
        inventory=inv_arg,
        limit=limit,
        extravars=dict(extra_vars or {}),
        cmdline=" ".join(cmdline) or None,
        forks=forks,
        timeout=timeout_s,
        envvars=rc_env,
        quiet=True,
    )
    config.prepare()

    # ansible-playbook sits next to our interpreter in a venv that may not be on PATH.
    exe = config.command[0]
    if "/" not in exe:
        path_env = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        config.command[0] = shutil.which(exe, path=path_env) or exe
    feeder = _SecretFeeder(secrets)
    # The launcher reads the FIFO and execs ansible-playbook with the secrets in its environment.
    config.command = [sys.executable, str(SECRET_EXEC), str(feeder.path), *config.command]

    tasks_done = 0
    hosts_seen: set[str] = set()
    hosts_failed: set[str] = set()
    stats: dict[str, Any] = {}
    current_task = ""

    def on_event(event: dict[str, Any]) -> bool:
        nonlocal tasks_done, current_task
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        host = data.get("host")
        if kind == "playbook_on_task_start":
            current_task = str(data.get("task", ""))
        elif kind.startswith("runner_on_") and host and kind != "runner_on_start":
            tasks_done += 1
            hosts_seen.add(host)
            if kind in {"runner_on_failed", "runner_on_unreachable"} and not data.get(
                "ignore_errors"
            ):
                hosts_failed.add(host)
        elif kind == "playbook_on_stats":
            stats.update(data)
        if on_progress is not None:
            on_progress(
                RunProgress(
                    tasks_done=tasks_done,
                    hosts_seen=len(hosts_seen),
                    hosts_failed=len(hosts_failed),
                    task=current_task,
                )
            )
        return True

    try:
        runner = ansible_runner.Runner(config=config, event_handler=on_event)
        runner.run()
    except Exception as exc:
        run.status = RunStatus.error
        run.finished_at = utcnow()
        session.flush()
        raise RunFailed(
            f"ansible-runner lỗi / ansible-runner failed: {exc}",
            hint=f"see {private_dir}",
        ) from exc
    finally:
        feeder.close()

    hosts = _recap(stats)
    run.status = (
        RunStatus(runner.status)
        if runner.status in {s.value for s in RunStatus}
        else RunStatus.error
    )
    run.rc = runner.rc
    run.finished_at = utcnow()
    for h in hosts:
        run.hosts.append(
            HostResult(
                host=h.host,
                ok=h.ok,
                changed=h.changed,
                failed=h.failed,
                unreachable=h.unreachable,
                skipped=h.skipped,
            )
        )
    session.flush()
    return RunOutcome(
        run_id=run.id, status=run.status, rc=run.rc, hosts=hosts, artifact_dir=private_dir
    )
