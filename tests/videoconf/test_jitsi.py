"""The Jitsi wrapper against the loopback stand-in; tokens checked independently with PyJWT."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import requests

from tests.videoconf.conftest import APP_SECRET, FakeJitsi
from videoconf.errors import JitsiUnavailable
from videoconf.jitsi import JitsiClient, TokenUser, join_url, make_room_name, make_token


def _client(server: FakeJitsi, http: requests.Session, **kw: object) -> JitsiClient:
    return JitsiClient(
        http=http,
        jicofo_url=server.url,
        prosody_url=server.url,
        bridge_urls=(server.url,),
        muc_domain="conference.meet.test",
        timeout=2.0,
        backoff=0.01,
        **kw,
    )  # type: ignore[arg-type]


def test_token_claims_verify_with_pyjwt() -> None:
    now = datetime.now(UTC)
    room = make_room_name()
    token = make_token(
        app_id="tldops",
        app_secret=APP_SECRET,
        audience="jitsi",
        subject="meet.test",
        room=room,
        user=TokenUser(id="CB001", name="Trần Văn HN", email="hn@congdoan.vn", moderator=False),
        not_before=now - timedelta(minutes=1),
        expires=now + timedelta(hours=2),
    )
    claims = jwt.decode(token, APP_SECRET, algorithms=["HS256"], audience="jitsi", issuer="tldops")
    assert claims["room"] == room and claims["sub"] == "meet.test"
    assert claims["context"]["user"] == {
        "id": "CB001",
        "name": "Trần Văn HN",
        "email": "hn@congdoan.vn",
        "moderator": False,
    }
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token, "another-secret-another-secret-000", algorithms=["HS256"], audience="jitsi"
        )
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, APP_SECRET, algorithms=["HS256"], audience="other")
    expired = make_token(
        app_id="tldops",
        app_secret=APP_SECRET,
        audience="jitsi",
        subject="meet.test",
        room=room,
        user=TokenUser(id="x", name="x", email=None, moderator=True),
        not_before=now - timedelta(hours=3),
        expires=now - timedelta(hours=1),
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(expired, APP_SECRET, algorithms=["HS256"], audience="jitsi")
    link = join_url(base_url="https://meet.test/", room=room, token=token)
    assert link == f"https://meet.test/{room}?jwt={token}"


def test_room_names_are_unguessable() -> None:
    names = {make_room_name() for _ in range(200)}
    assert len(names) == 200
    assert all(n == n.lower() and len(n) >= 32 and n.isalnum() for n in names)


def test_health_stats_and_room_size(fake_jitsi: FakeJitsi) -> None:
    with requests.Session() as http:
        client = _client(fake_jitsi, http)
        assert client.health().status == "healthy"
        (stats,) = client.bridge_stats()
        assert (stats.reachable, stats.participants, stats.conferences) == (True, 17, 2)
        assert stats.stress_level == pytest.approx(0.12)
        assert client.room_size("empty") == 0
        fake_jitsi.state.rooms["abc"] = [
            {
                "jid": "abc@conference.meet.test/1",
                "email": "hn@congdoan.vn",
                "display_name": "Trần Văn HN",
            },
            {"jid": "abc@conference.meet.test/2", "email": "", "display_name": "Khách"},
        ]
        assert client.room_size("abc") == 2
        people = client.room_participants("abc")
        assert [p.email for p in people] == ["hn@congdoan.vn", None]
        fake_jitsi.state.health_status = 500
        health = client.health()
        assert (health.ok, health.status) == (False, "unhealthy")


def test_retries_are_bounded(fake_jitsi: FakeJitsi) -> None:
    with requests.Session() as http:
        client = _client(fake_jitsi, http, attempts=3)
        fake_jitsi.state.fail_next = 2  # two 503s, then success on the third try
        assert client.health().ok
        assert fake_jitsi.state.requests.count("/about/health") == 3
        fake_jitsi.state.fail_next = 10
        fake_jitsi.state.requests.clear()
        assert client.health().status == "unhealthy"
        assert len(fake_jitsi.state.requests) == 3  # never more than `attempts`


def test_unreachable_is_reported_not_hung() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with requests.Session() as http:
        client = JitsiClient(
            http=http,
            jicofo_url=dead,
            prosody_url=dead,
            bridge_urls=(dead,),
            muc_domain="conference.meet.test",
            timeout=1.0,
            attempts=2,
            backoff=0.01,
        )
        t0 = time.monotonic()
        assert client.health().status == "unreachable"
        (stats,) = client.bridge_stats()
        assert not stats.reachable and stats.error
        with pytest.raises(JitsiUnavailable):
            client.room_size("abc")
        assert time.monotonic() - t0 < 10
