"""keepalived VRRP pairs: who is master, split-brain detection, and timed failover drills.

The ``keepalived_pair`` role installs a notify hook that writes ``<STATE> <epoch> <instance>``
into a state file on every transition. tldops reads those files over SSH (paramiko)::

    statuses = pair_status(session, box=box)
    [(s.pair, s.health.value, [n.state.value for n in s.nodes]) for s in statuses]
    # [('portal', 'ok', ['MASTER', 'BACKUP'])]

    result = drill_failover(session, pair="portal", box=box, clock=now, actor="cli:root")
    result.failover_seconds   # stop of the master → service answers on the VIP from the backup

A drill stops keepalived on the master (the node's ``stop_command``), waits until another node
reports MASTER and the pair's ``check_url`` answers on the virtual IP from that node, restarts
the old master (``start_command``) and waits until the pair is healthy again. Every wait is
bounded. Results land in ``pb_drills`` and as a ``failover`` event; split-brain or no master
raises a ``split_brain`` event.
"""

from __future__ import annotations

import io
import shlex
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from inventory import netguard
from inventory.enums import Severity
from inventory.errors import Conflict, NotFound
from inventory.models import CredentialProfile
from inventory.secrets import SecretBox
from inventory.security import Principal, Role
from inventory.service import audit, record_event
from playbooks.authz import require_unit_write
from playbooks.enums import DrillKind, PairHealth, VrrpState
from playbooks.errors import FailoverError
from playbooks.models import Drill, VrrpNode, VrrpPair

SOURCE = "playbooks.failover"
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class NodeState:
    name: str
    state: VrrpState
    since: datetime | None
    error: str | None = None


@dataclass(frozen=True)
class PairStatus:
    pair: str
    vip: str
    health: PairHealth
    nodes: tuple[NodeState, ...]

    @property
    def master(self) -> str | None:
        masters = [n.name for n in self.nodes if n.state is VrrpState.master]
        return masters[0] if len(masters) == 1 else None


@dataclass(frozen=True)
class FailoverDrillResult:
    drill_id: int
    pair: str
    ok: bool
    old_master: str
    new_master: str | None
    failover_seconds: float | None  # stop → service answers on the VIP from the new master
    vip_moved_seconds: float | None  # stop → new master's notify hook reported MASTER
    restored_seconds: float | None  # restart → pair healthy again
    error: str | None


@dataclass(frozen=True)
class NodeSpec:
    """Input of :func:`define_pair` for one node."""

    name: str
    ssh_host: str
    state_file: str
    stop_command: str
    start_command: str
    ssh_port: int = 22
    ssh_profile: str | None = None
    priority: int = 100


def define_pair(
    session: Session,
    *,
    name: str,
    vip: str,
    virtual_router_id: int,
    unit_code: str,
    nodes: Sequence[NodeSpec],
    actor: str,
    check_url: str | None = None,
    principal: Principal | None = None,
) -> VrrpPair:
    """Create or replace the description of a keepalived pair (audited).

    >>> define_pair(session, name="portal", vip="198.18.40.100", virtual_router_id=51,
    ...             unit_code="TLD", actor="cli", nodes=[NodeSpec(name="web-a", ...), ...])
    """
    unit = require_unit_write(session, principal, unit_code=unit_code)
    assert unit is not None
    pair = session.scalar(select(VrrpPair).where(VrrpPair.name == name))
    if pair is not None and principal is not None:
        # Replacing a pair moves it: the caller must hold the pair's current subtree too.
        if not principal.can(Role.viewer, pair.unit.path):
            raise Conflict(
                f"Tên cặp {name!r} đã được dùng / pair name {name!r} is already in use",
                hint="choose another name",
            )
        principal.require(Role.it_staff, pair.unit.path)
    before = None
    if pair is None:
        pair = VrrpPair(name=name, vip=vip, virtual_router_id=virtual_router_id, unit_id=unit.id)
        session.add(pair)
    else:
        before = {"vip": pair.vip, "nodes": [n.name for n in pair.nodes]}
        pair.nodes.clear()
        session.flush()
    pair.vip, pair.virtual_router_id, pair.unit_id, pair.check_url = (
        vip,
        virtual_router_id,
        unit.id,
        check_url,
    )
    for spec in nodes:
        prof_id = None
        if spec.ssh_profile:
            prof = session.scalar(
                select(CredentialProfile).where(CredentialProfile.name == spec.ssh_profile)
            )
            if prof is None:
                raise NotFound(f"Không có hồ sơ {spec.ssh_profile!r} / no profile")
            prof_id = prof.id
        pair.nodes.append(
            VrrpNode(
                name=spec.name,
                priority=spec.priority,
                ssh_host=spec.ssh_host,
                ssh_port=spec.ssh_port,
                ssh_profile_id=prof_id,
                state_file=spec.state_file,
                stop_command=spec.stop_command,
                start_command=spec.start_command,
            )
        )
    session.flush()
    audit(
        session,
        actor=actor,
        action="create" if before is None else "update",
        entity="vrrp_pair",
        entity_key=name,
        before=before,
        after={"vip": vip, "nodes": [s.name for s in nodes]},
        unit_path=unit.path,
    )
    return pair


# -- SSH ---------------------------------------------------------------------------------------


def run_on_node(
    node: VrrpNode,
    command: str,
    *,
    box: SecretBox,
    timeout_s: float = 15.0,
    on_sent: Callable[[], None] | None = None,
    known_hosts: Path | None = None,
) -> tuple[int, str, str]:
    """Run ``command`` on ``node`` over SSH; returns (exit status, stdout, stderr).

    ``known_hosts`` (default: none) makes host keys strict, as for the config backup.
    ``on_sent`` is called right after the command went out (SSH already authenticated), so a
    drill can time from the real stop rather than from the SSH handshake.

    The profile may hold a ``password`` or a ``private_key`` (PEM); ``params.sudo`` prefixes
    state-file reads with ``sudo -n``.
    """
    import paramiko

    netguard.ensure_allowed(node.ssh_host, purpose="keepalived SSH")
    prof = node.ssh_profile
    secret = box.open(prof.secret_blob) if prof is not None else {}
    client = paramiko.SSHClient()
    if known_hosts is not None and known_hosts.is_file():
        # Same trust store as the config backup: unknown or changed keys are refused.
        client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        # No trust store configured (lab, first setup): accept, but paramiko warns.
        client.set_missing_host_key_policy(paramiko.WarningPolicy())
    pkey = None
    if secret.get("private_key"):
        pkey = paramiko.PKey.from_private_key(io.StringIO(str(secret["private_key"])))
    try:
        client.connect(
            node.ssh_host,
            port=node.ssh_port,
            username=(prof.username if prof else None) or "root",
            password=secret.get("password"),
            pkey=pkey,
            allow_agent=False,
            look_for_keys=pkey is None and not secret.get("password"),
            timeout=timeout_s,
            banner_timeout=timeout_s,
            auth_timeout=timeout_s,
        )
        _, stdout, stderr = client.exec_command(command, timeout=timeout_s)
        if on_sent is not None:
            on_sent()
        out = stdout.read().decode("utf-8", "replace")
        err = stderr.read().decode("utf-8", "replace")
        return stdout.channel.recv_exit_status(), out, err
    finally:
        client.close()


def _read_state(node: VrrpNode, *, box: SecretBox, known_hosts: Path | None = None) -> NodeState:
    sudo = bool(node.ssh_profile and (node.ssh_profile.params or {}).get("sudo"))
    cmd = f"cat -- {shlex.quote(node.state_file)}"
    if sudo:
        cmd = f"sudo -n {cmd}"
    try:
        rc, out, err = run_on_node(node, cmd, box=box, timeout_s=5, known_hosts=known_hosts)
    except netguard.TargetNotAllowed as exc:
        return NodeState(node.name, VrrpState.unknown, None, exc.message)
    except Exception as exc:
        return NodeState(node.name, VrrpState.unknown, None, f"{type(exc).__name__}: {exc}")
    if rc != 0:
        return NodeState(node.name, VrrpState.unknown, None, err.strip() or f"exit {rc}")
    parts = out.split()
    try:
        state = VrrpState(parts[0].upper())
    except (IndexError, ValueError):
        return NodeState(node.name, VrrpState.unknown, None, f"unreadable state {out!r}")
    since = None
    if len(parts) > 1 and parts[1].isdigit():
        since = datetime.fromtimestamp(int(parts[1]), UTC)
    return NodeState(node.name, state, since)


def judge(nodes: Sequence[NodeState]) -> PairHealth:
    """Exactly one master is healthy; two is split-brain; none is an outage.

    >>> judge([NodeState("a", VrrpState.master, None), NodeState("b", VrrpState.master, None)])
    <PairHealth.split_brain: 'split_brain'>
    """
    masters = sum(1 for n in nodes if n.state is VrrpState.master)
    if masters > 1:
        return PairHealth.split_brain
    if masters == 0:
        return PairHealth.no_master
    if any(n.state is VrrpState.unknown for n in nodes):
        return PairHealth.degraded
    return PairHealth.ok


def _load_pairs(session: Session, name: str | None) -> list[VrrpPair]:
    q = (
        select(VrrpPair)
        .options(selectinload(VrrpPair.nodes).selectinload(VrrpNode.ssh_profile))
        .order_by(VrrpPair.name)
    )
    if name is not None:
        q = q.where(VrrpPair.name == name)
    pairs = list(session.scalars(q))
    if name is not None and not pairs:
        raise NotFound(
            f"Không có cặp keepalived {name!r} / no keepalived pair {name!r}",
            hint="list pairs with `tldops failover status`",
        )
    return pairs


def read_pair(pair: VrrpPair, *, box: SecretBox, known_hosts: Path | None = None) -> PairStatus:
    """Read every node's state file (no database writes)."""
    states = tuple(_read_state(n, box=box, known_hosts=known_hosts) for n in pair.nodes)
    return PairStatus(pair=pair.name, vip=pair.vip, health=judge(states), nodes=states)


def pair_status(
    session: Session,
    *,
    box: SecretBox,
    name: str | None = None,
    clock: Clock | None = None,
    known_hosts: Path | None = None,
) -> list[PairStatus]:
    """Read all pairs (or ``name``), remember each node's last state, and raise a
    ``split_brain`` event for pairs with two masters or none."""
    now = (clock or (lambda: datetime.now(UTC)))()
    out: list[PairStatus] = []
    for pair in _load_pairs(session, name):
        status = read_pair(pair, box=box, known_hosts=known_hosts)
        for node, st in zip(pair.nodes, status.nodes, strict=True):
            node.last_state = st.state
            if st.state is not VrrpState.unknown:
                node.last_seen_at = now
        if status.health in (PairHealth.split_brain, PairHealth.no_master):
            record_event(
                session,
                source=SOURCE,
                kind="split_brain",
                severity=Severity.critical,
                unit_id=pair.unit_id,
                message=f"{pair.name} ({pair.vip}): {status.health.value} "
                + ", ".join(f"{n.name}={n.state.value}" for n in status.nodes),
                data={
                    "target": pair.name,
                    "vip": pair.vip,
                    "health": status.health.value,
                    "states": {n.name: n.state.value for n in status.nodes},
                },
                at=now,
            )
        out.append(status)
    session.flush()
    return out


# -- drill -------------------------------------------------------------------------------------


def http_probe(url: str, *, timeout_s: float = 1.0) -> str | None:
    """Body of a GET on ``url`` or ``None`` when it does not answer 2xx in time (or its host
    is outside the allowed networks)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if not netguard.resolve_allowed(host, netguard.allowed_nets()):
        return None
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            if 200 <= resp.status < 300:
                return str(resp.read(4096).decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return None


def _wait(
    predicate: Callable[[], bool], *, timeout_s: float, interval_s: float = 0.1
) -> float | None:
    """Seconds until ``predicate`` holds, or ``None`` after ``timeout_s`` (bounded loop)."""
    start = time.monotonic()
    for _ in range(int(timeout_s / interval_s) + 1):
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            break
        time.sleep(interval_s)
    return None


def drill_failover(
    session: Session,
    *,
    pair: str,
    box: SecretBox,
    clock: Clock,
    actor: str,
    timeout_s: float = 30.0,
    probe: Callable[[str], str | None] | None = None,
    known_hosts: Path | None = None,
    principal: Principal | None = None,
) -> FailoverDrillResult:
    """Stop the master, time the takeover on the VIP, restore, and record the drill.

    ``probe(check_url)`` returns the body served on the VIP; the node serving it is recognised
    by its name in the body (each node's page names itself), so "the VIP moved" is observed on
    the wire, not inferred from state files alone.
    """
    if probe is None:
        # Short timeouts: while the VIP is between nodes a probe hangs, and the drill's
        # resolution is the probe interval.
        def probe(url: str) -> str | None:
            return http_probe(url, timeout_s=0.25)

    (vp,) = _load_pairs(session, pair)
    if principal is not None:
        if not principal.can(Role.viewer, vp.unit.path):  # as if it did not exist
            raise NotFound(
                f"Không có cặp keepalived {pair!r} / no keepalived pair {pair!r}",
                hint="list pairs with `tldops failover status`",
            )
        principal.require(Role.it_staff, vp.unit.path)
    # Every node and the VIP's check URL must be reachable under the allowed networks before
    # anything is stopped: a drill that cannot watch the takeover must not start.
    nets = netguard.allowed_nets()
    for n in vp.nodes:
        netguard.ensure_allowed(n.ssh_host, nets, purpose=f"keepalived node {n.name}")
    if vp.check_url:
        netguard.ensure_allowed(
            urllib.parse.urlsplit(vp.check_url).hostname or "", nets, purpose="check URL"
        )
    started = clock()
    before = read_pair(vp, box=box, known_hosts=known_hosts)
    if before.health is not PairHealth.ok or before.master is None:
        raise FailoverError(
            f"Cặp {pair} không ổn định trước diễn tập ({before.health.value}) / "
            f"pair {pair} is not healthy before the drill ({before.health.value})",
            hint="fix the pair first; `tldops failover status` shows each node",
        )
    old = next(n for n in vp.nodes if n.name == before.master)
    others = [n for n in vp.nodes if n.name != old.name]
    url = vp.check_url

    new_master: str | None = None
    vip_moved = failover = restored = None
    error: str | None = None
    # The stop runs in a thread so the takeover is timed from the moment the stop is issued,
    # not from when the (possibly slow) shutdown command returns.
    stop_result: list[tuple[int, str, str]] = []
    stop_error: list[str] = []

    def do_stop() -> None:
        try:
            stop_result.append(
                run_on_node(
                    old,
                    old.stop_command,
                    box=box,
                    timeout_s=timeout_s,
                    on_sent=sent.set,
                    known_hosts=known_hosts,
                )
            )
        except Exception as exc:
            stop_error.append(f"{type(exc).__name__}: {exc}")

    sent = threading.Event()
    stopper = threading.Thread(target=do_stop, daemon=True)
    stopper.start()
    sent.wait(timeout=timeout_s)
    t_stop = time.monotonic()
    deadline = t_stop + timeout_s
    while time.monotonic() < deadline and (vip_moved is None or failover is None):
        if stop_error or (stop_result and stop_result[0][0] != 0):
            break
        if failover is None and url is not None:
            body = probe(url)
            if body is not None and any(n.name in body for n in others):
                failover = time.monotonic() - t_stop
        if vip_moved is None:
            for n in others:
                if _read_state(n, box=box, known_hosts=known_hosts).state is VrrpState.master:
                    new_master, vip_moved = n.name, time.monotonic() - t_stop
                    break
        if failover is None and url is None:
            failover = vip_moved
        time.sleep(0.05)
    stopper.join(timeout=max(1.0, deadline - time.monotonic()))
    if stop_error:
        error = f"stop on {old.name} failed: {stop_error[0]}"
    elif not stop_result:
        error = f"stop on {old.name} did not return within {timeout_s:.0f}s"
    elif stop_result[0][0] != 0:
        error = f"stop on {old.name} failed: {stop_result[0][2].strip()[:200]}"
    elif vip_moved is None or new_master is None:
        error = f"no other node became MASTER within {timeout_s:.0f}s"
    elif failover is None:
        error = f"{url} did not answer from {new_master} within {timeout_s:.0f}s"
    # Always try to put the old master back, even after a failed takeover.
    rc, _out, err = run_on_node(old, old.start_command, box=box, known_hosts=known_hosts)
    if rc != 0:
        error = (error + "; " if error else "") + f"restart of {old.name} failed: {err.strip()}"
    else:
        # keepalived preempts by default: the highest priority node must be master again.
        top = max(n.priority for n in vp.nodes)
        leaders = {n.name for n in vp.nodes if n.priority == top}

        def back_to_normal() -> bool:
            st = read_pair(vp, box=box, known_hosts=known_hosts)
            return st.health is PairHealth.ok and (len(leaders) > 1 or st.master in leaders)

        restored = _wait(back_to_normal, timeout_s=timeout_s, interval_s=0.1)
        if restored is None:
            error = (error + "; " if error else "") + "pair not healthy again after restart"
    ok = error is None
    drill = Drill(
        kind=DrillKind.failover,
        target=vp.name,
        started_at=started,
        finished_at=clock(),
        ok=ok,
        measured_seconds=round(failover, 3) if failover is not None else None,
        objective_seconds=None,
        met_objective=ok,
        actor=actor,
        details={
            "vip": vp.vip,
            "old_master": old.name,
            "new_master": new_master,
            "vip_moved_seconds": round(vip_moved, 3) if vip_moved is not None else None,
            "restored_seconds": round(restored, 3) if restored is not None else None,
            "check_url": url,
            **({"error": error} if error else {}),
        },
    )
    session.add(drill)
    session.flush()
    record_event(
        session,
        source=SOURCE,
        kind="failover",
        severity=Severity.info if ok else Severity.critical,
        unit_id=vp.unit_id,
        message=(
            f"{vp.name}: drill {old.name} → {new_master} in {failover:.2f}s"
            if ok and failover is not None
            else f"{vp.name}: failover drill failed: {error}"
        ),
        data={
            "target": vp.name,
            "vip": vp.vip,
            "drill": True,
            "drill_id": drill.id,
            "old_master": old.name,
            "new_master": new_master,
            "failover_seconds": drill.measured_seconds,
            "ok": ok,
        },
    )
    return FailoverDrillResult(
        drill_id=drill.id,
        pair=vp.name,
        ok=ok,
        old_master=old.name,
        new_master=new_master,
        failover_seconds=failover,
        vip_moved_seconds=vip_moved,
        restored_seconds=restored,
        error=error,
    )
