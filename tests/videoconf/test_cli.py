"""`tldops conf` in-process on both engines: a host books a nationwide recurring conference,
every contact gets a valid .ics over SMTP (aiosmtpd), conflicts and over-capacity are refused
with reasons and exit code 2, servers show health/load from the Jitsi stand-in, and the
attendance report names who joined.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import jwt
from icalendar import Calendar
from sqlalchemy import Engine
from typer.testing import CliRunner

from inventory.db import make_engine, session_scope
from ops_cli.cli import app
from tests.videoconf.conftest import (
    APP_SECRET,
    FakeJitsi,
    SmtpPeer,
    add_deployment,
    build_org,
    conf_service,
)
from videoconf.recurrence import LOCAL_TZ
from videoconf.schemas import ProsodyEvent, ProsodyOccupant
from videoconf.service import ConferenceService


def _next_monday_8() -> datetime:
    """08:00 Vietnam time on a Monday 2–3 weeks ahead (the CLI refuses past starts)."""
    today = datetime.now(LOCAL_TZ).date() + timedelta(days=14)
    monday = today + timedelta(days=(7 - today.weekday()) % 7)
    return datetime(monday.year, monday.month, monday.day, 8, 0, tzinfo=LOCAL_TZ)


def _fmt(dt: datetime) -> str:
    return dt.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")


def _run(runner: CliRunner, env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["conf", *args], env=env)
    text = result.output  # stdout and stderr, interleaved
    return result.exit_code, text


def test_conf_cli_end_to_end(
    db_url: str, engine: Engine, smtp: SmtpPeer, fake_jitsi: FakeJitsi
) -> None:
    with session_scope(engine) as s:
        build_org(s)
    env = {
        "TLDOPS_DATABASE_URL": db_url,
        "TLDOPS_SECRET_KEY": os.environ["TLDOPS_SECRET_KEY"],
        "TLDOPS_JITSI_APP_SECRET": APP_SECRET,
        "TLDOPS_ACTOR": "cli:host",
        "COLUMNS": "200",
        **smtp.env(),
    }
    runner = CliRunner()
    code, out = _run(
        runner,
        env,
        "deployments",
        "add",
        "--name",
        "hq",
        "--base-url",
        "https://meet.congdoan.vn",
        "--app-id",
        "tldops",
        "--domain",
        "meet.test",
        "--muc-domain",
        "conference.meet.test",
        "--jicofo-url",
        fake_jitsi.url,
        "--prosody-url",
        fake_jitsi.url,
        "--bridge-url",
        fake_jitsi.url,
        "--max-participants",
        "100",
        "--bandwidth-mbps",
        "1000",
    )
    assert code == 0, out
    webhook_token = out.split("Bearer …): ")[1].split()[0]
    assert len(webhook_token) >= 32
    code, out = _run(
        runner,
        env,
        "deployments",
        "add",
        "--name",
        "small",
        "--base-url",
        "https://small.congdoan.vn",
        "--app-id",
        "tldops",
        "--domain",
        "meet.test",
        "--max-participants",
        "3",
        "--bandwidth-mbps",
        "100",
    )
    assert code == 0, out
    code, out = _run(
        runner,
        env,
        "rooms",
        "add",
        "--code",
        "P301",
        "--name",
        "Phòng 301",
        "--unit",
        "TLD",
        "--capacity",
        "30",
    )
    assert code == 0, out

    start = _next_monday_8()
    code, out = _run(
        runner,
        env,
        "book",
        "--title",
        "Giao ban trực tuyến toàn quốc",
        "--host",
        "CB000",
        "--start",
        _fmt(start),
        "--duration",
        "120",
        "--subtree",
        "TLD:2",
        "--rrule",
        "FREQ=WEEKLY;BYDAY=MO;COUNT=6",
        "--room",
        "P301",
        "--deployment",
        "hq",
    )
    assert code == 0, out
    assert "#1" in out and "6 buổi" in out and "7 người mời" in out and "KT" in out
    assert "sent 7" in out
    assert len(smtp.messages) == 7
    by_to = {m["To"]: m for m in smtp.messages}
    assert "lanh.hn@congdoan.vn" not in by_to and "hn@congdoan.vn" in by_to
    part = next(
        p for p in by_to["hn@congdoan.vn"].walk() if p.get_content_type() == "text/calendar"
    )
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    cal = Calendar.from_ical(payload)
    (ev,) = [c for c in cal.walk() if c.name == "VEVENT"]
    assert str(cal["METHOD"]) == "REQUEST" and ev.decoded("DTSTART") == start
    token = parse_qs(urlparse(str(ev["URL"])).query)["jwt"][0]
    claims = jwt.decode(
        token, APP_SECRET, algorithms=["HS256"], audience="jitsi", options={"verify_nbf": False}
    )
    assert claims["context"]["user"]["moderator"] is False
    assert claims["exp"] > (start + timedelta(weeks=5, hours=2)).timestamp()

    # Conflicts: the host and room are busy at 09:00 on the second Monday.
    second = start + timedelta(weeks=1)
    code, out = _run(
        runner,
        env,
        "book",
        "--title",
        "Họp chen",
        "--host",
        "CB000",
        "--start",
        _fmt(second + timedelta(hours=1)),
        "--duration",
        "30",
        "--room",
        "P301",
        "--no-send",
    )
    assert code == 2
    assert (
        "xung đột" in out
        and "CB000" in out
        and "P301" in out
        and _fmt(second + timedelta(hours=1)) in out
    )
    assert "Traceback" not in out
    # Over capacity on "small" with auto-place off: refused with the numbers.
    code, out = _run(
        runner,
        env,
        "book",
        "--title",
        "Họp lớn",
        "--host",
        "CB999",
        "--start",
        _fmt(start + timedelta(days=1)),
        "--duration",
        "60",
        "--unit",
        "HN",
        "--unit",
        "HCM",
        "--unit",
        "HP",
        "--deployment",
        "small",
        "--no-auto-place",
        "--no-send",
    )
    assert code == 2 and "small" in out and "5 > 3" in out

    code, out = _run(runner, env, "list")
    assert code == 0 and "Giao ban trực tuyến toàn quốc" in out
    code, out = _run(runner, env, "show", "1", "--links")
    assert code == 0 and "CB041: https://meet.congdoan.vn/" in out

    # Move the second Monday only; invitees get SEQUENCE 1.
    code, out = _run(
        runner,
        env,
        "reschedule",
        "1",
        "--occurrence",
        _fmt(second),
        "--start",
        _fmt(second + timedelta(days=1, hours=6)),
        "--duration",
        "60",
    )
    assert code == 0 and "SEQUENCE 1" in out and "sent 7" in out, out
    assert len(smtp.messages) == 14

    with session_scope(engine) as s:
        room = ConferenceService(s).conference(1).room_name
    fake_jitsi.state.rooms[room] = [
        {
            "jid": f"{room}@conference.meet.test/a",
            "email": "hn@congdoan.vn",
            "display_name": "Trần Văn HN",
        }
    ]
    code, out = _run(runner, env, "show", "1", "--live")
    assert code == 0 and "in the room now: 1" in out and "Trần Văn HN <hn@congdoan.vn>" in out

    code, out = _run(runner, env, "servers")
    assert code == 0, out
    assert "healthy" in out and "17" in out and "1/1" in out
    fake_jitsi.state.health_status = 503
    code, out = _run(runner, env, "servers")
    assert "unhealthy" in out

    # Attendance: HN's contact joins the first sitting for 45 minutes.
    with session_scope(engine) as s:
        svc = ConferenceService(s, actor="test")
        room = svc.conference(1).room_name
        for name, at in (
            ("muc-occupant-joined", start + timedelta(minutes=5)),
            ("muc-occupant-left", start + timedelta(minutes=50)),
        ):
            stamp = int(at.astimezone(UTC).timestamp())
            occ = ProsodyOccupant(
                occupant_jid=f"{room}@conference.meet.test/x1",
                name="Trần Văn HN",
                email="hn@congdoan.vn",
                joined_at=stamp,
                left_at=stamp,
            )
            svc.ingest_webhook(
                deployment="hq",
                token=webhook_token,
                event=ProsodyEvent(event_name=name, room_name=room, occupant=occ),
            )
    code, out = _run(runner, env, "attendance", "1", "--occurrence", _fmt(start), "--json")
    assert code == 0, out
    rep = json.loads(out)
    assert [(u["unit_code"], u["minutes"]) for u in rep["units"] if u["joined"]] == [("HN", 45)]
    assert rep["attendees"][0]["name"] == "Trần Văn HN"
    assert {u["unit_code"] for u in rep["never_joined"]} == {"HCM", "DN", "HP", "CT", "KT"}
    code, out = _run(runner, env, "attendance", "1")
    assert code == 0 and "never joined" in out and "Trần Văn HN" in out

    code, out = _run(runner, env, "cancel", "1")
    assert code == 0 and "sent 7" in out
    assert len(smtp.messages) == 21
    assert "Hủy hội nghị" in str(smtp.messages[-1]["Subject"])
    code, out = _run(runner, env, "show", "999")
    assert code == 2 and "999" in out


def test_mail_outage_keeps_the_booking(sqlite_url: str, smtp: SmtpPeer) -> None:
    """SMTP down at booking time: the booking stays, the error says so, `conf send` catches up."""
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        add_deployment(conf_service(s))
    engine.dispose()
    env = {
        "TLDOPS_DATABASE_URL": sqlite_url,
        "TLDOPS_SECRET_KEY": os.environ["TLDOPS_SECRET_KEY"],
        "TLDOPS_SMTP_HOST": "127.0.0.1",
        "TLDOPS_SMTP_PORT": str(_dead_port()),
    }
    runner = CliRunner()
    code, out = _run(
        runner,
        env,
        "book",
        "--title",
        "Họp",
        "--host",
        "CB000",
        "--start",
        _fmt(_next_monday_8()),
        "--duration",
        "60",
        "--unit",
        "HN",
    )
    assert code == 1 and "the change is saved" in out and "tldops conf send 1" in out
    assert "Traceback" not in out
    code, out = _run(runner, {**env, **smtp.env()}, "send", "1")
    assert code == 0 and "sent 2" in out
    assert sorted(m["To"] for m in smtp.messages) == ["chu@congdoan.vn", "hn@congdoan.vn"]
    code, out = _run(runner, {**env, **smtp.env()}, "show", "1")
    assert "REQUEST #0" in out


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
