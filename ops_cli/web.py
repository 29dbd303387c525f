"""The web app: FastAPI with accounts, every domain's API router, the dashboard and ``/metrics``.

``create_app(engine)`` builds the whole process-facing surface::

    app = create_app(make_engine("sqlite:///var/tldops.db"), secure_cookies=False)
    uvicorn.run(app, host="127.0.0.1", port=8080)

Authentication (one app-wide dependency, so it runs before every route's own dependencies):
``Authorization: Bearer tld_...`` (API token) or the ``tldops_session`` cookie. Cookie-authenticated
unsafe requests must carry the session's CSRF token (``X-CSRF-Token`` header, or a
``csrf_token`` form field). Domain routers declare ``PrincipalDep`` and get 401 without a login.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib
import importlib.util
import ipaddress
import json
import logging
import os
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import cookie_parser
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inventory.api_deps import get_principal
from inventory.db import make_sessionmaker, upgrade
from inventory.errors import OpsError, PermissionDenied, ValidationFailed
from inventory.security import Principal
from inventory.text import TEXT_BAD_CHARS
from ops_cli.accounts import AccountService, credentials_generation, digest
from ops_cli.errors import CsrfFailed

if TYPE_CHECKING:
    from ops_cli.scheduler import Scheduler

log = logging.getLogger("tldops.web")

SESSION_COOKIE = "tldops_session"
LANG_COOKIE = "tldops_lang"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Domain routers mounted when their module exists (other engineers write them in parallel).
DOMAIN_ROUTERS: tuple[str, ...] = (
    "inventory.api",
    "monitoring.api",
    "monitoring.alerts_api",
    "playbooks.api",
    "videoconf.api",
    "training_lms.api",
)


class ErrorDetail(BaseModel):
    type: str
    message: str
    hint: str | None = None
    problems: list[str] = []


class ErrorBody(BaseModel):
    """The JSON body of every error the API returns on purpose."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "not authenticated"},
    403: {"model": ErrorBody, "description": "no permission on this unit / CSRF token missing"},
    404: {"model": ErrorBody, "description": "not found (or not visible to you)"},
    409: {"model": ErrorBody, "description": "conflicts with existing data"},
    422: {"model": ErrorBody, "description": "invalid input"},
}


@dataclass(frozen=True)
class Identity:
    """Who made the request, resolved once per request from a cookie or a token."""

    user_id: int
    username: str
    display_name: str
    principal: Principal
    via: str  # "session" or "token"
    csrf_token: str | None
    session_hash: str | None
    must_change_password: bool


def _resolve(engine: Engine, *, token: str | None, cookie: str | None) -> Identity | None:
    session = make_sessionmaker(engine)()
    try:
        identity = _identity(session, token=token, cookie=cookie)
        try:
            # The only write here is a session's last-seen time (once a minute): losing it to a
            # busy database must not turn a read into an error.
            session.commit()
        except OperationalError:
            session.rollback()
        return identity
    finally:
        session.close()


def _identity(session: Session, *, token: str | None, cookie: str | None) -> Identity | None:
    svc = AccountService(session)
    if token:
        user = svc.token_user(token)
        if user is None:
            return None
        return Identity(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            principal=svc.principal_for(user),
            via="token",
            csrf_token=None,
            session_hash=None,
            must_change_password=user.must_change_password,
        )
    if cookie:
        ws = svc.session_for(cookie)
        if ws is None:
            return None
        return Identity(
            user_id=ws.user.id,
            username=ws.user.username,
            display_name=ws.user.display_name,
            principal=svc.principal_for(ws.user),
            via="session",
            csrf_token=ws.csrf_token,
            session_hash=ws.id_hash,
            must_change_password=ws.user.must_change_password,
        )
    return None


TOKEN_CACHE_SECONDS = 5.0
# digest(token) -> (resolved at, credentials generation, identity). Scripts call the API in
# bursts; resolving the same token for each call is wasted work. In-process revocations clear it
# at once (generation); changes made by another process (the CLI) show within the TTL.
_token_cache: dict[str, tuple[float, int, Identity]] = {}


def _resolve_token(engine: Engine, token: str) -> Identity | None:
    key = digest(token)
    now = time.monotonic()
    hit = _token_cache.get(key)
    if (
        hit is not None
        and now - hit[0] < TOKEN_CACHE_SECONDS
        and hit[1] == credentials_generation()
    ):
        return hit[2]
    return None


def _remember_token(token: str, identity: Identity, generation: int) -> None:
    if len(_token_cache) > 10_000:
        _token_cache.clear()
    _token_cache[digest(token)] = (time.monotonic(), generation, identity)


_bearer = HTTPBearer(auto_error=False, description="API token from `tldops user token`")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="browser session (needs X-CSRF-Token)"
)


async def resolve_identity(
    engine: Engine, *, bearer: str | None, cookie: str | None
) -> Identity | None:
    """Who sent the request (token first, else session cookie); None when anonymous."""
    if bearer:
        identity = _resolve_token(engine, bearer)
        if identity is None:
            generation = credentials_generation()
            identity = await run_in_threadpool(_resolve, engine, token=bearer, cookie=None)
            if identity is not None:
                _remember_token(bearer, identity, generation)
        return identity
    if cookie:
        return await run_in_threadpool(_resolve, engine, token=None, cookie=cookie)
    return None


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> None:
    """Set ``request.state.identity`` and ``request.state.principal`` (None when anonymous).

    :class:`RequestGate` has usually resolved the identity already (before the body was read);
    this dependency adds the CSRF check, which may need the form, and the one-time-password gate.
    The declared ``bearer``/``cookie`` parameters document both schemes in OpenAPI.
    """
    if getattr(request.state, "authenticated", False):
        return
    request.state.authenticated = True
    if "identity" in request.state._state:
        identity: Identity | None = request.state.identity
    else:
        identity = await resolve_identity(
            request.app.state.engine,
            bearer=bearer.credentials if bearer is not None else None,
            cookie=cookie,
        )
    request.state.identity = identity
    request.state.principal = None
    if identity is not None and identity.via == "session" and request.method in UNSAFE_METHODS:
        sent = request.headers.get("x-csrf-token")
        ctype = request.headers.get("content-type", "")
        if sent is None and ctype.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
        assert identity.csrf_token is not None
        if not sent or not AccountService.csrf_matches_token(identity.csrf_token, sent):
            raise CsrfFailed(
                "Thiếu hoặc sai mã chống giả mạo (CSRF) / missing or wrong CSRF token",
                hint="reload the page; API clients send the X-CSRF-Token header or use a "
                "bearer token",
            )
    # The one-time password gates interactive sessions only: an API token is a credential an
    # admin issued on purpose for a script, which never has a browser to change a password in.
    blocked = identity is not None and identity.via == "session" and identity.must_change_password
    if identity is not None and not blocked:
        request.state.principal = identity.principal
    elif identity is not None and request.url.path.startswith("/api/"):
        raise PermissionDenied(
            "Cần đổi mật khẩu một lần trước / the one-time password must be changed first",
            hint="log in to the dashboard and choose a new password",
        )


def _error(
    status: int, err_type: str, message: str, hint: str | None = None, problems: Iterable[str] = ()
) -> JSONResponse:
    body = ErrorBody(
        error=ErrorDetail(type=err_type, message=message, hint=hint, problems=list(problems))
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/metrics")) and "text/html" in (
        request.headers.get("accept", "")
    )


def status_of(err: OpsError) -> int:
    """HTTP status for an :class:`OpsError`: the ``http_status`` its class declares."""
    return err.http_status


def _install_error_handlers(app: FastAPI) -> None:
    async def ops_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OpsError)
        status = status_of(exc)
        if _wants_html(request):
            from ops_cli.pages import render_error

            return render_error(request, status=status, message=exc.message, hint=exc.hint)
        problems = [p.render() for p in exc.problems] if isinstance(exc, ValidationFailed) else []
        return _error(status, type(exc).__name__, exc.message, exc.hint, problems)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 401 and _wants_html(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        if _wants_html(request):
            from ops_cli.pages import render_error

            return render_error(request, status=exc.status_code, message=str(exc.detail))
        return _error(exc.status_code, "HTTPException", str(exc.detail))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [
            f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        ]
        return _error(
            422, "ValidationFailed", "Dữ liệu không hợp lệ / invalid input", problems=problems
        )

    async def db_unavailable(request: Request, exc: Exception) -> Response:
        status, body, headers = database_unavailable(exc)
        if _wants_html(request):
            from ops_cli.pages import render_error

            resp = render_error(
                request, status=status, message=body.error.message, hint=body.error.hint
            )
            resp.headers.update(headers)
            return resp
        return JSONResponse(body.model_dump(), status_code=status, headers=headers)

    app.add_exception_handler(OperationalError, db_unavailable)
    app.add_exception_handler(PoolTimeout, db_unavailable)

    async def db_error(request: Request, exc: Exception) -> Response:
        # The services check what they can; the database is the last line for races.
        if isinstance(exc, IntegrityError):
            return _error(409, "Conflict", "Xung đột dữ liệu / conflicts with existing data")
        return _error(422, "ValidationFailed", "Dữ liệu không hợp lệ / invalid input")

    app.add_exception_handler(OpsError, ops_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)

    async def value_error(request: Request, exc: Exception) -> Response:
        # A ValueError/OverflowError escaping a handler almost always comes from parsing user
        # input the schema let through (a malformed date string, an offset beyond 64 bits).
        # It is the client's input, so 422 rather than 500 -- but logged with its traceback,
        # since it also means a domain should validate that input itself.
        log.warning("unvalidated input reached %s: %r", request.url.path, exc, exc_info=exc)
        return _error(
            422, "ValidationFailed", "Dữ liệu không hợp lệ / invalid input", problems=[str(exc)]
        )

    app.add_exception_handler(ValueError, value_error)
    app.add_exception_handler(OverflowError, value_error)
    app.add_exception_handler(IntegrityError, db_error)
    app.add_exception_handler(DataError, db_error)


def database_unavailable(exc: Exception) -> tuple[int, ErrorBody, dict[str, str]]:
    """503 for a database that cannot take the work now: nothing was stored, try again.

    The transaction was rolled back before this answer, so a client never sees a success for a
    write that is not on disk (a full disk, a lock held past the bounded wait, a lost server).
    """
    text = str(getattr(exc, "orig", exc)).lower()
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if "full" in text or "no space" in text or "disk i/o" in text:
        log.error("database cannot write: %s", text)
        return (
            503,
            _error_body(
                "StorageFull",
                "Máy chủ hết dung lượng lưu trữ, chưa ghi gì / the server is out of disk space, "
                "nothing was written",
                hint="an administrator must free disk space on the database server",
            ),
            retry,
        )
    if "locked" in text or "busy" in text or isinstance(exc, PoolTimeout) or "timeout" in text:
        return 503, _busy_body(), retry
    log.error("database unavailable: %s", text)
    return (
        503,
        _error_body(
            "DatabaseUnavailable",
            "Cơ sở dữ liệu tạm thời không dùng được, chưa ghi gì / the database is unavailable, "
            "nothing was written",
            hint=f"try again in {RETRY_AFTER_SECONDS} seconds; if it persists, run `tldops doctor`",
        ),
        retry,
    )


class SecurityHeaders:
    """Pure ASGI middleware adding the usual hardening headers (cheaper than BaseHTTPMiddleware).

    The Content-Security-Policy allows scripts only from this origin and inline ones carrying
    the per-request nonce (``request.state.csp_nonce``, which templates put on their
    ``<script>`` tags), so injected markup cannot run script even if escaping ever failed.
    Inline styles stay allowed: the charts set them, and a style cannot run code.
    """

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        csp = (
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        ).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    *self.HEADERS,
                    (b"content-security-policy", csp),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


MAX_BODY_BYTES = 1 << 20  # JSON and form bodies: far above any real record
MAX_UPLOAD_BYTES = 20 << 20  # multipart uploads (an office's import workbook)
WRITE_WAIT_SECONDS = 10.0
RETRY_AFTER_SECONDS = 5


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def forbidden_characters(value: Any, where: str = "body") -> list[str]:
    """Where ``value`` (parsed JSON or a form) holds control characters or lone surrogates.

    They are never meant as data: NUL breaks PostgreSQL text and XLSX export, the others are
    invisible. Tab, line feed and carriage return are allowed.

    >>> forbidden_characters({"name": "Hà Nội", "note": ["ok", "bad\x00"]})
    ['body.note.1: U+0000']
    """
    found: list[str] = []
    if isinstance(value, str):
        bad = TEXT_BAD_CHARS.search(value)
        if bad:
            found.append(f"{where}: U+{ord(bad.group()):04X}")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += forbidden_characters(str(key), f"{where} (key)")
            found += forbidden_characters(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += forbidden_characters(item, f"{where}.{i}")
    return found


async def _send_error(send: Send, status: int, body: ErrorBody, headers: dict[str, str]) -> None:
    response = JSONResponse(body.model_dump(), status_code=status, headers=headers)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a response never reads
    return {"type": "http.disconnect"}


def _error_body(
    err_type: str, message: str, hint: str | None = None, problems: Iterable[str] = ()
) -> ErrorBody:
    return ErrorBody(
        error=ErrorDetail(type=err_type, message=message, hint=hint, problems=list(problems))
    )


class RequestGate:
    """Pure ASGI middleware: who is asking, how big the body is, and one SQLite writer at a time.

    In this order, before any route runs:

    1. The login (token or session cookie) is resolved, so an anonymous write to the API is
       answered 401 before a byte of its body is read (routes that authenticate themselves, such
       as the Jitsi webhook, are found from the routes' own dependencies, not listed here).
    2. The body is read up to ``TLDOPS_MAX_BODY_BYTES`` (1 MiB; uploads ``TLDOPS_MAX_UPLOAD_BYTES``,
       20 MiB); a larger one is answered 413 without reading the rest.
    3. JSON and form bodies holding control characters are refused (422, field by field).
    4. On SQLite, unsafe requests queue for the single write lock for at most
       ``TLDOPS_WRITE_WAIT_SECONDS`` (10) and are answered 503 with ``Retry-After`` when it does
       not come: SQLite has one writer, and forty threads spinning in its busy handler is what
       made concurrent writers collapse into "database is locked" errors.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.max_body = int(_env_number("TLDOPS_MAX_BODY_BYTES", MAX_BODY_BYTES))
        self.max_upload = int(_env_number("TLDOPS_MAX_UPLOAD_BYTES", MAX_UPLOAD_BYTES))
        self.write_wait = _env_number("TLDOPS_WRITE_WAIT_SECONDS", WRITE_WAIT_SECONDS)
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._gates = weakref.WeakKeyDictionary()

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(1)
        return gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        auth = headers.get("authorization", "")
        scheme, _, credentials = auth.partition(" ")
        bearer = credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None
        cookie = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE) or None
        try:
            identity = await resolve_identity(app.state.engine, bearer=bearer, cookie=cookie)
        except (OperationalError, PoolTimeout) as exc:
            status, err_body, extra = database_unavailable(exc)
            await _send_error(send, status, err_body, extra)
            return
        state["identity"] = identity
        method = scope["method"]
        path: str = scope["path"]
        unsafe = method in UNSAFE_METHODS
        if unsafe and identity is None and path.startswith("/api/") and not _public(app, scope):
            await _send_error(
                send,
                401,
                _error_body("HTTPException", "Chưa đăng nhập / not authenticated"),
                {"WWW-Authenticate": "Bearer"},
            )
            return
        ctype = headers.get("content-type", "")
        limit = self.max_upload if ctype.startswith("multipart/form-data") else self.max_body
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_error(send, 413, _too_large(limit), {"Connection": "close"})
            return
        body = bytearray()
        more = method not in {"GET", "HEAD", "OPTIONS"} or declared not in (None, "0")
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _send_error(send, 413, _too_large(limit), {"Connection": "close"})
                return
        problems = _body_problems(ctype, bytes(body))
        if problems:
            await _send_error(
                send,
                422,
                _error_body(
                    "ValidationFailed",
                    "Dữ liệu chứa ký tự điều khiển không hợp lệ / the input holds control "
                    "characters",
                    hint="remove NUL and other invisible control characters",
                    problems=problems,
                ),
                {},
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        if not (unsafe and app.state.engine.dialect.name == "sqlite"):
            await self.app(scope, replay, send)
            return
        gate = self._gate()
        try:
            await asyncio.wait_for(gate.acquire(), timeout=self.write_wait)
        except TimeoutError:
            await _send_error(send, 503, _busy_body(), {"Retry-After": str(RETRY_AFTER_SECONDS)})
            return
        try:
            await self.app(scope, replay, send)
        finally:
            gate.release()


def _too_large(limit: int) -> ErrorBody:
    return _error_body(
        "PayloadTooLarge",
        f"Dữ liệu gửi lên quá lớn (tối đa {limit // 1024} KiB) / request body too large "
        f"(at most {limit // 1024} KiB)",
        hint="split the import into smaller files, or use the CLI for very large ones",
    )


def _busy_body() -> ErrorBody:
    return _error_body(
        "ServiceBusy",
        "Cơ sở dữ liệu đang bận, chưa ghi gì / the database is busy, nothing was written",
        hint=f"try again in {RETRY_AFTER_SECONDS} seconds",
    )


def _body_problems(ctype: str, body: bytes) -> list[str]:
    if not body:
        return []
    if ctype.startswith("application/json"):
        try:
            parsed = json.loads(body)
        except ValueError:
            return []  # FastAPI answers malformed JSON with its own 422
        return forbidden_characters(parsed)
    if ctype.startswith("application/x-www-form-urlencoded"):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return ["body: not UTF-8"]
        found: list[str] = []
        for key, value in pairs:
            if key != "password" and not key.endswith("password"):
                found += forbidden_characters(value, f"form.{key}")
        return found
    return []


def _public(app: Any, scope: Scope) -> bool:
    """True when the API route for ``scope`` authenticates by itself (no login dependency)."""
    for route in getattr(app.state, "public_routes", ()):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return True
    return False


def _needs_login(dependant: Any) -> bool:
    if dependant.call is get_principal:
        return True
    return any(_needs_login(d) for d in dependant.dependencies)


def mount_domain_routers(app: FastAPI, modules: Iterable[str] = DOMAIN_ROUTERS) -> list[str]:
    """Include every domain's ``router`` that exists; returns the modules mounted.

    ``app.state.domain_operations[package]`` lists each mounted domain's operations as
    ``(method, path)`` pairs (the dashboard composes its domain pages from them).

    A domain whose module is missing is skipped quietly; one that fails to import is logged and
    skipped, so a broken domain never takes the whole front door down.
    """
    mounted: list[str] = []
    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                continue
            router = getattr(importlib.import_module(name), "router", None)
        except Exception:
            log.exception("cannot import %s; its API is not mounted", name)
            continue
        if router is None:
            continue
        app.include_router(router, responses=ERROR_RESPONSES)
        mounted.append(name)
        probe = FastAPI()
        probe.include_router(router)
        ops = app.state.domain_operations.setdefault(name.split(".")[0], [])
        for path, methods in probe.openapi().get("paths", {}).items():
            ops.extend((m.upper(), path) for m in methods)
    return mounted


def _metrics_registry(engine: Engine) -> Any:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    for module in ("monitoring.collector", "monitoring.metrics", "playbooks.metrics"):
        try:
            if importlib.util.find_spec(module) is None:
                continue
            make: Callable[..., Any] | None = getattr(
                importlib.import_module(module), "make_collector", None
            )
            if make is not None:
                registry.register(make(engine))
        except Exception:
            log.exception("metrics collector of %s not registered", module)
    return registry


SWAGGER_FILES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "application/javascript",
}
DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tldops API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/swagger/init.js"></script></body></html>
"""
DOCS_INIT = 'window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});\n'


def _install_api_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the ``swagger-ui-bundle`` package, no CDN, no inline script
    (so the Content-Security-Policy stays strict)."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return Response(DOCS_HTML, media_type="text/html")

    @app.get("/static/swagger/{name}", include_in_schema=False)
    def swagger_asset(name: str) -> Response:
        if name == "init.js":
            return Response(DOCS_INIT, media_type="application/javascript")
        media = SWAGGER_FILES.get(name)
        if media is None:
            return _error(404, "NotFound", "Không có tệp này / no such file")
        from swagger_ui_bundle import swagger_ui_path

        return Response(
            (Path(swagger_ui_path) / name).read_bytes(),
            media_type=media,
            headers={"Cache-Control": "public, max-age=86400"},
        )


def _may_scrape(request: Request) -> bool:
    client = request.client.host if request.client else None
    if _is_loopback(client) and "x-forwarded-for" not in request.headers:
        return True
    wanted = os.environ.get("TLDOPS_METRICS_TOKEN", "")
    auth = request.headers.get("authorization", "")
    if wanted and len(wanted) >= 16 and hmac.compare_digest(auth, f"Bearer {wanted}"):
        return True
    principal = request.state.principal
    if not isinstance(principal, Principal):
        return False
    # A grant on the root unit is a grant on "/" (AccountService.principal_for).
    return any(g.unit_path == "/" for g in principal.grants)


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(
    engine: Engine,
    *,
    secure_cookies: bool = True,
    domain_routers: Iterable[str] = DOMAIN_ROUTERS,
    scheduler: Scheduler | None = None,
) -> FastAPI:
    """Build the web app on ``engine`` (already migrated).

    ``secure_cookies=False`` only for plain http on loopback (``tldops up`` on 127.0.0.1).
    ``scheduler`` is started when the server starts and stopped when it stops, whichever server
    runs the app (``tldops up`` or ``uvicorn --factory ops_cli.web:app_from_env``).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await run_in_threadpool(scheduler.stop)

    app = FastAPI(
        lifespan=lifespan,
        # FastAPI's own /docs loads Swagger UI from a CDN; ours serves the installed package.
        docs_url=None,
        redoc_url=None,
        title="tldops",
        version="0.1.0",
        summary="IT operations of the Vietnam General Confederation of Labour",
        description="REST API of tldops. Authenticate with `Authorization: Bearer <token>` "
        "(`tldops user token USER`). Lists are paginated (`limit`, `offset`) and limited to "
        "the unit subtrees you were granted.",
        dependencies=[Depends(authenticate)],
    )
    app.state.engine = engine
    app.state.secure_cookies = secure_cookies
    app.state.scheduler = scheduler
    # Added first, so it runs inside SecurityHeaders: its own 401/413/503 get the headers too.
    app.add_middleware(RequestGate)
    app.add_middleware(SecurityHeaders)
    _install_error_handlers(app)
    app.state.domain_operations = {}
    app.state.mounted = mount_domain_routers(app, domain_routers)
    app.state.metrics = _metrics_registry(engine)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus scrape of the whole federation, so it is served only to: the local
        Prometheus (a loopback client not relayed by a proxy), a client sending the scrape
        token ``TLDOPS_METRICS_TOKEN`` as its bearer, or an account granted the root unit.
        A province account sees its own units on the dashboard, not every province's devices.
        """
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if not _may_scrape(request):
            if request.state.principal is None and request.state.identity is None:
                return _error(401, "HTTPException", "Chưa đăng nhập / not authenticated")
            return _error(
                403,
                "PermissionDenied",
                "Chỉ máy chủ Prometheus hoặc quản trị toàn hệ thống được đọc số liệu toàn quốc / "
                "only the scraper or an account granted the root unit may read /metrics",
                hint="give Prometheus `authorization: {credentials: <TLDOPS_METRICS_TOKEN>}`",
            )
        return Response(generate_latest(app.state.metrics), media_type=CONTENT_TYPE_LATEST)

    _install_api_docs(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    from ops_cli.pages import install_page_handlers
    from ops_cli.pages import router as pages_router
    from ops_cli.pages_import import router as import_router

    install_page_handlers(app)
    app.include_router(pages_router)
    app.include_router(import_router)
    app.state.public_routes = tuple(
        r
        for r in app.routes
        if isinstance(r, APIRoute) and r.path.startswith("/api/") and not _needs_login(r.dependant)
    )
    return app


def app_from_env() -> FastAPI:
    """App factory for an external server: ``uvicorn --factory ops_cli.web:app_from_env``.

    Does what ``tldops up`` does before serving: migrates ``TLDOPS_DATABASE_URL``, finds the
    secret key (``TLDOPS_SECRET_KEY`` or ``var/secret.key``), and runs the scheduler unless
    ``TLDOPS_SCHEDULER=off``. ``TLDOPS_COOKIE_SECURE`` defaults to true.
    """
    from inventory.config import Settings
    from inventory.runtime import get_engine
    from inventory.secrets import load_secret_key
    from ops_cli.scheduler import Scheduler, discover_jobs

    settings = Settings.from_env()
    private_var_dir(settings.var_dir)
    load_secret_key(settings.var_dir, create=True)
    engine = get_engine(settings)
    upgrade(engine)  # also verifies the indexes, which a current revision alone does not prove
    secure = os.environ.get("TLDOPS_COOKIE_SECURE", "true").lower() in {"1", "true", "yes"}
    run_jobs = os.environ.get("TLDOPS_SCHEDULER", "on").lower() not in {"0", "off", "false", "no"}
    sched = Scheduler(engine, jobs=discover_jobs()) if run_jobs else None
    app = create_app(engine, secure_cookies=secure, scheduler=sched)
    freeze_long_lived()
    return app


def private_var_dir(var_dir: Path) -> None:
    """The var folder (database, secret key, runs, backups) is 0700: only tldops reads it."""
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if var_dir.stat().st_mode & 0o077:
        var_dir.chmod(0o700)


def freeze_long_lived() -> None:
    """Move everything alive now (modules, the app, caches) out of the cyclic GC's reach.

    Measured with ``bench/bench_web.py``: full collections scanning these long-lived objects
    were the p99 tail (healthz p99 115 ms → 30 ms). Frozen objects are still freed by
    reference counting; only cycle detection skips them.
    """
    import gc

    gc.collect()
    gc.freeze()
