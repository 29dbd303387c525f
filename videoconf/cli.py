"""``tldops conf``: book and manage online conferences on the federation's Jitsi Meet.

    tldops conf deployments add --name hq --base-url https://meet.congdoan.vn --app-id tldops \\
        --domain meet.congdoan.vn --max-participants 300 --bandwidth-mbps 1000   # secret: env
    tldops conf book --title "Giao ban toàn quốc" --host CB001 --start "01/03/2027 08:00" \\
        --duration 120 --subtree TLD:2 --rrule "FREQ=WEEKLY;BYDAY=MO;COUNT=10"
    tldops conf list | show ID | cancel ID | reschedule ID | attendance ID | servers

Times are Vietnam time (``dd/mm/yyyy HH:MM`` or ISO 8601). Invitations go out by e-mail through
the SMTP server in ``TLDOPS_SMTP_*`` unless ``--no-send``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated

import requests
import typer
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select

from inventory.db import utcnow
from inventory.enums import UnitKind
from inventory.mail import Mailer, MailError, SmtpSettings
from inventory.runtime import cli_session, console, current_actor, get_engine
from videoconf.errors import VideoconfError
from videoconf.jitsi import JitsiClient
from videoconf.models import Conference, ConferenceStatus
from videoconf.recurrence import fmt_local, parse_local
from videoconf.schemas import ServerStatus
from videoconf.service import BookingRequest, ConferenceService, SubtreeSelector

app = typer.Typer(
    help="Hội nghị trực tuyến trên Jitsi Meet / online conferences on Jitsi Meet.",
    no_args_is_help=True,
)
rooms_app = typer.Typer(help="Phòng họp vật lý / physical meeting rooms.", no_args_is_help=True)
deployments_app = typer.Typer(
    help="Máy chủ Jitsi và công suất / Jitsi deployments and capacity.", no_args_is_help=True
)
app.add_typer(rooms_app, name="rooms")
app.add_typer(deployments_app, name="deployments")

Many = Annotated[list[str] | None, typer.Option()]


def _mailer() -> Mailer:
    return Mailer(SmtpSettings.from_env())


def _svc(session: object) -> ConferenceService:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    return ConferenceService(session, actor=current_actor())


# -- deployments ------------------------------------------------------------------------------
@deployments_app.command("add")
def deployment_add(
    name: Annotated[str, typer.Option(help="short name, e.g. hq")],
    base_url: Annotated[str, typer.Option(help="https://meet.congdoan.vn")],
    app_id: Annotated[str, typer.Option(help="JWT issuer (Jitsi app id)")],
    domain: Annotated[str, typer.Option(help="XMPP domain (JWT sub)")],
    max_participants: Annotated[int, typer.Option(help="concurrent participants it carries")],
    bandwidth_mbps: Annotated[int, typer.Option(help="bandwidth available to the bridges")],
    app_secret: Annotated[
        str | None,
        typer.Option(envvar="TLDOPS_JITSI_APP_SECRET", help="JWT secret (prefer the env var)"),
    ] = None,
    muc_domain: Annotated[str | None, typer.Option(help="default conference.<domain>")] = None,
    audience: Annotated[str, typer.Option(help="JWT aud")] = "jitsi",
    jicofo_url: Annotated[str | None, typer.Option(help="base of /about/health")] = None,
    prosody_url: Annotated[str | None, typer.Option(help="base of mod_muc_size")] = None,
    bridge_url: Many = None,
    video_bridges: Annotated[int | None, typer.Option()] = None,
    per_participant_kbps: Annotated[int, typer.Option(help="bandwidth estimate")] = 1500,
    webhook_token: Annotated[
        str | None, typer.Option(envvar="TLDOPS_JITSI_WEBHOOK_TOKEN", help="default: random")
    ] = None,
) -> None:
    """Register a Jitsi deployment; prints the webhook token Prosody must send (once)."""
    if not app_secret:
        raise VideoconfError(
            "Thiếu bí mật ứng dụng Jitsi / the Jitsi app secret is missing",
            hint="export TLDOPS_JITSI_APP_SECRET (the JWT_APP_SECRET of the deployment)",
        )
    with cli_session() as session:
        dep, token = _svc(session).add_deployment(
            name=name,
            base_url=base_url,
            app_id=app_id,
            app_secret=app_secret,
            domain=domain,
            muc_domain=muc_domain,
            audience=audience,
            jicofo_url=jicofo_url,
            prosody_url=prosody_url,
            bridge_urls=bridge_url or [],
            video_bridges=video_bridges,
            max_participants=max_participants,
            bandwidth_mbps=bandwidth_mbps,
            per_participant_kbps=per_participant_kbps,
            webhook_token=webhook_token,
        )
        console.print(f"Đã thêm máy chủ / deployment added: [bold]{dep.name}[/]")
        if webhook_token is None:
            console.print(f"webhook token (Authorization: Bearer …): {token}", highlight=False)


@deployments_app.command("list")
def deployment_list() -> None:
    """Deployments and their declared capacity."""
    with cli_session() as session:
        table = Table(
            "name", "base_url", "max participants", "bridges", "Mbps", "kbps/người", "active"
        )
        for d in _svc(session).deployments():
            table.add_row(
                d.name,
                d.base_url,
                str(d.max_participants),
                str(d.video_bridges),
                str(d.bandwidth_mbps),
                str(d.per_participant_kbps),
                "yes" if d.active else "no",
            )
        console.print(table)


# -- rooms ----------------------------------------------------------------------------------
@rooms_app.command("add")
def room_add(
    code: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    unit: Annotated[str, typer.Option(help="unit code")],
    capacity: Annotated[int, typer.Option(help="seats")],
) -> None:
    """Register a physical meeting room at a unit."""
    with cli_session() as session:
        room = _svc(session).add_room(code=code, name=name, unit_code=unit, capacity=capacity)
        console.print(f"Đã thêm phòng / room added: {room.code} {room.name}")


@rooms_app.command("list")
def room_list() -> None:
    with cli_session() as session:
        table = Table("code", "name", "unit", "capacity")
        for r in _svc(session).rooms():
            table.add_row(r.code, r.name, r.unit.code, str(r.capacity))
        console.print(table)


# -- conferences ------------------------------------------------------------------------------
def _send(conference_id: int, *, label: str, cancel_recurrence_id: datetime | None = None) -> None:
    """E-mail after the change is committed, so a mail outage never undoes a booking."""
    try:
        with (
            cli_session() as session,
            console.status("Đang gửi thư / sending e-mail…"),
        ):
            sent = _svc(session).send_invitations(
                conference_id, mailer=_mailer(), cancel_recurrence_id=cancel_recurrence_id
            )
    except MailError as exc:
        raise MailError(
            f"Đã lưu thay đổi nhưng chưa gửi được thư / the change is saved but no e-mail went "
            f"out: {exc.message}",
            hint=f"fix TLDOPS_SMTP_* and run `tldops conf send {conference_id}`",
        ) from exc
    console.print(f"Đã gửi / sent {sent} {label}")


@app.command("send")
def send_(conference_id: int) -> None:
    """(Re)send every invitee the conference's current calendar (REQUEST, or CANCEL)."""
    _send(conference_id, label="thư/e-mail(s)")


@app.command("book")
def book(
    title: Annotated[str, typer.Option(help="tiêu đề / title")],
    host: Annotated[str, typer.Option(help="officer code of the host (moderator)")],
    start: Annotated[str, typer.Option(help='"dd/mm/yyyy HH:MM" Vietnam time')],
    end: Annotated[str | None, typer.Option(help="end time (or --duration)")] = None,
    duration: Annotated[int | None, typer.Option(help="minutes")] = None,
    unit: Many = None,
    optional_unit: Many = None,
    subtree: Annotated[
        list[str] | None, typer.Option(help='"CODE:LEVEL", e.g. TLD:2 = every province')
    ] = None,
    optional_subtree: Many = None,
    kind: Annotated[
        list[UnitKind] | None,
        typer.Option(
            help="keep only units of this kind in every --subtree (repeatable), e.g. "
            "--subtree TLD:2 --kind province_federation = the provinces only"
        ),
    ] = None,
    officer: Many = None,
    optional_officer: Many = None,
    moderator: Many = None,
    room: Many = None,
    deployment: Annotated[str | None, typer.Option(help="Jitsi deployment name")] = None,
    auto_place: Annotated[
        bool, typer.Option(help="use another deployment if this one is full")
    ] = True,
    lobby: Annotated[bool, typer.Option(help="enable the lobby")] = False,
    password: Annotated[str | None, typer.Option(help="room password")] = None,
    rrule: Annotated[str | None, typer.Option(help="RFC 5545, e.g. FREQ=WEEKLY;COUNT=10")] = None,
    exdate: Annotated[list[str] | None, typer.Option(help="skip this occurrence")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    send: Annotated[bool, typer.Option(help="e-mail the invitations now")] = True,
) -> None:
    """Book a conference; conflicts and over-capacity are refused with reasons."""
    start_at = parse_local(start)
    if end is None and duration is None:
        raise VideoconfError("Cần --end hoặc --duration / give --end or --duration")
    end_at = parse_local(end) if end else start_at + timedelta(minutes=duration or 0)
    req = BookingRequest(
        title=title,
        host_code=host,
        start=start_at,
        end=end_at,
        units=tuple(unit or ()),
        optional_units=tuple(optional_unit or ()),
        subtrees=tuple(SubtreeSelector.parse(s) for s in subtree or ()),
        optional_subtrees=tuple(SubtreeSelector.parse(s) for s in optional_subtree or ()),
        kinds=tuple(kind or ()),
        officers=tuple(officer or ()),
        optional_officers=tuple(optional_officer or ()),
        moderators=tuple(moderator or ()),
        rooms=tuple(room or ()),
        deployment=deployment,
        auto_place=auto_place,
        lobby=lobby,
        password=password,
        rrule=rrule,
        exdates=tuple(parse_local(x) for x in exdate or ()),
        description=description,
    )
    with cli_session() as session:
        svc = _svc(session)
        res = svc.book(req)
        elsewhere = " (the requested deployment was full)" if res.placed_elsewhere else ""
        console.print(
            f"Đã đặt hội nghị / booked: [bold]#{res.conference_id}[/] on {res.deployment}"
            f"{elsewhere}"
            f" — {res.occurrences} buổi/occurrence(s), {res.invitees} người mời/invitees",
            highlight=False,
        )
        if res.units_without_contacts:
            console.print(
                "[yellow]Đơn vị chưa có cán bộ liên hệ / units without a contact:[/] "
                + ", ".join(res.units_without_contacts),
                highlight=False,
            )
    if send:
        _send(res.conference_id, label="thư mời/invitation(s)")


@app.command("list")
def list_(
    unit: Annotated[str | None, typer.Option(help="host unit subtree")] = None,
    all_: Annotated[bool, typer.Option("--all", help="include cancelled and past")] = False,
) -> None:
    """Conferences, newest first."""
    with cli_session() as session:
        svc = _svc(session)
        q = svc.list_query(unit_code=unit, include_cancelled=all_, upcoming_only=not all_)
        table = Table(
            "id",
            "tiêu đề/title",
            "chủ trì/host",
            "bắt đầu/start",
            "lặp/rrule",
            "máy chủ",
            "mời",
            "trạng thái",
        )
        for conf in session.scalars(q.limit(500)):
            table.add_row(
                str(conf.id),
                conf.title,
                conf.host.full_name,
                fmt_local(conf.start_at),
                conf.rrule or "",
                conf.deployment.name,
                str(len(conf.invitations)),
                conf.status.value,
            )
        console.print(table)


@app.command("show")
def show(
    conference_id: int,
    links: Annotated[bool, typer.Option(help="print every invitee's join link")] = False,
    live: Annotated[bool, typer.Option(help="who is in the Jitsi room right now")] = False,
) -> None:
    """Details, occurrences and invitees of a conference."""
    with cli_session() as session:
        svc = _svc(session)
        conf = svc.conference(conference_id)
        d = svc.detail(conf)
        console.print(
            f"[bold]#{d.id} {d.title}[/] ({d.status}, SEQUENCE {d.sequence})", highlight=False
        )
        console.print(
            f"chủ trì/host: {d.host_code} {d.host_name} — {d.unit_code}; "
            f"máy chủ/deployment: {d.deployment}; phòng chờ/lobby: "
            f"{'on' if d.lobby else 'off'}; rooms: {', '.join(d.rooms) or '-'}",
            highlight=False,
        )
        occ = Table("#", "buổi gốc/recurrence-id", "bắt đầu/start", "kết thúc/end", "")
        for n, o in enumerate(d.occurrences, start=1):
            occ.add_row(
                str(n),
                fmt_local(o.recurrence_id),
                fmt_local(o.start),
                fmt_local(o.end),
                "moved" if o.moved else "",
            )
        console.print(occ)
        inv = Table("cán bộ/officer", "đơn vị/unit", "email", "bắt buộc", "chủ trì", "đã gửi")
        for row in d.invitations:
            inv.add_row(
                f"{row.officer_code} {row.officer_name}",
                row.unit_code,
                row.email or "-",
                "yes" if row.required else "no",
                "yes" if row.moderator else "",
                f"{row.sent_method} #{row.sent_sequence}" if row.sent_method else "",
            )
        console.print(inv)
        if live:
            dep = conf.deployment
            with requests.Session() as http:
                client = JitsiClient(
                    http=http,
                    jicofo_url=dep.jicofo_url,
                    prosody_url=dep.prosody_url,
                    bridge_urls=tuple(dep.bridge_urls),
                    muc_domain=dep.muc_domain,
                    attempts=2,
                )
                count = client.room_size(conf.room_name)
                people = client.room_participants(conf.room_name) if count else []
            console.print(f"Đang trong phòng / in the room now: {count}", highlight=False)
            for p in people:
                console.print(f"  • {p.display_name or '?'} <{p.email or '-'}>", highlight=False)
        if links:
            for i in conf.invitations:
                console.print(
                    f"{i.officer.code}: {svc.join_link(conf, i)}", highlight=False, soft_wrap=True
                )


@app.command("cancel")
def cancel(
    conference_id: int,
    occurrence: Annotated[
        str | None, typer.Option(help="original start of the one occurrence to cancel")
    ] = None,
    send: Annotated[bool, typer.Option(help="e-mail METHOD:CANCEL")] = True,
) -> None:
    """Cancel a conference or one occurrence of it."""
    rid = parse_local(occurrence) if occurrence else None
    with cli_session() as session:
        svc = _svc(session)
        conf = svc.cancel(conference_id, occurrence=rid)
        what = f"buổi {fmt_local(rid)}" if rid else "toàn bộ/whole series"
        console.print(f"Đã hủy / cancelled #{conf.id} ({what})", highlight=False)
    if send:
        _send(conference_id, label="thư hủy/cancellation(s)", cancel_recurrence_id=rid)


@app.command("reschedule")
def reschedule(
    conference_id: int,
    start: Annotated[str, typer.Option(help="new start (Vietnam time)")],
    end: Annotated[str | None, typer.Option(help="new end (or --duration)")] = None,
    duration: Annotated[int | None, typer.Option(help="minutes")] = None,
    occurrence: Annotated[
        str | None, typer.Option(help="original start of the one occurrence to move")
    ] = None,
    send: Annotated[bool, typer.Option(help="e-mail the updated invitation")] = True,
) -> None:
    """Move the whole series, or one occurrence; SEQUENCE goes up and invitees are updated."""
    start_at = parse_local(start)
    if end is None and duration is None:
        raise VideoconfError("Cần --end hoặc --duration / give --end or --duration")
    end_at = parse_local(end) if end else start_at + timedelta(minutes=duration or 0)
    with cli_session() as session:
        svc = _svc(session)
        conf = svc.reschedule(
            conference_id,
            start=start_at,
            end=end_at,
            occurrence=parse_local(occurrence) if occurrence else None,
        )
        console.print(f"Đã dời lịch / rescheduled #{conf.id} (SEQUENCE {conf.sequence})")
    if send:
        _send(conference_id, label="thư cập nhật/update(s)")


@app.command("attendance")
def attendance(
    conference_id: int,
    occurrence: Annotated[str | None, typer.Option(help="one occurrence (original start)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Which units joined, when and for how long; invited units that never joined."""
    with cli_session() as session:
        rep = _svc(session).attendance_report(
            conference_id, occurrence=parse_local(occurrence) if occurrence else None
        )
    if as_json:
        typer.echo(json.dumps(rep.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    console.print(
        f"[bold]Điểm danh / attendance: #{rep.conference_id} {rep.title}[/]", highlight=False
    )
    table = Table(
        "đơn vị/unit", "tham dự/joined", "vào/first join", "ra/last leave", "phút", "người/who"
    )
    for u in rep.units:
        table.add_row(
            f"{u.unit_code} {u.unit_name}",
            "✔" if u.joined else "✘",
            fmt_local(u.first_join) if u.first_join else "-",
            fmt_local(u.last_leave) if u.last_leave else "-",
            str(u.minutes),
            ", ".join(u.attendees),
        )
    console.print(table)
    if rep.never_joined:
        console.print(
            "[red]Không tham dự / never joined:[/] "
            + ", ".join(f"{u.unit_code} {u.unit_name}" for u in rep.never_joined),
            highlight=False,
        )
    if rep.unmatched_participants:
        console.print(f"Khách không xác định / unmatched guests: {rep.unmatched_participants}")


def server_status(svc: ConferenceService, http: requests.Session) -> list[ServerStatus]:
    """Health and load of every deployment (live from Jitsi, booked load from the database)."""
    out: list[ServerStatus] = []
    now = svc.clock()
    deps = svc.deployments()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Jitsi", total=len(deps))
        for dep in deps:
            client = JitsiClient(
                http=http,
                jicofo_url=dep.jicofo_url,
                prosody_url=dep.prosody_url,
                bridge_urls=tuple(dep.bridge_urls),
                muc_domain=dep.muc_domain,
                timeout=3.0,
                attempts=2,
            )
            health = client.health()
            bridges = client.bridge_stats()
            booked = 0
            for conf in svc.session.scalars(
                select(Conference).where(
                    Conference.deployment_id == dep.id,
                    Conference.status == ConferenceStatus.scheduled,
                    Conference.start_at <= now,
                    Conference.series_end_at > now,
                )
            ):
                if any(o.start <= now < o.end for o in svc.occurrences(conf)):
                    booked += conf.expected_load
            up = [b for b in bridges if b.reachable]
            out.append(
                ServerStatus(
                    deployment=dep.name,
                    health=health.status,
                    health_detail=health.detail,
                    bridges_reachable=len(up),
                    bridges_declared=dep.video_bridges,
                    participants_now=sum(b.participants for b in up),
                    conferences_now=sum(b.conferences for b in up),
                    max_stress=max((b.stress_level for b in up), default=0.0),
                    booked_load_now=booked,
                    max_participants=dep.max_participants,
                )
            )
            progress.advance(task)
    return out


@app.command("servers")
def servers() -> None:
    """Jicofo health, bridge load and booked load against the declared capacity."""
    with cli_session() as session, requests.Session() as http:
        rows = server_status(_svc(session), http)
    table = Table(
        "máy chủ",
        "jicofo",
        "bridges",
        "người/participants",
        "hội nghị",
        "stress",
        "đặt trước/booked now",
        "tối đa/max",
    )
    for s in rows:
        color = "green" if s.health == "healthy" else "red"
        table.add_row(
            s.deployment,
            f"[{color}]{s.health}[/]",
            f"{s.bridges_reachable}/{s.bridges_declared}",
            str(s.participants_now),
            str(s.conferences_now),
            f"{s.max_stress:.2f}",
            str(s.booked_load_now),
            str(s.max_participants),
        )
    console.print(table)


@app.command("remind")
def remind() -> None:
    """Send the reminders due now (the web app's scheduler does this every few minutes)."""
    from videoconf.jobs import send_due_reminders

    sent = send_due_reminders(get_engine(), clock=utcnow, mailer=_mailer())
    console.print(f"Đã gửi / sent {sent} nhắc lịch/reminder(s)")
