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
``env/envvars`` ever contains them. The child gets an explicit, minimal environment
(:func:`child_environment`): nothing of the caller's environment (``TLDOPS_SECRET_KEY``, SMTP or
Moodle credentials, ...) is inherited, and after the run every artifact is scrubbed of any
secret value that could still have been echoed by a task (:func:`scrub_artifacts`).

Run folders are private: 0700 folders, 0600 files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory import netguard
from inventory.db import utcnow
from inventory.models import CredentialProfile
from inventory.secrets import SecretBox, credential_env_var
from inventory.security import Principal
from playbooks.authz import require_admin, require_unit_write
from playbooks.enums import RunStatus
from playbooks.errors import PlaybookNotFound, RunFailed
from playbooks.models import HostResult, PlaybookRun
from playbooks.private import lock_down, private_dir, write_private

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
    error: str | None = None  # the failing task and its message

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


# What ansible-playbook may inherit from the caller's environment. Everything else (database
# URLs, TLDOPS_SECRET_KEY, SMTP/Moodle/Jitsi credentials ...) stays out of the child, and so
# out of ansible-runner's ``command`` artifact, which records the child's whole environment.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME")
INHERITED_PREFIXES = ("LC_",)
# Variables ansible-runner itself sets for its callback plugin and event files.
RUNNER_ENV = ("AWX_ISOLATED_DATA_DIR", "ORIGINAL_STDOUT_CALLBACK", "AD_HOC_COMMAND_ID")
# Names whose values are secret wherever they come from (scrubbed from every artifact).
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|_KEY|KEYS|CREDENTIAL|_PASS)$|_URL$")
REDACTED = "<removed>"


def child_environment(
    runner_env: Mapping[str, str], ours: Mapping[str, str], caller: Mapping[str, str]
) -> dict[str, str]:
    """The explicit environment of ``ansible-playbook``.

    ``runner_env`` is what ansible-runner prepared (it starts from a copy of ``caller``);
    ``ours`` are the ``ANSIBLE_*`` settings this module chose. Only the allow-listed basics of
    ``caller``, our settings and the ``ANSIBLE_*``/callback variables ansible-runner added
    (not inherited ones) are kept.

    >>> env = child_environment(
    ...     {"PATH": "/bin", "TLDOPS_SECRET_KEY": "k", "ANSIBLE_STDOUT_CALLBACK": "awx_display",
    ...      "ANSIBLE_VAULT_PASSWORD_FILE": "/x"},
    ...     {"ANSIBLE_NOCOLOR": "1"},
    ...     {"PATH": "/bin", "TLDOPS_SECRET_KEY": "k", "ANSIBLE_VAULT_PASSWORD_FILE": "/x"})
    >>> sorted(env)
    ['ANSIBLE_NOCOLOR', 'ANSIBLE_STDOUT_CALLBACK', 'PATH']
    """
    out: dict[str, str] = {}
    for key in INHERITED_ENV:
        if key in caller:
            out[key] = caller[key]
    for key, value in caller.items():
        if key.startswith(INHERITED_PREFIXES):
            out[key] = value
    for key, value in runner_env.items():
        added = key not in caller or caller[key] != value
        if added and (key.startswith("ANSIBLE_") or key in RUNNER_ENV):
            out[key] = value
    out.update(ours)
    return out


def secret_values(secrets: Mapping[str, str], caller: Mapping[str, str] | None = None) -> list[str]:
    """Every value that must never be found in an artifact, longest first.

    The handed-over ``secrets`` plus the caller's secret-looking variables (each part of a
    comma-separated key list too, and a URL's password), with their JSON-escaped forms.

    >>> secret_values({"A_PASSWORD": "pw-1"},
    ...               {"TLDOPS_SECRET_KEY": "k1abcdef,k2abcdef", "HOME": "/root"})
    ['k1abcdef,k2abcdef', 'k1abcdef', 'k2abcdef', 'pw-1']
    """
    env = os.environ if caller is None else caller
    # (value, shortest length worth searching): a very short value would shred the artifacts
    # (a "true" would break every JSON event); handed-over secrets are searched from 4 chars.
    raw: list[tuple[str, int]] = []
    for key, value in secrets.items():
        if key.upper().endswith("_URL"):
            password = _url_password(value)
            if password:
                raw.append((password, 4))
        else:
            raw.append((str(value), 4))
    for key, value in env.items():
        if SECRET_NAME.search(key.upper()) and value:
            if key.upper().endswith("_URL"):
                password = _url_password(value)
                if password:
                    raw.append((password, 4))
                continue
            raw.append((value, 8))
            raw.extend((part.strip(), 8) for part in value.split(","))
    out: set[str] = set()
    for value, shortest in raw:
        if len(value) < shortest:
            continue
        out.add(value)
        escaped = json.dumps(value, ensure_ascii=False)[1:-1]
        out.add(escaped)
        out.add(json.dumps(value)[1:-1])
    return sorted(out, key=lambda v: (-len(v), v))


def _url_password(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def scrub_artifacts(root: Path, values: list[str]) -> list[Path]:
    """Replace every secret value in the files under ``root``; returns the files changed."""
    changed: list[Path] = []
    if not values:
        return changed
    needles = [v.encode("utf-8") for v in values]
    for p in sorted(root.rglob("*")):
        if p.is_symlink() or not p.is_file():
            continue
        data = p.read_bytes()
        new = data
        for needle in needles:
            if needle in new:
                new = new.replace(needle, REDACTED.encode())
        if new != data:
            write_private(p, new)
            changed.append(p)
    return changed


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


def failure_reason(task: str, res: Mapping[str, Any]) -> str:
    """One line saying why a task failed a host, from a ``runner_on_failed``/``unreachable``
    event's ``res`` (a loop's first failed item when the task was a loop).

    >>> failure_reason("Disk check", {"msg": "All items completed", "results": [
    ...     {"failed": False, "msg": "ok"}, {"failed": True, "item": "/data", "msg": "full"}]})
    'Disk check: /data: full'
    >>> failure_reason("Run", {"msg": "non-zero return code", "rc": 2, "stderr": "no such file"})
    'Run: non-zero return code (rc=2): no such file'
    """
    msg = str(res.get("msg") or "").strip()
    results = res.get("results")
    if isinstance(results, list):
        bad = next(
            (
                r
                for r in results
                if isinstance(r, Mapping) and (r.get("failed") or r.get("unreachable"))
            ),
            None,
        )
        if bad is not None:
            item = bad.get("item")
            inner = failure_reason("", bad).lstrip(": ")
            msg = f"{item}: {inner}" if item is not None else inner
    if "rc" in res and res.get("rc") not in (None, 0):
        msg = f"{msg} (rc={res['rc']})"
    stderr = str(res.get("stderr") or "").strip()
    if stderr and stderr not in msg:
        msg = f"{msg}: {stderr}" if msg else stderr
    text = " ".join((f"{task}: {msg}" if task else msg).split())
    return text[:1000]


def _scrub_text(text: str, values: list[str]) -> str:
    for v in values:
        text = text.replace(v, REDACTED)
    return text


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
    return tuple(
        HostStats(
            host=h,
            ok=c.get("ok", 0),
            changed=c.get("changed", 0),
            failed=c.get("failed", 0),
            unreachable=c.get("unreachable", 0),
            skipped=c.get("skipped", 0),
        )
        for h, c in sorted(hosts.items())
    )


def _ansible_tool(name: str) -> str:
    # The ansible executables sit next to our interpreter in a venv that may not be on PATH.
    path_env = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which(name, path=path_env) or name


def target_hosts(
    inventory: Mapping[str, Any] | Path | str,
    *,
    limit: str | None,
    env: Mapping[str, str],
    timeout_s: float = 120.0,
) -> dict[str, dict[str, Any]]:
    """``{host: hostvars}`` of the hosts a run would target: ``ansible-inventory --list`` on
    the same inventory with the same ``--limit`` (so patterns and groups resolve exactly as
    ``ansible-playbook`` will resolve them)."""
    tmp: Path | None = None
    try:
        if isinstance(inventory, Mapping):
            tmp = Path(tempfile.mkdtemp(prefix="tldops-inv-"))
            inv_path = tmp / "hosts.json"
            write_private(inv_path, json.dumps(inventory))
        else:
            inv_path = Path(inventory)
        cmd = [_ansible_tool("ansible-inventory"), "-i", str(inv_path), "--list"]
        if limit:
            cmd += ["--limit", limit]
        proc = subprocess.run(
            cmd, env=dict(env), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if proc.returncode != 0:
        raise RunFailed(
            "Không đọc được inventory / cannot read the inventory: "
            + " ".join(proc.stderr.split())[:400],
            hint=f"try `ansible-inventory -i {inv_path} --list`",
        )
    data = json.loads(proc.stdout or "{}")
    hostvars: dict[str, dict[str, Any]] = dict((data.get("_meta") or {}).get("hostvars") or {})
    for name, group in data.items():
        if name != "_meta" and isinstance(group, Mapping):
            for host in group.get("hosts") or ():
                hostvars.setdefault(str(host), {})
    return hostvars


def refused_targets(
    hosts: Mapping[str, Mapping[str, Any]], nets: netguard.Nets
) -> list[tuple[str, str]]:
    """(host, address) of every target outside ``nets``; a local connection is no target.

    >>> refused_targets({"a": {"ansible_host": "198.18.0.5"}, "b": {"ansible_host": "127.0.0.2"},
    ...                  "c": {"ansible_connection": "local"}},
    ...                 netguard.parse_allowed_nets("127.0.0.0/8"))
    [('a', '198.18.0.5')]
    """
    out: list[tuple[str, str]] = []
    for host, hv in sorted(hosts.items()):
        if str(hv.get("ansible_connection", "")) == "local":
            continue
        address = str(hv.get("ansible_host") or host)
        if not netguard.resolve_allowed(address, nets):
            out.append((host, address))
    return out


def ensure_targets_allowed(
    inventory: Mapping[str, Any] | Path | str,
    *,
    limit: str | None,
    env: Mapping[str, str],
    nets: netguard.Nets | None = None,
) -> None:
    """Refuse a run before Ansible starts when any target is outside the allowed networks."""
    nets = netguard.allowed_nets() if nets is None else nets
    if nets == netguard.EVERYTHING:
        return
    refused = refused_targets(target_hosts(inventory, limit=limit, env=env), nets)
    if not refused:
        return
    listed = ", ".join(f"{h} ({a})" for h, a in refused[:20])
    more = f" (+{len(refused) - 20})" if len(refused) > 20 else ""
    raise netguard.TargetNotAllowed(
        f"Từ chối chạy playbook: {len(refused)} máy nằm ngoài các mạng được phép: "
        f"{listed}{more} / run refused: {len(refused)} host(s) outside the allowed networks: "
        f"{listed}{more}",
        hint=f"{netguard.ENV} = {netguard.allowed_nets_text() or '(all)'}; "
        "narrow the run with --limit/--unit, or add the network there if it is yours",
    )


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
    principal: Principal | None = None,
) -> RunOutcome:
    """Run ``playbook`` and record the run and its per-host recap.

    ``inventory`` is a dynamic-inventory dict (``{"all": {"hosts": ...}}``), a path to an
    inventory file/script, or ``None`` for the inventory core's script. ``secrets`` go to the
    child environment only. ``env`` adds non-secret variables (e.g. ``TLDOPS_DATABASE_URL`` for
    the inventory script). The session is flushed, not committed. ``principal`` (a person's
    run, e.g. from the API) is checked first: see :mod:`playbooks.authz`.

    >>> run_playbook(session, playbook="dc_baseline", runs_dir=Path("var/runs"), actor="cli",
    ...              secrets={}, limit="dc-*", check=True).status
    <RunStatus.successful: 'successful'>
    """
    import ansible_runner  # heavy import: only when a run really happens
    from ansible_runner.config.runner import RunnerConfig

    # A person's run (``principal``): it_staff on the unit's subtree; a run without a unit or
    # on an explicit inventory can reach any host, so it is for administrators.
    require_unit_write(session, principal, unit_id=unit_id)
    if inventory is not None:
        require_admin(principal)
    path = resolve_playbook(playbook)
    if inventory is None:
        if not INVENTORY_SCRIPT.is_file():
            raise RunFailed(
                "Chưa có inventory động / the dynamic inventory script is missing",
                hint=f"expected {INVENTORY_SCRIPT}; or pass an inventory explicitly",
            )
        inventory = INVENTORY_SCRIPT
    ensure_targets_allowed(
        inventory,
        limit=limit,
        env={
            **child_environment({}, {"ANSIBLE_NOCOLOR": "1"}, os.environ),
            **dict(env or {}),
        },
    )
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
    private_dir(runs_dir)
    run_dir = private_dir((runs_dir / str(run.id)).resolve())
    run.artifact_dir = str(run_dir)

    cmdline = []
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    rc_env = {
        "ANSIBLE_ROLES_PATH": str(ANSIBLE_DIR / "roles"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
    }
    # ``env`` (e.g. TLDOPS_DATABASE_URL for the inventory script, which may hold the database
    # password) travels with the secrets through the FIFO, never through ansible-runner.
    handed = {**dict(env or {}), **dict(secrets)}
    if isinstance(inventory, Mapping):
        # Kept with the run so `cat` shows what was targeted; it holds lookups, never secrets.
        inv_file = private_dir(run_dir / "inventory") / "hosts.json"
        write_private(inv_file, json.dumps(inventory, indent=1, sort_keys=True))
        inv_arg = str(inv_file)
    else:
        inv_arg = str(inventory)
    config = RunnerConfig(
        private_data_dir=str(run_dir),
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
    caller_env = dict(os.environ)
    config.env = child_environment(config.env, rc_env, caller_env)

    # ansible-playbook sits next to our interpreter in a venv that may not be on PATH.
    exe = config.command[0]
    if "/" not in exe:
        path_env = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        config.command[0] = shutil.which(exe, path=path_env) or exe
    feeder = _SecretFeeder(handed)
    # The launcher reads the FIFO and execs ansible-playbook with the secrets in its environment.
    config.command = [sys.executable, str(SECRET_EXEC), str(feeder.path), *config.command]

    tasks_done = 0
    hosts_seen: set[str] = set()
    hosts_failed: set[str] = set()
    reasons: dict[str, str] = {}  # the first failure of each host is what stopped it
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
                res = data.get("res")
                if host not in reasons and isinstance(res, Mapping):
                    reasons[host] = failure_reason(str(data.get("task") or current_task), res)
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
            hint=f"see {run_dir}",
        ) from exc
    finally:
        feeder.close()
        scrub = secret_values(handed, caller_env)
        scrub_artifacts(run_dir, scrub)
        lock_down(run_dir)

    hosts = tuple(
        replace(h, error=_scrub_text(reasons[h.host], scrub))
        if h.host in reasons and not h.succeeded
        else h
        for h in _recap(stats)
    )
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
                error=h.error,
            )
        )
    session.flush()
    return RunOutcome(
        run_id=run.id, status=run.status, rc=run.rc, hosts=hosts, artifact_dir=run_dir
    )
