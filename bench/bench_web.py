"""Web benchmark: ``wrk`` against the scorecard API for the root unit, with the large dataset.

    .venv/bin/python bench/bench_web.py                 # large: 100k units, 1M devices (cached)
    .venv/bin/python bench/bench_web.py --size demo --duration 5   # quick

The database is built once under ``var/bench/web-<size>.db`` (``seed_demo``) and reused. The app
runs in its own process (uvicorn, one worker) on a free loopback port; ``wrk -c50 --latency``
measures, in the same run:

* ``/healthz`` through the same app and middleware stack — the peer: what the framework and
  server alone can do on this machine (no database, no auth);
* ``/api/targets`` for the root with an API token — ours (auth lookup, cache lookup, JSON).

Printed: cold report time, p50/p99 latency and requests/s for both, and the ratio of ours to the
peer. Goal: p99 < 100 ms at 50 connections. wrk runs one thread so that, on a 2-core machine, the
server keeps a core of its own.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(size: str, var: Path) -> tuple[str, str]:
    """The cached database for ``size`` and a fresh API token of a root admin."""
    from cryptography.fernet import Fernet

    from inventory.db import make_engine, session_scope, upgrade
    from inventory.demo import seed_demo
    from inventory.models import Unit
    from inventory.security import Role
    from ops_cli.accounts import AccountService

    var.mkdir(parents=True, exist_ok=True)
    db = var / f"web-{size}.db"
    url = f"sqlite:///{db}"
    key_file = var / "secret.key"
    if not key_file.exists():
        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    os.environ["TLDOPS_SECRET_KEY"] = key_file.read_text().strip()
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as s:
        empty = s.query(Unit).first() is None
    if empty:
        t0 = time.perf_counter()
        print(f"seeding {size} dataset into {db} (once) …", flush=True)
        seed_demo(engine, size=size)  # type: ignore[arg-type]
        print(f"  seeded in {time.perf_counter() - t0:.0f} s", flush=True)
    with session_scope(engine) as s:
        svc = AccountService(s, actor="bench")
        root = s.query(Unit).filter(Unit.parent_id.is_(None)).one()
        try:
            svc.user("bench")
        except Exception:
            svc.create_user(username="bench", password="bench-password-long")
            svc.grant(username="bench", role=Role.admin, unit_code=root.code)
        token, _ = svc.create_token(username="bench", name="bench_web")
    engine.dispose()
    return url, token


def wrk(url: str, *, duration: int, token: str | None, threads: int = 1) -> dict[str, float]:
    cmd = ["wrk", f"-t{threads}", "-c50", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m is None:
            raise RuntimeError(f"cannot parse wrk output:\n{out}")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} error responses from {url}:\n{out}")
    return {"p50": ms("50"), "p99": ms("99"), "rps": float(rps.group(1)) if rps else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", choices=["demo", "large"], default="large")
    ap.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = ap.parse_args()
    var = ROOT / "var" / "bench"
    db_url, token = prepare(args.size, var)
    port = _free_port()
    env = {**os.environ, "TLDOPS_DATABASE_URL": db_url, "TLDOPS_COOKIE_SECURE": "false"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "ops_cli.web:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--workers",
            str(args.workers),
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the app did not start")
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        t0 = time.perf_counter()
        first = httpx.get(f"{base}/api/targets", headers=headers, timeout=120)
        cold = time.perf_counter() - t0
        first.raise_for_status()
        t0 = time.perf_counter()
        httpx.get(f"{base}/api/targets", headers=headers, timeout=60).raise_for_status()
        warm = time.perf_counter() - t0
        # Every worker process keeps its own cache: warm them all before measuring.
        for _ in range(10 * args.workers):
            httpx.get(f"{base}/api/targets", headers=headers, timeout=60).raise_for_status()
        report = first.json()
        print(
            f"dataset {args.size}: root {report['unit']['code']}, "
            f"{len(report['indicators'])} indicators, {len(first.content)} bytes"
        )
        print(
            f"cold report (compute_report + cache fill): {cold * 1000:.0f} ms; "
            f"warm single request: {warm * 1000:.1f} ms"
        )
        peer = wrk(f"{base}/healthz", duration=args.duration, token=None)
        ours = wrk(f"{base}/api/targets", duration=args.duration, token=token)
        print(f"{'endpoint':<24}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}")
        for label, r in (("/healthz (peer)", peer), ("/api/targets (ours)", ours)):
            print(f"{label:<24}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['rps']:>10.0f}")
        print(
            f"ratio ours/peer: req/s {ours['rps'] / peer['rps']:.2f}, "
            f"p99 {ours['p99'] / peer['p99']:.2f}x"
        )
        verdict = "MET" if ours["p99"] < 100 else "NOT MET"
        print(f"goal p99 < 100 ms at 50 connections: {verdict} ({ours['p99']:.1f} ms)")
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
