"""The account store on SQLite and PostgreSQL: passwords, lockout, rate limits, sessions,
tokens, grants → principal, and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.enums import UnitKind
from inventory.errors import Conflict, NotFound
from inventory.models import AuditRecord
from inventory.security import Role
from inventory.service import InventoryService
from ops_cli.accounts import AccountService, Policy
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
        svc.create_user(username="samesame12", password="SameSame12")
    svc.create_user(username="an", password="long enough pw")
    with pytest.raises(Conflict):
        svc.create_user(username="AN", password="long enough pw")


def test_lockout_after_five_failures_then_unlocks(svc: AccountService, clock: Clock) -> None:
    svc.create_user(username="an", password="correct password")
    for _ in range(5):
        with pytest.raises(LoginFailed):
            svc.authenticate(username="an", password="wrong password", ip="127.0.0.2")
    # Locked: even the right password is refused, and says so.
    with pytest.raises(AccountLocked):
        svc.authenticate(username="an", password="correct password", ip="127.0.0.2")
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
