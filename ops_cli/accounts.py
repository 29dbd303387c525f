"""Local accounts: argon2 passwords, lockout and rate limits, sessions, API tokens, grants.

:class:`AccountService` is the only writer of the account tables; every change is audited with
the acting user (``inventory.service.audit``)::

    svc = AccountService(session, actor="cli:root")
    user, otp = svc.create_user(username="it.hanoi", display_name="Nguyễn Văn An")
    svc.grant(username="it.hanoi", role=Role.it_staff, unit_code="HN")
    user = svc.authenticate(username="it.hanoi", password=otp, ip="127.0.0.1")
    cookie, web_session = svc.open_session(user, ip="127.0.0.1", user_agent="curl")
    svc.principal_for(user)      # Principal(name="it.hanoi", grants=(Grant(it_staff, "/1/5/"),))

Like the inventory service it flushes but never commits: the caller owns the transaction.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from inventory.db import utcnow
from inventory.errors import Conflict, NotFound
from inventory.models import Unit
from inventory.security import Grant, Principal, Role
from inventory.service import audit
from inventory.text import fold
from ops_cli.errors import (
    AccountLocked,
    LoginFailed,
    PasswordRejected,
    TooManyAttempts,
)
from ops_cli.models import ApiToken, LoginAttempt, User, UserGrant, WebSession

if TYPE_CHECKING:
    from starlette.requests import Request


@dataclass(frozen=True)
class Policy:
    """Login and session policy (defaults follow common guidance for internal web apps)."""

    # Failures of one (username, client address) pair within lock_for before that pair is
    # refused; other addresses can still log in to the same account.
    max_failed_logins: int = 5
    lock_for: timedelta = timedelta(minutes=15)
    ip_window: timedelta = timedelta(minutes=15)
    max_failures_per_ip: int = 20  # failures from one address within ip_window
    session_lifetime: timedelta = timedelta(hours=12)
    # A browser left logged in on a shared office PC ends after this long without a request.
    session_idle: timedelta = timedelta(hours=2)
    min_password_length: int = 12


DEFAULT_POLICY = Policy()
TOKEN_PREFIX = "tld_"
_hasher = PasswordHasher()
# Verified against when the username does not exist, so timing does not reveal which is wrong.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


# Bumped by every change that can shrink what a credential may do (revocation, grants, password,
# disabling). The web app caches resolved API tokens for a few seconds and drops that cache when
# this moves, so in-process revocations take effect at once.
_generation = [0]


def credentials_generation() -> int:
    return _generation[0]


def _credentials_changed() -> None:
    _generation[0] += 1


def digest(value: str) -> str:
    """SHA-256 hex digest of a random secret (session id or API token) for storage."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _user_snapshot(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "active": user.active,
        "must_change_password": user.must_change_password,
    }


# One answer for an unknown user, a wrong password, a disabled account and a locked pair, so a
# client cannot tell which usernames exist (the status is LoginFailed's 401 in every case).
LOGIN_FAILED_MESSAGE = (
    "Sai tên đăng nhập hoặc mật khẩu (hoặc đã sai quá nhiều lần: thử lại sau 15 phút) / "
    "wrong username or password (or too many failures: try again in 15 minutes)"
)

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_DIGIT_RUNS = "0123456789" * 4 + "9876543210" * 4


def _normal(value: str) -> str:
    """Lower case, no diacritics, letters and digits only: ``"Mật khẩu!"`` → ``"matkhau"``."""
    return _NOT_ALNUM.sub("", fold(value))


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The refused base words of ``ops_cli/data/common-passwords.txt``, normalised."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(_normal(w) for w in lines if w.strip() and not w.startswith("#"))


def _variants(password: str) -> set[str]:
    """The forms of a password compared with the list: as typed, with leading and trailing
    digits stripped (``matkhau2026``), with look-alike symbols read as letters (``p@ssw0rd``)."""
    out = set()
    for form in (password, password.lower().translate(_LEET)):
        norm = _normal(form)
        out |= {norm, norm.strip("0123456789")}
    return out - {""}


def password_problem(username: str, password: str, *, min_length: int) -> str | None:
    """Why ``password`` is refused for ``username`` (bilingual), or ``None`` when acceptable.

    Refused: shorter than ``min_length``; equal to the username or containing it (ignoring case,
    diacritics and punctuation); a listed common password, also with digits or symbols added
    around it or look-alike symbols (``P@ssw0rd2026``); digit runs (``123456789012``) and
    passwords of fewer than 4 distinct characters.
    """
    if len(password) < min_length:
        return (
            f"Mật khẩu phải có ít nhất {min_length} ký tự / "
            f"the password needs at least {min_length} characters"
        )
    user, norm = _normal(username), _normal(password)
    if password.strip().lower() == username.strip().lower() or (len(user) >= 3 and user in norm):
        return (
            "Mật khẩu không được trùng hoặc chứa tên đăng nhập / the password must not be or "
            "contain the username"
        )
    if len(set(password.lower())) < 4 or (norm.isdigit() and norm in _DIGIT_RUNS):
        return (
            "Mật khẩu quá đơn giản (lặp ký tự hoặc dãy số) / the password is too simple "
            "(repeated characters or a run of digits)"
        )
    if _variants(password) & common_passwords():
        return "Mật khẩu quá phổ biến, dễ bị đoán / the password is too common and easy to guess"
    return None


def client_address(request: Request) -> str:
    """The address of the client that sent ``request``, for rate limits and the audit trail.

    ``request.client.host`` (the TCP peer), unless that peer is one of the reverse proxies listed
    in ``TLDOPS_TRUSTED_PROXIES`` (comma-separated CIDRs, e.g. ``127.0.0.1/32,10.0.0.0/24``):
    then ``X-Forwarded-For`` is read from the right, skipping trusted proxies, and the first
    address not trusted is the client. Without the variable the header is ignored, since any
    client can write it.
    """
    peer = request.client.host if request.client else "unknown"
    trusted = _trusted_proxies(os.environ.get("TLDOPS_TRUSTED_PROXIES", ""))
    if not trusted or not _in_nets(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",")]
    client = peer
    for hop in reversed([h for h in hops if h]):
        try:
            addr = ipaddress.ip_address(hop)
        except ValueError:
            break  # garbage left of here was written by the client; stop at the last real hop
        client = str(addr)
        if not any(addr in net for net in trusted):
            break
    return client


@functools.lru_cache(maxsize=8)
def _trusted_proxies(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    nets = []
    for part in spec.split(","):
        if part.strip():
            nets.append(ipaddress.ip_network(part.strip(), strict=False))
    return tuple(nets)


def _in_nets(host: str, nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(addr in net for net in nets)


def new_password() -> str:
    """A random one-time password (about 96 bits)."""
    return secrets.token_urlsafe(12)


class AccountService:
    """Account operations for one session and one acting user."""

    def __init__(
        self,
        session: Session,
        *,
        actor: str = "system",
        clock: Callable[[], datetime] = utcnow,
        policy: Policy = DEFAULT_POLICY,
        hasher: PasswordHasher = _hasher,
    ) -> None:
        self.session = session
        self.actor = actor
        self.clock = clock
        self.policy = policy
        self.hasher = hasher

    # -- users -------------------------------------------------------------------------------
    def user(self, username: str) -> User:
        found = self.session.scalar(select(User).where(User.username == username.strip()))
        if found is None:
            raise NotFound(f"Không có tài khoản {username!r} / no user {username!r}")
        return found

    def users(self) -> Sequence[User]:
        return self.session.scalars(select(User).order_by(User.username)).all()

    def count_users(self) -> int:
        return self.session.scalar(select(func.count()).select_from(User)) or 0

    def _check_password(self, username: str, password: str) -> None:
        """The full policy (:func:`password_problem`), for every password a person chooses."""
        problem = password_problem(username, password, min_length=self.policy.min_password_length)
        if problem is not None:
            raise PasswordRejected(
                problem,
                hint="dùng một cụm vài từ, ví dụ 'mùa thu Hà Nội có mưa' / use a passphrase of "
                "several words",
            )

    def _check_provisioned_password(self, username: str, password: str) -> None:
        """Length and not the username: for passwords set by code (tests, migrations from
        another system). People never keep such a password: the CLI and the web always issue a
        one-time password, which must be replaced, through :meth:`_check_password`."""
        if len(password) < self.policy.min_password_length:
            raise PasswordRejected(
                f"Mật khẩu phải có ít nhất {self.policy.min_password_length} ký tự / "
                f"the password needs at least {self.policy.min_password_length} characters",
                hint="use a passphrase of several words",
            )
        if password.strip().lower() == username.strip().lower():
            raise PasswordRejected(
                "Mật khẩu không được trùng tên đăng nhập / the password must differ from the "
                "username"
            )

    def create_user(
        self,
        *,
        username: str,
        password: str | None = None,
        display_name: str = "",
        email: str | None = None,
    ) -> tuple[User, str | None]:
        """Create an account. Without ``password`` a one-time password is generated and returned
        (the user must change it at first login); with one, ``None`` is returned instead."""
        username = username.strip().lower()
        if not username or len(username) > 64 or any(c.isspace() for c in username):
            raise PasswordRejected(
                f"Tên đăng nhập không hợp lệ: {username!r} / invalid username {username!r}",
                hint="use letters, digits, dots, dashes; no spaces",
            )
        if self.session.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict(f"Tài khoản {username!r} đã tồn tại / user {username!r} already exists")
        one_time = password is None
        pw = new_password() if password is None else password
        if not one_time:
            self._check_provisioned_password(username, pw)
        user = User(
            username=username,
            display_name=display_name or username,
            email=email,
            password_hash=self.hasher.hash(pw),
            must_change_password=one_time,
            created_at=self.clock(),
        )
        self.session.add(user)
        self.session.flush()
        audit(
            self.session,
            actor=self.actor,
            action="create",
            entity="user",
            entity_key=username,
            after=_user_snapshot(user),
            at=self.clock(),
        )
        return user, (pw if one_time else None)

    def set_password(
        self, *, username: str, password: str | None = None, revoke_tokens: bool = False
    ) -> str | None:
        """Reset a password (admin). Without ``password`` a one-time one is generated, returned,
        and must be changed at next login. All the user's sessions end, login failures counted
        so far stop counting (the lock of every address lifts), and with ``revoke_tokens`` every
        API token of the user is revoked too."""
        user = self.user(username)
        one_time = password is None
        pw = new_password() if password is None else password
        if not one_time:
            self._check_password(user.username, pw)
        user.password_hash = self.hasher.hash(pw)
        user.must_change_password = one_time
        user.password_changed_at = self.clock()
        self.session.flush()
        _credentials_changed()
        self.revoke_all_sessions(user, note="password reset")
        if revoke_tokens:
            self.revoke_all_tokens(user, note="password reset")
        audit(
            self.session,
            actor=self.actor,
            action="password_reset",
            entity="user",
            entity_key=user.username,
            at=self.clock(),
        )
        return pw if one_time else None

    def change_password(
        self,
        user: User,
        *,
        old: str,
        new: str,
        keep_session: str | None = None,
        revoke_tokens: bool = False,
    ) -> None:
        """The user changes their own password (needs the current one).

        Every other session of the user ends (someone who knew the old password may hold one);
        ``keep_session`` is the ``id_hash`` of the session making the change, which stays.
        API tokens keep working unless ``revoke_tokens``: scripts hold them, and a password
        change is not always a compromise.
        """
        if not self._verify(user, old):
            raise LoginFailed("Mật khẩu hiện tại không đúng / the current password is wrong")
        if old == new:
            raise PasswordRejected(
                "Mật khẩu mới phải khác mật khẩu cũ / the new password must differ from the old"
            )
        self._check_password(user.username, new)
        user.password_hash = self.hasher.hash(new)
        user.must_change_password = False
        user.password_changed_at = self.clock()
        self.session.flush()
        _credentials_changed()
        self.revoke_all_sessions(user, note="password change", keep=keep_session)
        if revoke_tokens:
            self.revoke_all_tokens(user, note="password change")
        audit(
            self.session,
            actor=user.username,
            action="password_change",
            entity="user",
            entity_key=user.username,
            at=self.clock(),
        )

    def set_active(self, *, username: str, active: bool) -> User:
        user = self.user(username)
        before = _user_snapshot(user)
        user.active = active
        _credentials_changed()
        if not active:
            self.revoke_all_sessions(user, note="account disabled")
        self.session.flush()
        audit(
            self.session,
            actor=self.actor,
            action="update",
            entity="user",
            entity_key=user.username,
            before=before,
            after=_user_snapshot(user),
            at=self.clock(),
        )
        return user

    # -- grants ------------------------------------------------------------------------------
    def _unit(self, code: str) -> Unit:
        unit = self.session.scalar(select(Unit).where(Unit.code == code))
        if unit is None:
            raise NotFound(f"Không có đơn vị mã {code!r} / no unit with code {code!r}")
        return unit

    def grant(self, *, username: str, role: Role, unit_code: str) -> UserGrant:
        """Give ``role`` on the subtree of ``unit_code`` (idempotent)."""
        user, unit = self.user(username), self._unit(unit_code)
        for g in user.grants:
            if g.role is role and g.unit_id == unit.id:
                return g
        grant = UserGrant(user_id=user.id, role=role, unit_id=unit.id)
        _credentials_changed()
        self.session.add(grant)
        self.session.flush()
        self.session.refresh(user)
        audit(
            self.session,
            actor=self.actor,
            action="grant",
            entity="user",
            entity_key=user.username,
            after={"role": role.value, "unit": unit.code},
            unit_path=unit.path,
            at=self.clock(),
        )
        return grant

    def revoke(self, *, username: str, role: Role, unit_code: str) -> None:
        user, unit = self.user(username), self._unit(unit_code)
        deleted = self.session.execute(
            delete(UserGrant).where(
                UserGrant.user_id == user.id, UserGrant.role == role, UserGrant.unit_id == unit.id
            )
        ).rowcount  # type: ignore[attr-defined]
        if not deleted:
            raise NotFound(
                f"{user.username} không có quyền {role.value} trên {unit.code} / "
                f"{user.username} has no {role.value} grant on {unit.code}"
            )
        self.session.flush()
        _credentials_changed()
        self.session.expire(user)
        audit(
            self.session,
            actor=self.actor,
            action="revoke",
            entity="user",
            entity_key=user.username,
            before={"role": role.value, "unit": unit.code},
            unit_path=unit.path,
            at=self.clock(),
        )

    @staticmethod
    def principal_for(user: User) -> Principal:
        """The :class:`Principal` of an account: its grants with the units' current paths.

        A grant on the root unit becomes a grant on ``"/"``: the root's subtree is the whole
        federation, and ``"/"`` is how domains spell "federation-wide" (``Principal.system``),
        e.g. for runs and backups that belong to no unit.
        """
        return Principal(
            name=user.username,
            grants=tuple(
                Grant(g.role, "/" if g.unit.parent_id is None else g.unit.path) for g in user.grants
            ),
        )

    # -- login -------------------------------------------------------------------------------
    def _verify(self, user: User, password: str) -> bool:
        try:
            self.hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if self.hasher.check_needs_rehash(user.password_hash):
            user.password_hash = self.hasher.hash(password)
        return True

    def _failures(self, *, ip: str, since: datetime, username: str | None = None) -> int:
        q = (
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.ip == ip, LoginAttempt.at >= since, LoginAttempt.ok.is_(False))
        )
        if username is not None:
            q = q.where(LoginAttempt.username == username)
        return self.session.scalar(q) or 0

    def authenticate(self, *, username: str, password: str, ip: str) -> User:
        """Check a login from client address ``ip`` (see :func:`client_address`).

        The rules, so that nobody can lock a real user out from afar and the answers do not
        reveal which usernames exist:

        * Per address: after ``max_failures_per_ip`` failures from ``ip`` within ``ip_window``
          (any usernames), every login from ``ip`` gets :class:`TooManyAttempts` (429) until
          the window slides past them. It says nothing about any account.
        * Per (username, address) pair: while the pair has ``max_failed_logins`` failures
          within the last ``lock_for``, it is refused even with the right password (attempts
          while locked count as failures, so hammering keeps it locked; at most that many
          guesses per ``lock_for`` get through). The same account logs in normally from every
          other address: an attacker locks out only himself. Failures before the user's last
          password change or reset, or before the pair's last success, do not count.
        * An unknown username, a wrong password, a disabled account and a locked pair all raise
          :class:`LoginFailed` with one message (``LOGIN_FAILED_MESSAGE``, 401), and each checks
          one argon2 hash (a dummy one where there is no real one) so they take similar time.
          A locked pair raises the subclass :class:`AccountLocked`, for the audit trail only.

        Failures are recorded even though the exception propagates: the caller must commit
        the session in its error path too (the web login handler does).
        """
        now = self.clock()
        username = username.strip().lower()[:64]
        ip = ip[:64]
        if self._failures(ip=ip, since=now - self.policy.ip_window) >= (
            self.policy.max_failures_per_ip
        ):
            raise TooManyAttempts(
                "Quá nhiều lần đăng nhập sai từ địa chỉ này / too many failed logins from this "
                "address",
                hint=f"wait {int(self.policy.ip_window.total_seconds() // 60)} minutes",
            )
        user = self.session.scalar(select(User).where(User.username == username))
        since = now - self.policy.lock_for
        last_ok = self.session.scalar(
            select(func.max(LoginAttempt.at)).where(
                LoginAttempt.username == username, LoginAttempt.ip == ip, LoginAttempt.ok.is_(True)
            )
        )
        for start in (last_ok, user.password_changed_at if user is not None else None):
            if start is not None and start > since:
                since = start
        locked = self._failures(ip=ip, since=since, username=username) >= (
            self.policy.max_failed_logins
        )
        if user is None or locked:
            self._verify_dummy(password)
            ok = False
        else:
            # Verified even for a disabled account, so its answer takes as long as any other.
            ok = self._verify(user, password) and user.active
        self.session.add(LoginAttempt(at=now, username=username, ip=ip, ok=ok))
        self.session.flush()
        if locked:
            raise AccountLocked(LOGIN_FAILED_MESSAGE)
        if not ok or user is None:
            if self._failures(ip=ip, since=since, username=username) == (
                self.policy.max_failed_logins
            ):
                audit(
                    self.session,
                    actor="system",
                    action="lock",
                    entity="user",
                    entity_key=username,
                    note=f"{self.policy.max_failed_logins} failures from {ip}: that address is "
                    f"refused for {int(self.policy.lock_for.total_seconds() // 60)} minutes",
                    at=now,
                )
                self.session.flush()
            raise LoginFailed(LOGIN_FAILED_MESSAGE)
        user.last_login_at = now
        self.session.flush()
        return user

    def _verify_dummy(self, password: str) -> None:
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            self.hasher.verify(_DUMMY_HASH, password)

    # -- sessions ----------------------------------------------------------------------------
    def open_session(
        self, user: User, *, ip: str | None = None, user_agent: str | None = None
    ) -> tuple[str, WebSession]:
        """Start a browser session; returns the cookie value (shown nowhere else)."""
        raw = secrets.token_urlsafe(32)
        now = self.clock()
        ws = WebSession(
            id_hash=digest(raw),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + self.policy.session_lifetime,
            ip=(ip or "")[:64],
            user_agent=(user_agent or "")[:255],
        )
        self.session.add(ws)
        self.session.flush()
        audit(
            self.session,
            actor=user.username,
            action="login",
            entity="user",
            entity_key=user.username,
            note=f"from {ip}",
            at=now,
        )
        return raw, ws

    def session_for(self, raw: str) -> WebSession | None:
        """The live session for a cookie value, or ``None`` (unknown, expired, idle, revoked).

        A session found live has its ``last_seen_at`` moved forward (the idle clock restarts).
        """
        ws = self.session.scalar(select(WebSession).where(WebSession.id_hash == digest(raw)))
        now = self.clock()
        if ws is None or ws.revoked_at is not None or ws.expires_at <= now:
            return None
        if now - (ws.last_seen_at or ws.created_at) >= self.policy.session_idle:
            return None
        if not ws.user.active:
            return None
        # One write a minute at most, not one per request.
        if ws.last_seen_at is None or now - ws.last_seen_at >= timedelta(minutes=1):
            ws.last_seen_at = now
            self.session.flush()
        return ws

    def close_session(self, raw: str) -> None:
        ws = self.session.scalar(select(WebSession).where(WebSession.id_hash == digest(raw)))
        if ws is not None and ws.revoked_at is None:
            ws.revoked_at = self.clock()
            _credentials_changed()
            audit(
                self.session,
                actor=ws.user.username,
                action="logout",
                entity="user",
                entity_key=ws.user.username,
                at=self.clock(),
            )
            self.session.flush()

    def revoke_all_sessions(
        self, user: User, *, note: str = "logout everywhere", keep: str | None = None
    ) -> int:
        """End every session of ``user`` but the one whose ``id_hash`` is ``keep`` (logout
        everywhere, password changes); returns how many were ended. API tokens are not touched
        (:meth:`revoke_all_tokens`)."""
        where = [WebSession.user_id == user.id, WebSession.revoked_at.is_(None)]
        if keep is not None:
            where.append(WebSession.id_hash != keep)
        n = self.session.execute(
            update(WebSession)
            .where(*where)
            .values(revoked_at=self.clock())
            .execution_options(synchronize_session="fetch")
        ).rowcount  # type: ignore[attr-defined]
        _credentials_changed()
        audit(
            self.session,
            actor=self.actor if self.actor != "system" else user.username,
            action="revoke_sessions",
            entity="user",
            entity_key=user.username,
            note=f"{note}: {n} session(s)",
            at=self.clock(),
        )
        self.session.flush()
        return int(n or 0)

    @staticmethod
    def csrf_matches_token(expected: str, sent: str | None) -> bool:
        """Constant-time comparison of a session's CSRF token with the one a request sent."""
        return bool(sent) and hmac.compare_digest(expected.encode(), (sent or "").encode())

    # -- API tokens --------------------------------------------------------------------------
    def create_token(
        self, *, username: str, name: str, expires_in: timedelta | None = None
    ) -> tuple[str, ApiToken]:
        """Issue an API token; the returned string is the only copy of the secret."""
        user = self.user(username)
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        tok = ApiToken(
            user_id=user.id,
            name=name.strip()[:128] or "token",
            prefix=raw[:12],
            token_hash=digest(raw),
            created_at=now,
            expires_at=now + expires_in if expires_in else None,
        )
        self.session.add(tok)
        self.session.flush()
        audit(
            self.session,
            actor=self.actor,
            action="token_create",
            entity="user",
            entity_key=user.username,
            after={"token_id": tok.id, "name": tok.name, "prefix": tok.prefix},
            at=now,
        )
        return raw, tok

    def token_user(self, raw: str) -> User | None:
        """The active user owning a live token, or ``None``."""
        if not raw.startswith(TOKEN_PREFIX):
            return None
        tok = self.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(raw)))
        now = self.clock()
        if tok is None or tok.revoked_at is not None:
            return None
        if tok.expires_at is not None and tok.expires_at <= now:
            return None
        if not tok.user.active:
            return None
        return tok.user

    def tokens(self, username: str) -> Sequence[ApiToken]:
        user = self.user(username)
        return self.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
        ).all()

    def revoke_token(self, *, username: str, token_id: int) -> None:
        user = self.user(username)
        tok = self.session.get(ApiToken, token_id)
        if tok is None or tok.user_id != user.id:
            raise NotFound(f"Không có token {token_id} / no token {token_id} for {username}")
        if tok.revoked_at is None:
            tok.revoked_at = self.clock()
            _credentials_changed()
            audit(
                self.session,
                actor=self.actor,
                action="token_revoke",
                entity="user",
                entity_key=user.username,
                before={"token_id": tok.id, "name": tok.name},
                at=self.clock(),
            )
            self.session.flush()

    def revoke_all_tokens(self, user: User, *, note: str) -> int:
        """Revoke every live API token of ``user``; returns how many."""
        now = self.clock()
        live = self.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        ).all()
        for tok in live:
            tok.revoked_at = now
        _credentials_changed()
        audit(
            self.session,
            actor=self.actor if self.actor != "system" else user.username,
            action="revoke_tokens",
            entity="user",
            entity_key=user.username,
            note=f"{note}: {len(live)} token(s)",
            at=now,
        )
        self.session.flush()
        return len(live)
