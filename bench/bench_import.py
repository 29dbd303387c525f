"""Device import speed: ``tldops inventory import`` vs the sqlite3 shell's ``.import``.

    .venv/bin/python bench/bench_import.py [--devices 1000000] [--keep DIR]

Generates (deterministically) a units CSV (one unit per ten devices: TLĐ, 63 provinces,
districts, grassroots unions) and a devices CSV, imports the units with our importer (not
timed), then times in the same run

  (a) ours: ``tldops inventory import --kind devices devices.csv`` in a subprocess against a
      fresh SQLite database (``TLDOPS_DATABASE_URL``), i.e. CLI start-up, validation of every
      row, upsert planning, insert, index maintenance, audit and commit;
  (b) peer: ``sqlite3 raw.db ".import --csv --skip 1 devices.csv raw_devices"`` into a table
      with the same twelve columns (no validation, no indexes, no foreign keys),

and prints both times and the ratio (goal: ≤ 3×).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TLDOPS = [sys.executable, "-m", "ops_cli"]
DEVICE_COLUMNS = (
    "asset_tag,kind,unit_code,hostname,vendor,model,serial,mgmt_ip,status,"
    "assigned_officer_code,purchase_date,cost_vnd"
)
PROVINCES = 63
KINDS = ("pc", "pc", "pc", "laptop", "laptop", "printer", "switch", "router", "access_point", "ups")
MODELS = {
    "pc": ("Dell", "OptiPlex 7090"),
    "laptop": ("Lenovo", "ThinkPad E14"),
    "printer": ("Canon", "LBP 2900"),
    "switch": ("Cisco", "Catalyst 2960-X"),
    "router": ("MikroTik", "RB4011"),
    "access_point": ("Ubiquiti", "UniFi U6 Lite"),
    "ups": ("APC", "Smart-UPS 1500"),
}
STATUSES = ("active",) * 8 + ("repair", "retired")


def unit_codes(n_units: int) -> list[str]:
    """Codes of the generated tree; leaves first so devices spread over every level."""
    n_districts = max(PROVINCES, n_units // 20)
    codes = ["TLD"] + [f"P{p:02d}" for p in range(PROVINCES)]
    codes += [f"P{d % PROVINCES:02d}-D{d:05d}" for d in range(n_districts)]
    rest = max(0, n_units - len(codes))
    codes += [
        f"P{(g % n_districts) % PROVINCES:02d}-D{g % n_districts:05d}-G{g:06d}" for g in range(rest)
    ]
    return codes


def write_units(path: Path, codes: list[str]) -> None:
    lines = ["code,name,parent_code,level,kind"]
    for code in codes:
        parts = code.split("-")
        if code == "TLD":
            lines.append("TLD,Tổng Liên đoàn Lao động Việt Nam,,1,central")
        elif len(parts) == 1:
            lines.append(f"{code},Liên đoàn Lao động tỉnh {code},TLD,2,province_federation")
        elif len(parts) == 2:
            lines.append(f"{code},LĐLĐ huyện {parts[1]},{parts[0]},3,district")
        else:
            lines.append(f"{code},Công đoàn cơ sở {parts[2]},{parts[0]}-{parts[1]},4,grassroots")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_devices(path: Path, n: int, codes: list[str]) -> None:
    n_codes = len(codes)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(DEVICE_COLUMNS + "\n")
        for start in range(0, n, 100_000):
            chunk = []
            for i in range(start, min(n, start + 100_000)):
                kind = KINDS[i % len(KINDS)]
                vendor, model = MODELS[kind]
                unit = codes[(i * 7919) % n_codes]
                ip = f"198.{18 + (i >> 16) % 2}.{(i >> 8) & 255}.{i & 255}" if i % 3 else ""
                day = f"20{18 + i % 7}-{1 + i % 12:02d}-{1 + i % 28:02d}"
                chunk.append(
                    f"TS-{i:08d},{kind},{unit},{kind}-{i:08d},{vendor},{model},SN{i * 31:010d},"
                    f"{ip},{STATUSES[i % 10]},,{day},{1_000_000 + (i % 977) * 25_000}\n"
                )
            fh.write("".join(chunk))


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock seconds and CPU seconds (user + system) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    if shutil.which("sqlite3") is None:
        sys.exit("the sqlite3 command-line shell is needed (apt-get install sqlite3)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_import_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        n = args.devices
        codes = unit_codes(max(100, n // 10))
        units_csv, devices_csv = work / "units.csv", work / "devices.csv"
        t0 = time.perf_counter()
        write_units(units_csv, codes)
        write_devices(devices_csv, n, codes)
        size_mb = devices_csv.stat().st_size / 1e6
        print(
            f"generated {len(codes)} units, {n} devices ({size_mb:.0f} MB) "
            f"in {time.perf_counter() - t0:.1f} s"
        )

        ours_db, raw_db = work / "ours.db", work / "raw.db"
        for p in (ours_db, raw_db):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{p}{suffix}").unlink(missing_ok=True)
        env = {**os.environ, "TLDOPS_DATABASE_URL": f"sqlite:///{ours_db}", "TLDOPS_ACTOR": "bench"}
        units_s, _ = run([*TLDOPS, "inventory", "import", "--kind", "units", str(units_csv)], env)
        print(f"units import (not compared): {units_s:.2f} s")

        with sqlite3.connect(raw_db) as con:
            cols = ", ".join(f"{c} TEXT" for c in DEVICE_COLUMNS.split(","))
            con.execute(f"CREATE TABLE raw_devices ({cols})")
        peer_t = run(
            ["sqlite3", str(raw_db), f".import --csv --skip 1 {devices_csv} raw_devices"], env
        )
        ours_t = run([*TLDOPS, "inventory", "import", "--kind", "devices", str(devices_csv)], env)

        with sqlite3.connect(ours_db) as con:
            got = con.execute("SELECT count(*) FROM devices").fetchone()[0]
        with sqlite3.connect(raw_db) as con:
            raw = con.execute("SELECT count(*) FROM raw_devices").fetchone()[0]
        if got != n or raw != n:
            sys.exit(f"row counts differ: ours {got}, sqlite3 {raw}, expected {n}")
        (peer, peer_cpu), (ours, ours_cpu) = peer_t, ours_t
        startup, startup_cpu = run([*TLDOPS, "inventory", "import", "--help"], env)
        load = os.getloadavg()[0]
        print(f"load average (1 min)   : {load:.1f} on {os.cpu_count()} CPUs")
        print(
            f"sqlite3 .import        : {peer:7.2f} s wall, {peer_cpu:6.2f} s CPU"
            f"  ({n / peer:,.0f} rows/s)"
        )
        print(
            f"tldops inventory import: {ours:7.2f} s wall, {ours_cpu:6.2f} s CPU"
            f"  ({n / ours:,.0f} rows/s)"
        )
        print(
            f"  of which CLI start-up: {startup:7.2f} s wall, {startup_cpu:6.2f} s CPU"
            "  (`tldops inventory import --help`: interpreter and CLI start-up)"
        )
        print(
            f"ratio ours/sqlite3     : {ours / peer:7.2f}x wall, {ours_cpu / peer_cpu:.2f}x CPU"
            "  (goal <= 3x)"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
