"""CPU cost of our SNMP poller per device poll vs prometheus-snmp-exporter, in the same run.

Both poll the SAME agent (a Net-SNMP snmpd on loopback) for the SAME module (system +
IF-MIB ifTable/ifXTable). Our cost is this process's CPU time (``time.process_time``) around
the polls; the exporter's is its own CPU (utime + stime from ``/proc/<pid>/stat``) around the
same number of scrapes of ``/snmp?module=…&target=…``. The ratio ours/exporter is printed.

Then polls/second at scale: ``--agents`` simulated devices (default 1,000) served by snmpsim
(one recording copied under 1,000 community names, on ``--sim-procs`` responder processes),
polled by one poller with bounded concurrency; our CPU per poll is printed too, since the
wall-clock rate is bounded by the simulator (pure Python) on a small machine.

    .venv/bin/python bench/bench_poller.py [--polls 300] [--agents 1000] [--sim-procs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inventory.enums import DeviceKind  # noqa: E402
from monitoring.models import PollStatus  # noqa: E402
from monitoring.promstack import module_metrics  # noqa: E402
from monitoring.snmp import PollTarget, SnmpAuth, SnmpPoller  # noqa: E402

COMMUNITY = "bench-ro"
V3 = SnmpAuth.v3(username="benchv3", auth_key="bench-auth-1", priv_key="bench-priv-1")
PORTS = iter(range(21900, 21999))


def free_port(kind: int) -> int:
    for port in PORTS:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 21900-21999")


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_snmp(port: int, community: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        r = subprocess.run(
            [
                "snmpget",
                "-v2c",
                "-c",
                community,
                "-t",
                "0.5",
                "-r",
                "0",
                f"127.0.0.1:{port}",
                "1.3.6.1.2.1.1.3.0",
            ],
            capture_output=True,
            timeout=5,
            env={**os.environ, "MIBS": ""},
        )
        if r.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"agent on {port} not answering")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def our_polls(
    port: int, n: int, *, fast: bool, auth: SnmpAuth | None = None
) -> tuple[float, int]:
    poller = SnmpPoller(timeout=2.0, retries=1, concurrency=1, fast_v2c=fast)
    t = PollTarget(
        device_id=1,
        host="127.0.0.1",
        port=port,
        kind=DeviceKind.switch,
        auth=auth or SnmpAuth.v2c(COMMUNITY),
        modules=("system", "interfaces"),
    )
    warm = await poller.poll(t)
    assert warm.status is PollStatus.up, warm.error
    cpu0 = time.process_time()
    for _ in range(n):
        s = await poller.poll(t)
        assert s.status is PollStatus.up, s.error
    cpu = time.process_time() - cpu0
    poller.close()
    return cpu / n, len(warm.interfaces)


def exporter_polls(port: int, n: int, workdir: Path, *, v3: bool = False) -> float:
    walk, metrics = [], []
    for m in ("system", "interfaces"):
        w, ms = module_metrics(m)
        walk += w
        metrics += ms
    cfg = {
        "if_mib": {
            "walk": walk,
            "metrics": metrics,
            "max_repetitions": 25,
            "retries": 1,
            "timeout": "2s",
            "auth": {"community": COMMUNITY}
            if not v3
            else {
                "username": V3.username,
                "security_level": "authPriv",
                "password": V3.auth_key,
                "auth_protocol": "SHA",
                "priv_protocol": "AES",
                "priv_password": V3.priv_key,
            },
            "version": 3 if v3 else 2,
        }
    }
    (workdir / "snmp.yml").write_text(yaml.safe_dump(cfg))
    http_port = free_port(socket.SOCK_STREAM)
    proc = subprocess.Popen(
        [
            "prometheus-snmp-exporter",
            f"--config.file={workdir / 'snmp.yml'}",
            f"--web.listen-address=127.0.0.1:{http_port}",
            "--log.level=error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{http_port}/snmp"
        params = {"module": "if_mib", "target": f"127.0.0.1:{port}"}
        with httpx.Client(timeout=10) as client:
            for _ in range(100):
                try:
                    if "ifHCInOctets" in client.get(url, params=params).text:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("snmp_exporter did not start")
            cpu0 = proc_cpu(proc.pid)
            for _ in range(n):
                r = client.get(url, params=params)
                assert r.status_code == 200 and "ifHCInOctets" in r.text
            return (proc_cpu(proc.pid) - cpu0) / n
    finally:
        stop(proc)


async def many_agents(ports: list[int], agents: int, concurrency: int) -> tuple[float, float, int]:
    poller = SnmpPoller(timeout=5.0, retries=2, concurrency=concurrency)
    targets = [
        PollTarget(
            device_id=i,
            host="127.0.0.1",
            port=ports[i % len(ports)],
            kind=DeviceKind.switch,
            auth=SnmpAuth.v2c(f"dev{i:05d}"),
            modules=("system", "interfaces"),
        )
        for i in range(agents)
    ]
    await poller.poll(targets[0])  # warm the engine
    cpu0, t0 = time.process_time(), time.perf_counter()
    samples = await poller.poll_many(targets)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    poller.close()
    ok = sum(1 for s in samples if s.status is PollStatus.up)
    return agents / wall, cpu / agents, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--polls", type=int, default=300, help="polls per side for the CPU ratio")
    ap.add_argument("--agents", type=int, default=1000, help="simulated devices for polls/s")
    ap.add_argument("--sim-procs", type=int, default=2, help="snmpsim responder processes")
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-poller-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        port = free_port(socket.SOCK_DGRAM)
        (work / "snmpd.conf").write_text(
            f"agentAddress udp:127.0.0.1:{port}\nrocommunity {COMMUNITY} 127.0.0.1\n"
            f"createUser {V3.username} SHA {V3.auth_key} AES {V3.priv_key}\n"
            f"rouser {V3.username} priv\n"
        )
        snmpd = subprocess.Popen(
            [
                "snmpd",
                "-f",
                "-Lo",
                "-C",
                "-c",
                str(work / "snmpd.conf"),
                "-r",
                "-M",
                "/nonexistent",
                "-p",
                str(work / "snmpd.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "SNMP_PERSISTENT_DIR": str(work / "persist"), "MIBS": ""},
        )
        procs.append(snmpd)
        wait_snmp(port, COMMUNITY)

        ours, n_if = asyncio.run(our_polls(port, args.polls, fast=True))
        engine_path, _ = asyncio.run(our_polls(port, args.polls, fast=False))
        theirs = exporter_polls(port, args.polls, work)
        ratio = ours / theirs if theirs > 0 else float("inf")
        print(
            f"agent: snmpd 127.0.0.1:{port}, module system+interfaces ({n_if} interfaces), "
            f"{args.polls} polls each"
        )
        print(f"ours, v2c (BER codec, shared socket): {ours * 1000:7.3f} ms CPU per device poll")
        print(f"ours, v2c through pysnmp's engine:    {engine_path * 1000:7.3f} ms CPU per poll")
        print(f"prometheus-snmp-exporter (Go):        {theirs * 1000:7.3f} ms CPU per scrape")
        print(
            f"ratio ours/exporter:                  {ratio:7.2f}x  (goal <= 3x); "
            f"pysnmp-engine path {engine_path / theirs:.2f}x"
        )
        ours_v3, _ = asyncio.run(our_polls(port, args.polls, fast=False, auth=V3))
        theirs_v3 = exporter_polls(port, args.polls, work, v3=True)
        print(
            f"v3 authPriv SHA/AES: ours (pysnmp engine) {ours_v3 * 1000:.3f} ms, exporter "
            f"{theirs_v3 * 1000:.3f} ms per poll: {ours_v3 / theirs_v3:.2f}x"
        )

        if args.agents > 0:
            data = work / "sim-data"
            data.mkdir()
            recording = (ROOT / "tests" / "monitoring" / "data" / "switch.snmprec").read_text()
            for i in range(args.agents):
                (data / f"dev{i:05d}.snmprec").write_text(recording)
            ports = []
            for k in range(args.sim_procs):
                sp = free_port(socket.SOCK_DGRAM)
                (work / f"cache{k}").mkdir()
                procs.append(
                    subprocess.Popen(
                        [
                            str(Path(sys.executable).parent / "snmpsim-command-responder"),
                            f"--data-dir={data}",
                            f"--cache-dir={work / f'cache{k}'}",
                            f"--agent-udpv4-endpoint=127.0.0.1:{sp}",
                            "--log-level=error",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
                    )
                )
                ports.append(sp)
            for sp in ports:
                wait_snmp(sp, "dev00000", deadline=300)
            rate, cpu_per, ok = asyncio.run(many_agents(ports, args.agents, args.concurrency))
            print(
                f"{args.agents} simulated agents (snmpsim x{args.sim_procs}), concurrency "
                f"{args.concurrency}: {rate:.1f} polls/s wall, {cpu_per * 1000:.2f} ms CPU per "
                f"poll in our process, {ok}/{args.agents} up"
            )
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
