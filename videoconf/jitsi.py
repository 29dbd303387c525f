"""Jitsi Meet over HTTP: join tokens, room names, and the health/load endpoints.

Tokens follow Jitsi's token authentication (prosody ``token_verification``): HS256 signed with
the deployment's app secret, ``iss`` = app id, ``aud`` (usually ``jitsi``), ``sub`` = the XMPP
domain (Prosody checks it against the domain, so it cannot carry a user id), ``room``,
``nbf``/``exp`` and ``context.user`` {id, name, email, moderator}. The user id is the officer
code, which Prosody's event webhook echoes back so attendance maps to officers::

    token = make_token(app_id="tldops", app_secret=s, audience="jitsi", subject="meet.congdoan.vn",
                       room=make_room_name(), user=TokenUser(id="CB001", name="An",
                       email="an@congdoan.vn", moderator=True), not_before=t0, expires=t1)

Endpoints read (all HTTP GET, JSON unless noted), each with a timeout and bounded retries:

* jicofo ``/about/health`` — 200 with an empty body when healthy, 5xx otherwise;
* jitsi-videobridge ``/colibri/stats`` — ``{"conferences", "participants", "stress_level",
  "largest_conference", "bit_rate_download", "bit_rate_upload", ...}`` (one URL per bridge);
* Prosody ``mod_muc_size`` — ``/room-size?room=R&domain=D`` → ``{"participants": n}`` and
  ``/room?room=R&domain=D`` → ``[{"jid", "email", "display_name"}]``; 404 when the room is empty.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import jwt
import requests

from videoconf.errors import JitsiUnavailable


@dataclass(frozen=True)
class TokenUser:
    id: str
    name: str
    email: str | None
    moderator: bool


def make_room_name() -> str:
    """An unguessable room name (about 200 random bits), lower case as Jitsi folds room names.

    >>> len(make_room_name()) >= 32
    True
    """
    return "tld" + secrets.token_urlsafe(32).lower().replace("_", "").replace("-", "")


def make_token(
    *,
    app_id: str,
    app_secret: str,
    audience: str,
    subject: str,
    room: str,
    user: TokenUser,
    not_before: datetime,
    expires: datetime,
) -> str:
    """A Jitsi JWT for one user and one room (see the module docstring for the claims).

    >>> t = make_token(app_id="tldops", app_secret="s" * 32, audience="jitsi", subject="meet",
    ...                room="r1", user=TokenUser(id="CB1", name="An", email=None, moderator=False),
    ...                not_before=datetime(2027, 1, 1, tzinfo=UTC),
    ...                expires=datetime(2027, 1, 2, tzinfo=UTC))
    >>> t.count(".")
    2
    """
    claims: dict[str, Any] = {
        "iss": app_id,
        "aud": audience,
        "sub": subject,
        "room": room,
        "nbf": int(not_before.timestamp()),
        "exp": int(expires.timestamp()),
        "context": {
            "user": {
                "id": user.id,
                "name": user.name,
                "email": user.email or "",
                "moderator": user.moderator,
            }
        },
    }
    return jwt.encode(claims, app_secret, algorithm="HS256")


def join_url(*, base_url: str, room: str, token: str) -> str:
    """The link a participant opens: ``<base>/<room>?jwt=<token>``."""
    return f"{base_url.rstrip('/')}/{quote(room)}?jwt={token}"


@dataclass(frozen=True)
class JicofoHealth:
    ok: bool
    status: str  # healthy | unhealthy | unreachable
    detail: str


@dataclass(frozen=True)
class BridgeStats:
    url: str
    reachable: bool
    conferences: int = 0
    participants: int = 0
    stress_level: float = 0.0
    largest_conference: int = 0
    bit_rate_download_kbps: float = 0.0
    bit_rate_upload_kbps: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class RoomOccupant:
    jid: str
    email: str | None
    display_name: str | None


class JitsiClient:
    """Reads one deployment's health and load; the HTTP session is injected (tests, pooling).

    >>> client = JitsiClient(http=requests.Session(), jicofo_url="http://127.0.0.1:8888",
    ...                      prosody_url="http://127.0.0.1:5280", bridge_urls=(),
    ...                      muc_domain="conference.meet.congdoan.vn")
    """

    def __init__(
        self,
        *,
        http: requests.Session,
        jicofo_url: str | None,
        prosody_url: str | None,
        bridge_urls: tuple[str, ...],
        muc_domain: str,
        timeout: float = 3.0,
        attempts: int = 3,
        backoff: float = 0.2,
    ) -> None:
        self.http = http
        self.jicofo_url = jicofo_url
        self.prosody_url = prosody_url
        self.bridge_urls = bridge_urls
        self.muc_domain = muc_domain
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff

    def _get(self, url: str, params: dict[str, str] | None = None) -> requests.Response:
        """GET with bounded retries on connection errors and 5xx (at most ``attempts`` tries)."""
        last: Exception | None = None
        response: requests.Response | None = None
        for attempt in range(self.attempts):
            try:
                response = self.http.get(url, params=params, timeout=self.timeout)
                if response.status_code < 500:
                    return response
                last = None
            except requests.RequestException as exc:
                last = exc
                response = None
            if attempt + 1 < self.attempts:
                time.sleep(self.backoff * (2**attempt))
        if response is not None:
            return response
        raise JitsiUnavailable(
            f"Không kết nối được {url} / cannot reach {url}: {last}",
            hint="check that the Jitsi component is running and the URL in the deployment",
        )

    def health(self) -> JicofoHealth:
        """Jicofo's health check (which itself checks the bridges and Prosody)."""
        if not self.jicofo_url:
            return JicofoHealth(ok=False, status="unreachable", detail="no jicofo_url configured")
        try:
            r = self._get(f"{self.jicofo_url.rstrip('/')}/about/health")
        except JitsiUnavailable as exc:
            return JicofoHealth(ok=False, status="unreachable", detail=exc.message)
        if r.status_code == 200:
            return JicofoHealth(ok=True, status="healthy", detail="")
        return JicofoHealth(ok=False, status="unhealthy", detail=f"HTTP {r.status_code}")

    def bridge_stats(self) -> list[BridgeStats]:
        """Colibri statistics of every bridge; an unreachable bridge is data, not an exception."""
        out: list[BridgeStats] = []
        for url in self.bridge_urls:
            try:
                r = self._get(f"{url.rstrip('/')}/colibri/stats")
                r.raise_for_status()
                data = r.json()
            except (JitsiUnavailable, requests.RequestException, ValueError) as exc:
                out.append(BridgeStats(url=url, reachable=False, error=str(exc)))
                continue
            out.append(
                BridgeStats(
                    url=url,
                    reachable=True,
                    conferences=int(data.get("conferences", 0)),
                    participants=int(data.get("participants", 0)),
                    stress_level=float(data.get("stress_level", 0.0)),
                    largest_conference=int(data.get("largest_conference", 0)),
                    bit_rate_download_kbps=float(data.get("bit_rate_download", 0.0)),
                    bit_rate_upload_kbps=float(data.get("bit_rate_upload", 0.0)),
                )
            )
        return out

    def _prosody(self, path: str, room: str) -> requests.Response:
        if not self.prosody_url:
            raise JitsiUnavailable("no prosody_url configured for mod_muc_size")
        return self._get(
            f"{self.prosody_url.rstrip('/')}/{path}",
            params={"room": room, "domain": self.muc_domain},
        )

    def room_size(self, room: str) -> int:
        """Participants now in ``room`` (0 when the room does not exist yet)."""
        r = self._prosody("room-size", room)
        if r.status_code == 404:
            return 0
        if r.status_code != 200:
            raise JitsiUnavailable(f"room-size: HTTP {r.status_code}")
        return int(r.json().get("participants", 0))

    def room_participants(self, room: str) -> list[RoomOccupant]:
        """Who is in ``room`` now, as mod_muc_size reports them."""
        r = self._prosody("room", room)
        if r.status_code == 404:
            return []
        if r.status_code != 200:
            raise JitsiUnavailable(f"room: HTTP {r.status_code}")
        return [
            RoomOccupant(
                jid=str(o.get("jid", "")),
                email=o.get("email") or None,
                display_name=o.get("display_name") or None,
            )
            for o in r.json()
        ]
