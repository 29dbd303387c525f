"""Benchmark: ``tldops inventory ansible --list`` against ``ansible-inventory --list`` on the
equivalent static YAML inventory, measured in the same run.

    .venv/bin/python bench/bench_ansible.py [--hosts 100000] [--repeat 3] [--keep DIR]

1. seeds a fresh SQLite database with the demo generator sized to ≈ ``--hosts`` Ansible hosts
   (:func:`inventory.demo.plan_for_hosts`, the same generator as ``tldops inventory demo``);
2. times our CLI in a subprocess (``tldops inventory ansible --list``, output to a pipe);
3. writes a static YAML inventory with the same groups, children, hosts and hostvars from our
   JSON and times ``ansible-inventory -i static.yml --list`` (YAML plugin only);
4. checks both list the same hosts and prints both times (best of ``--repeat``) and the ratio.
   Goal: ours ≤ 2× theirs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cryptography.fernet import Fernet  # noqa: E402

from inventory.db import make_engine, upgrade  # noqa: E402
from inventory.demo import plan_for_hosts, seed_plan  # noqa: E402

BIN = Path(sys.executable).parent


def _time(cmd: list[str], env: dict[str, str], repeat: int) -> tuple[float, str]:
    """Best wall time of ``repeat`` runs and the stdout of the last one."""
    best, out = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        best, out = min(best, elapsed), proc.stdout
    return best, out


def static_yaml(doc: dict[str, Any]) -> dict[str, Any]:
    """The YAML-inventory equivalent of a script-inventory JSON document.

    Host variables are written once (under the host's unit group); ``kind_*``/``platform_*``
    groups list the hosts without variables, as a hand-written inventory would.
    """
    hostvars: dict[str, Any] = doc["_meta"]["hostvars"]
    placed: set[str] = set()
    out: dict[str, Any] = {}
    for name, group in doc.items():
        if name == "_meta":
            continue
        entry: dict[str, Any] = {}
        hosts = group.get("hosts") or []
        if hosts:
            entry["hosts"] = {}
            for host in hosts:
                if host in placed:
                    entry["hosts"][host] = None
                else:
                    entry["hosts"][host] = hostvars.get(host) or None
                    placed.add(host)
        if group.get("children"):
            entry["children"] = {child: None for child in group["children"]}
        out[name] = entry or None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the database and files in this folder")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="tldops-bench-ansible-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    env = dict(os.environ)
    env.setdefault("TLDOPS_SECRET_KEY", Fernet.generate_key().decode())
    env.update(
        {
            "TLDOPS_DATABASE_URL": url,
            "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
            "ANSIBLE_INVENTORY_ENABLED": "yaml",
        }
    )
    env.pop("TLDOPS_ANSIBLE_UNIT", None)
    os.environ["TLDOPS_SECRET_KEY"] = env["TLDOPS_SECRET_KEY"]

    try:
        start = time.perf_counter()
        engine = make_engine(url)
        upgrade(engine)
        summary = seed_plan(engine, plan=plan_for_hosts(args.hosts), seed=20261125)
        engine.dispose()
        print(
            f"seeded {summary.units:,} units, {summary.devices:,} devices "
            f"in {time.perf_counter() - start:.1f} s ({db})"
        )

        ours_s, ours_out = _time(
            [str(BIN / "tldops"), "inventory", "ansible", "--list"], env, args.repeat
        )
        doc = json.loads(ours_out)
        n_hosts = len(doc["_meta"]["hostvars"])
        n_groups = len(doc) - 1

        static = work / "static.yml"
        with static.open("w", encoding="utf-8") as fh:
            yaml.dump(
                static_yaml(doc),
                fh,
                Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
                allow_unicode=True,
                default_flow_style=False,
                sort_keys=False,
            )
        theirs_s, theirs_out = _time(
            [str(BIN / "ansible-inventory"), "-i", str(static), "--list"], env, args.repeat
        )
        theirs_hosts = set(json.loads(theirs_out)["_meta"]["hostvars"])
        if theirs_hosts != set(doc["_meta"]["hostvars"]):
            raise SystemExit("the static inventory does not list the same hosts as ours")

        print(f"hosts: {n_hosts:,}  groups: {n_groups:,}  (best of {args.repeat})")
        print(f"ours   tldops inventory ansible --list           : {ours_s:7.2f} s")
        print(f"theirs ansible-inventory -i static.yml --list    : {theirs_s:7.2f} s")
        ratio = ours_s / theirs_s
        verdict = "OK" if ratio <= 2.0 else "SLOWER THAN GOAL"
        print(f"ratio ours/theirs: {ratio:.2f}  (goal ≤ 2.00: {verdict})")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
