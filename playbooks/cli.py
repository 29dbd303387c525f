"""``tldops play|backup|drill|failover``: the playbooks domain's commands.

tldops play run office_baseline --unit HN --check --diff
tldops play runs
tldops play show 12
tldops backup configs --unit HN
tldops backup diff HN-SW-1 [REV]
tldops backup db ; tldops backup verify
tldops drill restore --rto-hours 4
tldops failover define pairs.yaml ; tldops failover status ; tldops drill failover portal
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import BaseModel, ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from sqlalchemy import select

from inventory.ansible import unit_group_name
from inventory.config import Settings
from inventory.errors import NotFound, OpsError
from inventory.models import Unit
from inventory.runtime import cli_session, console, current_actor, get_engine
from inventory.secrets import SecretBox
from playbooks.configbackup import (
    BackupSettings,
    ConfigRepo,
    FetchResult,
    backup_configs,
    device_repo_path,
    select_targets,
)
from playbooks.databackup import DEFAULT_RTO_S, backup_database, drill_restore, verify_backup
from playbooks.enums import BackupOutcome, PairHealth, RunStatus
from playbooks.errors import BackupError
from playbooks.failover import NodeSpec, define_pair, drill_failover, pair_status
from playbooks.models import PlaybookRun
from playbooks.resticstatus import TEXTFILE, collect_agent_status
from playbooks.runner import RunProgress, credential_secrets, list_playbooks, run_playbook
from playbooks.settings import PlaybookPaths

play_app = typer.Typer(help="Chạy playbook Ansible / run Ansible playbooks", no_args_is_help=True)
backup_app = typer.Typer(
    help="Sao lưu cấu hình và dữ liệu / configuration and data backups", no_args_is_help=True
)
drill_app = typer.Typer(help="Diễn tập khôi phục / recovery drills", no_args_is_help=True)
failover_app = typer.Typer(help="Cặp keepalived / keepalived pairs", no_args_is_help=True)


def _now() -> datetime:
    return datetime.now(UTC)


def _paths() -> tuple[Settings, PlaybookPaths]:
    settings = Settings.from_env()
    return settings, PlaybookPaths.from_settings(settings)


def _color(status: str) -> str:
    return {"successful": "green", "failed": "red", "error": "red"}.get(status, "yellow")


# -- play --------------------------------------------------------------------------------------


@play_app.command("run")
def play_run(
    playbook: str = typer.Argument(..., help=f"one of: {', '.join(list_playbooks())}"),
    unit: str | None = typer.Option(None, "--unit", help="only devices of this unit's subtree"),
    limit: str | None = typer.Option(None, "--limit", help="Ansible host pattern"),
    check: bool = typer.Option(False, "--check", help="dry run: report what would change"),
    diff: bool = typer.Option(False, "--diff", help="show file differences"),
    inventory: Path | None = typer.Option(
        None, "--inventory", "-i", help="inventory file/script (default: the tldops inventory)"
    ),
    extra: list[str] = typer.Option([], "--extra", "-e", help="key=value extra variable"),
) -> None:
    """Chạy PLAYBOOK qua ansible-runner / run PLAYBOOK through ansible-runner."""
    if unit and limit:
        raise OpsError("Chỉ dùng --unit hoặc --limit / use --unit or --limit, not both")
    extra_vars: dict[str, Any] = {}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep:
            raise OpsError(f"-e cần key=value / -e needs key=value, got {item!r}")
        extra_vars[key] = value
    settings, paths = _paths()
    box = SecretBox.from_settings(settings)
    with cli_session() as session:
        unit_id = None
        if unit:
            u = session.scalar(select(Unit).where(Unit.code == unit))
            if u is None:
                raise NotFound(f"Không có đơn vị {unit!r} / no unit {unit!r}")
            unit_id = u.id
            # The inventory core names one group per unit, with child units as children.
            limit = unit_group_name(u.code)
        env = {"TLDOPS_DATABASE_URL": settings.database_url}
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task(playbook, total=None, info="")

            def on_progress(p: RunProgress) -> None:
                progress.update(
                    task,
                    completed=p.tasks_done,
                    info=f"hosts {p.hosts_seen} · failed {p.hosts_failed} · {p.task[:40]}",
                )

            outcome = run_playbook(
                session,
                playbook=playbook,
                runs_dir=paths.runs_dir,
                actor=current_actor(),
                secrets=credential_secrets(session, box=box),
                inventory=inventory,
                limit=limit,
                unit_id=unit_id,
                check=check,
                diff=diff,
                extra_vars=extra_vars,
                env=env,
                on_progress=on_progress,
            )
        _print_hosts(outcome.hosts)
        console.print(
            f"run {outcome.run_id}: [{_color(outcome.status.value)}]{outcome.status.value}[/] "
            f"rc={outcome.rc} · {outcome.artifact_dir}"
        )
    if outcome.status is not RunStatus.successful:
        raise typer.Exit(1)


def _print_hosts(hosts: Any) -> None:
    hosts = list(hosts)
    # Why a host failed, next to its counters (the full output stays in var/runs/<id>/stdout).
    reasons = any(getattr(h, "error", None) for h in hosts)
    columns = ["host", "ok", "changed", "failed", "unreachable", "skipped"]
    table = Table(*columns, *(["reason"] if reasons else []))
    for h in hosts:
        row = [
            h.host,
            str(h.ok),
            str(h.changed),
            f"[red]{h.failed}[/]" if h.failed else "0",
            f"[red]{h.unreachable}[/]" if h.unreachable else "0",
            str(h.skipped),
        ]
        if reasons:
            row.append(escape(h.error or ""))
        table.add_row(*row)
    console.print(table)


@play_app.command("runs")
def play_runs(last: int = typer.Option(20, "--last", help="how many runs")) -> None:
    """Lịch sử chạy playbook / history of playbook runs."""
    with cli_session() as session:
        rows = session.scalars(select(PlaybookRun).order_by(PlaybookRun.id.desc()).limit(last))
        table = Table("id", "playbook", "status", "started", "limit", "check", "actor")
        for r in rows:
            table.add_row(
                str(r.id),
                r.playbook,
                f"[{_color(r.status.value)}]{r.status.value}[/]",
                r.started_at.strftime("%d/%m/%Y %H:%M"),
                (r.limit or "")[:40],
                "yes" if r.check_mode else "",
                r.actor,
            )
        console.print(table)


@play_app.command("show")
def play_show(run_id: int = typer.Argument(..., help="run id")) -> None:
    """Chi tiết một lần chạy / details of one run."""
    with cli_session() as session:
        run = session.get(PlaybookRun, run_id)
        if run is None:
            raise NotFound(f"Không có lần chạy {run_id} / no run {run_id}")
        console.print(
            f"run {run.id} · {run.playbook} · [{_color(run.status.value)}]{run.status.value}[/] "
            f"rc={run.rc}\nstarted {run.started_at.isoformat()} finished "
            f"{run.finished_at.isoformat() if run.finished_at else '-'} by {run.actor}\n"
            f"limit={run.limit or '-'} check={run.check_mode} diff={run.diff_mode}\n"
            f"artifacts: {run.artifact_dir}"
        )
        _print_hosts(run.hosts)


# -- backup ------------------------------------------------------------------------------------


@backup_app.command("configs")
def backup_configs_cmd(
    unit: str | None = typer.Option(None, "--unit", help="only this unit's subtree"),
    workers: int = typer.Option(8, "--workers", min=1, max=64, help="parallel connections"),
    timeout: float = typer.Option(30.0, "--timeout", help="seconds per device step"),
) -> None:
    """Lấy cấu hình thiết bị vào kho git / fetch device configurations into the git repo."""
    settings, paths = _paths()
    box = SecretBox.from_settings(settings)
    bsettings = BackupSettings(
        known_hosts=paths.known_hosts,
        workers=workers,
        conn_timeout_s=min(timeout, 30.0),
        read_timeout_s=timeout,
    )
    with cli_session() as session:
        total = len(select_targets(session, box=box, unit_code=unit)[0])
        with Progress(
            TextColumn("[bold]configs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("configs", total=total, info="")
            failed = 0

            def on_done(res: FetchResult) -> None:
                nonlocal failed
                failed += res.error is not None
                progress.update(task, advance=1, info=f"failed {failed}")

            results = backup_configs(
                session,
                box=box,
                repo=ConfigRepo(paths.config_repo),
                settings=bsettings,
                unit_code=unit,
                on_done=on_done,
            )
        table = Table("device", "outcome", "+", "-", "commit", "error")
        for r in results:
            colour = {"failed": "red", "changed": "yellow", "first": "cyan"}.get(
                r.outcome.value, "green"
            )
            table.add_row(
                r.asset_tag,
                f"[{colour}]{r.outcome.value}[/]",
                str(r.lines_added),
                str(r.lines_removed),
                (r.commit or "")[:10],
                (r.error or "")[:80],
            )
        console.print(table)
    failed_n = sum(1 for r in results if r.outcome is BackupOutcome.failed)
    if failed_n:
        raise BackupError(
            f"{failed_n}/{len(results)} thiết bị sao lưu lỗi / "
            f"{failed_n} of {len(results)} devices failed",
            hint="the error column says why; `tldops backup configs --unit X` retries a subtree",
        )


@backup_app.command("agents")
def backup_agents(
    unit: str | None = typer.Option(None, "--unit", help="only this unit's subtree"),
    textfile: str = typer.Option(TEXTFILE, "--textfile", help="agent metrics file on the hosts"),
) -> None:
    """Kết quả của các agent restic / collect the restic agents' last runs from the servers."""
    settings, paths = _paths()
    box = SecretBox.from_settings(settings)
    with cli_session() as session:
        results = collect_agent_status(
            session,
            box=box,
            settings=BackupSettings(known_hosts=paths.known_hosts),
            unit_code=unit,
            textfile=textfile,
        )
    table = Table("server", "last run", "ok", "last success", "new", "error")
    for r in results:
        table.add_row(
            r.asset_tag,
            r.last_run.isoformat() if r.last_run else "-",
            {True: "[green]yes[/]", False: "[red]NO[/]", None: "?"}[r.ok],
            r.last_success.isoformat() if r.last_success else "-",
            "new" if r.new_run else "",
            (r.error or "")[:60],
        )
    console.print(table)
    if any(r.ok is False or not r.reachable for r in results):
        raise typer.Exit(1)


@backup_app.command("diff")
def backup_diff(
    device: str = typer.Argument(..., help="asset tag"),
    rev: str | None = typer.Argument(None, help="git revision to compare from"),
) -> None:
    """Thay đổi cấu hình của DEVICE / what changed in DEVICE's configuration."""
    _, paths = _paths()
    with cli_session() as session:
        rel = device_repo_path(session, device)
    text = ConfigRepo(paths.config_repo).diff(rel, rev=rev)
    console.print(text or "(no changes)", highlight=False, markup=False)


@backup_app.command("db")
def backup_db(
    keep: int | None = typer.Option(None, "--keep", min=1, help="backups to keep"),
) -> None:
    """Sao lưu CSDL tldops / back up the tldops database."""
    _, paths = _paths()
    engine = get_engine()
    res = backup_database(
        engine, backup_dir=paths.db_backup_dir, clock=_now, keep=keep or paths.db_backup_keep
    )
    if not res.ok:
        raise OpsError(
            f"Sao lưu thất bại / backup failed: {res.error}",
            hint="see `tldops backup verify` and the server logs",
        )
    console.print(
        f"backup {res.backup_id}: {res.path} ({res.size_bytes} bytes, {res.seconds:.1f}s)"
        + (f", pruned {len(res.pruned)}" if res.pruned else "")
    )


@backup_app.command("verify")
def backup_verify(
    backup_id: int | None = typer.Option(None, "--backup", help="backup id (default newest)"),
) -> None:
    """Khôi phục thử bản mới nhất và so sánh / restore the newest backup and compare."""
    res = verify_backup(get_engine(), clock=_now, backup_id=backup_id)
    table = Table("table", "rows (backup)", "rows (restored)", "match")
    for t in res.tables:
        table.add_row(
            t.table,
            str(t.expected_rows),
            str(t.restored_rows),
            "[green]yes[/]" if t.ok else "[red]NO[/]",
        )
    console.print(table)
    console.print(f"restore {res.restore_seconds:.1f}s · {'OK' if res.ok else 'FAILED'}")
    if not res.ok:
        raise OpsError(
            f"Kiểm tra sao lưu thất bại / verification failed: "
            f"{res.error or ', '.join(res.mismatched_tables)}",
            hint="take a fresh backup with `tldops backup db` and investigate the old one",
        )


# -- drills ------------------------------------------------------------------------------------


@drill_app.command("restore")
def drill_restore_cmd(
    rto_hours: float = typer.Option(DEFAULT_RTO_S / 3600, "--rto-hours", help="RTO target"),
) -> None:
    """Diễn tập khôi phục CSDL / database restore drill against the RTO."""
    res = drill_restore(
        get_engine(), clock=_now, actor=current_actor(), rto_seconds=rto_hours * 3600
    )
    verdict = "[green]met[/]" if res.met_objective else "[red]MISSED[/]"
    console.print(
        f"drill {res.drill_id}: restore {res.measured_seconds:.1f}s vs RTO "
        f"{res.objective_seconds:.0f}s → {verdict}"
    )
    if not res.ok:
        raise OpsError(
            "Diễn tập khôi phục thất bại / restore drill failed",
            hint="run `tldops backup verify` for details",
        )


@drill_app.command("failover")
def drill_failover_cmd(
    pair: str = typer.Argument(..., help="keepalived pair name"),
    timeout: float = typer.Option(30.0, "--timeout", help="seconds to wait for each step"),
) -> None:
    """Diễn tập chuyển đổi dự phòng / failover drill: stop master, time the takeover, restore."""
    settings, paths = _paths()
    box = SecretBox.from_settings(settings)
    with cli_session() as session:
        res = drill_failover(
            session,
            pair=pair,
            box=box,
            clock=_now,
            actor=current_actor(),
            timeout_s=timeout,
            known_hosts=paths.known_hosts,
        )
    if res.ok:
        console.print(
            f"{pair}: {res.old_master} → {res.new_master}: VIP moved in "
            f"{res.vip_moved_seconds:.2f}s, service answered in {res.failover_seconds:.2f}s; "
            f"restored in {res.restored_seconds:.2f}s"
        )
    else:
        raise OpsError(
            f"Diễn tập failover thất bại / failover drill failed: {res.error}",
            hint="check `tldops failover status` and keepalived logs on the nodes",
        )


# -- failover ----------------------------------------------------------------------------------


class _NodeFile(BaseModel):
    name: str
    ssh_host: str
    ssh_port: int = 22
    ssh_profile: str | None = None
    priority: int = 100
    state_file: str = "/var/run/keepalived.state"
    stop_command: str = "sudo -n systemctl stop keepalived"
    start_command: str = "sudo -n systemctl start keepalived"


class _PairFile(BaseModel):
    name: str
    vip: str
    virtual_router_id: int
    unit: str
    check_url: str | None = None
    nodes: list[_NodeFile]


@failover_app.command("define")
def failover_define(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML list of pairs"),
) -> None:
    """Khai báo cặp keepalived từ tệp YAML / define keepalived pairs from a YAML file."""
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or []
        pairs = [_PairFile.model_validate(p) for p in (raw if isinstance(raw, list) else [raw])]
    except (yaml.YAMLError, ValidationError) as exc:
        err = OpsError(
            f"{file}: tệp không hợp lệ / invalid file: {exc}",
            hint="each pair needs name, vip, virtual_router_id, unit and nodes",
        )
        err.exit_code = 2
        raise err from exc
    with cli_session() as session:
        for p in pairs:
            define_pair(
                session,
                name=p.name,
                vip=p.vip,
                virtual_router_id=p.virtual_router_id,
                unit_code=p.unit,
                check_url=p.check_url,
                actor=current_actor(),
                nodes=[NodeSpec(**n.model_dump()) for n in p.nodes],
            )
    console.print(f"{len(pairs)} pair(s) defined")


@failover_app.command("status")
def failover_status(
    pair: str | None = typer.Argument(None, help="only this pair"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Trạng thái VRRP của các cặp / VRRP state of each keepalived pair."""
    settings, paths = _paths()
    box = SecretBox.from_settings(settings)
    with cli_session() as session:
        statuses = pair_status(
            session, box=box, name=pair, clock=_now, known_hosts=paths.known_hosts
        )
    if as_json:
        console.print_json(
            json.dumps(
                [
                    {
                        "pair": s.pair,
                        "vip": s.vip,
                        "health": s.health.value,
                        "master": s.master,
                        "nodes": {n.name: n.state.value for n in s.nodes},
                    }
                    for s in statuses
                ]
            )
        )
    else:
        table = Table("pair", "vip", "health", "nodes")
        for s in statuses:
            colour = "green" if s.health is PairHealth.ok else "red"
            table.add_row(
                s.pair,
                s.vip,
                f"[{colour}]{s.health.value}[/]",
                ", ".join(
                    f"{n.name}={n.state.value}" + (f" ({n.error[:40]})" if n.error else "")
                    for n in s.nodes
                ),
            )
        console.print(table)
    if any(s.health in (PairHealth.split_brain, PairHealth.no_master) for s in statuses):
        raise typer.Exit(1)
