"""The HTTP API on both engines: booking and listing with subtree permissions, the Prosody
webhook (token, not login) and the attendance report naming who joined and who never did.

The app here is a minimal host for ``videoconf.api.router`` that does what the web app documents
in :mod:`inventory.api_deps`: ``app.state.engine``, a principal per request, OpsError → status.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from inventory.db import session_scope
from inventory.errors import Conflict, NotFound, OpsError, PermissionDenied
from inventory.mail import Mailer, SmtpSettings
from inventory.security import Grant, Principal, Role
from tests.videoconf.conftest import (
    WEBHOOK_TOKEN,
    SmtpPeer,
    add_deployment,
    build_org,
    conf_service,
)
from videoconf.api import get_mailer, router
from videoconf.models import AttendanceEvent
from videoconf.recurrence import LOCAL_TZ


def _principals(engine: Engine) -> dict[str, Principal]:
    with session_scope(engine) as s:
        svc = conf_service(s)
        tld, hn = svc.inventory.unit("TLD").path, svc.inventory.unit("HN").path
    return {
        "admin": Principal.system("admin"),
        "host.tld": Principal(name="host.tld", grants=(Grant(Role.meeting_host, tld),)),
        "viewer.hn": Principal(name="viewer.hn", grants=(Grant(Role.viewer, hn),)),
    }


@pytest.fixture
def client(engine: Engine, smtp: SmtpPeer) -> Iterator[TestClient]:
    with session_scope(engine) as s:
        build_org(s)
        add_deployment(conf_service(s))
    principals = _principals(engine)
    app = FastAPI()
    app.state.engine = engine
    app.include_router(router)
    app.dependency_overrides[get_mailer] = lambda: Mailer(smtp.mailer().settings)

    @app.middleware("http")
    async def _login(request: Request, call_next):  # type: ignore[no-untyped-def]
        who = request.headers.get("x-test-user")
        if who:
            request.state.principal = principals[who]
        return await call_next(request)

    @app.exception_handler(OpsError)
    async def _ops(_: Request, exc: OpsError) -> JSONResponse:
        code = {NotFound: 404, PermissionDenied: 403, Conflict: 409}
        status = next((v for k, v in code.items() if isinstance(exc, k)), 422)
        return JSONResponse(
            {"error": {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}},
            status_code=status,
        )

    with TestClient(app) as c:
        yield c


def _iso(text: str) -> str:
    return datetime.strptime(text, "%d/%m/%Y %H:%M").isoformat()  # naive = Vietnam time


BOOKING = {
    "title": "Hội nghị toàn quốc",
    "host": "CB000",
    "start": _iso("01/03/2027 08:00"),
    "end": _iso("01/03/2027 10:00"),
    "subtrees": ["TLD:2"],
    "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=4",
    "send": True,
}


def test_book_list_show_and_refuse(client: TestClient, smtp: SmtpPeer) -> None:
    schema = client.get("/openapi.json").json()
    assert {
        "/api/conferences",
        "/api/conferences/{conference_id}/attendance",
        "/api/videoconf/events/{deployment}",
    } <= set(schema["paths"])
    r = client.post("/api/conferences", json=BOOKING)
    assert r.status_code == 401  # no login
    # The host CB000 works at TLĐ, outside HN's sight: answered like a missing officer.
    r = client.post("/api/conferences", json=BOOKING, headers={"x-test-user": "viewer.hn"})
    assert r.status_code == 404
    r = client.post("/api/conferences", json=BOOKING, headers={"x-test-user": "host.tld"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["occurrences"] == 4 and out["emails_sent"] == 7
    assert out["units_without_contacts"] == ["KT"]
    assert len(smtp.messages) == 7
    r = client.post(
        "/api/conferences", json=BOOKING | {"send": False}, headers={"x-test-user": "host.tld"}
    )
    assert r.status_code == 409
    assert "CB000" in r.json()["error"]["message"]
    assert "01/03/2027 08:00" in r.json()["error"]["message"]

    # HN's viewer sees nothing: the conference is hosted at TLĐ, outside HN's subtree.
    r = client.get("/api/conferences", headers={"x-test-user": "viewer.hn"})
    assert r.json()["total"] == 0
    r = client.get("/api/conferences?limit=1", headers={"x-test-user": "admin"})
    page = r.json()
    assert page["total"] == 1 and page["items"][0]["invitees"] == 7
    cid = page["items"][0]["id"]
    r = client.get(f"/api/conferences/{cid}", headers={"x-test-user": "viewer.hn"})
    assert r.status_code == 404  # another subtree's conference: like a missing one
    d = client.get(f"/api/conferences/{cid}", headers={"x-test-user": "admin"}).json()
    assert len(d["occurrences"]) == 4 and "password" not in str(d).lower().replace(
        "has_password", ""
    )
    assert client.get("/api/conferences/9999", headers={"x-test-user": "admin"}).status_code == 404

    # Reschedule one occurrence, then cancel another, through the API.
    rid = d["occurrences"][1]["recurrence_id"]
    r = client.post(
        f"/api/conferences/{cid}/reschedule",
        headers={"x-test-user": "host.tld"},
        json={
            "occurrence": rid,
            "start": _iso("09/03/2027 14:00"),
            "end": _iso("09/03/2027 15:00"),
        },
    )
    assert r.status_code == 200 and r.json()["sequence"] == 1
    r = client.post(
        f"/api/conferences/{cid}/cancel",
        headers={"x-test-user": "host.tld"},
        json={"occurrence": d["occurrences"][2]["recurrence_id"], "send": True},
    )
    assert r.status_code == 200 and r.json()["sequence"] == 2
    assert len(smtp.messages) == 14
    d = client.get(f"/api/conferences/{cid}", headers={"x-test-user": "admin"}).json()
    assert len(d["occurrences"]) == 3 and d["occurrences"][1]["moved"]


def _event(
    name: str,
    room: str,
    jid: str,
    at: datetime,
    *,
    email: str | None = None,
    user_id: str | None = None,
    display: str = "",
) -> dict[str, object]:
    occupant: dict[str, object] = {
        "occupant_jid": f"{room}@conference.meet.test/{jid}",
        "name": display,
        "email": email,
        "id": user_id,
    }
    occupant["joined_at" if name.endswith("joined") else "left_at"] = int(at.timestamp())
    if name.endswith("left"):
        occupant["joined_at"] = int((at - timedelta(minutes=1)).timestamp())
    return {
        "event_name": name,
        "room_name": room,
        "room_jid": f"{room}@conference.meet.test",
        "is_breakout": False,
        "occupant": occupant,
    }


def test_webhook_and_attendance_report(client: TestClient, engine: Engine) -> None:
    r = client.post(
        "/api/conferences", json=BOOKING | {"send": False}, headers={"x-test-user": "host.tld"}
    )
    cid = r.json()["conference_id"]
    d = client.get(f"/api/conferences/{cid}", headers={"x-test-user": "admin"}).json()
    room = d["room_name"]
    t0 = datetime(2027, 3, 1, 8, 0, tzinfo=LOCAL_TZ)
    auth = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    url = "/api/videoconf/events/hq"
    # Wrong or missing token: refused, nothing stored. No login needed either way.
    bad = _event("muc-occupant-joined", room, "x1", t0, email="hn@congdoan.vn")
    assert client.post(url, json=bad).status_code == 401
    assert client.post(url, json=bad, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/api/videoconf/events/nosuch", json=bad, headers=auth).status_code == 401
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(AttendanceEvent)) == 0

    feed = [
        # Host joins at 07:55 and stays to 10:00.
        _event(
            "muc-occupant-joined",
            room,
            "h1",
            t0 - timedelta(minutes=5),
            email="chu@congdoan.vn",
            user_id="CB000",
            display="Nguyễn Văn Chủ",
        ),
        # HN by e-mail, 08:02–09:00, rejoins 09:10–09:40 (two sessions, 88 minutes).
        _event(
            "muc-occupant-joined",
            room,
            "a1",
            t0 + timedelta(minutes=2),
            email="HN@congdoan.vn",
            display="Trần Văn HN",
        ),
        _event("muc-occupant-left", room, "a1", t0 + timedelta(minutes=60), email="hn@congdoan.vn"),
        _event(
            "muc-occupant-joined", room, "a2", t0 + timedelta(minutes=70), email="hn@congdoan.vn"
        ),
        _event(
            "muc-occupant-left", room, "a2", t0 + timedelta(minutes=100), email="hn@congdoan.vn"
        ),
        # HP's second contact, matched by the JWT user id (no e-mail in the event).
        _event(
            "muc-occupant-joined",
            room,
            "p1",
            t0 + timedelta(minutes=10),
            user_id="CB041",
            display="Phạm Thị Hải",
        ),
        _event("muc-occupant-left", room, "p1", t0 + timedelta(minutes=40), user_id="CB041"),
        # A guest nobody invited.
        _event("muc-occupant-joined", room, "g1", t0 + timedelta(minutes=15), display="Khách"),
        _event(
            "muc-occupant-left",
            room,
            "h1",
            t0 + timedelta(minutes=120),
            email="chu@congdoan.vn",
            user_id="CB000",
        ),
    ]
    for i, ev in enumerate(feed):
        # mod_event_sync_component appends /events/occupant/<joined|left> to its api_prefix.
        path = url + ("/events/occupant/joined" if i % 2 else "")
        r = client.post(path, json=ev, headers=auth)
        assert r.status_code == 200 and r.json()["stored"], r.text
    ack = client.post(
        url,
        headers=auth,
        json={"event_name": "muc-room-created", "room_name": room, "created_at": 1},
    )
    assert ack.status_code == 200 and not ack.json()["stored"]

    r = client.get(f"/api/conferences/{cid}/attendance", headers={"x-test-user": "admin"})
    rep = r.json()
    units = {u["unit_code"]: u for u in rep["units"]}
    assert units["HN"]["joined"] and units["HN"]["minutes"] == 88
    assert units["HN"]["attendees"] == ["Trần Văn HN"]
    assert units["HP"]["joined"] and units["HP"]["attendees"] == ["Phạm Thị Hải"]
    assert units["HP"]["minutes"] == 30
    assert units["TLD"]["minutes"] == 125  # the host's unit shows up once someone joins
    assert sorted(u["unit_code"] for u in rep["never_joined"]) == ["CT", "DN", "HCM", "KT"]
    people = {a["officer_code"]: a for a in rep["attendees"]}
    assert people["CB001"]["sessions"] == 2 and people["CB001"]["minutes"] == 88
    assert people[None]["name"] == "Khách" and rep["unmatched_participants"] == 1
    first = datetime.fromisoformat(units["HN"]["first_join"])
    assert first == t0 + timedelta(minutes=2)
    # The second Monday: nobody yet, every invited province is missing.
    occ2 = datetime(2027, 3, 8, 8, 0).isoformat()
    rep2 = client.get(
        f"/api/conferences/{cid}/attendance",
        params={"occurrence": occ2},
        headers={"x-test-user": "admin"},
    ).json()
    assert len(rep2["never_joined"]) == 6 and rep2["attendees"] == []


def test_mail_outage_keeps_the_booking(client: TestClient, smtp: SmtpPeer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = Mailer(SmtpSettings(host="127.0.0.1", port=sock.getsockname()[1], timeout=2))
    app = client.app
    assert isinstance(app, FastAPI)
    good = app.dependency_overrides[get_mailer]
    app.dependency_overrides[get_mailer] = lambda: dead
    host = {"x-test-user": "host.tld"}
    r = client.post("/api/conferences", json=BOOKING, headers=host)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["emails_sent"] == 0 and "cannot send mail" in out["mail_error"]
    cid = out["conference_id"]
    r = client.post(
        f"/api/conferences/{cid}/reschedule",
        headers=host,
        json={"start": _iso("01/03/2027 09:00"), "end": _iso("01/03/2027 11:00"), "send": True},
    )
    assert r.status_code == 422 and "the change is saved" in r.json()["error"]["message"]
    detail = client.get(f"/api/conferences/{cid}", headers=host).json()
    assert detail["sequence"] == 1 and detail["start"].startswith("2027-03-01T02:00")
    assert (
        client.post(
            f"/api/conferences/{cid}/send", headers={"x-test-user": "viewer.hn"}
        ).status_code
        == 404
    )
    app.dependency_overrides[get_mailer] = good
    r = client.post(f"/api/conferences/{cid}/send", headers=host)
    assert r.status_code == 200 and r.json()["emails_sent"] == 7
    assert len(smtp.messages) == 7
