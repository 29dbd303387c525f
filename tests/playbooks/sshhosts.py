"""Real SSH test hosts on loopback: a non-root user with key + password login and sudo, and
``sshd`` instances with their own config and host keys (``UsePAM no``), started and stopped by
the fixtures in ``conftest.py``. Ports come from engineer E's range 22000–22999.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PORT_RANGE = (22000, 22999)
USER = "tpbuser"
PASSWORD = "tpb-Pass-2026!"
SUDOERS = Path("/etc/sudoers.d/tldops-test-tpbuser")

# What the fake network device prints for `show running-config`: a volatile timestamp line, a
# secret, and configuration proper. TPB_MODE (set per sshd with SetEnv) changes its behaviour.
SHOW_SCRIPT = r"""#!/bin/bash
# Stand-in for a switch CLI: `show running-config` prints ~/device/running.cfg with a fresh
# timestamp line. TPB_MODE=slow never finishes (timeout test).
if [ "$1" != "running-config" ]; then echo "% Invalid input"; exit 1; fi
if [ "${TPB_MODE:-}" = slow ]; then sleep 600; fi
echo "Building configuration..."
echo "! Last configuration change at $(date '+%H:%M:%S.%N %Z %a %b %d %Y')"
echo "ntp clock-period $RANDOM$RANDOM"
cat "$HOME/device/${TPB_DEVICE:-default}.cfg"
echo "end"
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1 inside this engineer's range."""
    ports = list(range(*PORT_RANGE))
    random.shuffle(ports)
    for port in ports[:300]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 22000-22999")


def wait_port(port: int, *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"sshd on port {port} did not come up in {timeout}s")


@dataclass(frozen=True)
class TestUser:
    __test__ = False

    name: str
    password: str
    home: Path
    key: Path  # private key (controller side)
    pubkey: str


def create_user(workdir: Path) -> TestUser:
    """useradd a non-root login user with key auth, a password and passwordless sudo."""
    if subprocess.run(["id", USER], capture_output=True).returncode == 0:
        delete_user()
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", USER], check=True)
    subprocess.run(["chpasswd"], input=f"{USER}:{PASSWORD}", text=True, check=True)
    SUDOERS.write_text(f"{USER} ALL=(ALL) NOPASSWD: ALL\n")
    SUDOERS.chmod(0o440)
    key = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    home = Path(f"/home/{USER}")
    (home / ".ssh").mkdir(mode=0o700, exist_ok=True)
    pub = key.with_suffix(".pub").read_text()
    (home / ".ssh" / "authorized_keys").write_text(pub)
    (home / "bin").mkdir(exist_ok=True)
    (home / "bin" / "show").write_text(SHOW_SCRIPT)
    (home / "bin" / "show").chmod(0o755)
    (home / "device").mkdir(exist_ok=True)
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(home)], check=True)
    return TestUser(name=USER, password=PASSWORD, home=home, key=key, pubkey=pub.strip())


def delete_user() -> None:
    subprocess.run(["pkill", "-KILL", "-u", USER], capture_output=True)
    subprocess.run(["userdel", "-r", "-f", USER], capture_output=True)
    SUDOERS.unlink(missing_ok=True)


@dataclass
class Sshd:
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes]
    host_key_pub: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key_pub}"


def start_sshd(workdir: Path, *, set_env: dict[str, str] | None = None) -> Sshd:
    """Start ``sshd -D`` on a free loopback port with its own host key and config."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    workdir.mkdir(parents=True, exist_ok=True)
    hostkey = workdir / "ssh_host_ed25519_key"
    if not hostkey.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)], check=True
        )
    port = free_port()
    env_line = ""
    if set_env:
        env_line = "SetEnv " + " ".join(f"{k}={v}" for k, v in set_env.items())
    cfg = workdir / "sshd_config"
    cfg.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {hostkey}
PidFile {workdir / "sshd.pid"}
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
StrictModes no
AllowUsers {USER}
MaxStartups 50
LogLevel ERROR
Subsystem sftp internal-sftp
{env_line}
"""
    )
    log = open(workdir / "sshd.log", "wb")  # noqa: SIM115 - lives as long as the daemon
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(cfg)], stdout=log, stderr=log)
    try:
        wait_port(port)
    except RuntimeError:
        proc.kill()
        raise
    pub = " ".join(hostkey.with_suffix(".pub").read_text().split()[:2])
    return Sshd(port=port, workdir=workdir, proc=proc, host_key_pub=pub)


def rmtree_root(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
