"""Several processes on one database: the lease lets exactly one run the periodic jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from inventory.db import make_engine, upgrade
from ops_cli.scheduler import Job, Lease, Scheduler


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _scheduler(engine: object, holder: str, clock: Clock, ran: list[str]) -> Scheduler:
    job = Job(name=f"job-{holder}", func=lambda: ran.append(holder), every=1.0)
    mono = [0.0]
    sched = Scheduler(
        engine,  # type: ignore[arg-type]
        jobs=[job],
        monotonic=lambda: mono[0],
        clock=clock,
        lease=Lease(engine, holder=holder, seconds=30, clock=clock),  # type: ignore[arg-type]
    )
    sched._mono = mono  # type: ignore[attr-defined]
    return sched


def _tick(sched: Scheduler, seconds: float) -> int:
    sched._mono[0] += seconds  # type: ignore[attr-defined]
    return sched.run_due()


def test_one_holder_runs_jobs_and_the_other_takes_over(db_url: str) -> None:
    engine = make_engine(db_url)
    clock = Clock()
    ran: list[str] = []
    a = _scheduler(engine, "node-a", clock, ran)
    b = _scheduler(engine, "node-b", clock, ran)
    assert _tick(a, 1) == 1 and _tick(b, 1) == 0
    for _ in range(5):
        clock.now += timedelta(seconds=1)
        _tick(a, 1)
        _tick(b, 1)
    assert set(ran) == {"node-a"} and b.holds_lease is False
    assert Lease(engine, clock=clock).holder_now() == "node-a"
    # node-a dies without releasing: after the lease expires node-b takes over.
    clock.now += timedelta(seconds=31)
    assert _tick(b, 10) == 1 and b.holds_lease
    assert Lease(engine, clock=clock).holder_now() == "node-b"
    # A clean stop hands the lease over at once.
    b.stop()
    assert Lease(engine, clock=clock).holder_now() is None
    ran.clear()
    assert _tick(a, 10) == 1 and ran == ["node-a"]
    engine.dispose()


def test_a_read_only_database_runs_no_jobs(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    read_only = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert Lease(read_only, holder="standby").acquire() is False
    read_only.dispose()
