"""An officer gets one device polled and reachable by Ansible with nothing but ``tldops``
commands: import the unit and the device, store two credential profiles, ``device set``, then
``inventory ansible --host`` and ``monitor poll --once`` against a real SNMP agent (snmpsim).

Every step is the installed ``tldops`` executable in a subprocess, with no
``TLDOPS_SECRET_KEY`` in its environment: the key comes from ``var/secret.key`` the way
``tldops up`` (``make demo``) leaves it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from inventory.db import make_engine, session_scope
from inventory.models import Device
from inventory.secrets import load_secret_key
from monitoring.models import PollState, PollStatus
from ops_cli.cli import app
from tests.monitoring.monpeers import Snmpsim, snmpsim

__all__ = ["snmpsim"]

TLDOPS = str(Path(sys.executable).parent / "tldops")
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    var = tmp_path / "var"
    monkeypatch.delenv("TLDOPS_SECRET_KEY")
    load_secret_key(var, create=True)  # what `tldops up` does on first start
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLDOPS_")}
    env.update(
        {
            "TLDOPS_DATABASE_URL": sqlite_url,
            "TLDOPS_VAR_DIR": str(var),
            "TLDOPS_ALLOWED_NETS": "127.0.0.0/8",
            "TLDOPS_MONITOR_TIMEOUT": "1",
            "TLDOPS_MONITOR_RETRIES": "1",
            "TLDOPS_ACTOR": "cli:officer",
            "COLUMNS": "200",
        }
    )
    assert "TLDOPS_SECRET_KEY" not in env
    monkeypatch.delenv("TLDOPS_SECRET_KEY")  # load_secret_key put it in ours

    def invoke(
        *args: str, ok: bool = True, sub: bool = False, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """``tldops ARGS`` in a subprocess (``sub``) or in-process through CliRunner (the
        machine is shared; a subprocess costs seconds). Either way TLDOPS_SECRET_KEY is unset."""
        if sub:
            proc = subprocess.run(
                [TLDOPS, *args],
                env={**env, **extra},
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        else:
            child: dict[str, str | None] = {
                k: v for k, v in env.items() if k.startswith("TLDOPS_") or k == "COLUMNS"
            }
            result = CliRunner().invoke(
                app, list(args), env={**child, **extra, "TLDOPS_SECRET_KEY": None}
            )
            proc = subprocess.CompletedProcess(
                list(args), result.exit_code, result.stdout, result.stderr
            )
        if ok:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    return invoke


def _csv_for(run: Run, kind: str, rows: list[dict[str, str]], path: Path) -> Path:
    """A CSV with the columns ``tldops inventory export`` uses (values by column name)."""
    header = next(csv.reader(io.StringIO(run("inventory", "export", "--kind", kind).stdout)))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({col: row.get(col, "") for col in header})
    return path


def _seed(run: Run, tmp_path: Path) -> None:
    units = _csv_for(
        run,
        "units",
        [
            {"code": "LAB", "name": "Tổng Liên đoàn (thử)", "level": "1", "kind": "central"},
            {
                "code": "LAB-HN",
                "name": "LĐLĐ Hà Nội (thử)",
                "parent_code": "LAB",
                "level": "2",
                "kind": "province_federation",
            },
        ],
        tmp_path / "units.csv",
    )
    run("inventory", "import", "--kind", "units", str(units))
    officers = _csv_for(
        run,
        "officers",
        [
            {
                "code": "LAB-001",
                "full_name": "Nguyễn Văn An",
                "unit_code": "LAB-HN",
                "full_time": "yes",
            }
        ],
        tmp_path / "officers.csv",
    )
    run("inventory", "import", "--kind", "officers", str(officers))
    devices = _csv_for(
        run,
        "devices",
        [
            {
                "asset_tag": "LAB-SW-1",
                "kind": "switch",
                "unit_code": "LAB-HN",
                "hostname": "lab-sw1",
                "mgmt_ip": "127.0.0.1",
                "status": "active",
            }
        ],
        tmp_path / "devices.csv",
    )
    run("inventory", "import", "--kind", "devices", str(devices))


def _poll_state(sqlite_url: str) -> PollState | None:
    engine = make_engine(sqlite_url)
    try:
        with session_scope(engine) as s:
            dev_id = s.scalar(select(Device.id).where(Device.asset_tag == "LAB-SW-1"))
            state = s.scalar(select(PollState).where(PollState.device_id == dev_id))
            if state is not None:
                s.expunge(state)
            return state
    finally:
        engine.dispose()


def test_device_set_reaches_ansible_and_the_poller(
    run: Run, tmp_path: Path, sqlite_url: str, snmpsim: Snmpsim
) -> None:
    _seed(run, tmp_path)
    # The community selects the simulated device; the secret comes from an env var.
    run(
        "inventory", "credential", "create", "snmp-lab", "--kind", "snmp_v2c",
        "--community-env", "LAB_COMMUNITY", "--port", str(snmpsim.port),
        LAB_COMMUNITY="switch", sub=True,
    )  # fmt: skip
    run(
        "inventory", "credential", "create", "ssh-lab", "--kind", "ssh", "--username", "netops",
        "--password-env", "LAB_PW", "--port", "2222",
        LAB_PW="Mat-khau-77",
    )  # fmt: skip

    bad = run(
        "inventory", "device", "set", "LAB-SW-1", "--platform", "nope", "--snmp-port", "0",
        "--snmp-profile", "ssh-lab", ok=False,
    )  # fmt: skip
    assert bad.returncode == 2
    for field in ("platform", "snmp_port", "snmp_profile"):
        assert f"cột/column {field}" in bad.stderr
    assert "Traceback" not in bad.stderr

    run(
        "inventory", "device", "set", "LAB-SW-1", "--platform", "cisco_ios",
        "--snmp-profile", "snmp-lab", "--ssh-profile", "ssh-lab",
        "--snmp-port", str(snmpsim.port), "--monitored", "có",
    )  # fmt: skip
    shown = run("inventory", "device", "show", "LAB-SW-1").stdout
    assert "snmp-lab" in shown and "ssh-lab" in shown and str(snmpsim.port) in shown

    hv = json.loads(run("inventory", "ansible", "--host", "lab-sw1", sub=True).stdout)
    assert hv["ansible_host"] == "127.0.0.1"
    assert hv["ansible_user"] == "netops" and hv["ansible_port"] == 2222
    assert hv["ansible_connection"] == "ansible.netcommon.network_cli"
    assert hv["ansible_network_os"] == "cisco.ios.ios"
    assert hv["ansible_password"] == (
        "{{ lookup('ansible.builtin.env', 'TLDOPS_CRED_SSH_LAB_PASSWORD') }}"
    )
    assert hv["tldops_snmp_profile"] == "snmp-lab"
    assert "Mat-khau-77" not in json.dumps(hv)

    cred = run("inventory", "credential", "show", "ssh-lab").stdout
    assert "password" in cred and "Mat-khau-77" not in cred
    listing = run("inventory", "credential", "list").stdout
    assert "snmp-lab" in listing and "switch" not in listing.replace("snmp-lab", "")

    poll = run("monitor", "poll", "--once", "--no-checks", sub=True)
    assert "up 1" in poll.stdout, poll.stdout
    state = _poll_state(sqlite_url)
    assert state is not None and state.status is PollStatus.up
    assert state.sys_name == "hn-sw-01"  # what the simulated switch answers

    # Removing a profile in use is refused, naming how many devices use it.
    busy = run("inventory", "credential", "remove", "snmp-lab", ok=False)
    assert busy.returncode == 2 and "1 device" in busy.stderr


def test_contacts_from_the_command_line(run: Run, tmp_path: Path) -> None:
    _seed(run, tmp_path)
    run("inventory", "contact", "add", "LAB-HN", "it", "LAB-001")
    run("inventory", "contact", "add", "lab-hn", "đào tạo", "lab-001")
    listing = run("inventory", "contact", "list", "LAB-HN").stdout
    assert "CNTT" in listing and "Đào tạo" in listing and "Nguyễn Văn An" in listing
    bad = run("inventory", "contact", "add", "LAB-HN", "boss", "LAB-001", ok=False)
    assert bad.returncode == 2 and "cột/column role" in bad.stderr
    run("inventory", "contact", "remove", "LAB-HN", "training", "LAB-001")
    only_it = run("inventory", "contact", "list", "LAB-HN").stdout
    assert "đào tạo" not in only_it and "CNTT" in only_it
    gone = run("inventory", "contact", "remove", "LAB-HN", "training", "LAB-001", ok=False)
    assert gone.returncode == 2


def test_credential_rotate_and_ssh_key_from_file(run: Run, tmp_path: Path) -> None:
    _seed(run, tmp_path)
    key = tmp_path / "id_lab"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "pp-lab", "-f", str(key)],
        check=True,
        timeout=30,
    )
    run(
        "inventory", "credential", "create", "ssh-key", "--kind", "ssh", "--username", "ops",
        "--private-key-file", str(key), "--passphrase-env", "KEY_PASS",
        KEY_PASS="pp-lab",
    )  # fmt: skip
    run("inventory", "device", "set", "LAB-SW-1", "--ssh-profile", "ssh-key", "--platform", "linux")
    hv = json.loads(run("inventory", "ansible", "--host", "lab-sw1").stdout)
    assert hv["ansible_ssh_private_key"] == (
        "{{ lookup('ansible.builtin.env', 'TLDOPS_CRED_SSH_KEY_PRIVATE_KEY') }}"
    )
    assert "TLDOPS_CRED_SSH_KEY_PASSPHRASE" in hv["ansible_ssh_private_key_passphrase"]
    assert "ansible_password" not in hv
    shown = run("inventory", "credential", "show", "ssh-key").stdout
    assert "private_key" in shown and "BEGIN" not in shown and "pp-lab" not in shown

    run(
        "inventory", "credential", "rotate", "ssh-key", "--password-env", "NEW_PW", "--replace",
        NEW_PW="pw-new",
    )  # fmt: skip
    shown = run("inventory", "credential", "show", "ssh-key").stdout
    assert "password" in shown and "private_key" not in shown
    missing = run(
        "inventory", "credential", "rotate", "ssh-key", "--password-env", "UNSET_VAR", ok=False
    )
    assert missing.returncode != 0 and "UNSET_VAR" in missing.stderr
    run("inventory", "device", "set", "LAB-SW-1", "--ssh-profile", "none")
    run("inventory", "credential", "remove", "ssh-key")
    assert "ssh-key" not in run("inventory", "credential", "list").stdout


def test_device_snmp_port_overrides_the_profile_port(
    run: Run, tmp_path: Path, sqlite_url: str, snmpsim: Snmpsim
) -> None:
    _seed(run, tmp_path)
    run(
        "inventory", "credential", "create", "snmp-lab", "--kind", "snmp_v2c",
        "--community-env", "LAB_COMMUNITY", "--port", "9",  # discard: nothing answers there
        LAB_COMMUNITY="switch",
    )  # fmt: skip
    run(
        "inventory", "device", "set", "LAB-SW-1", "--snmp-profile", "snmp-lab",
        "--snmp-port", str(snmpsim.port),
    )  # fmt: skip
    run("monitor", "poll", "--once", "--no-checks")
    state = _poll_state(sqlite_url)
    assert state is not None and state.status is PollStatus.up


def test_unmonitored_device_is_not_polled(
    run: Run, tmp_path: Path, sqlite_url: str, snmpsim: Snmpsim
) -> None:
    _seed(run, tmp_path)
    run(
        "inventory", "credential", "create", "snmp-lab", "--kind", "snmp_v2c",
        "--community-env", "LAB_COMMUNITY", "--port", str(snmpsim.port),
        LAB_COMMUNITY="switch",
    )  # fmt: skip
    run(
        "inventory", "device", "set", "LAB-SW-1", "--snmp-profile", "snmp-lab",
        "--monitored", "no",
    )  # fmt: skip
    run("monitor", "poll", "--once", "--no-checks")
    assert _poll_state(sqlite_url) is None
