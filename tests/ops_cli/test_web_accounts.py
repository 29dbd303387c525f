"""The account store on SQLite and PostgreSQL: passwords, lockout, rate limits, sessions,
tokens, grants → principal, and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request

from inventory.enums import UnitKind
from inventory.errors import Conflict, NotFound
from inventory.models import AuditRecord
from inventory.security import Role
from inventory.service import InventoryService
from ops_cli.accounts import LOGIN_FAILED_MESSAGE, AccountService, Policy, client_address
from ops_cli.errors import AccountLocked, LoginFailed, PasswordRejected, TooManyAttempts
from ops_cli.models import User


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tree(session: Session) -> None:
    inv = InventoryService(session, actor="test")
    inv.create_unit(
        code="TLD", name="Tổng Liên đoàn Lao động Việt Nam", level=1, kind=UnitKind.central
    )
    inv.create_unit(
        code="HN",
        name="LĐLĐ thành phố Hà Nội",
        level=2,
        kind=UnitKind.province_federation,
        parent_code="TLD",
    )
    inv.create_unit(
        code="HN-BD", name="LĐLĐ quận Ba Đình", level=3, kind=UnitKind.district, parent_code="HN"
    )
    inv.create_unit(
        code="HCM",
        name="LĐLĐ Thành phố Hồ Chí Minh",
        level=2,
        kind=UnitKind.province_federation,
        parent_code="TLD",
    )
    session.flush()


@pytest.fixture
def svc(session: Session, clock: Clock, tree: None) -> AccountService:
    return AccountService(session, actor="cli:root", clock=clock)


def test_one_time_password_is_hashed_and_must_change(svc: AccountService, session: Session) -> None:
    user, otp = svc.create_user(username="It.HaNoi", display_name="Nguyễn Văn An")
    assert otp is not None and len(otp) >= 12
    assert user.username == "it.hanoi"
    assert user.must_change_password
    assert user.password_hash.startswith("$argon2id$")
    assert otp not in user.password_hash
    logged = svc.authenticate(username="it.hanoi", password=otp, ip="127.0.0.1")
    assert logged.id == user.id
    svc.change_password(user, old=otp, new="một mật khẩu dài")
    assert not user.must_change_password
    with pytest.raises(LoginFailed):
        svc.authenticate(username="it.hanoi", password=otp, ip="127.0.0.1")
    assert svc.authenticate(username="it.hanoi", password="một mật khẩu dài", ip="127.0.0.1")


def test_password_policy_and_duplicates(svc: AccountService) -> None:
    with pytest.raises(PasswordRejected):
        svc.create_user(username="short", password="abc")
    with pytest.raises(PasswordRejected):
        svc.create_user(username="samesame1234", password="SameSame1234")
    svc.create_user(username="an", password="long enough pw")
    with pytest.raises(Conflict):
        svc.create_user(username="AN", password="long enough pw")


def test_lockout_after_five_failures_then_unlocks(svc: AccountService, clock: Clock) -> None:
    svc.create_user(username="an", password="correct password")
    for _ in range(5):
        with pytest.raises(LoginFailed):
            svc.authenticate(username="an", password="wrong password", ip="127.0.0.2")
    # Locked for that address: even the right password is refused, with the usual answer.
    with pytest.raises(AccountLocked) as locked:
        svc.authenticate(username="an", password="correct password", ip="127.0.0.2")
    assert locked.value.message == LOGIN_FAILED_MESSAGE
    clock.advance(minutes=16)
    assert svc.authenticate(username="an", password="correct password", ip="127.0.0.2")


def test_rate_limit_per_address(session: Session, clock: Clock, tree: None) -> None:
    svc = AccountService(session, clock=clock, policy=Policy(max_failures_per_ip=3))
    svc.create_user(username="an", password="correct password")
    for i in range(3):
        with pytest.raises(LoginFailed):
            svc.authenticate(username=f"ghost{i}", password="x", ip="127.0.0.9")
    with pytest.raises(TooManyAttempts):
        svc.authenticate(username="an", password="correct password", ip="127.0.0.9")
    # Another address is not affected, and the window slides.
    assert svc.authenticate(username="an", password="correct password", ip="127.0.0.10")
    clock.advance(minutes=16)
    assert svc.authenticate(username="an", password="correct password", ip="127.0.0.9")


def test_idle_sessions_end_active_ones_continue(svc: AccountService, clock: Clock) -> None:
    user, _ = svc.create_user(username="an", password="correct password")
    busy, _ = svc.open_session(user)
    idle, _ = svc.open_session(user)
    for _ in range(5):  # 5 × 90 min of activity: longer than the idle limit in total
        clock.advance(minutes=90)
        assert svc.session_for(busy) is not None
    assert svc.session_for(idle) is None  # 7.5 h without a request
    clock.advance(hours=2)
    assert svc.session_for(busy) is None  # now idle too


def test_sessions_expire_close_and_logout_everywhere(svc: AccountService, clock: Clock) -> None:
    user, _ = svc.create_user(username="an", password="correct password")
    a, _ = svc.open_session(user, ip="127.0.0.1")
    b, ws_b = svc.open_session(user, ip="127.0.0.1")
    assert svc.session_for(a) is not None
    assert svc.session_for("forged") is None
    svc.close_session(a)
    assert svc.session_for(a) is None
    assert svc.session_for(b) is not None
    c, _ = svc.open_session(user)
    assert svc.revoke_all_sessions(user) == 2
    assert svc.session_for(b) is None and svc.session_for(c) is None
    d, _ = svc.open_session(user)
    clock.advance(hours=13)
    assert svc.session_for(d) is None
    assert AccountService.csrf_matches_token(ws_b.csrf_token, ws_b.csrf_token)
    assert not AccountService.csrf_matches_token(ws_b.csrf_token, "x")
    assert not AccountService.csrf_matches_token(ws_b.csrf_token, None)


def test_tokens_hashed_shown_once_revocable_expiring(
    svc: AccountService, session: Session, clock: Clock
) -> None:
    user, _ = svc.create_user(username="an", password="correct password")
    raw, tok = svc.create_token(username="an", name="backup", expires_in=timedelta(days=1))
    assert raw.startswith("tld_") and raw not in tok.token_hash and tok.prefix == raw[:12]
    assert svc.token_user(raw) is user
    assert svc.token_user(raw + "x") is None
    clock.advance(days=2)
    assert svc.token_user(raw) is None
    raw2, tok2 = svc.create_token(username="an", name="cron")
    svc.revoke_token(username="an", token_id=tok2.id)
    assert svc.token_user(raw2) is None
    svc.set_active(username="an", active=False)
    raw3, _ = svc.create_token(username="an", name="x")
    assert svc.token_user(raw3) is None
    with pytest.raises(NotFound):
        svc.revoke_token(username="an", token_id=9999)


def test_grants_make_the_principal(svc: AccountService, session: Session) -> None:
    svc.create_user(username="it.hn", password="correct password")
    svc.grant(username="it.hn", role=Role.it_staff, unit_code="HN")
    svc.grant(username="it.hn", role=Role.it_staff, unit_code="HN")  # idempotent
    user = svc.user("it.hn")
    p = AccountService.principal_for(user)
    hn = InventoryService(session).unit("HN")
    bd = InventoryService(session).unit("HN-BD")
    hcm = InventoryService(session).unit("HCM")
    assert p.can(Role.it_staff, bd.path) and p.can(Role.viewer, hn.path)
    assert not p.can(Role.viewer, hcm.path)
    assert not p.can(Role.meeting_host, hn.path)
    svc.revoke(username="it.hn", role=Role.it_staff, unit_code="HN")
    session.expire_all()
    assert AccountService.principal_for(svc.user("it.hn")).grants == ()
    with pytest.raises(NotFound):
        svc.revoke(username="it.hn", role=Role.it_staff, unit_code="HN")


def test_every_change_is_audited_with_the_actor(svc: AccountService, session: Session) -> None:
    _user, otp = svc.create_user(username="an")
    svc.grant(username="an", role=Role.viewer, unit_code="HN")
    svc.create_token(username="an", name="t")
    svc.set_password(username="an")
    svc.revoke(username="an", role=Role.viewer, unit_code="HN")
    rows = session.scalars(
        select(AuditRecord).where(AuditRecord.entity == "user", AuditRecord.entity_key == "an")
    ).all()
    actions = [r.action for r in rows]
    for expected in ("create", "grant", "token_create", "password_reset", "revoke"):
        assert expected in actions
    assert {r.actor for r in rows if r.action != "revoke_sessions"} == {"cli:root"}
    grant_row = next(r for r in rows if r.action == "grant")
    assert grant_row.unit_path == InventoryService(session).unit("HN").path
    # No secret ever lands in the audit log.
    blob = " ".join(str(r.after) + str(r.before) + str(r.note) for r in rows)
    assert "argon2" not in blob and (otp or "") not in blob


def test_disabled_user_cannot_log_in(svc: AccountService) -> None:
    svc.create_user(username="an", password="correct password")
    svc.set_active(username="an", active=False)
    with pytest.raises(LoginFailed):
        svc.authenticate(username="an", password="correct password", ip="127.0.0.1")


def test_user_rows_keep_no_plain_secret(svc: AccountService, session: Session) -> None:
    svc.create_user(username="an", password="correct password")
    raw, _ = svc.create_token(username="an", name="t")
    user = session.scalar(select(User).where(User.username == "an"))
    assert user is not None and "correct password" not in user.password_hash
    assert raw not in str([t.token_hash for t in svc.tokens("an")])


class CountingHasher(PasswordHasher):
    """argon2's own hasher, counting verifications (the expensive step timing would reveal)."""

    def __init__(self) -> None:
        super().__init__()
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


def test_login_answers_do_not_reveal_which_usernames_exist(
    session: Session, clock: Clock, tree: None
) -> None:
    """Unknown user, wrong password, disabled account and locked pair: one class of error for
    the client, one message, and one argon2 verification each (similar timing)."""
    hasher = CountingHasher()
    svc = AccountService(session, clock=clock, hasher=hasher)
    svc.create_user(username="an", password="correct password")
    svc.create_user(username="off", password="correct password")
    svc.set_active(username="off", active=False)
    for _ in range(5):
        with pytest.raises(LoginFailed):
            svc.authenticate(username="an", password="wrong password", ip="127.0.0.7")
    cases = {
        "unknown": ("nobody", "correct password", "127.0.0.8"),
        "wrong": ("an", "wrong password", "127.0.0.8"),
        "disabled": ("off", "correct password", "127.0.0.8"),
        "locked": ("an", "correct password", "127.0.0.7"),
    }
    answers = {}
    for case, (username, password, ip) in cases.items():
        before = hasher.verified
        with pytest.raises(LoginFailed) as err:
            svc.authenticate(username=username, password=password, ip=ip)
        assert hasher.verified - before == 1, f"{case}: {hasher.verified - before} verifications"
        answers[case] = (err.value.http_status, err.value.message, err.value.hint)
    assert len(set(answers.values())) == 1, answers
    assert answers["locked"][0] == 401


def test_lock_is_per_address_so_an_attacker_cannot_lock_the_user_out(
    svc: AccountService, clock: Clock
) -> None:
    svc.create_user(username="an", password="correct password")
    for _ in range(8):  # an attacker keeps hammering from one address
        with pytest.raises(LoginFailed):
            svc.authenticate(username="an", password="guess", ip="198.18.0.66")
    # The real user, from the office, is not affected.
    assert svc.authenticate(username="an", password="correct password", ip="198.18.0.10")
    with pytest.raises(AccountLocked):
        svc.authenticate(username="an", password="correct password", ip="198.18.0.66")
    # Hammering during the lock keeps that address locked: 5 failures in any 15 minutes.
    clock.advance(minutes=10)
    for _ in range(5):
        with pytest.raises(AccountLocked):
            svc.authenticate(username="an", password="guess", ip="198.18.0.66")
    clock.advance(minutes=10)
    with pytest.raises(AccountLocked):
        svc.authenticate(username="an", password="correct password", ip="198.18.0.66")
    # An administrator's reset lifts the lock at once.
    svc.set_password(username="an", password="a brand new passphrase")
    assert svc.authenticate(username="an", password="a brand new passphrase", ip="198.18.0.66")


def test_password_change_ends_other_sessions_and_optionally_tokens(
    svc: AccountService,
) -> None:
    user, _ = svc.create_user(username="an", password="correct password")
    here, ws_here = svc.open_session(user)
    there, _ = svc.open_session(user)
    raw, _tok = svc.create_token(username="an", name="backup")
    svc.change_password(
        user, old="correct password", new="mùa thu Hà Nội có mưa", keep_session=ws_here.id_hash
    )
    assert svc.session_for(here) is not None
    assert svc.session_for(there) is None
    assert svc.token_user(raw) is user  # tokens keep working unless asked
    elsewhere, _ = svc.open_session(user)
    svc.change_password(
        user,
        old="mùa thu Hà Nội có mưa",
        new="đông về Hà Nội lạnh",
        keep_session=ws_here.id_hash,
        revoke_tokens=True,
    )
    assert svc.token_user(raw) is None
    assert svc.session_for(elsewhere) is None and svc.session_for(here) is not None


def test_admin_reset_revokes_tokens_when_asked(svc: AccountService) -> None:
    user, _ = svc.create_user(username="an", password="correct password")
    session_cookie, _ = svc.open_session(user)
    kept, _ = svc.create_token(username="an", name="kept")
    svc.set_password(username="an")
    assert svc.session_for(session_cookie) is None
    assert svc.token_user(kept) is user
    svc.set_password(username="an", revoke_tokens=True)
    assert svc.token_user(kept) is None


@pytest.mark.parametrize(
    "password",
    [
        "short pw",  # too short
        "password1234",
        "P@ssw0rd2026!",
        "matkhau123456",
        "Mật khẩu@2026",
        "congdoan2025!!",
        "TLDVN@1234567",
        "123456789012",
        "0987654321098",
        "aaaaaaaaaaaaaa",
        "abababababab",
        "nguyen.van.an-2026",  # contains the username
        "NGUYEN.VAN.AN",  # the username itself
    ],
)
def test_weak_passwords_are_refused_in_both_languages(svc: AccountService, password: str) -> None:
    user, otp = svc.create_user(username="nguyen.van.an")
    assert otp is not None
    with pytest.raises(PasswordRejected) as err:
        svc.change_password(user, old=otp, new=password)
    vi, _, en = err.value.message.partition(" / ")
    assert vi and en, err.value.message


def test_passphrases_are_accepted(svc: AccountService) -> None:
    user, otp = svc.create_user(username="nguyen.van.an")
    assert otp is not None
    svc.change_password(user, old=otp, new="mùa thu Hà Nội có mưa")
    svc.set_password(username="nguyen.van.an", password="trà đá vỉa hè 7 giờ")
    assert svc.authenticate(username="nguyen.van.an", password="trà đá vỉa hè 7 giờ", ip="::1")


def test_common_password_list_is_shipped_and_normalised() -> None:
    from ops_cli.accounts import COMMON_PASSWORDS_FILE, common_passwords

    assert COMMON_PASSWORDS_FILE.is_file()
    words = common_passwords()
    assert len(words) > 300
    assert {"matkhau", "congdoan", "tldvn", "123456789", "password", "qwerty"} <= words
    assert all(w == w.lower() and w.isalnum() for w in words)


def _request(peer: str, forwarded: list[str] | None = None) -> Request:
    headers = [(b"x-forwarded-for", v.encode()) for v in forwarded or []]
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/login",
            "headers": headers,
            "client": (peer, 40000),
            "query_string": b"",
        }
    )


def test_client_address_trusts_forwarded_for_only_from_configured_proxies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TLDOPS_TRUSTED_PROXIES", raising=False)
    spoofed = _request("198.18.0.9", ["127.0.0.5"])
    assert client_address(spoofed) == "198.18.0.9"  # no proxy configured: header ignored
    monkeypatch.setenv("TLDOPS_TRUSTED_PROXIES", "127.0.0.1/32, 198.18.1.0/24")
    assert client_address(spoofed) == "198.18.0.9"  # the peer is not a trusted proxy
    # Through two trusted proxies: the right-most untrusted hop is the client; what the client
    # itself wrote further left (a forged 10.0.0.1) is not believed.
    chain = _request("127.0.0.1", ["10.0.0.1, 198.18.0.44", "198.18.1.7"])
    assert client_address(chain) == "198.18.0.44"
    assert client_address(_request("127.0.0.1")) == "127.0.0.1"
    assert client_address(_request("127.0.0.1", ["not-an-ip, 198.18.1.8"])) == "198.18.1.8"


def test_cli_passwd_revokes_tokens_only_when_asked(db_url: str) -> None:
    from typer.testing import CliRunner

    from inventory.db import make_engine, session_scope
    from ops_cli.cli import app

    engine = make_engine(db_url)
    with session_scope(engine) as s:
        svc = AccountService(s)
        svc.create_user(username="an", password="correct password")
        raw = svc.create_token(username="an", name="script")[0]
    env = {"TLDOPS_DATABASE_URL": db_url, "TLDOPS_ACTOR": "cli:tester"}
    runner = CliRunner()
    kept = runner.invoke(app, ["user", "passwd", "an"], env=env)
    assert kept.exit_code == 0, kept.output
    assert "API tokens keep working" in " ".join(kept.output.split())
    with session_scope(engine) as s:
        assert AccountService(s).token_user(raw) is not None
    revoked = runner.invoke(app, ["user", "passwd", "an", "--revoke-tokens"], env=env)
    assert revoked.exit_code == 0, revoked.output
    with session_scope(engine) as s:
        assert AccountService(s).token_user(raw) is None
    engine.dispose()
