"""Server-rendered dashboard pages (Jinja2). Vietnamese by default; ``?lang=en`` switches and is
remembered in a cookie. Every page sees only the user's granted subtrees (the same checks as the
API: the page handlers call the API functions or the API itself in-process).

Domain pages (monitoring, operations, conferences, training) are composed from whatever the
domain's router offers: its list endpoints are read in-process with the user's own credentials
and its create endpoints become forms built from the OpenAPI request schema. A domain that has
not been installed shows "chưa có dữ liệu / not available".
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote

import httpx
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from inventory.api import REPORTS, default_unit
from inventory.api_deps import SessionDep
from inventory.config import TIMEZONE
from inventory.db import session_scope
from inventory.errors import NotFound, OpsError
from inventory.models import Custody, Device, Officer, Unit, subtree_filter
from inventory.security import Principal, Role
from inventory.service import InventoryService
from inventory.text import fold, slugify
from ops_cli.accounts import AccountService, client_address
from ops_cli.i18n import (
    LANGS,
    enum_label,
    enum_options,
    fmt_date,
    fmt_percent,
    parse_iso,
    translator,
)
from ops_cli.models import User
from ops_cli.web import LANG_COOKIE, SESSION_COOKIE, status_of

LOGIN_CSRF_COOKIE = "tldops_login_csrf"

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["d"] = fmt_date
templates.env.filters["pct"] = fmt_percent
templates.env.filters["label"] = enum_label
templates.env.globals["enum_options"] = enum_options

router = APIRouter(include_in_schema=False)

# page name -> (domain package, nav title key)
DOMAIN_PAGES: dict[str, tuple[str, str]] = {
    "monitoring": ("monitoring", "monitoring"),
    "operations": ("playbooks", "operations"),
    "conferences": ("videoconf", "conferences"),
    "training": ("training_lms", "training"),
}


class LoginRequired(Exception):
    """Raised by page dependencies; turned into a redirect to the login page."""


class MustChangePassword(Exception):
    """The user still has a one-time password."""


def lang_of(request: Request) -> str:
    q = request.query_params.get("lang")
    if q in LANGS:
        return q
    c = request.cookies.get(LANG_COOKIE)
    return c if c in LANGS else "vi"


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    """Render a template with the common context (language, user, CSRF token, nav)."""
    lang = lang_of(request)
    identity = getattr(request.state, "identity", None)
    base = {
        "request": request,
        "lang": lang,
        "t": translator(lang),
        "identity": identity,
        "csrf": identity.csrf_token if identity is not None else "",
        "nav": [("scorecard", "/scorecard"), ("inventory", "/units")]
        + [(key, f"/{page}") for page, (_pkg, key) in DOMAIN_PAGES.items()]
        + [("audit", "/audit")]
        + ([("import_title", "/import")] if _imports_allowed(identity) else []),
        "other_lang": "en" if lang == "vi" else "vi",
        "path": request.url.path,
    }
    base.update(ctx)
    resp = templates.TemplateResponse(request, name, base, status_code=status)
    if request.query_params.get("lang") in LANGS:
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return resp


def _imports_allowed(identity: Any) -> bool:
    """File imports write the whole tree: offered to IT staff granted the root unit."""
    principal = getattr(identity, "principal", None)
    return principal is not None and principal.can(Role.it_staff, "/")


def no_store(resp: Response) -> Response:
    """Keep a page out of every cache (browser back button, shared proxies): login, account
    and token pages carry CSRF tokens, and one shows a new API token."""
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


def render_error(
    request: Request, *, status: int, message: str, hint: str | None = None
) -> HTMLResponse:
    return render(request, "error.html", status=status, message=message, hint=hint)


def page_principal(request: Request) -> Principal:
    identity = getattr(request.state, "identity", None)
    if identity is None:
        raise LoginRequired()
    if identity.must_change_password:
        raise MustChangePassword()
    principal: Principal = identity.principal
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def install_page_handlers(app: Any) -> None:
    """The pages' exception handlers, and the edit forms' routes (``ops_cli.pages_edit``,
    imported here because it builds on this module)."""
    from ops_cli.pages_edit import router as edit_router

    app.include_router(edit_router)

    async def login_required(request: Request, exc: Exception) -> Response:
        nxt = quote(request.url.path + ("?" + request.url.query if request.url.query else ""))
        return RedirectResponse(f"/login?next={nxt}", status_code=303)

    async def must_change(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/account/password", status_code=303)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(MustChangePassword, must_change)


def _safe_next(value: str | None) -> str:
    # Only local paths: an open redirect after login is a phishing aid.
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return "/scorecard"


# -- static --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@router.get("/static/plotly.min.js")
def plotly_js() -> Response:
    """plotly.js from the installed ``plotly`` package (not vendored in the repository)."""
    return Response(
        _plotly_js(),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


# -- login, logout, password, tokens -------------------------------------------------------------
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/scorecard", status_code=303)


def _set_login_csrf(resp: Response, request: Request, token: str) -> None:
    """The login form's CSRF cookie (no session exists yet to hold the token)."""
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.secure_cookies,
        max_age=3600,
    )


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", login_csrf=token, next=_safe_next(next), failed=None)
    _set_login_csrf(resp, request, token)
    return no_store(resp)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=128)],
    next: Annotated[str | None, Form(max_length=512)] = None,
) -> Response:
    """Check the double-submitted login CSRF token, then the password (rate-limited)."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not AccountService.csrf_matches_token(expected, csrf_token):
        return render_error(
            request,
            status=403,
            message="Phiên đăng nhập hết hạn / the login form expired",
            hint="reload the login page",
        )
    ip = client_address(request)
    engine = request.app.state.engine
    try:
        with session_scope(engine) as session:
            svc = AccountService(session)
            try:
                user = svc.authenticate(username=username, password=password, ip=ip)
            except OpsError as err:
                # Keep the failed attempt and lockout counters: commit, then report.
                session.commit()
                raise err
            raw, _ws = svc.open_session(user, ip=ip, user_agent=request.headers.get("user-agent"))
    except OpsError as err:
        token = secrets.token_urlsafe(24)
        resp = render(
            request,
            "login.html",
            status=status_of(err),
            login_csrf=token,
            next=_safe_next(next),
            failed=err.message,
        )
        _set_login_csrf(resp, request, token)
        return no_store(resp)
    done = RedirectResponse(_safe_next(next), status_code=303)
    done.set_cookie(
        SESSION_COOKIE,
        raw,
        httponly=True,
        samesite="lax",
        secure=request.app.state.secure_cookies,
        max_age=12 * 3600,
        path="/",
    )
    done.delete_cookie(LOGIN_CSRF_COOKIE)
    return done


@router.post("/logout")
def logout(request: Request, everywhere: Annotated[bool, Form()] = False) -> Response:
    identity = getattr(request.state, "identity", None)
    raw = request.cookies.get(SESSION_COOKIE)
    if identity is not None and raw:
        with session_scope(request.app.state.engine) as session:
            svc = AccountService(session, actor=identity.username)
            if everywhere:
                user = session.get(User, identity.user_id)
                assert user is not None
                svc.revoke_all_sessions(user)
            else:
                svc.close_session(raw)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/account/password")
def password_form(request: Request) -> Response:
    if getattr(request.state, "identity", None) is None:
        raise LoginRequired()
    return no_store(render(request, "password.html", done=False, failed=None))


@router.post("/account/password")
def change_password(
    request: Request,
    old: Annotated[str, Form(max_length=256)],
    new: Annotated[str, Form(max_length=256)],
    revoke_tokens: Annotated[bool, Form()] = False,
) -> Response:
    """Change one's own password: every other session ends; API tokens only when ticked."""
    identity = getattr(request.state, "identity", None)
    if identity is None:
        raise LoginRequired()
    try:
        with session_scope(request.app.state.engine) as session:
            user = session.get(User, identity.user_id)
            assert user is not None
            AccountService(session, actor=identity.username).change_password(
                user,
                old=old,
                new=new,
                keep_session=identity.session_hash,
                revoke_tokens=revoke_tokens,
            )
    except OpsError as err:
        failed = err.message + (f" — {err.hint}" if err.hint else "")
        return no_store(render(request, "password.html", status=422, done=False, failed=failed))
    # After the forced first change the user goes where they were heading (the dashboard);
    # a change they chose themselves is confirmed on their account page.
    target = "/scorecard" if identity.must_change_password else "/account?changed=1"
    return RedirectResponse(target, status_code=303)


@router.get("/account")
def account(request: Request, principal: PagePrincipal, session: SessionDep) -> Response:
    identity = request.state.identity
    svc = AccountService(session)
    user = svc.user(identity.username)
    return no_store(
        render(
            request,
            "account.html",
            user=user,
            tokens=svc.tokens(user.username),
            new_token=None,
            changed=request.query_params.get("changed") == "1",
        )
    )


@router.post("/account/tokens")
def create_token(
    request: Request,
    principal: PagePrincipal,
    session: SessionDep,
    name: Annotated[str, Form(min_length=1, max_length=128)],
) -> Response:
    identity = request.state.identity
    svc = AccountService(session, actor=identity.username)
    raw, _tok = svc.create_token(username=identity.username, name=name)
    user = svc.user(identity.username)
    return no_store(
        render(
            request,
            "account.html",
            user=user,
            tokens=svc.tokens(user.username),
            new_token=raw,
            changed=False,
        )
    )


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: int, principal: PagePrincipal, session: SessionDep
) -> RedirectResponse:
    identity = request.state.identity
    AccountService(session, actor=identity.username).revoke_token(
        username=identity.username, token_id=token_id
    )
    return RedirectResponse("/account", status_code=303)


# -- scorecard -----------------------------------------------------------------------------------
def _visible(session: Session, principal: Principal, code: str) -> Unit:
    unit = InventoryService(session).unit(code)
    if not principal.can(Role.viewer, unit.path):
        raise NotFound(f"Không có đơn vị mã {code!r} / no unit with code {code!r}")
    return unit


def _breadcrumb(session: Session, principal: Principal, unit: Unit) -> list[Unit]:
    ids = unit.ancestor_ids()
    rows = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(ids))).all()}
    return [rows[i] for i in ids if i in rows and principal.can(Role.viewer, rows[i].path)]


def _chart(ind: dict[str, Any], lang: str) -> dict[str, Any]:
    """A plotly bar chart: one bar per child unit, coloured by met / not met, target line."""
    children = ind["children"]
    # Codes on the axis (names are long); the full name shows on hover.
    x = [c["unit_code"] for c in children]
    y = [round(c["value"] * 100, 1) if c["value"] is not None else None for c in children]
    colors = [
        "#2e7d32" if c["met"] else ("#c62828" if c["met"] is False else "#9e9e9e") for c in children
    ]
    target = ind["target"] * 100
    return {
        "data": [
            {
                "type": "bar",
                "x": x,
                "y": y,
                "marker": {"color": colors},
                "customdata": [c["unit_code"] for c in children],
                "text": [c["unit_name"] for c in children],
                "textposition": "none",
                "hovertemplate": "%{text}: %{y:.1f}%<extra></extra>",
            }
        ],
        "layout": {
            "height": 280,
            "margin": {"l": 40, "r": 10, "t": 10, "b": 60},
            "yaxis": {"range": [0, 105], "ticksuffix": "%"},
            "xaxis": {"tickangle": -45, "automargin": True},
            "shapes": [
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "y0": target,
                    "y1": target,
                    "line": {"dash": "dash", "color": "#1565c0"},
                }
            ],
        },
    }


@router.get("/scorecard")
def scorecard(
    request: Request,
    principal: PagePrincipal,
    session: SessionDep,
    unit: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    if not principal.visible_paths():
        return render(
            request,
            "error.html",
            status=403,
            message=translator(lang_of(request))("no_grant"),
            hint=None,
        )
    top = _visible(session, principal, unit) if unit else default_unit(session, principal)
    try:
        report = REPORTS.report(session, top)
    except ImportError:
        return render(
            request,
            "scorecard.html",
            unit=top,
            report=None,
            charts={},
            child_rows=[],
            crumbs=_breadcrumb(session, principal, top),
        )
    lang = lang_of(request)
    charts = {ind["id"]: _chart(ind, lang) for ind in report["indicators"]}
    # One row per child unit, matched by code (indicators need not list children alike).
    names: dict[str, str] = {}
    for ind in report["indicators"]:
        for ch in ind["children"]:
            names.setdefault(ch["unit_code"], ch["unit_name"])
    by_ind = [{ch["unit_code"]: ch for ch in ind["children"]} for ind in report["indicators"]]
    child_rows = [
        (code, name, [cells.get(code) for cells in by_ind])
        for code, name in sorted(names.items(), key=lambda kv: fold(kv[1]))
    ]
    return render(
        request,
        "scorecard.html",
        unit=top,
        report=report,
        charts=charts,
        child_rows=child_rows,
        crumbs=_breadcrumb(session, principal, top),
        as_of=datetime.fromisoformat(report["as_of"]) if report.get("as_of") else None,
    )


@router.get("/scorecard/{indicator_id}")
def indicator_page(
    request: Request,
    indicator_id: str,
    principal: PagePrincipal,
    session: SessionDep,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """Drill-down: the failing units/officers of one indicator, and its children."""
    top = _visible(session, principal, unit) if unit else default_unit(session, principal)
    report = REPORTS.report(session, top)
    found = [i for i in report["indicators"] if i["id"] == indicator_id]
    if not found:
        raise NotFound(f"Không có chỉ tiêu {indicator_id!r} / no indicator {indicator_id!r}")
    ind = found[0]
    limit = 200
    return render(
        request,
        "indicator.html",
        unit=top,
        ind=ind,
        failing=ind["failing"][offset : offset + limit],
        offset=offset,
        limit=limit,
        chart=_chart(ind, lang_of(request)),
        crumbs=_breadcrumb(session, principal, top),
    )


# -- inventory browser ---------------------------------------------------------------------------
@router.get("/units")
def units_page(
    request: Request,
    principal: PagePrincipal,
    session: SessionDep,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    """The organisation tree one level at a time, plus search that ignores diacritics."""
    results: Sequence[Unit] = []
    if q and q.strip():
        needle = slugify(q)
        results = session.scalars(
            select(Unit)
            .where(principal.visible_filter(Unit.path))
            .where(Unit.slug.contains(needle) | Unit.code.ilike(f"%{q.strip()}%"))
            .order_by(Unit.level, Unit.path)
            .limit(50)
        ).all()
    top: Unit | None = None
    if unit:
        current = _visible(session, principal, unit)
        top = current
        children = session.scalars(
            select(Unit).where(Unit.parent_id == current.id).order_by(Unit.name)
        ).all()
        crumbs = _breadcrumb(session, principal, current)
    else:
        roots = principal.visible_paths()
        children = (
            session.scalars(select(Unit).where(Unit.path.in_(roots)).order_by(Unit.path)).all()
            if roots
            else []
        )
        crumbs = []
    return render(
        request,
        "units.html",
        unit=top,
        children=children,
        crumbs=crumbs,
        q=q or "",
        results=results,
    )


@router.get("/units/{code}")
def unit_page(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep
) -> HTMLResponse:
    unit = _visible(session, principal, code)
    children = session.scalars(
        select(Unit).where(Unit.parent_id == unit.id).order_by(Unit.name)
    ).all()
    devices = session.scalars(
        select(Device).where(Device.unit_id == unit.id).order_by(Device.asset_tag).limit(200)
    ).all()
    officers = session.scalars(
        select(Officer).where(Officer.unit_id == unit.id).order_by(Officer.code).limit(200)
    ).all()
    counts = {
        "devices": session.scalar(
            select(func.count())
            .select_from(Device)
            .join(Unit)
            .where(subtree_filter(Unit.path, unit.path))
        ),
        "officers": session.scalar(
            select(func.count())
            .select_from(Officer)
            .join(Unit)
            .where(subtree_filter(Unit.path, unit.path))
        ),
    }
    from ops_cli.pages_edit import unit_sections

    return render(
        request,
        "unit.html",
        unit=unit,
        children=children,
        devices=devices,
        officers=officers,
        crumbs=_breadcrumb(session, principal, unit),
        counts=counts,
        **unit_sections(session, principal, unit),
    )


@router.get("/devices/{asset_tag}")
def device_page(
    request: Request, asset_tag: str, principal: PagePrincipal, session: SessionDep
) -> HTMLResponse:
    dev = session.scalar(select(Device).where(Device.asset_tag == asset_tag))
    if dev is None or not principal.can(Role.viewer, dev.unit.path):
        raise NotFound(f"Không có thiết bị {asset_tag!r} / no device {asset_tag!r}")
    history = session.scalars(
        select(Custody).where(Custody.device_id == dev.id).order_by(Custody.assigned_on, Custody.id)
    ).all()
    from ops_cli.pages_edit import device_sections

    return render(
        request,
        "device.html",
        dev=dev,
        history=history,
        crumbs=_breadcrumb(session, principal, dev.unit),
        **device_sections(session, principal, dev),
    )


@router.get("/officers/{code}")
def officer_page(
    request: Request, code: str, principal: PagePrincipal, session: SessionDep
) -> HTMLResponse:
    off = session.scalar(select(Officer).where(Officer.code == code))
    if off is None or not principal.can(Role.viewer, off.unit.path):
        raise NotFound(f"Không có cán bộ mã {code!r} / no officer with code {code!r}")
    history = session.scalars(
        select(Custody)
        .where(Custody.officer_id == off.id)
        .order_by(Custody.assigned_on, Custody.id)
    ).all()
    current = session.scalars(
        select(Device).where(Device.assigned_officer_id == off.id).order_by(Device.asset_tag)
    ).all()
    return render(
        request,
        "officer.html",
        off=off,
        history=history,
        current=current,
        crumbs=_breadcrumb(session, principal, off.unit),
    )


# -- domain pages (composed from the domain's own API) -------------------------------------------
def _domain_ops(request: Request, package: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, OpenAPI operation) of every endpoint the domain's router mounted."""
    spec = request.app.openapi()
    out = []
    for method, path in request.app.state.domain_operations.get(package, []):
        op = spec.get("paths", {}).get(path, {}).get(method.lower())
        if op is not None:
            out.append((method, path, op))
    return out


def _forwarded_auth(request: Request) -> dict[str, str]:
    """The caller's own credentials for in-process API calls (so they see what they may see)."""
    headers = {"accept": "application/json"}
    for name in ("cookie", "authorization"):
        value = request.headers.get(name)
        if value:
            headers[name] = value
    return headers


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, str):
        if parse_iso(value) is not None:
            return fmt_date(value)
        return value
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)[:200]
    return str(value)


def _flat(item: dict[str, Any]) -> dict[str, Any]:
    """One level of nested objects becomes ``parent.child`` columns (``unit.code``)."""
    out: dict[str, Any] = {}
    for k, v in item.items():
        if isinstance(v, dict) and all(not isinstance(x, dict | list) for x in v.values()):
            for k2, v2 in v.items():
                out[f"{k}.{k2}"] = v2
        else:
            out[k] = v
    return out


def _table(payload: Any) -> dict[str, Any]:
    """Columns and rows from a JSON payload (a ``Page``, a list of objects, or one object)."""
    total = None
    items: Any = payload
    if isinstance(payload, dict) and isinstance(payload.get("items"), list):
        items, total = payload["items"], payload.get("total")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return {"columns": ["value"], "rows": [[_cell(items)]], "total": None, "raw": items}
    flat = [_flat(it) if isinstance(it, dict) else it for it in items]
    columns: list[str] = []
    for it in flat:
        if isinstance(it, dict):
            for k in it:
                if k not in columns:
                    columns.append(k)
    rows = [
        [_cell(it.get(c)) for c in columns] if isinstance(it, dict) else [_cell(it)] for it in flat
    ]
    return {"columns": columns or ["value"], "rows": rows, "total": total, "raw": items}


def _tables(payload: Any) -> list[tuple[str, dict[str, Any]]]:
    """A payload as titled tables: a list or ``Page`` is one table; an object is a table of its
    plain fields plus one table per list field (e.g. a unit's status and its children)."""
    if isinstance(payload, dict) and not isinstance(payload.get("items"), list):
        lists = {k: v for k, v in payload.items() if isinstance(v, list)}
        if lists:
            plain = {k: v for k, v in payload.items() if k not in lists}
            out = [("", _table(plain))] if plain else []
            return out + [(k, _table(v)) for k, v in lists.items()]
    return [("", _table(payload))]


def _calendar(raw: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    """Items with a start time grouped by local day, for conference-like lists."""
    if not isinstance(raw, list):
        return []
    days: dict[str, list[dict[str, Any]]] = {}
    for it in raw:
        if not isinstance(it, dict):
            continue
        key = next((k for k in it if k.startswith("start")), None)
        when = parse_iso(it[key]) if key and isinstance(it.get(key), str) else None
        if not isinstance(when, datetime):
            continue
        local = when.astimezone(TIMEZONE) if when.tzinfo else when
        days.setdefault(local.strftime("%Y-%m-%d"), []).append(
            {"time": local.strftime("%H:%M"), "item": it}
        )
    return [(fmt_date(parse_iso(day)), days[day]) for day in sorted(days)]  # type: ignore[arg-type]


def _fields(spec: dict[str, Any], op: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Form fields for an operation's JSON body (``None``: no body; ``[]``: empty body)."""
    schemas = spec.get("components", {}).get("schemas", {})
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body is None:
        return None
    ref = body.get("schema", {}).get("$ref", "")
    schema = schemas.get(ref.rsplit("/", 1)[-1], {}) if ref else body.get("schema", {})
    fields = []
    for name, prop in schema.get("properties", {}).items():
        if "$ref" in prop or "allOf" in prop:
            target = (prop.get("$ref") or prop["allOf"][0].get("$ref", "")).rsplit("/", 1)[-1]
            prop = {**schemas.get(target, {}), **prop}
        anyof = prop.get("anyOf") or []
        for alt in anyof:
            if "$ref" in alt:
                anyof = [*anyof, schemas.get(alt["$ref"].rsplit("/", 1)[-1], {})]
        kinds = {p.get("type") for p in anyof} | {prop.get("type")}
        enum = prop.get("enum") or next((p.get("enum") for p in anyof if p.get("enum")), None)
        fmt = prop.get("format") or next((p.get("format") for p in anyof if p.get("format")), None)
        input_type = "text"
        if fmt == "date-time":
            input_type = "datetime-local"
        elif fmt == "date":
            input_type = "date"
        elif kinds & {"integer", "number"}:
            input_type = "number"
        elif "boolean" in kinds:
            input_type = "checkbox"
        elif "array" in kinds:
            input_type = "list"
        fields.append(
            {
                "name": name,
                "title": prop.get("title", name),
                "type": input_type,
                "enum": enum,
                "required": name in schema.get("required", []),
                "default": prop.get("default"),
            }
        )
    return fields


def _forms(request: Request, ops: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Create forms from POST endpoints without path parameters (built from OpenAPI)."""
    spec = request.app.openapi()
    out: list[dict[str, Any]] = []
    for method, path, op in ops:
        if method != "POST" or "{" in path:
            continue
        fields = _fields(spec, op)
        if not fields:
            continue
        out.append({"path": path, "summary": op.get("summary") or path, "fields": fields})
    return out


_ONE_PARAM = re.compile(r"^(?P<base>[^{}]+)/\{(?P<param>\w+)\}(?P<rest>/[^{}]*)?$")


def _item_ops(
    request: Request, ops: list[tuple[str, str, dict[str, Any]]], list_path: str
) -> dict[str, list[dict[str, Any]]]:
    """Per-item actions and views of a list: ``{list_path}/{id}/...`` endpoints."""
    spec = request.app.openapi()
    actions: list[dict[str, Any]] = []
    views: list[dict[str, Any]] = []
    for method, path, op in ops:
        m = _ONE_PARAM.match(path)
        if m is None or m.group("base") != list_path:
            continue
        entry = {
            "template": path,
            "param": m.group("param"),
            "summary": op.get("summary") or (m.group("rest") or path).strip("/"),
        }
        if method == "GET":
            views.append(entry)
        elif method == "POST":
            actions.append({**entry, "fields": _fields(spec, op) or []})
    return {"actions": actions, "views": views}


def _param_value(item: Any, param: str) -> str | None:
    """The value of a row for a path parameter: the field of that name, else the usual
    identifiers (``run_id`` → ``id``, ``device`` → ``asset_tag``, ``code``)."""
    if not isinstance(item, dict):
        return None
    candidates = [param]
    if param.endswith("_id"):
        candidates.append("id")
    if param in {"device", "asset_tag"}:
        candidates += ["asset_tag", "device"]
    candidates += ["id", "code", "uid"]
    for key in candidates:
        value = item.get(key)
        if value is not None and not isinstance(value, dict | list):
            return str(value)
    return None


def _row_ops(raw: Any, item_ops: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per row: the links (views) and forms (actions) with the row's value in the path."""
    if not isinstance(raw, list):
        return []
    out = []
    for item in raw:
        views, actions = [], []
        for v in item_ops["views"]:
            value = _param_value(item, v["param"])
            if value is not None:
                url = v["template"].replace("{" + v["param"] + "}", quote(value, safe=""))
                views.append({"summary": v["summary"], "url": url})
        for a in item_ops["actions"]:
            value = _param_value(item, a["param"])
            if value is not None:
                url = a["template"].replace("{" + a["param"] + "}", quote(value, safe=""))
                actions.append({"summary": a["summary"], "url": url, "fields": a["fields"]})
        out.append({"views": views, "actions": actions})
    return out


async def _domain_page(request: Request, page: str) -> HTMLResponse:
    package, title_key = DOMAIN_PAGES[page]
    ops = _domain_ops(request, package)
    if not ops:
        return render(
            request, "domain.html", title_key=title_key, available=False, sections=[], forms=[]
        )
    lists = [(path, op) for method, path, op in ops if method == "GET" and "{" not in path]
    sections: list[dict[str, Any]] = []
    # ?unit=CODE narrows every list that takes a ``unit`` filter to that subtree.
    unit = (request.query_params.get("unit") or "").strip()[:64]
    transport = httpx.ASGITransport(app=request.app)
    headers = _forwarded_auth(request)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://internal", headers=headers, timeout=30
    ) as client:
        for path, op in lists:
            summary = op.get("summary") or path
            takes_unit = any(
                p.get("name") == "unit" and p.get("in") == "query" for p in op.get("parameters", [])
            )
            try:
                resp = await client.get(path, params={"unit": unit} if unit and takes_unit else {})
            except Exception as exc:  # a broken endpoint must not take the page down
                sections.append({"path": path, "summary": summary, "error": str(exc)})
                continue
            if resp.status_code != 200:
                try:
                    msg = resp.json()["error"]["message"]
                except Exception:
                    msg = f"HTTP {resp.status_code}"
                sections.append({"path": path, "summary": summary, "error": msg})
                continue
            payload = resp.json()
            tables = _tables(payload)
            table = tables[0][1]
            sections.append(
                {
                    "row_ops": _row_ops(table["raw"], _item_ops(request, ops, path)),
                    "path": path,
                    "summary": summary,
                    "table": table,
                    "extra": tables[1:],
                    "calendar": _calendar(table["raw"]),
                    "error": None,
                }
            )
    return render(
        request,
        "domain.html",
        title_key=title_key,
        available=True,
        sections=sections,
        forms=_forms(request, ops),
        unit=unit,
    )


def safe_api_path(path: str) -> str:
    """``path`` if it names a resource under ``/api/`` and nothing else, else ``NotFound``.

    The prefix check alone is not enough: HTTP clients resolve dot segments, so
    ``/api/../openapi.json`` would read ``/openapi.json``. Refused: dot segments (also
    percent-encoded, also double-encoded), empty segments (``//``), backslashes, and ``?``/``#``
    (a query string would let the caller add parameters the page does not mean to pass).
    """
    decoded = path
    for _ in range(3):  # undo up to triple encoding; more layers are refused below
        decoded = unquote(decoded)
    segments = decoded.split("/")[1:]
    if (
        not path.startswith("/api/")
        or "%" in decoded
        or any(c in decoded for c in "\\?#")
        or "//" in decoded
        or any(seg in {".", ".."} for seg in segments)
        or posixpath.normpath(decoded) != decoded.rstrip("/")
        or not posixpath.normpath(decoded).startswith("/api/")
    ):
        raise NotFound(
            f"Không có trang {path!r} / no API resource {path!r}",
            hint="the path must name a resource under /api/",
        )
    return path


@router.get("/view")
async def view_api(
    request: Request,
    principal: PagePrincipal,
    path: Annotated[str, Query(max_length=300, pattern=r"^/api/[A-Za-z0-9_./{}%-]*$")],
) -> HTMLResponse:
    """Any API resource the user may read, shown as a table (attendance, one class ...)."""
    return await _view(request, safe_api_path(path))


async def _view(request: Request, path: str) -> HTMLResponse:
    transport = httpx.ASGITransport(app=request.app)
    headers = _forwarded_auth(request)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://internal", headers=headers, timeout=30
    ) as client:
        resp = await client.get(path)
    if resp.status_code != 200:
        try:
            msg = resp.json()["error"]["message"]
        except Exception:
            msg = f"HTTP {resp.status_code}"
        return render_error(request, status=resp.status_code, message=msg)
    tables = _tables(resp.json())
    return render(request, "view.html", api_path=path, tables=tables)


@router.get("/audit")
async def audit_page(
    request: Request,
    principal: PagePrincipal,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HTMLResponse:
    """The audit log the user may read (IT staff and admins of their subtrees)."""
    return await _view(request, f"/api/audit?limit=100&offset={offset}")


@router.get("/monitoring")
async def monitoring_page(request: Request, principal: PagePrincipal) -> HTMLResponse:
    return await _domain_page(request, "monitoring")


@router.get("/operations")
async def operations_page(request: Request, principal: PagePrincipal) -> HTMLResponse:
    return await _domain_page(request, "operations")


@router.get("/conferences")
async def conferences_page(request: Request, principal: PagePrincipal) -> HTMLResponse:
    return await _domain_page(request, "conferences")


@router.get("/training")
async def training_page(request: Request, principal: PagePrincipal) -> HTMLResponse:
    return await _domain_page(request, "training")
