"""The in-process scheduler of ``tldops up``: runs every domain's periodic job in one thread.

Jobs come from the domains that are installed; each is called in its own ``try`` so one failing
job is logged and retried at its next tick, never killing the process::

    sched = Scheduler(engine, jobs=discover_jobs())
    sched.start()            # background thread
    ...
    sched.stop()

Arguments are injected by parameter name (``engine``, ``session``, ``clock``, ``mailer``), so a
domain job only declares what it needs.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, InternalError, OperationalError

from inventory.db import session_scope, utcnow
from inventory.errors import ConfigError
from inventory.models import SchedulerLease

log = logging.getLogger("tldops.scheduler")

DAY = 24 * 3600.0
# (module, function, every seconds, first run after seconds). Only those that exist are
# scheduled. Daily work waits a little so that starting the process stays quick.
KNOWN_JOBS: tuple[tuple[str, str, float, float], ...] = (
    ("monitoring.jobs", "poll_cycle", 60.0, 0.0),
    ("monitoring.jobs", "check_cycle", 60.0, 0.0),
    ("monitoring.jobs", "alert_cycle", 30.0, 5.0),
    ("playbooks.jobs", "scheduled_db_backup", DAY, 300.0),
    ("playbooks.jobs", "scheduled_config_backup", DAY, 600.0),
    ("videoconf.jobs", "send_due_reminders", 60.0, 10.0),
    ("training_lms.jobs", "notify_expiring_certificates", DAY, 120.0),
)


@dataclass
class Job:
    name: str
    func: Callable[..., Any]
    every: float
    next_at: float = 0.0  # monotonic time of the next run (0: at the first tick)
    runs: int = 0
    failures: int = 0
    last_error: str | None = None
    last_ok_at: datetime | None = field(default=None)


def discover_jobs(
    known: tuple[tuple[str, str, float, float], ...] = KNOWN_JOBS,
    *,
    exclude: frozenset[str] = frozenset(),
    now: float | None = None,
) -> list[Job]:
    """The known jobs of the domains that are installed.

    A domain package that is not installed contributes nothing. One that is installed but whose
    job module fails to import, or lacks the listed function, stops start-up with a
    :class:`ConfigError` naming it: a platform silently not running its backups is worse than
    one that refuses to start. ``exclude`` holds ``module.function`` names not to schedule (the
    demo leaves out config backups: they would try SSH on every fake device).
    """
    start = time.monotonic() if now is None else now
    jobs: list[Job] = []
    for module, attr, every, first_after in known:
        name = f"{module}.{attr}"
        if name in exclude or importlib.util.find_spec(module.split(".")[0]) is None:
            continue
        try:
            func = getattr(importlib.import_module(module), attr, None)
        except Exception as exc:
            raise ConfigError(
                f"Không nạp được {module} / cannot import {module}: {exc}",
                hint="reinstall tldops; the traceback is in the log",
            ) from exc
        if not callable(func):
            raise ConfigError(
                f"Công việc định kỳ {name} không tồn tại / scheduled job {name} does not exist"
            )
        jobs.append(Job(name=name, func=func, every=every, next_at=start + first_after))
    return jobs


def _mailer() -> Any:
    from inventory.mail import Mailer, SmtpSettings

    return Mailer(SmtpSettings.from_env())


def call_job(
    func: Callable[..., Any], engine: Engine, *, clock: Callable[[], datetime] = utcnow
) -> Any:
    """Call ``func`` with the arguments it names (engine, session, clock, mailer, now)."""
    params = inspect.signature(func).parameters
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    needs_session = "session" in params
    providers: dict[str, Callable[[], Any]] = {
        "engine": lambda: engine,
        "clock": lambda: clock,
        "mailer": _mailer,
        "now": clock,
    }

    def fill(session: Any | None) -> None:
        for name, p in params.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if name == "session":
                value: Any = session
            elif name in providers:
                value = providers[name]()
            elif p.default is not p.empty:
                continue
            else:
                raise TypeError(f"cannot provide parameter {name!r} of {func.__qualname__}")
            if p.kind == p.POSITIONAL_ONLY or (p.kind == p.POSITIONAL_OR_KEYWORD and not kwargs):
                args.append(value)
            else:
                kwargs[name] = value

    def run() -> Any:
        result = func(*args, **kwargs)
        # Async jobs (the SNMP poller) run to completion on a loop of their own: the scheduler
        # thread has no running event loop.
        if inspect.isawaitable(result):
            return asyncio.run(_awaited(result))
        return result

    if needs_session:
        with session_scope(engine) as session:
            fill(session)
            return run()
    fill(None)
    return run()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


LEASE_NAME = "scheduler"
_LEASES = cast(Table, SchedulerLease.__table__)
LEASE_SECONDS = 60.0


def _holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """The database lease that lets one process of many run the jobs.

    Taken or renewed by one conditional ``UPDATE`` (free, expired, or already ours), so two
    processes can never both think they hold it, on SQLite or PostgreSQL. A database that
    cannot be written (a hot standby, a full disk) simply means "not ours".
    """

    def __init__(
        self,
        engine: Engine,
        *,
        name: str = LEASE_NAME,
        holder: str | None = None,
        seconds: float = LEASE_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder or _holder_id()
        self.seconds = seconds
        self.clock = clock

    def acquire(self) -> bool:
        """Take or renew the lease; True when this process holds it now."""
        now = self.clock()
        until = now + timedelta(seconds=self.seconds)
        table = _LEASES
        try:
            with self.engine.begin() as conn:
                taken = conn.execute(
                    update(table)
                    .where(
                        table.c.name == self.name,
                        or_(table.c.holder == self.holder, table.c.expires_at <= now),
                    )
                    .values(holder=self.holder, expires_at=until)
                ).rowcount
                if taken:
                    return True
                exists = conn.execute(select(table.c.name).where(table.c.name == self.name)).first()
                if exists is not None:
                    return False
                conn.execute(
                    insert(table).values(name=self.name, holder=self.holder, expires_at=until)
                )
                return True
        except (IntegrityError, OperationalError, InternalError):
            return False  # another process inserted first, or the database is read-only/busy

    def release(self) -> None:
        """Give the lease up at once (a clean stop), so another process can take over."""
        table = _LEASES
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.name == self.name, table.c.holder == self.holder)
                    .values(expires_at=self.clock())
                )
        except (OperationalError, InternalError):
            log.warning("could not release the scheduler lease; it expires by itself")

    def holder_now(self) -> str | None:
        """Who holds the lease now (None when free or expired), for status displays."""
        table = _LEASES
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.holder, table.c.expires_at).where(table.c.name == self.name)
            ).first()
        if row is None:
            return None
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        return str(row.holder) if expires > self.clock() else None


class Scheduler:
    """Runs jobs at fixed intervals in one daemon thread; ``stop()`` ends it within a second.

    Jobs run only while this process holds the database :class:`Lease` (renewed every third of
    its length), so several processes on one database run each job once.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        jobs: list[Job],
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = utcnow,
        lease: Lease | None = None,
    ) -> None:
        self.engine = engine
        self.jobs = jobs
        self.monotonic = monotonic
        self.clock = clock
        self.lease = lease or Lease(engine, clock=clock)
        self.holds_lease = False
        self._lease_checked_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _has_lease(self, now: float) -> bool:
        stale = self._lease_checked_at is None or now - self._lease_checked_at >= (
            self.lease.seconds / 3 if self.holds_lease else min(5.0, self.lease.seconds / 3)
        )
        if stale:
            held = self.lease.acquire()
            if held != self.holds_lease:
                log.info("scheduler lease %s by %s", "taken" if held else "lost", self.lease.holder)
            self.holds_lease = held
            self._lease_checked_at = now
        return self.holds_lease

    def run_due(self) -> int:
        """Run every job whose time has come (if this process holds the lease); how many ran."""
        now = self.monotonic()
        if not self._has_lease(now):
            return 0
        ran = 0
        for job in self.jobs:
            if now < job.next_at:
                continue
            job.next_at = now + job.every
            job.runs += 1
            ran += 1
            try:
                call_job(job.func, self.engine, clock=self.clock)
                job.last_ok_at = self.clock()
                job.last_error = None
            except Exception as exc:  # one failing job must never stop the others
                job.failures += 1
                job.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("job %s failed", job.name)
            if self._stop.is_set():
                break
        return ran

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            self._stop.wait(1.0)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="tldops-scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.holds_lease:
            self.lease.release()
            self.holds_lease = False
