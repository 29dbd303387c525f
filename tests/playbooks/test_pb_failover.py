"""Real keepalived in two network namespaces on a bridge, configured by the keepalived_pair
role (run through ansible-runner), read and driven by tldops over SSH (the loopback sshd).

Topology (torn down at the end even on failure)::

    root ns: tpbbr0 198.18.40.1/24
      ├── tpbA-h ⇄ eth0 in netns tpbA 198.18.40.11/24   keepalived prio 150, HTTP :22080
      └── tpbB-h ⇄ eth0 in netns tpbB 198.18.40.12/24   keepalived prio 100, HTTP :22080
    VIP 198.18.40.100 (VRRP id 51)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.db import make_engine, make_sessionmaker
from inventory.enums import CredentialKind, UnitKind
from inventory.models import OpsEvent
from inventory.secrets import SecretBox
from inventory.service import InventoryService
from playbooks.enums import PairHealth, RunStatus, VrrpState
from playbooks.failover import NodeSpec, define_pair, drill_failover, http_probe, pair_status
from playbooks.models import Drill
from playbooks.runner import run_playbook
from tests.playbooks.sshhosts import Sshd, TestUser

VIP = "198.18.40.100"
HTTP_PORT = 22080
NODES = {"A": ("198.18.40.11", 150), "B": ("198.18.40.12", 100)}


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


def _teardown_net() -> None:
    for n in NODES:
        for pidfile in Path("/tmp").glob(f"tpb-ka-{n}-*.pid"):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
        # Anything still running in the namespace (http server, keepalived).
        pids = sh("ip", "netns", "pids", f"tpb{n}", check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        sh("ip", "netns", "del", f"tpb{n}", check=False)
        sh("ip", "link", "del", f"tpb{n}-h", check=False)
    sh("ip", "link", "del", "tpbbr0", check=False)


@dataclass(frozen=True)
class Lab:
    roots: dict[str, Path]
    start_cmd: dict[str, str]
    stop_cmd: dict[str, str]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    for tool in ("keepalived", "ip"):
        if sh("which", tool, check=False).returncode != 0:
            pytest.fail(f"{tool} missing; `make test` installs it")
    _teardown_net()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        sh("ip", "link", "add", "tpbbr0", "type", "bridge")
        sh("ip", "addr", "add", "198.18.40.1/24", "dev", "tpbbr0")
        sh("ip", "link", "set", "tpbbr0", "up")
        roots: dict[str, Path] = {}
        for n, (addr, _prio) in NODES.items():
            ns = f"tpb{n}"
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", f"{ns}-h", "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", f"{ns}-h", "master", "tpbbr0", "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{addr}/24", "dev", "eth0")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            root = tmp_path / f"node{n}"
            www = root / "www"
            www.mkdir(parents=True)
            (www / "index.html").write_text(f"portal served by node-{n}\n")
            roots[n] = root
            procs.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        "python3",
                        "-m",
                        "http.server",
                        str(HTTP_PORT),
                        "--bind",
                        "0.0.0.0",
                        "--directory",
                        str(www),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        start_cmd = {
            n: f"sudo -n ip netns exec tpb{n} /usr/sbin/keepalived -P "
            f"-f {roots[n]}/etc/keepalived/keepalived.conf "
            f"-p /tmp/tpb-ka-{n}-main.pid -r /tmp/tpb-ka-{n}-vrrp.pid"
            for n in NODES
        }
        # Like `systemctl stop`, return only once the daemon is gone: a restart while the old
        # process still shuts down would find its pid file and refuse to start.
        stop_cmd = {
            n: "sudo -n sh -c 'p=$(cat /tmp/tpb-ka-{n}-main.pid); kill $p; "
            "for i in $(seq 100); do kill -0 $p 2>/dev/null || exit 0; sleep 0.1; done; "
            "exit 1'".replace("{n}", n)
            for n in NODES
        }
        yield Lab(roots=roots, start_cmd=start_cmd, stop_cmd=stop_cmd)
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=5)
        _teardown_net()


def test_keepalived_pair_status_drill_and_split_brain(
    lab: Lab, sshd: Sshd, ssh_user: TestUser, sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    session: Session = make_sessionmaker(engine)()
    try:
        _run(lab, sshd, ssh_user, session, tmp_path)
    finally:
        session.close()
        engine.dispose()


def _run(lab: Lab, sshd: Sshd, ssh_user: TestUser, session: Session, tmp_path: Path) -> None:
    # 1. The role renders keepalived.conf, health check and notify hook for both nodes.
    inventory = {
        "all": {
            "hosts": {
                f"node-{n}": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": "/usr/bin/python3",
                    "tldops_root": str(lab.roots[n]),
                    "keepalived_priority": prio,
                    "keepalived_interface": "eth0",
                    "keepalived_vip": VIP,
                    "keepalived_check_port": HTTP_PORT,
                    "keepalived_state_file": "/state",
                    "keepalived_state_log": "/transitions.log",
                    "keepalived_script_security": False,
                    "keepalived_install_packages": False,
                    "keepalived_reload_command": "",
                }
                for n, (_addr, prio) in NODES.items()
            }
        }
    }
    run = run_playbook(
        session,
        playbook="keepalived_pair",
        runs_dir=tmp_path / "runs",
        actor="test",
        secrets={},
        inventory=inventory,
    )
    assert run.status is RunStatus.successful, (run.artifact_dir / "stdout").read_text()
    conf_a = (lab.roots["A"] / "etc/keepalived/keepalived.conf").read_text()
    assert "priority 150" in conf_a and f"{VIP}/24 dev eth0" in conf_a

    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    kh = tmp_path / "known_hosts"  # strict host keys, as in production
    kh.write_text(sshd.known_hosts_line() + "\n")
    svc = InventoryService(session, actor="test")
    svc.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
    svc.create_credential(
        name="ssh-dc",
        kind=CredentialKind.ssh,
        username=ssh_user.name,
        box=box,
        secret={"password": ssh_user.password},
        params={"sudo": True},
    )
    define_pair(
        session,
        name="portal",
        vip=VIP,
        virtual_router_id=51,
        unit_code="TLD",
        actor="test",
        check_url=f"http://{VIP}:{HTTP_PORT}/",
        nodes=[
            NodeSpec(
                name=f"node-{n}",
                ssh_host="127.0.0.1",
                ssh_port=sshd.port,
                ssh_profile="ssh-dc",
                state_file=str(lab.roots[n] / "state"),
                priority=prio,
                stop_command=lab.stop_cmd[n],
                start_command=lab.start_cmd[n],
            )
            for n, (_addr, prio) in NODES.items()
        ],
    )
    session.commit()

    # 2. Start both keepalived daemons (through the same SSH path the drill uses).
    for n in NODES:
        out = sh("sh", "-c", lab.start_cmd[n].removeprefix("sudo -n "))
        assert out.returncode == 0, out.stderr

    def healthy() -> bool:
        st = pair_status(session, box=box, name="portal", known_hosts=kh)[0]
        return st.health is PairHealth.ok and st.master == "node-A"

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not healthy():
        time.sleep(0.3)
    status = pair_status(session, box=box, known_hosts=kh)[0]
    assert status.health is PairHealth.ok, status
    assert [n.state for n in status.nodes] == [VrrpState.master, VrrpState.backup]
    body = None
    for _ in range(50):
        body = http_probe(f"http://{VIP}:{HTTP_PORT}/")
        if body and "node-A" in body:
            break
        time.sleep(0.1)
    assert body is not None and "node-A" in body

    # 3. The drill: stop A, B takes the VIP and serves the portal, A comes back.
    result = drill_failover(
        session, pair="portal", box=box, clock=_clock, actor="test", known_hosts=kh
    )
    session.commit()
    assert result.ok, result.error
    assert result.old_master == "node-A" and result.new_master == "node-B"
    assert result.failover_seconds is not None and result.failover_seconds < 10
    print(
        f"failover measured: VIP moved {result.vip_moved_seconds:.2f}s, "
        f"service answered {result.failover_seconds:.2f}s, restored {result.restored_seconds}"
    )
    drill = session.scalar(select(Drill).where(Drill.id == result.drill_id))
    assert drill is not None and drill.details["new_master"] == "node-B"
    log_b = (lab.roots["B"] / "transitions.log").read_text()
    assert "MASTER" in log_b  # B's notify hook really fired
    final = pair_status(session, box=box, known_hosts=kh)[0]
    assert final.master == "node-A"  # preempted back after the restart

    # 4. Split-brain: cut B off the bridge; both now claim the VIP.
    sh("ip", "link", "set", "tpbB-h", "nomaster")
    split = None
    for _ in range(100):
        split = pair_status(session, box=box, name="portal", known_hosts=kh)[0]
        if split.health is PairHealth.split_brain:
            break
        time.sleep(0.1)
    assert split is not None and split.health is PairHealth.split_brain
    session.commit()
    kinds = [e.kind for e in session.scalars(select(OpsEvent).order_by(OpsEvent.id))]
    assert "failover" in kinds and "split_brain" in kinds


def _clock() -> datetime:
    return datetime.now(UTC)
