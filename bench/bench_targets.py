"""Benchmark: the plan-target report for the root on SQLite, against plain SQL in ``sqlite3``.

    .venv/bin/python bench/bench_targets.py               # large: 100k units, 1M devices
    .venv/bin/python bench/bench_targets.py --size demo   # quick
    .venv/bin/python bench/bench_targets.py --rebuild     # regenerate the cached database

The database is generated once with ``inventory.demo.seed_demo(engine, size=...)`` and cached
under ``var/bench/targets-<size>.db``. Then, in the same run:

* ours, in-process: ``compute_report(session)`` for the root with the four inventory indicators
  (and, separately, with the default registry, which adds indicators of other domains such as
  ``officers_trained``), best and median of ``--repeat`` runs;
* ours, CLI: ``tldops targets --format json`` in a subprocess (Python start-up included);
* the peer: the same four indicators (numerators, denominators and failing lists) as plain SQL
  run by the ``sqlite3`` command-line shell on the same file.

It prints the times, the ratio ours / peer, whether our numbers agree with the peer's, and
whether the goal (< 2 s for the root report on the large size) is met.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from inventory.config import TIMEZONE  # noqa: E402
from inventory.db import make_engine, make_sessionmaker, upgrade  # noqa: E402
from inventory.models import Device, Officer, Unit  # noqa: E402
from inventory.targets import (  # noqa: E402
    AppSoftware,
    EisUsage,
    EquippedOffices,
    IndicatorRegistry,
    OfficersWithComputer,
    TargetReport,
    compute_report,
    default_registry,
)

GOAL_SECONDS = 2.0


def build(db: Path, size: str) -> None:
    """Generate the demo federation into ``db`` (``inventory.demo.seed_demo``)."""
    from inventory.demo import seed_demo

    if not os.environ.get("TLDOPS_SECRET_KEY"):
        # The demo seals credential profiles; a throw-away key is fine for a benchmark file.
        from inventory.secrets import generate_key

        os.environ["TLDOPS_SECRET_KEY"] = generate_key()
    tmp = db.with_suffix(".building")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{tmp}")
    upgrade(engine)
    started = time.perf_counter()
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 5 or done == total:
            last[0] = now
            print(f"  seed {stage}: {done}/{total} ({now - started:.0f} s)", flush=True)

    summary = seed_demo(engine, size=size, progress=progress)  # type: ignore[arg-type]
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    tmp.rename(db)
    print(f"  seeded in {time.perf_counter() - started:.0f} s: {summary.counts()}")


def inventory_registry() -> IndicatorRegistry:
    reg = IndicatorRegistry()
    for ind in (EquippedOffices(), OfficersWithComputer(), EisUsage(), AppSoftware()):
        reg.register(ind)
    return reg


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def peer_sql(root_path: str, today: str) -> str:
    """The four inventory indicators for the root's subtree as plain SQL (numbers + failing)."""
    active_sw = (
        f"w.status = 'active' AND (w.licence_expires IS NULL OR w.licence_expires >= '{today}')"
    )
    dev_active = "d.unit_id = s.id AND d.status = 'active'"
    has = f"EXISTS (SELECT 1 FROM devices d WHERE {dev_active} AND d.kind IN ({{}}))"
    return f"""
CREATE TEMP TABLE scope AS
  SELECT id, code, level FROM units
  WHERE path >= '{root_path}' AND path < '{root_path}~' AND level <= 3;
CREATE TEMP TABLE eq AS
  SELECT s.id, s.code,
         {has.format("'pc','laptop'")} AS c,
         {has.format("'printer'")} AS p,
         {has.format("'switch','router','firewall','access_point'")} AS n,
         EXISTS (SELECT 1 FROM internet_links l WHERE l.unit_id = s.id AND l.status = 'active') AS l
  FROM scope s;
SELECT 'equipped_offices', SUM(c AND p AND n AND l), COUNT(*) FROM eq;
SELECT 'failing', code, c, p, n, l FROM eq WHERE NOT (c AND p AND n AND l);
CREATE TEMP TABLE off AS
  SELECT o.id, o.code, o.full_name, o.unit_id,
         EXISTS (SELECT 1 FROM devices d WHERE d.assigned_officer_id = o.id
                 AND d.status = 'active' AND d.kind IN ('pc','laptop')) AS ok
  FROM officers o
  WHERE o.unit_id IN (SELECT id FROM scope) AND o.full_time = 1 AND o.active = 1;
SELECT 'officers_with_computer', SUM(ok), COUNT(*) FROM off;
SELECT 'failing', code, full_name, unit_id FROM off WHERE NOT ok;
CREATE TEMP TABLE eis AS
  SELECT s.id, s.code,
         EXISTS (SELECT 1 FROM software w WHERE w.unit_id = s.id AND w.category = 'eis'
                 AND {active_sw}) AS ok
  FROM scope s WHERE s.level = 2;
SELECT 'eis_usage', SUM(ok), COUNT(*) FROM eis;
SELECT 'failing', code FROM eis WHERE NOT ok;
CREATE TEMP TABLE app AS
  SELECT s.id, s.code,
         (SELECT COUNT(DISTINCT w.category) FROM software w WHERE w.unit_id = s.id AND {active_sw}
          AND w.category IN ('document_management','statistics_reporting','hr_organization',
                             'finance_assets')) AS n
  FROM scope s;
SELECT 'app_software', SUM(n = 4), COUNT(*) FROM app;
SELECT 'failing', code, n FROM app WHERE n < 4;
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", choices=["demo", "large"], default="large")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true", help="regenerate the cached database")
    args = ap.parse_args()

    sqlite3_cli = shutil.which("sqlite3")
    if sqlite3_cli is None:
        print("sqlite3 command-line shell not found (apt-get install sqlite3)", file=sys.stderr)
        return 2
    db = REPO / "var" / "bench" / f"targets-{args.size}.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    if args.rebuild or not db.exists():
        print(f"building {db} (size {args.size}) ...", flush=True)
        build(db, args.size)
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    upgrade(engine)  # cheap when current; applies new indexes to an older cached file
    session = make_sessionmaker(engine)()
    root = session.scalar(select(Unit).where(Unit.parent_id.is_(None)))
    assert root is not None, "empty benchmark database"
    n_units = session.scalar(select(func.count(Unit.id)))
    n_devices = session.scalar(select(func.count(Device.id)))
    n_officers = session.scalar(select(func.count(Officer.id)))
    print(f"database: {db} — {n_units} units, {n_devices} devices, {n_officers} officers")

    as_of = datetime.now(UTC)
    reg = inventory_registry()
    # One untimed run so every contender starts from a warm page cache.
    compute_report(session, registry=reg, as_of=as_of)

    ours, report = timed(lambda: compute_report(session, registry=reg, as_of=as_of), args.repeat)
    assert isinstance(report, TargetReport)
    full_reg = default_registry()

    def one_indicator(ind_id: str) -> float:
        started = time.perf_counter()
        full_reg.get(ind_id).evaluate(session, root, as_of=as_of)
        return time.perf_counter() - started

    per_indicator = {i.id: one_indicator(i.id) for i in full_reg.all()}
    full, full_report = timed(
        lambda: compute_report(session, registry=full_reg, as_of=as_of), args.repeat
    )
    assert isinstance(full_report, TargetReport)
    extra = [i.id for i in full_reg.all() if i.id not in reg]
    session.close()
    engine.dispose()

    # The installed console script, exactly what users run.
    tldops = Path(sys.executable).parent / "tldops"
    env = {**os.environ, "TLDOPS_DATABASE_URL": url, "PYTHONWARNINGS": "ignore"}
    out_json = db.with_suffix(".report.json")

    def cli() -> None:
        subprocess.run(
            [str(tldops), "targets", "--format", "json", "--output", str(out_json)],
            env=env,
            check=True,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )

    cli_times, _ = timed(cli, args.repeat)

    sql = peer_sql(root.path, as_of.astimezone(TIMEZONE).date().isoformat())
    peer_out: list[str] = []

    def peer() -> None:
        done = subprocess.run(
            [sqlite3_cli, "-readonly", str(db)],
            input=sql,
            capture_output=True,
            text=True,
            check=True,
        )
        peer_out[:] = done.stdout.splitlines()

    peer_times, _ = timed(peer, args.repeat)
    peer_numbers = {
        line.split("|")[0]: (int(line.split("|")[1] or 0), int(line.split("|")[2]))
        for line in peer_out
        if not line.startswith("failing|")
    }
    peer_failing = sum(1 for line in peer_out if line.startswith("failing|"))
    ours_numbers = {i.id: (i.numerator, i.denominator) for i in report.indicators}
    ours_failing = sum(len(i.failing) for i in report.indicators)
    agree = ours_numbers == peer_numbers and ours_failing == peer_failing

    best = min(ours)
    peer_best = min(peer_times)
    print()
    print(f"{'contender':58} {'best':>8} {'median':>8}")
    rows = [
        ("ours: compute_report(root), 4 inventory indicators", ours),
        (f"ours: compute_report(root), default registry (+{', '.join(extra) or '—'})", full),
        ("ours: `tldops targets --format json` (subprocess)", cli_times),
        ("peer: sqlite3 CLI, same 4 indicators as plain SQL", peer_times),
    ]
    for name, times in rows:
        print(f"{name:58} {min(times):8.3f} {statistics.median(times):8.3f}")
    print()
    for ind_id, seconds in per_indicator.items():
        print(f"  {ind_id:28} {seconds:7.3f} s")
    for res in full_report.indicators:
        value = "—" if res.value is None else f"{res.value * 100:.1f} %"
        print(
            f"  {res.id:28} {res.numerator:>7}/{res.denominator:<7} {value:>8}  "
            f"failing {len(res.failing)}"
        )
    print()
    print(f"ratio ours/peer (in-process, best): {best / peer_best:.2f}x")
    print(f"ratio ours/peer (CLI incl. start-up, best): {min(cli_times) / peer_best:.2f}x")
    print(f"numbers agree with the peer: {'yes' if agree else 'NO'}")
    if not agree:
        print(f"  ours {ours_numbers} failing {ours_failing}")
        print(f"  peer {peer_numbers} failing {peer_failing}")
    goal_in = best < GOAL_SECONDS
    goal_full = min(full) < GOAL_SECONDS
    goal_cli = min(cli_times) < GOAL_SECONDS
    print(
        f"goal < {GOAL_SECONDS:.0f} s (size {args.size}): "
        f"in-process {'met' if goal_in else 'NOT met'} ({best:.3f} s); "
        f"default registry {'met' if goal_full else 'NOT met'} "
        f"({min(full):.3f} s); CLI {'met' if goal_cli else 'NOT met'} ({min(cli_times):.3f} s)"
    )
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
