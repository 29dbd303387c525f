"""Plain functions the web app's scheduler calls periodically (and the CLI calls once).

Each one opens its own session(s) on ``engine``, commits, and returns a frozen summary::

    summary = await poll_cycle(engine, settings=MonitorSettings.from_env(), clock=utcnow)
    checks = await check_cycle(engine, settings=MonitorSettings.from_env(), clock=utcnow)
    alerts = alert_cycle(engine, clock=utcnow, mailer=Mailer(SmtpSettings.from_env()))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import Engine

from inventory.config import Settings
from inventory.db import session_scope, utcnow
from inventory.mail import Mailer
from inventory.secrets import SecretBox
from monitoring.alerts import AlertEngine, AlertSummary
from monitoring.checks import CheckResult, run_checks
from monitoring.models import PollStatus
from monitoring.notify import Notifier
from monitoring.service import (
    MonitorSettings,
    Unpolled,
    check_specs,
    poll_targets,
    store_checks,
    store_samples,
)
from monitoring.snmp import DeviceSample, SnmpPoller

Clock = Callable[[], datetime]

# Rows per agent learnt by past cycles: each cycle gets a fresh poller (its event loop is new),
# but the next GETBULK can still ask each agent for exactly its table size.
_TABLE_SIZES: dict[tuple[str, int], int] = {}


@dataclass(frozen=True)
class PollSummary:
    """Counts of one poll cycle; ``samples`` holds each device's outcome."""

    polled: int
    up: int
    down: int
    error: int
    skipped: int
    unpolled: tuple[Unpolled, ...]
    samples: tuple[DeviceSample, ...]
    seconds: float


@dataclass(frozen=True)
class CheckSummary:
    checked: int
    ok: int
    failed: int
    skipped: int
    results: tuple[CheckResult, ...]


def _monitor_settings(settings: MonitorSettings | Settings | None) -> MonitorSettings:
    return settings if isinstance(settings, MonitorSettings) else MonitorSettings.from_env()


async def poll_cycle(
    engine: Engine,
    *,
    settings: MonitorSettings | Settings | None = None,
    clock: Clock = utcnow,
    unit_code: str | None = None,
    poller: SnmpPoller | None = None,
    box: SecretBox | None = None,
    on_sample: Callable[[DeviceSample], None] | None = None,
) -> PollSummary:
    """Poll every SNMP-monitored device of a subtree once and store the results.

    ``poller`` may be passed to reuse one engine across cycles; otherwise one is made (with one
    shared ``SnmpEngine``) and closed at the end. ``on_sample`` is called as each device finishes
    (the CLI's live view).

    >>> # s = await poll_cycle(engine, settings=MonitorSettings.from_env(), clock=utcnow)
    """
    ms = _monitor_settings(settings)
    if box is None:
        keys = Settings.from_env().secret_keys
        # Without a key nothing can be decrypted; devices are reported unpolled, not down.
        box = SecretBox(keys) if keys else None
    with session_scope(engine) as session:
        targets, unpolled = poll_targets(session, box=box, unit_code=unit_code)
    own = poller is None
    p = poller or SnmpPoller(
        timeout=ms.timeout,
        retries=ms.retries,
        concurrency=ms.concurrency,
        allowed_nets=ms.nets,
        clock=clock,
        table_sizes=_TABLE_SIZES,
    )
    started = clock()
    try:
        samples = await p.poll_many(targets, on_sample=on_sample)
    finally:
        if own:
            p.close()
    with session_scope(engine) as session:
        store_samples(session, samples, clock=clock)
    count = {s: sum(1 for x in samples if x.status is s) for s in PollStatus}
    return PollSummary(
        polled=len(samples),
        up=count[PollStatus.up],
        down=count[PollStatus.down],
        error=count[PollStatus.error],
        skipped=count[PollStatus.skipped],
        unpolled=tuple(unpolled),
        samples=tuple(samples),
        seconds=(clock() - started).total_seconds(),
    )


async def check_cycle(
    engine: Engine,
    *,
    settings: MonitorSettings | Settings | None = None,
    clock: Clock = utcnow,
    unit_code: str | None = None,
) -> CheckSummary:
    """Run every enabled service check of a subtree once and store the results."""
    ms = _monitor_settings(settings)
    with session_scope(engine) as session:
        specs = check_specs(session, unit_code=unit_code)
    results: Sequence[CheckResult] = await run_checks(specs, allowed_nets=ms.nets)
    with session_scope(engine) as session:
        store_checks(session, results)
    return CheckSummary(
        checked=len(results),
        ok=sum(1 for r in results if r.ok),
        failed=sum(1 for r in results if not r.ok and not r.skipped),
        skipped=sum(1 for r in results if r.skipped),
        results=tuple(results),
    )


def alert_cycle(
    engine: Engine,
    *,
    clock: Clock = utcnow,
    mailer: Mailer | None,
    settings: MonitorSettings | Settings | None = None,
    http: httpx.Client | None = None,
) -> AlertSummary:
    """Evaluate alert rules once: lifecycle, suppression, notifications, escalation.

    >>> # alert_cycle(engine, clock=utcnow, mailer=Mailer(SmtpSettings.from_env()))
    """
    ms = _monitor_settings(settings)
    notifier = Notifier(mailer=mailer, webhook_url=ms.webhook_url, http=http)
    with session_scope(engine) as session:
        return AlertEngine(session, clock=clock, notifier=notifier, settings=ms).evaluate()
