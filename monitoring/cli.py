"""``tldops monitor …`` — poll, status, alerts, ack, silence, maintenance, export-prometheus.

Examples::

    tldops monitor poll --unit HN --once        # one cycle with a live table
    tldops monitor status --unit HN
    tldops monitor alerts
    tldops monitor ack 12 --comment "đang xử lý"
    tldops monitor silence --unit HN --hours 2 --comment "thay switch"
    tldops monitor export-prometheus var/prom --shards 2
    tldops monitor service add HN "Cổng thông tin" --kind http --target https://hn.congdoan.vn/
    tldops monitor service list --unit HN
    tldops monitor service remove "Cổng thông tin"
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table
from sqlalchemy import Engine, select

from inventory.config import Settings
from inventory.db import utcnow
from inventory.enums import ServiceKind
from inventory.errors import NotFound
from inventory.mail import Mailer, SmtpSettings
from inventory.models import Device, Unit
from inventory.runtime import cli_session, console, current_actor, get_engine
from inventory.secrets import SecretBox
from inventory.service import InventoryService
from monitoring.alerts import (
    acknowledge,
    add_maintenance,
    add_silence,
    expire_silence,
    open_alerts_query,
)
from monitoring.errors import ConfigInvalid
from monitoring.jobs import PollSummary, alert_cycle, check_cycle, poll_cycle
from monitoring.models import CheckState, PollStatus, Silence
from monitoring.promstack import ExportOptions, export_prometheus
from monitoring.service import MonitorSettings, unit_status
from monitoring.snmp import DeviceSample

app = typer.Typer(
    name="monitor",
    help="Giám sát thiết bị, dịch vụ và cảnh báo / monitoring, service checks and alerts.",
    no_args_is_help=True,
)

STATUS_STYLE = {
    PollStatus.up: "green",
    PollStatus.down: "red",
    PollStatus.error: "yellow",
    PollStatus.skipped: "dim",
}


def _unit(code: str) -> Unit:
    with cli_session() as s:
        unit = s.scalar(select(Unit).where(Unit.code == code))
        if unit is None:
            raise NotFound(f"Không có đơn vị mã {code!r} / no unit with code {code!r}")
        s.expunge(unit)
        return unit


def _live_table(samples: list[DeviceSample], total: int, names: dict[int, str]) -> Table:
    t = Table(title=f"Thăm dò SNMP / SNMP poll: {len(samples)}/{total}")
    t.add_column("Thiết bị / device")
    t.add_column("Địa chỉ / address")
    t.add_column("Trạng thái / status")
    t.add_column("ms", justify="right")
    t.add_column("Chi tiết / detail")
    for s in samples[-25:]:
        style = STATUS_STYLE[s.status]
        t.add_row(
            names.get(s.device_id, str(s.device_id)),
            s.host,
            f"[{style}]{s.status.value}[/]",
            f"{s.duration_ms:.0f}",
            s.error or s.sys_name or "",
        )
    return t


def _poll_live(
    engine: Engine, settings: MonitorSettings, unit: str | None, names: dict[int, str]
) -> PollSummary:
    samples: list[DeviceSample] = []
    with Live(_live_table(samples, 0, names), console=console, refresh_per_second=4) as live:

        def on_sample(sample: DeviceSample) -> None:
            samples.append(sample)
            live.update(_live_table(samples, len(names), names))

        summary = asyncio.run(
            poll_cycle(engine, settings=settings, clock=utcnow, unit_code=unit, on_sample=on_sample)
        )
        live.update(_live_table(samples, summary.polled, names))
    if not console.is_terminal:
        console.line()  # Live leaves no newline behind when output is not a terminal
    return summary


@app.command()
def poll(
    unit: Annotated[str | None, typer.Option("--unit", help="unit code (subtree)")] = None,
    once: Annotated[bool, typer.Option("--once", help="one cycle, then exit")] = False,
    interval: Annotated[float, typer.Option(help="seconds between cycles")] = 60.0,
    checks: Annotated[bool, typer.Option(help="also run service checks and alert rules")] = True,
) -> None:
    """Poll devices by SNMP (and run checks and alert rules) with a live view."""
    settings = MonitorSettings.from_env()
    engine = get_engine()
    if unit is not None:
        _unit(unit)
    with cli_session() as s:
        names = {d.id: d.hostname or d.asset_tag for d in s.scalars(select(Device))}
    while True:
        summary = _poll_live(engine, settings, unit, names)
        console.print(
            f"[green]up {summary.up}[/]  [red]down {summary.down}[/]  "
            f"[yellow]error {summary.error}[/]  "
            f"not polled {summary.skipped + len(summary.unpolled)}  "
            f"({summary.seconds:.1f}s)"
        )
        if summary.polled == 0 and not summary.unpolled:
            console.print(
                "  [yellow]Không có thiết bị nào có địa chỉ quản lý để thăm dò / "
                "no active device with a management address in this subtree[/]"
            )
        by_reason: dict[str, list[str]] = {}
        for u in summary.unpolled:
            by_reason.setdefault(u.reason, []).append(str(names.get(u.device_id, u.device_id)))
        for reason, devs in by_reason.items():
            more = f" (+{len(devs) - 5})" if len(devs) > 5 else ""
            console.print(f"  [yellow]{len(devs)} not polled[/]: {reason}", highlight=False)
            console.print(f"    [dim]{', '.join(devs[:5])}{more}[/]", highlight=False)
        if checks:
            cs = asyncio.run(check_cycle(engine, settings=settings, clock=utcnow, unit_code=unit))
            console.print(f"checks: ok {cs.ok}, failed {cs.failed}, not checked {cs.skipped}")
            mailer = Mailer(SmtpSettings.from_env())
            al = alert_cycle(engine, clock=utcnow, mailer=mailer, settings=settings)
            console.print(
                f"alerts: firing {al.firing}, pending {al.pending}, resolved {al.resolved}, "
                f"suppressed {al.suppressed}, notifications {al.notifications}"
            )
        if once:
            return
        time.sleep(interval)


@app.command()
def status(
    unit: Annotated[str | None, typer.Option("--unit", help="unit code (subtree)")] = None,
    devices: Annotated[bool, typer.Option(help="list devices too")] = True,
) -> None:
    """Up/down/not-polled counts for a unit and its children, and each device's last poll."""
    with cli_session() as s:
        report = unit_status(s, unit_code=unit, with_devices=devices)
    t = Table(title="Tình trạng theo đơn vị / status per unit")
    for col in (
        "Đơn vị / unit",
        "devices",
        "up",
        "down",
        "error",
        "not polled",
        "never",
        "svc ok",
        "svc failed",
        "alerts",
    ):
        t.add_column(col, justify="right" if col != "Đơn vị / unit" else "left")
    for u in (report.unit, *report.children):
        t.add_row(
            f"{u.code} {u.name}",
            str(u.devices),
            f"[green]{u.up}[/]",
            f"[red]{u.down}[/]",
            f"[yellow]{u.error}[/]",
            str(u.not_polled),
            str(u.never_polled),
            str(u.services_ok),
            str(u.services_failed),
            str(u.alerts_firing),
        )
    console.print(t)
    if devices and report.devices:
        d = Table(title="Thiết bị / devices")
        for col in ("asset", "host", "kind", "unit", "address", "status", "detail"):
            d.add_column(col)
        for r in report.devices:
            st = r.status
            text = "not polled (outside allowed networks)" if st == "skipped" else st
            d.add_row(
                r.asset_tag, r.hostname or "", r.kind, r.unit_code, r.mgmt_ip or "", text, r.detail
            )
        console.print(d)


@app.command()
def alerts(
    unit: Annotated[str | None, typer.Option("--unit", help="unit code (subtree)")] = None,
    all_: Annotated[bool, typer.Option("--all", help="include resolved alerts")] = False,
    limit: Annotated[int, typer.Option(help="rows to show")] = 100,
) -> None:
    """List alerts (open by default) of a unit's subtree."""
    with cli_session() as s:
        path = _unit(unit).path if unit else "/"
        rows = s.scalars(open_alerts_query(path, include_resolved=all_).limit(limit)).all()
        t = Table(title="Cảnh báo / alerts")
        for col in (
            "id",
            "state",
            "severity",
            "rule",
            "unit",
            "summary",
            "since",
            "ack",
            "muted by",
        ):
            t.add_column(col)
        for a in rows:
            t.add_row(
                str(a.id),
                a.state.value,
                a.severity.value,
                a.rule,
                a.labels.get("unit", ""),
                a.summary,
                f"{a.starts_at:%Y-%m-%d %H:%M}",
                a.acknowledged_by or "",
                a.suppressed_by or "",
            )
        console.print(t)


@app.command()
def ack(
    alert_ids: Annotated[list[int], typer.Argument(help="alert ids")],
    comment: Annotated[str, typer.Option(help="why / what is being done")] = "",
) -> None:
    """Acknowledge alerts (stops escalation up the tree)."""
    with cli_session() as s:
        for aid in alert_ids:
            a = acknowledge(s, alert_id=aid, actor=current_actor(), comment=comment, clock=utcnow)
            console.print(f"[green]✓[/] {a.id} {a.summary}")


def _parse_when(text: str | None, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigInvalid(
            f"Thời điểm không hợp lệ {text!r} / invalid time {text!r}",
            hint="use ISO 8601, e.g. 2026-11-25T22:00+07:00",
        ) from exc
    if value.tzinfo is None:
        from inventory.config import TIMEZONE

        value = value.replace(tzinfo=TIMEZONE)
    return value


@app.command()
def silence(
    unit: Annotated[str, typer.Option("--unit", help="unit code: the whole subtree is silenced")],
    hours: Annotated[float, typer.Option(help="duration")] = 2.0,
    rule: Annotated[str | None, typer.Option(help="only this rule, e.g. device_down")] = None,
    device: Annotated[str | None, typer.Option(help="only this device (asset tag)")] = None,
    comment: Annotated[str, typer.Option(help="why")] = "",
) -> None:
    """Silence alerts of a unit subtree for some hours."""
    with cli_session() as s:
        u = s.scalar(select(Unit).where(Unit.code == unit))
        if u is None:
            raise NotFound(f"Không có đơn vị mã {unit!r} / no unit with code {unit!r}")
        dev_id = None
        if device:
            dev = s.scalar(select(Device).where(Device.asset_tag == device))
            if dev is None:
                raise NotFound(f"Không có thiết bị {device!r} / no device {device!r}")
            dev_id = dev.id
        now = utcnow()
        sil = add_silence(
            s,
            unit=u,
            starts_at=now,
            ends_at=now + timedelta(hours=hours),
            actor=current_actor(),
            comment=comment,
            rule=rule,
            device_id=dev_id,
        )
        console.print(
            f"[green]✓[/] silence {sil.id}: {unit} until {sil.ends_at:%Y-%m-%d %H:%M} UTC"
        )


@app.command()
def silences(
    all_: Annotated[bool, typer.Option("--all", help="include expired silences")] = False,
) -> None:
    """List silences (active ones by default)."""
    with cli_session() as s:
        q = select(Silence, Unit.code).join(Unit, Silence.unit_id == Unit.id).order_by(Silence.id)
        if not all_:
            q = q.where(Silence.ends_at > utcnow())
        t = Table(title="Tắt cảnh báo / silences")
        for col in ("id", "unit (subtree)", "rule", "device", "from", "until", "by", "comment"):
            t.add_column(col)
        for sil, code in s.execute(q):
            t.add_row(
                str(sil.id),
                code,
                sil.rule or "*",
                str(sil.device_id or "*"),
                f"{sil.starts_at:%Y-%m-%d %H:%M}",
                f"{sil.ends_at:%Y-%m-%d %H:%M}",
                sil.created_by,
                sil.comment,
            )
        console.print(t)


@app.command()
def unsilence(silence_id: Annotated[int, typer.Argument(help="silence id")]) -> None:
    """End a silence now."""
    with cli_session() as s:
        sil = expire_silence(s, silence_id=silence_id, actor=current_actor(), clock=utcnow)
        console.print(f"[green]✓[/] silence {sil.id} ended {sil.ends_at:%Y-%m-%d %H:%M} UTC")


@app.command()
def maintenance(
    unit: Annotated[str, typer.Option("--unit", help="unit code (subtree)")],
    start: Annotated[str | None, typer.Option(help="ISO time; default now")] = None,
    end: Annotated[str | None, typer.Option(help="ISO time; default start + 2 h")] = None,
    reason: Annotated[str, typer.Option(help="what work")] = "",
) -> None:
    """Declare a maintenance window on a unit subtree."""
    with cli_session() as s:
        u = s.scalar(select(Unit).where(Unit.code == unit))
        if u is None:
            raise NotFound(f"Không có đơn vị mã {unit!r} / no unit with code {unit!r}")
        st = _parse_when(start, utcnow())
        en = _parse_when(end, st + timedelta(hours=2))
        if en <= st:
            raise ConfigInvalid("Kết thúc phải sau bắt đầu / end must be after start")
        w = add_maintenance(
            s, unit=u, starts_at=st, ends_at=en, actor=current_actor(), reason=reason
        )
        console.print(
            f"[green]✓[/] maintenance {w.id}: {unit} {st:%Y-%m-%d %H:%M} → {en:%Y-%m-%d %H:%M}"
        )


@app.command()
def evaluate() -> None:
    """Run the alert rules once (notifications included)."""
    al = alert_cycle(
        get_engine(),
        clock=utcnow,
        mailer=Mailer(SmtpSettings.from_env()),
        settings=MonitorSettings.from_env(),
    )
    console.print(
        f"firing {al.firing}, pending {al.pending}, resolved {al.resolved}, "
        f"suppressed {al.suppressed}, notifications {al.notifications}, "
        f"escalations {al.escalations}"
    )


@app.command("export-prometheus")
def export_prometheus_cmd(
    directory: Annotated[Path, typer.Argument(help="output directory")],
    shards: Annotated[int, typer.Option(help="hashmod shards (one prometheus config each)")] = 1,
    snmp_exporter: Annotated[
        str, typer.Option(help="host:port of snmp_exporter")
    ] = "127.0.0.1:9116",
    tldops_metrics: Annotated[
        str, typer.Option(help="host:port serving tldops /metrics")
    ] = "127.0.0.1:8080",
    alertmanager: Annotated[str, typer.Option(help="host:port of Alertmanager")] = "127.0.0.1:9093",
    scrape_interval: Annotated[str, typer.Option(help="Prometheus duration")] = "60s",
    with_secrets: Annotated[
        bool,
        typer.Option(
            "--with-secrets/--placeholders",
            help="write the SNMP communities/keys into snmp.yml, mode 0600 (default: "
            "snmp_exporter 0.21 expands no placeholders); --placeholders writes "
            "${TLDOPS_CRED_...} for you to render",
        ),
    ] = True,
) -> None:
    """Write prometheus.yml, file_sd targets, snmp.yml, rules and alertmanager.yml.

    snmp.yml holds the SNMP secrets (mode 0600) unless --placeholders is given."""
    opts = ExportOptions(
        snmp_exporter=snmp_exporter,
        tldops_metrics=tldops_metrics,
        alertmanager=alertmanager,
        scrape_interval=scrape_interval,
        scrape_timeout=scrape_interval if _seconds(scrape_interval) < 30 else "30s",
        shards=shards,
        with_secrets=with_secrets,
        webhook_url=MonitorSettings.from_env().webhook_url,
    )
    box = SecretBox.from_settings(Settings.from_env()) if with_secrets else None
    with cli_session() as s:
        res = export_prometheus(s, directory, options=opts, box=box, smtp=SmtpSettings.from_env())
    for f in res.files:
        console.print(f"  {f}")
    console.print(
        f"[green]✓[/] {res.targets} targets, {res.modules} snmp modules, {res.receivers} receivers"
    )
    if res.secrets_file is not None:
        console.print(
            f"[yellow]![/] {res.secrets_file} chứa mật khẩu/community SNMP (quyền 0600) / "
            "holds the SNMP secrets (mode 0600): keep it readable only by snmp_exporter"
        )
    elif not with_secrets:
        console.print(
            "[yellow]![/] snmp.yml chứa ${TLDOPS_CRED_...}: hãy thay giá trị trước khi chạy / "
            "holds ${TLDOPS_CRED_...} placeholders: render them before snmp_exporter reads it "
            "(0.21 does not expand them)"
        )


service_app = typer.Typer(
    help="Dịch vụ được kiểm tra / service checks (http, tcp, tls, smtp, dns, icmp).",
    no_args_is_help=True,
)
app.add_typer(service_app, name="service")


@service_app.command("add")
def service_add(
    unit_code: Annotated[str, typer.Argument(help="unit code owning the service")],
    name: Annotated[str, typer.Argument(help="unique service name")],
    kind: Annotated[ServiceKind, typer.Option("--kind", help="check kind")],
    target: Annotated[
        str, typer.Option("--target", help="URL (http/tls), host[:port] (tcp/smtp), name (dns)")
    ],
    port: Annotated[int | None, typer.Option("--port", help="port, if not in the target")] = None,
    expect: Annotated[
        str | None,
        typer.Option("--expect", help="http: expected status; dns: an address among answers"),
    ] = None,
) -> None:
    """Add a service check to a unit (written to the inventory, audited)."""
    with cli_session() as s:
        svc = InventoryService(s, actor=current_actor()).add_service(
            unit_code=unit_code, name=name, kind=kind, target=target, port=port, expect=expect
        )
        extra = "".join(
            f" {k} {svc.params[k]}" for k in ("port", "expect_status", "expect") if k in svc.params
        )
        console.print(
            f"[green]✓[/] service {svc.name!r} ({svc.kind.value}) → {svc.target}{extra} "
            f"\\[{unit_code}]",
            highlight=False,
        )


@service_app.command("remove")
def service_remove(name: Annotated[str, typer.Argument(help="service name")]) -> None:
    """Remove a service check (audited)."""
    with cli_session() as s:
        InventoryService(s, actor=current_actor()).remove_service(name)
        console.print(f"[green]✓[/] service {name!r} removed", highlight=False)


@service_app.command("list")
def service_list(
    unit: Annotated[str | None, typer.Option("--unit", help="unit code (subtree)")] = None,
) -> None:
    """Services of a unit subtree with the state of their last check."""
    with cli_session() as s:
        rows = InventoryService(s, actor=current_actor()).services(unit)
        states = {
            c.service_id: c
            for c in s.scalars(
                select(CheckState).where(CheckState.service_id.in_([r.id for r in rows]))
            )
        }
        t = Table(title="Dịch vụ / services")
        for col in ("name", "unit", "kind", "target", "last check", "when (UTC)", "detail"):
            t.add_column(col)
        for svc in rows:
            st = states.get(svc.id)
            if st is None:
                state = "[dim]never checked[/]"
            elif st.skipped:
                state = "[dim]not checked[/]"
            else:
                state = "[green]ok[/]" if st.ok else "[red]failed[/]"
            when = f"{st.checked_at:%Y-%m-%d %H:%M}" if st is not None else ""
            t.add_row(
                svc.name,
                svc.unit.code,
                svc.kind.value,
                svc.target,
                state,
                when,
                st.detail if st is not None else "",
            )
        console.print(t)
        console.print(f"{len(rows)} services", highlight=False)


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if duration.endswith(suffix):
            try:
                return float(duration[: -len(suffix)]) * units[suffix]
            except ValueError:
                break
    raise ConfigInvalid(
        f"Khoảng thời gian không hợp lệ / invalid duration {duration!r}",
        hint="use Prometheus durations such as 15s, 1m",
    )


__all__ = ["app"]
