"""The web front door: login with CSRF, cookie flags, CSRF on cookie-authenticated API writes,
logout everywhere, lockout over HTTP, one-time passwords, the dashboard pages and language."""

from __future__ import annotations

import importlib.util
import re
import time
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from inventory.db import session_scope
from inventory.models import AuditRecord
from inventory.security import Role
from ops_cli.accounts import AccountService
from ops_cli.i18n import fmt_date
from tests.ops_cli.conftest import World, password_of

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(client: TestClient, username: str, password: str | None = None) -> str:
    """Log in through the form; returns the session's CSRF token from the next page."""
    form = client.get("/login")
    token = CSRF_FIELD.search(form.text)
    assert token is not None
    resp = client.post(
        "/login",
        data={
            "username": username,
            "password": password or password_of(username),
            "csrf_token": token.group(1),
            "next": "/units",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    page = client.get("/units")
    assert page.status_code == 200
    found = CSRF_FIELD.search(page.text)
    assert found is not None
    return found.group(1)


def test_login_sets_hardened_cookie_and_redirects(client: TestClient) -> None:
    form = client.get("/login")
    token = CSRF_FIELD.search(form.text)
    assert token is not None
    resp = client.post(
        "/login",
        data={
            "username": "it_hni",
            "password": "it_hni-password",
            "csrf_token": token.group(1),
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert resp.headers["location"] == "/scorecard"  # no open redirect
    cookie = next(
        v
        for k, v in resp.headers.multi_items()
        if k == "set-cookie" and v.startswith("tldops_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert resp.headers["x-frame-options"] == "DENY"


def test_secure_flag_when_configured(world: World) -> None:
    from ops_cli.web import create_app

    app = create_app(world.engine, secure_cookies=True)
    with TestClient(app, base_url="https://testserver") as c:
        form = c.get("/login")
        token = CSRF_FIELD.search(form.text)
        assert token is not None
        resp = c.post(
            "/login",
            data={
                "username": "viewer_hni",
                "password": "viewer_hni-password",
                "csrf_token": token.group(1),
            },
            follow_redirects=False,
        )
        cookie = next(
            v
            for k, v in resp.headers.multi_items()
            if k == "set-cookie" and v.startswith("tldops_session=")
        )
        assert "Secure" in cookie


def test_login_form_needs_its_csrf_token(client: TestClient) -> None:
    client.get("/login")
    resp = client.post(
        "/login",
        data={"username": "it_hni", "password": "it_hni-password", "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert resp.status_code == 403
    assert "tldops_session" not in client.cookies


def test_wrong_password_shows_message_and_is_recorded(client: TestClient, world: World) -> None:
    form = client.get("/login?lang=en")
    token = CSRF_FIELD.search(form.text)
    assert token is not None
    resp = client.post(
        "/login", data={"username": "viewer_hni", "password": "nope", "csrf_token": token.group(1)}
    )
    assert resp.status_code == 401
    assert "wrong username or password" in resp.text


def test_cookie_api_writes_need_the_csrf_header(client: TestClient, world: World) -> None:
    csrf = login(client, "it_hni")
    body = {"unit_code": world.hni_unit, "isp": "VNPT", "kind": "ftth", "bandwidth_mbps": 200}
    refused = client.put("/api/links", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "CsrfFailed"
    wrong = client.put("/api/links", json=body, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    ok = client.put("/api/links", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    # Reads need no token; bearer clients need none either.
    assert client.get("/api/links?unit=HNI").status_code == 200
    body["bandwidth_mbps"] = 300
    assert (
        client.put(
            "/api/links", json=body, headers={"Authorization": f"Bearer {world.tokens['it_hni']}"}
        ).status_code
        == 200
    )
    with session_scope(world.engine) as s:
        actors = set(
            s.scalars(select(AuditRecord.actor).where(AuditRecord.entity == "internet_link"))
        )
    assert "web:it_hni" in actors


def test_logout_everywhere_ends_every_session(world: World) -> None:
    with TestClient(world.app) as a, TestClient(world.app) as b:
        csrf_a = login(a, "viewer_hni")
        login(b, "viewer_hni")
        assert b.get("/api/units").status_code == 200
        resp = a.post(
            "/logout", data={"csrf_token": csrf_a, "everywhere": "true"}, follow_redirects=False
        )
        assert resp.status_code == 303
        assert b.get("/api/units").status_code == 401
        assert b.get("/units", follow_redirects=False).status_code == 303


def test_logout_form_needs_csrf(client: TestClient) -> None:
    login(client, "viewer_hni")
    resp = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert resp.status_code == 403
    assert client.get("/api/units").status_code == 200


def test_lockout_over_http(world: World) -> None:
    with session_scope(world.engine) as s:
        AccountService(s).create_user(username="lockme", password="lockme-password")
    with TestClient(world.app) as c:
        statuses = []
        for _ in range(6):
            token = CSRF_FIELD.search(c.get("/login").text)
            assert token is not None
            statuses.append(
                c.post(
                    "/login",
                    data={
                        "username": "lockme",
                        "password": "bad-pass",
                        "csrf_token": token.group(1),
                    },
                ).status_code
            )
        # Locked or not, the answer is the same as for a wrong password or an unknown user.
        assert statuses == [401] * 6
        right = _post_login(c, "lockme", "lockme-password")
        assert right.status_code == 401
        ghost = _post_login(c, "no-such-user", "lockme-password")
        assert _login_error(right) == _login_error(ghost)
        assert ghost.status_code == 401
    # The lock holds for that address only: the user still logs in from another one.
    with TestClient(world.app, client=("127.0.0.77", 5000)) as other:
        assert _post_login(other, "lockme", "lockme-password").status_code == 303


def _post_login(c: TestClient, username: str, password: str, **headers: str) -> Any:
    token = CSRF_FIELD.search(c.get("/login").text)
    assert token is not None
    return c.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        headers=headers,
        follow_redirects=False,
    )


def _login_error(resp: Any) -> str:
    found = re.search(r'id="login-error">([^<]*)<', resp.text)
    assert found is not None, resp.text
    return found.group(1)


def test_forwarded_for_is_not_trusted_by_default(world: World) -> None:
    """A client writing X-Forwarded-For cannot dodge the per-address limit."""
    with session_scope(world.engine) as s:
        AccountService(s).create_user(username="spoofme", password="mùa thu Hà Nội")
    with TestClient(world.app, client=("127.0.0.91", 5000)) as c:
        for i in range(5):
            bad = _post_login(c, "spoofme", "guess", **{"X-Forwarded-For": f"198.18.7.{i}"})
            assert bad.status_code == 401
        assert _post_login(c, "spoofme", "mùa thu Hà Nội").status_code == 401


def test_password_change_in_the_browser_ends_other_sessions(world: World) -> None:
    with session_scope(world.engine) as s:
        svc = AccountService(s)
        svc.create_user(username="pwchanger", password="first passphrase here")
        svc.grant(username="pwchanger", role=Role.viewer, unit_code="HNI")
        raw = svc.create_token(username="pwchanger", name="script")[0]
    bearer = {"Authorization": f"Bearer {raw}"}
    with TestClient(world.app) as a, TestClient(world.app) as b:
        login(a, "pwchanger", "first passphrase here")
        login(b, "pwchanger", "first passphrase here")
        assert a.get("/api/units", headers=bearer).status_code == 200  # token cached now
        form = a.get("/account/password")
        assert "no-store" in form.headers["cache-control"]
        assert 'name="revoke_tokens"' in form.text and "Mã truy cập API vẫn hoạt" in form.text
        csrf = CSRF_FIELD.search(form.text)
        assert csrf is not None
        done = a.post(
            "/account/password",
            data={
                "old": "first passphrase here",
                "new": "second passphrase here",
                "csrf_token": csrf.group(1),
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert a.get("/api/units").status_code == 200  # this browser stays logged in
        assert b.get("/api/units").status_code == 401  # the other one is out
        assert a.get("/api/units", headers=bearer).status_code == 200  # box not ticked
        form = a.get("/account/password")
        csrf = CSRF_FIELD.search(form.text)
        assert csrf is not None
        a.post(
            "/account/password",
            data={
                "old": "second passphrase here",
                "new": "third passphrase here",
                "csrf_token": csrf.group(1),
                "revoke_tokens": "true",
            },
            follow_redirects=False,
        )
        assert a.get("/api/units", headers=bearer).status_code == 401  # at once, despite cache
        weak = a.get("/account/password")
        csrf = CSRF_FIELD.search(weak.text)
        assert csrf is not None
        refused = a.post(
            "/account/password",
            data={
                "old": "third passphrase here",
                "new": "Matkhau@2026",
                "csrf_token": csrf.group(1),
            },
        )
        assert refused.status_code == 422 and "too common" in refused.text


def test_account_and_login_pages_are_not_cached(client: TestClient) -> None:
    assert "no-store" in client.get("/login").headers["cache-control"]
    csrf = login(client, "viewer_hni")
    assert "no-store" in client.get("/account").headers["cache-control"]
    made = client.post("/account/tokens", data={"name": "nocache", "csrf_token": csrf})
    assert made.status_code == 200 and "no-store" in made.headers["cache-control"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/../openapi.json",
        "/api/units/../../openapi.json",
        "/api/%2e%2e/openapi.json",
        "/api/%252e%252e/openapi.json",
        "/api//units",
        "/api/units/./x",
    ],
)
def test_view_page_stays_under_the_api(client: TestClient, path: str) -> None:
    login(client, "admin")
    resp = client.get("/view", params={"path": path})
    assert resp.status_code in (404, 422), resp.status_code
    assert "openapi" not in resp.text.lower() or "không có" in resp.text.lower()
    assert '"paths"' not in resp.text and "components" not in resp.text


def test_view_page_refuses_backslashes_and_query_strings(client: TestClient) -> None:
    login(client, "admin")
    for path in ("/api/units\\..\\..\\openapi.json", "/api/units?limit=1", "/api/units#x"):
        assert client.get("/view", params={"path": path}).status_code in (404, 422), path
    assert client.get("/view", params={"path": "/api/units"}).status_code == 200


def test_one_time_password_must_be_changed_first(world: World) -> None:
    with session_scope(world.engine) as s:
        svc = AccountService(s)
        _u, otp = svc.create_user(username="newbie")
        svc.grant(username="newbie", role=Role.viewer, unit_code="HNI")
    assert otp is not None
    with TestClient(world.app) as c:
        token = CSRF_FIELD.search(c.get("/login").text)
        assert token is not None
        c.post("/login", data={"username": "newbie", "password": otp, "csrf_token": token.group(1)})
        page = c.get("/scorecard", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/account/password"
        refused = c.get("/api/units")
        assert (
            refused.status_code == 403 and "one-time password" in refused.json()["error"]["message"]
        )
        form = c.get("/account/password")
        csrf = CSRF_FIELD.search(form.text)
        assert csrf is not None
        done = c.post(
            "/account/password",
            data={"old": otp, "new": "mùa thu Hà Nội có mưa", "csrf_token": csrf.group(1)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert c.get("/api/units").status_code == 200


def test_api_token_of_a_script_account_works_before_any_password_change(world: World) -> None:
    """Script accounts never log in with a browser; the token an admin issued is enough."""
    with session_scope(world.engine) as s:
        svc = AccountService(s)
        _u, otp = svc.create_user(username="script.hni")
        svc.grant(username="script.hni", role=Role.viewer, unit_code="HNI")
        raw = svc.create_token(username="script.hni", name="nightly report")[0]
    assert otp is not None
    with TestClient(world.app) as c:
        ok = c.get("/api/units", headers={"Authorization": f"Bearer {raw}"})
        assert ok.status_code == 200 and ok.json()["total"] > 0
        # The same account's interactive session is still sent to change its password first.
        token = CSRF_FIELD.search(c.get("/login").text)
        assert token is not None
        c.post(
            "/login", data={"username": "script.hni", "password": otp, "csrf_token": token.group(1)}
        )
        assert c.get("/api/units").status_code == 403


def test_scorecard_page_with_charts_and_drilldown(client: TestClient, world: World) -> None:
    login(client, "admin")
    page = client.get("/scorecard")
    assert page.status_code == 200
    assert "Chỉ tiêu kế hoạch" in page.text  # Vietnamese by default
    assert 'src="/static/plotly.min.js"' in page.text
    assert "chart-equipped_offices" in page.text
    assert "Liên đoàn Lao động thành phố Hà Nội" in page.text  # a child unit row
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and "Plotly" in js.text[:5000] and len(js.text) > 1_000_000
    drill = client.get("/scorecard/equipped_offices?unit=HNI")
    assert drill.status_code == 200
    assert 'id="failing-table"' in drill.text
    report = client.get("/api/targets?unit=HNI").json()
    ind = next(i for i in report["indicators"] if i["id"] == "equipped_offices")
    for failing in ind["failing"][:3]:
        assert failing["code"] in drill.text
    en = client.get("/scorecard?lang=en")
    assert "Plan scorecard" in en.text
    assert client.cookies.get("tldops_lang") == "en"
    assert "Plan scorecard" in client.get("/scorecard").text


def test_province_user_scorecard_and_pages_stay_in_province(
    client: TestClient, world: World
) -> None:
    login(client, "it_hni")
    page = client.get("/scorecard")
    assert "Liên đoàn Lao động thành phố Hà Nội" in page.text
    assert client.get("/scorecard?unit=HCM").status_code == 404
    assert client.get(f"/units/{world.hcm_unit}").status_code == 404
    assert client.get(f"/devices/{world.hcm_device}").status_code == 404
    assert client.get(f"/officers/{world.hcm_officer}").status_code == 404
    assert client.get(f"/devices/{world.hni_device}").status_code == 200
    search = client.get("/units", params={"q": "ho chi minh"})
    assert "Hồ Chí Minh" not in search.text.split('id="search-results"')[1]


def test_search_ignores_diacritics_and_pages_show_custody(client: TestClient, world: World) -> None:
    login(client, "admin")
    page = client.get("/units", params={"q": "ha noi"})
    results = page.text.split('id="search-results"')[1]
    assert "Liên đoàn Lao động thành phố Hà Nội" in results
    dev = client.get(f"/devices/{world.hni_device}")
    assert dev.status_code == 200 and 'id="custody"' in dev.text
    hist = client.get(f"/api/devices/{world.hni_device}/custody").json()
    assert hist, "the seeded device has a custody history"
    assert fmt_date(date.fromisoformat(hist[0]["assigned_on"])) in dev.text
    off = client.get(f"/officers/{world.hni_officer}")
    assert off.status_code == 200 and world.hni_officer in off.text


@pytest.mark.parametrize("page", ["/monitoring", "/operations", "/conferences", "/training"])
def test_domain_pages_render(client: TestClient, page: str) -> None:
    login(client, "admin")
    resp = client.get(page)
    assert resp.status_code == 200
    assert 'id="not-available"' in resp.text or "<section" in resp.text or "api-form" in resp.text


def test_anonymous_pages_redirect_to_login(client: TestClient) -> None:
    for page in ("/scorecard", "/units", "/account", "/monitoring"):
        resp = client.get(page, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


def test_tokens_created_in_the_browser_are_shown_once(client: TestClient) -> None:
    csrf = login(client, "viewer_hni")
    page = client.post("/account/tokens", data={"name": "script", "csrf_token": csrf})
    found = re.search(r'id="new-token">(tld_[^<]+)<', page.text)
    assert found is not None
    raw = found.group(1)
    with TestClient(client.app) as other:
        assert (
            other.get("/api/units", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
        )
    again = client.get("/account")
    assert raw not in again.text


def test_metrics_open_to_loopback_only(world: World) -> None:
    with TestClient(world.app, client=("127.0.0.1", 5000)) as local:
        assert local.get("/metrics").status_code == 200
    with TestClient(world.app, client=("198.18.0.5", 5000)) as remote:
        assert remote.get("/metrics").status_code == 401
        # A province account may not read every province's devices (see test_web_gate.py).
        assert remote.get("/metrics", headers=world.headers("viewer_hni")).status_code == 403


def test_error_bodies_follow_the_contract(client: TestClient, world: World) -> None:
    missing = client.get("/api/units/NOPE", headers=world.headers("admin"))
    assert missing.status_code == 404
    assert set(missing.json()["error"]) >= {"type", "message", "hint", "problems"}
    dup = client.post(
        "/api/units",
        headers=world.headers("admin"),
        json={"code": "HNI", "name": "x", "level": 3, "kind": "district", "parent_code": "HNI"},
    )
    assert dup.status_code == 409
    bad = client.get("/api/units?limit=0", headers=world.headers("admin"))
    assert bad.status_code == 422 and bad.json()["error"]["problems"]


def test_revoked_token_stops_working_at_once(client: TestClient, world: World) -> None:
    with session_scope(world.engine) as s:
        raw, tok = AccountService(s).create_token(username="viewer_hni", name="short-lived")
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/units", headers=headers).status_code == 200
    assert client.get("/api/units", headers=headers).status_code == 200  # served from cache
    with session_scope(world.engine) as s:
        AccountService(s).revoke_token(username="viewer_hni", token_id=tok.id)
    assert client.get("/api/units", headers=headers).status_code == 401


def test_scorecard_follows_data_changes(client: TestClient, world: World) -> None:
    """The cached report moves when the inventory changes (version re-read each second)."""
    headers = world.headers("admin")
    url = "/api/targets?failing_limit=100000"
    report = client.get(url, headers=headers).json()
    eq = next(i for i in report["indicators"] if i["id"] == "equipped_offices")
    fixes = {
        "no_active_printer": "printer",
        "no_active_computer": "pc",
        "no_active_network_device": "switch",
        "no_active_internet_link": "link",
    }
    single = [
        f for f in eq["failing"] if len(f["reasons"]) == 1 and f["reasons"][0]["code"] in fixes
    ]
    assert single, "the demo plan leaves offices short of exactly one kind of equipment"
    target, reason = single[0]["code"], single[0]["reasons"][0]["code"]
    if fixes[reason] == "link":
        made = client.put(
            "/api/links",
            headers=headers,
            json={"unit_code": target, "isp": "VNPT", "kind": "ftth", "bandwidth_mbps": 100},
        )
        assert made.status_code == 200, made.text
    else:
        made = client.post(
            "/api/devices",
            headers=headers,
            json={"asset_tag": f"{target}-FIX-1", "kind": fixes[reason], "unit_code": target},
        )
        assert made.status_code == 201, made.text
    deadline = time.monotonic() + 5
    while True:
        again = client.get(url, headers=headers).json()
        eq2 = next(i for i in again["indicators"] if i["id"] == "equipped_offices")
        if target not in {f["code"] for f in eq2["failing"]}:
            break
        assert time.monotonic() < deadline, f"the report did not follow the fix of {target}"
        time.sleep(0.3)
    assert eq2["numerator"] == eq["numerator"] + 1
    assert eq2["failing_total"] == eq["failing_total"] - 1


def test_vietnamese_dates_and_percentages() -> None:
    from datetime import UTC, datetime

    from ops_cli.i18n import fmt_percent, translator

    # 20:00 UTC on 1 March is 03:00 on 2 March in Hà Nội (UTC+7).
    assert fmt_date(datetime(2026, 3, 1, 20, 0, tzinfo=UTC)) == "02/03/2026 03:00"
    assert fmt_date("2026-03-01T20:00:00Z") == "02/03/2026 03:00"
    assert fmt_date(date(2026, 3, 9)) == "09/03/2026"
    assert fmt_date("not a date") == "not a date"
    assert fmt_percent(0.905) == "90,5 %"
    assert fmt_percent(None) == "—"
    assert translator("vi")("scorecard") == "Chỉ tiêu kế hoạch"
    assert translator("en")("scorecard") == "Plan scorecard"


def test_view_page_reads_the_api_as_the_user(client: TestClient, world: World) -> None:
    login(client, "it_hni")
    own = client.get("/view", params={"path": f"/api/devices/{world.hni_device}/custody"})
    assert own.status_code == 200 and "<table>" in own.text
    assert (
        client.get("/view", params={"path": f"/api/devices/{world.hcm_device}"}).status_code == 404
    )
    assert client.get("/view", params={"path": "http://198.18.0.1/x"}).status_code == 422


def test_audit_page_shows_changes_to_admins_only(client: TestClient, world: World) -> None:
    login(client, "admin")
    page = client.get("/audit")
    assert page.status_code == 200
    assert "grant" in page.text and "<table>" in page.text
    with TestClient(world.app) as other:
        login(other, "viewer_hni")
        mine = other.get("/audit")
        assert mine.status_code == 200
        assert "grant" not in mine.text  # account changes are not a province viewer's business


def test_domain_page_unit_filter(client: TestClient, world: World) -> None:
    """?unit= narrows the domain lists; another province's code is refused, not shown."""
    login(client, "it_hni")
    own = client.get("/monitoring", params={"unit": "HNI"})
    assert own.status_code == 200
    other = client.get("/monitoring", params={"unit": "HCM"})
    assert other.status_code == 200
    if importlib.util.find_spec("monitoring.api") is None:
        assert 'id="not-available"' in own.text
        return
    assert "Liên đoàn Lao động thành phố Hà Nội" in own.text
    assert "Hồ Chí Minh" not in other.text
