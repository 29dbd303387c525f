"""``tldops doctor``: check the configuration a running tldops site depends on.

Every check reads the environment ``tldops up`` reads, so run it with that same environment
(the same ``EnvironmentFile`` or shell)::

    tldops doctor                 # table, Vietnamese first
    tldops doctor --format json   # [{"id": ..., "status": "ok|warn|fail", ...}, ...]

Exit code 1 when any check fails (warnings alone give 0), so it fits a cron job or a deploy
step. Doctor only reads: it never migrates, creates or chmods anything, and it connects only to
the hosts the settings name (database, SMTP, Prometheus, Alertmanager), each within
:data:`TIMEOUT` seconds. ``docs/operations.md`` explains every check and its fix.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from inventory import netguard
from inventory.config import TIMEZONE, Settings
from inventory.secrets import SECRET_KEY_ENV, SECRET_KEY_FILE

Status = Literal["ok", "warn", "fail"]
Say = tuple[str, str]  # (Vietnamese, English)
T = TypeVar("T")

# Network checks talk to hosts somebody else runs: a slow one must not hang the command.
TIMEOUT = 3.0
MIB = 1024 * 1024
GIB = 1024 * MIB
DISK_WARN_BELOW = GIB
DISK_FAIL_BELOW = 100 * MIB
BACKUP_MAX_AGE = timedelta(days=2)
# Rows are stamped by this machine or a peer sharing the database: a little skew is normal.
RECORD_SKEW = timedelta(minutes=5)
# Migration dates are their author's wall clock, in an unknown zone.
MIGRATION_SKEW = timedelta(days=1)

PROMETHEUS_ENV = "TLDOPS_PROMETHEUS_URL"
ALERTMANAGER_ENV = "TLDOPS_ALERTMANAGER_URL"
EXTERNAL_URL_ENV = "TLDOPS_EXTERNAL_URL"
LEGACY_EXTERNAL_URL_ENV = "TLDOPS_MONITOR_EXTERNAL_URL"
SCHEDULER_OFF = frozenset({"0", "off", "false", "no"})

NO_FIX: Say = ("", "")
UPGRADE: Say = ("chạy `tldops db upgrade`", "run `tldops db upgrade`")
NTP: Say = ("kiểm tra đồng bộ giờ NTP (timedatectl, chrony)", "check NTP (timedatectl, chrony)")
BACKUP_NOW: Say = (
    "chạy `tldops backup db` rồi `tldops backup verify`",
    "run `tldops backup db`, then `tldops backup verify`",
)
NO_BACKUP_DOMAIN: Say = (
    "không có (chưa cài phần sao lưu)",
    "not available (the backup domain is not installed)",
)
DB_DOWN: Say = (
    "chưa kiểm tra được: CSDL không kết nối được",
    "not checked: the database is unreachable",
)


@dataclass(frozen=True)
class Check:
    """The outcome of one check; the fix is empty when there is nothing to do."""

    id: str
    status: Status
    message_vi: str
    message_en: str
    fix_vi: str = ""
    fix_en: str = ""


def _ok(cid: str, say: Say) -> Check:
    return Check(cid, "ok", *say)


def _warn(cid: str, say: Say, fix: Say = NO_FIX) -> Check:
    return Check(cid, "warn", *say, *fix)


def _fail(cid: str, say: Say, fix: Say = NO_FIX) -> Check:
    return Check(cid, "fail", *say, *fix)


@dataclass
class Probe:
    """What the checks share: the settings, the clock, and the database once it is open."""

    env: Mapping[str, str]
    settings: Settings
    now: datetime
    sqlite_file: Path | None = None
    engine: Engine | None = None


def _within(seconds: float, fn: Callable[[], T]) -> T:
    """``fn()`` in a daemon thread, given up after ``seconds``: a name lookup has no timeout
    of its own, and a stuck one must not hold the command (the thread dies with the process)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=run, name="tldops-doctor-probe", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _local(ts: datetime) -> str:
    return ts.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")


def _reason(exc: BaseException) -> str:
    """The first line of a driver's error (SQLAlchemy wraps it in ``orig``), kept short."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]


# -- files -------------------------------------------------------------------------------------


def _private(cid: str, path: Path, kind: Say, mode: int) -> Check | None:
    """A failed check when ``path`` is not the running user's or is open to others."""
    st = path.stat()
    me = os.geteuid()
    if st.st_uid != me:
        return _fail(
            cid,
            (
                f"{kind[0]} {path} không thuộc người dùng đang chạy (uid {st.st_uid})",
                f"{kind[1]} {path} is not owned by the running user (uid {st.st_uid})",
            ),
            (
                f"chown {me} {path}, hoặc chạy tldops bằng chủ sở hữu",
                f"chown {me} {path}, or run tldops as its owner",
            ),
        )
    actual = st.st_mode & 0o777
    if actual & 0o077:
        return _fail(
            cid,
            (
                f"{kind[0]} {path} mở cho người khác (quyền {actual:o}, cần {mode:o})",
                f"{kind[1]} {path} is open to other users (mode {actual:o}, must be {mode:o})",
            ),
            (f"chmod {mode:o} {path}", f"chmod {mode:o} {path}"),
        )
    return None


def check_secret_key(p: Probe) -> Check:
    """The key from TLDOPS_SECRET_KEY or var/secret.key; a key file that exists is checked
    even when the variable is set: every command copies the file's key into the variable."""
    from inventory.errors import ConfigError
    from inventory.secrets import SecretBox

    cid, path = "secret_key", p.settings.var_dir / SECRET_KEY_FILE
    keys = [k.strip() for k in p.env.get(SECRET_KEY_ENV, "").split(",") if k.strip()]
    file_key = None
    if path.exists():
        problem = _key_file_problem(cid, path)
        if problem is not None:
            return problem
        file_key = path.read_text(encoding="ascii", errors="replace").strip()
    if not keys and file_key is None:
        return _fail(
            cid,
            (
                f"chưa có khóa: chưa đặt {SECRET_KEY_ENV} và không có tệp {path}",
                f"no secret key: {SECRET_KEY_ENV} is unset and {path} does not exist",
            ),
            (
                "chạy `tldops up` một lần (tạo tệp khóa) hoặc sửa TLDOPS_VAR_DIR",
                "start `tldops up` once (it creates the file) or fix TLDOPS_VAR_DIR",
            ),
        )
    from_file = file_key is not None and keys in ([], [file_key])
    source: Say = (
        (f"tệp {path}", f"file {path}") if from_file else (f"biến {SECRET_KEY_ENV}", SECRET_KEY_ENV)
    )
    try:
        SecretBox(keys or [str(file_key)])
    except ConfigError:
        return _fail(
            cid,
            (
                f"khóa trong {source[0]} không phải khóa Fernet hợp lệ",
                f"the key in {source[1]} is not a valid Fernet key",
            ),
            (
                "khôi phục khóa cũ; khóa mới (`tldops inventory secret-key`) không mở được hồ sơ "
                "đã lưu",
                "restore the old key; a new one (`tldops inventory secret-key`) cannot "
                "open the saved profiles",
            ),
        )
    return _ok(cid, (f"có khóa mã hóa ({source[0]})", f"secret key present ({source[1]})"))


def _key_file_problem(cid: str, path: Path) -> Check | None:
    if not path.is_file():
        return _fail(
            cid,
            (f"{path} không phải tệp", f"{path} is not a file"),
            (f"xóa {path} rồi khôi phục tệp khóa", f"remove {path}, then restore the key file"),
        )
    problem = _private(cid, path, ("tệp khóa", "key file"), 0o600)
    if problem is None and not path.read_text(encoding="ascii", errors="replace").strip():
        return _fail(
            cid,
            (f"tệp khóa {path} rỗng", f"the key file {path} is empty"),
            ("khôi phục khóa từ bản sao lưu", "restore the key from a backup"),
        )
    return problem


def check_var_dir(p: Probe) -> Check:
    cid, var = "var_dir", p.settings.var_dir
    if not var.is_dir():
        return _fail(
            cid,
            (f"thư mục dữ liệu {var} không tồn tại", f"the var folder {var} does not exist"),
            (
                "kiểm tra TLDOPS_VAR_DIR; `tldops up` tạo thư mục (700)",
                "check TLDOPS_VAR_DIR; `tldops up` creates it (700)",
            ),
        )
    problem = _private(cid, var, ("thư mục dữ liệu", "var folder"), 0o700)
    return problem or _ok(cid, (f"thư mục dữ liệu {var} (700)", f"var folder {var} (700)"))


def check_database_file(p: Probe) -> Check:
    cid, path = "database_file", p.sqlite_file
    if path is None:
        return _ok(cid, ("không áp dụng (không phải SQLite)", "not applicable (not SQLite)"))
    if not path.is_file():
        return _fail(
            cid,
            (f"không có tệp cơ sở dữ liệu {path}", f"the database file {path} does not exist"),
            (
                "kiểm tra TLDOPS_DATABASE_URL / TLDOPS_VAR_DIR, rồi `tldops db upgrade`",
                "check TLDOPS_DATABASE_URL / TLDOPS_VAR_DIR, then `tldops db upgrade`",
            ),
        )
    for f in (path, path.with_name(path.name + "-wal")):
        problem = _private(cid, f, ("tệp CSDL", "database file"), 0o600) if f.exists() else None
        if problem is not None:
            return problem
    return _ok(cid, (f"tệp cơ sở dữ liệu {path} (600)", f"database file {path} (600)"))


# -- database ----------------------------------------------------------------------------------


def _sqlite_file(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return None if u.database.startswith("file:") else Path(u.database)


def _open_engine(url: str) -> Engine:
    """An engine that changes nothing: no pragmas, no chmod, no pool left behind."""
    backend = make_url(url).get_backend_name()
    args: dict[str, Any] = {}
    if backend == "sqlite":
        args = {"timeout": TIMEOUT}
    elif backend == "postgresql":
        args = {"connect_timeout": int(TIMEOUT)}
    return create_engine(url, poolclass=NullPool, connect_args=args)


def check_database(p: Probe) -> Check:
    cid = "database"
    shown = make_url(p.settings.database_url).render_as_string(hide_password=True)
    fix: Say = (
        "kiểm tra TLDOPS_DATABASE_URL và máy chủ CSDL, rồi `tldops db upgrade`",
        "check TLDOPS_DATABASE_URL and the database server, then `tldops db upgrade`",
    )
    if p.sqlite_file is not None and not p.sqlite_file.is_file():
        # Connecting would create an empty database: say so instead.
        return _fail(cid, (f"chưa có cơ sở dữ liệu {shown}", f"no database at {shown}"), fix)
    engine = _open_engine(p.settings.database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        why = _reason(exc)
        return _fail(
            cid, (f"không kết nối được {shown}: {why}", f"cannot reach {shown}: {why}"), fix
        )
    p.engine = engine
    return _ok(cid, (f"kết nối được {shown}", f"{shown} reachable ({engine.dialect.name})"))


def _scripts(engine: Engine | None) -> Any:
    """Alembic's view of every domain's migrations (the engine only rides along, unused)."""
    from alembic.script import ScriptDirectory

    from inventory.db import alembic_config

    cfg = alembic_config(engine)  # type: ignore[arg-type]
    return ScriptDirectory.from_config(cfg)


def _package_of(script: Any) -> str:
    # <package>/migrations/versions/<file>.py: each package is one migration branch.
    return Path(script.path).parents[2].name


def _known(scripts: Any, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except Exception:  # alembic raises its own resolution errors for unknown ids
        return False


def check_schema(p: Probe) -> Check:
    from alembic.runtime.migration import MigrationContext

    cid = "schema"
    if p.engine is None:
        return _fail(cid, DB_DOWN, UPGRADE)
    scripts = _scripts(p.engine)
    heads = set(scripts.get_heads())
    with p.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    unknown = ", ".join(sorted(r for r in current if not _known(scripts, r)))
    if unknown:
        return _fail(
            cid,
            (
                f"CSDL ở phiên bản lược đồ mà bản tldops này không biết: {unknown}",
                f"the database is at revisions this tldops does not know: {unknown}",
            ),
            (
                "cài bản tldops đã nâng cấp CSDL này (mới hơn)",
                "install the (newer) tldops release that migrated it",
            ),
        )
    behind = ", ".join(sorted(_package_of(scripts.get_revision(h)) for h in heads - current))
    if behind:
        return _fail(
            cid, (f"lược đồ chưa cập nhật: {behind}", f"schema not at head for: {behind}"), UPGRADE
        )
    return _indexes(p.engine, cid, len(heads))


def _indexes(engine: Engine, cid: str, branches: int) -> Check:
    from inventory.schema_check import missing_indexes

    missing = missing_indexes(engine)
    if missing:
        names = ", ".join(f"{t}.{ix}" for t, ix in missing[:5])
        return _fail(cid, (f"thiếu chỉ mục: {names}", f"missing indexes: {names}"), UPGRADE)
    return _ok(
        cid,
        (
            f"lược đồ mới nhất ({branches} nhánh migration)",
            f"schema at head ({branches} migration branches)",
        ),
    )


# -- time --------------------------------------------------------------------------------------


def check_timezone(p: Probe) -> Check:
    cid = "timezone"
    try:
        tz = ZoneInfo(TIMEZONE.key)
    except ZoneInfoNotFoundError:
        return _fail(
            cid,
            (f"không nạp được múi giờ {TIMEZONE.key}", f"time zone {TIMEZONE.key} does not load"),
            ("cài gói tzdata", "install tzdata"),
        )
    offset = p.now.astimezone(tz).utcoffset()
    if offset != timedelta(hours=7):
        return _warn(
            cid,
            (f"múi giờ {tz.key} lệch lạ: {offset}", f"{tz.key} has an odd offset: {offset}"),
            ("cập nhật gói tzdata", "update tzdata"),
        )
    now = _local(p.now)
    return _ok(cid, (f"{tz.key} (UTC+07:00), bây giờ {now}", f"{tz.key} (UTC+07:00), now {now}"))


def _newest_record(engine: Engine) -> datetime | None:
    """The newest audit or event timestamp (tables a database behind lacks are skipped)."""
    from inventory.models import AuditRecord, OpsEvent

    newest: datetime | None = None
    with engine.connect() as conn:
        for column in (AuditRecord.at, OpsEvent.at):
            try:
                value = conn.scalar(select(func.max(column)))
            except Exception:
                conn.rollback()
                continue
            if value is not None:
                value = value if value.tzinfo else value.replace(tzinfo=UTC)
                newest = value if newest is None else max(newest, value)
    return newest


_CREATE_DATE = re.compile(r"^Create Date:\s*(\d{4}-\d\d-\d\d[ T][\d:]+)", re.MULTILINE)


def _newest_migration(engine: Engine | None) -> datetime | None:
    """The newest ``Create Date`` written in the migrations' docstrings."""
    newest: datetime | None = None
    for script in _scripts(engine).walk_revisions():
        m = _CREATE_DATE.search(script.module.__doc__ or "")
        if m is not None:
            stamp = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC)
            newest = stamp if newest is None else max(newest, stamp)
    return newest


def check_clock(p: Probe) -> Check:
    cid, now = "clock", _local(p.now)
    migration = _newest_migration(p.engine)
    if migration is not None and p.now < migration - MIGRATION_SKEW:
        return _warn(
            cid,
            (
                f"đồng hồ hệ thống ({now}) sớm hơn migration mới nhất ({_local(migration)})",
                f"the system clock ({now}) is before the newest migration ({_local(migration)})",
            ),
            NTP,
        )
    record = _newest_record(p.engine) if p.engine is not None else None
    if record is not None and p.now < record - RECORD_SKEW:
        return _warn(
            cid,
            (
                f"đồng hồ hệ thống ({now}) chậm hơn bản ghi mới nhất ({_local(record)})",
                f"the system clock ({now}) is behind the newest record ({_local(record)})",
            ),
            NTP,
        )
    seen = f" ({_local(record)})" if record is not None else ""
    return _ok(
        cid,
        (
            f"đồng hồ {now}, không chậm hơn bản ghi mới nhất{seen}",
            f"clock {now}, not behind the newest record{seen}",
        ),
    )


# -- settings ----------------------------------------------------------------------------------


def check_external_url(p: Probe) -> Check:
    cid, name = "external_url", EXTERNAL_URL_ENV
    value = (p.env.get(EXTERNAL_URL_ENV) or "").strip()
    if not value and (p.env.get(LEGACY_EXTERNAL_URL_ENV) or "").strip():
        name, value = LEGACY_EXTERNAL_URL_ENV, p.env[LEGACY_EXTERNAL_URL_ENV].strip()
    fix: Say = (
        f"đặt {EXTERNAL_URL_ENV}=https://<địa chỉ người dùng mở>",
        f"set {EXTERNAL_URL_ENV}=https://<the address people open>",
    )
    if not value:
        return _warn(
            cid,
            (
                f"chưa đặt {EXTERNAL_URL_ENV}: liên kết trong thư sẽ sai",
                f"{EXTERNAL_URL_ENV} is unset: links in e-mails would be wrong",
            ),
            fix,
        )
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return _fail(
            cid,
            (
                f"{name}={value!r} không phải URL http(s) tuyệt đối",
                f"{name}={value!r} is not an absolute http(s) URL",
            ),
            fix,
        )
    if parts.hostname in {"localhost", "127.0.0.1", "::1"}:
        return _warn(
            cid,
            (
                f"{name}={value}: người dùng ở máy khác không mở được liên kết",
                f"{name}={value}: people on other machines cannot open its links",
            ),
            fix,
        )
    return _ok(cid, (f"{name}={value}", f"{name}={value}"))


def check_allowed_nets(p: Probe) -> Check:
    cid, env = "allowed_nets", netguard.ENV
    raw = netguard.allowed_nets_text(p.env)
    fix: Say = (
        f"đặt {env} là danh sách CIDR, ví dụ 10.0.0.0/8,192.168.0.0/16",
        f"set {env} to CIDRs, e.g. 10.0.0.0/8,192.168.0.0/16",
    )
    if not raw.strip():
        return _warn(
            cid,
            (
                f"chưa đặt {env}: tldops được kết nối tới mọi địa chỉ",
                f"{env} is unset: tldops may connect to every address",
            ),
            fix,
        )
    try:
        nets = netguard.parse_allowed_nets(raw)
    except ValueError as exc:
        return _fail(cid, (f"{env} không hợp lệ: {exc}", f"{env} does not parse: {exc}"), fix)
    if not nets:
        return _warn(cid, (f"{env} không cho mạng nào", f"{env} allows no network"), fix)
    shown = ", ".join(str(n) for n in nets)
    return _ok(cid, (f"mạng được phép: {shown}", f"allowed networks: {shown}"))


# -- network -----------------------------------------------------------------------------------


def _smtp_greeting(host: str, port: int, tls: str) -> str:
    """The server's first line ('' over implicit TLS, whose greeting is inside the TLS)."""
    deadline = time.monotonic() + TIMEOUT
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        if tls == "ssl":
            return ""
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        greeting = sock.recv(512).decode("ascii", "replace").strip()
        with contextlib.suppress(OSError):  # the server may have hung up: it has spoken
            sock.sendall(b"QUIT\r\n")
        return greeting.splitlines()[0] if greeting else ""


def _smtp_target(env: Mapping[str, str]) -> tuple[str, int, str] | None:
    """(host, port, tls) from TLDOPS_SMTP_*; None when they do not make sense."""
    tls = env.get("TLDOPS_SMTP_TLS", "none")
    try:
        port = int(env.get("TLDOPS_SMTP_PORT", "25"))
    except ValueError:
        return None
    if not 0 < port < 65536 or tls not in {"none", "starttls", "ssl"}:
        return None
    return env.get("TLDOPS_SMTP_HOST", "").strip(), port, tls


def check_smtp(p: Probe) -> Check:
    cid = "smtp"
    fix: Say = ("kiểm tra máy chủ thư và TLDOPS_SMTP_*", "check the mail server and TLDOPS_SMTP_*")
    if not (p.env.get("TLDOPS_SMTP_HOST") or "").strip():
        return _warn(
            cid,
            (
                "chưa cấu hình máy chủ thư (TLDOPS_SMTP_HOST): không gửi được cảnh báo, thư mời",
                "no mail server configured (TLDOPS_SMTP_HOST): alerts and invitations stay unsent",
            ),
            ("đặt TLDOPS_SMTP_HOST / _PORT / _TLS", "set TLDOPS_SMTP_HOST / _PORT / _TLS"),
        )
    target = _smtp_target(p.env)
    if target is None:
        return _fail(
            cid,
            (
                "TLDOPS_SMTP_PORT hoặc TLDOPS_SMTP_TLS không hợp lệ",
                "TLDOPS_SMTP_PORT or TLDOPS_SMTP_TLS is invalid",
            ),
            ("cổng 1–65535; TLS là none, starttls hoặc ssl", "port 1-65535; TLS none|starttls|ssl"),
        )
    host, port, tls = target
    where = f"{host}:{port}"
    try:
        greeting = _within(TIMEOUT + 0.5, functools.partial(_smtp_greeting, host, port, tls))
    except OSError as exc:  # refused, unreachable, timed out
        why = _reason(exc)
        return _fail(
            cid, (f"không kết nối được {where}: {why}", f"cannot connect to {where}: {why}"), fix
        )
    if tls != "ssl" and not greeting.startswith("220"):
        got = repr(greeting[:80])
        return _warn(
            cid,
            (
                f"{where} trả lời nhưng không phải lời chào SMTP: {got}",
                f"{where} answers, but not with an SMTP greeting: {got}",
            ),
            fix,
        )
    said = f": {greeting[:80]}" if greeting else " (TLS)"
    return _ok(cid, (f"máy chủ thư {where} trả lời{said}", f"mail server {where} answers{said}"))


def _healthy(url: str) -> int:
    import httpx

    # trust_env off: a proxy from the environment would be a host nobody configured here.
    with httpx.Client(timeout=TIMEOUT, trust_env=False, follow_redirects=False) as client:
        return client.get(url.rstrip("/") + "/-/healthy").status_code


def _health_check(p: Probe, cid: str, env_name: str, label: str) -> Check:
    """GET <url>/-/healthy of every URL in ``env_name`` (comma-separated: one per shard)."""
    urls = [u.strip() for u in (p.env.get(env_name) or "").split(",") if u.strip()]
    if not urls:
        return _ok(cid, (f"không cấu hình ({env_name})", f"not configured ({env_name})"))
    fix: Say = (f"kiểm tra {label} và {env_name}", f"check {label} and {env_name}")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            return _fail(
                cid, (f"{url!r} không phải URL http(s)", f"{url!r} is not an http(s) URL"), fix
            )
        try:
            code = _within(TIMEOUT + 0.5, functools.partial(_healthy, url))
        except Exception as exc:  # refused, timed out, bad TLS: httpx's errors alike
            why = _reason(exc)
            return _fail(
                cid, (f"{label} {url} không trả lời: {why}", f"{label} {url} down: {why}"), fix
            )
        if code != 200:
            return _fail(
                cid,
                (
                    f"{label} {url}/-/healthy trả về HTTP {code}",
                    f"{label} {url}/-/healthy answered HTTP {code}",
                ),
                fix,
            )
    shown = ", ".join(urls)
    return _ok(cid, (f"{label} hoạt động: {shown}", f"{label} healthy: {shown}"))


def check_prometheus(p: Probe) -> Check:
    return _health_check(p, "prometheus", PROMETHEUS_ENV, "Prometheus")


def check_alertmanager(p: Probe) -> Check:
    return _health_check(p, "alertmanager", ALERTMANAGER_ENV, "Alertmanager")


# -- disk --------------------------------------------------------------------------------------


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent: a folder not made yet will land on that disk."""
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def free_space_check(
    cid: str,
    label: Say,
    path: Path,
    *,
    warn_below: int = DISK_WARN_BELOW,
    fail_below: int = DISK_FAIL_BELOW,
) -> Check:
    """Free space where ``path`` lives (what an unprivileged user may use), in bytes."""
    free = shutil.disk_usage(_existing(path)).free
    shown = f"{free / GIB:.1f} GiB" if free >= GIB else f"{free / MIB:.0f} MiB"
    say: Say = (f"{label[0]} {path}: còn trống {shown}", f"{label[1]} {path}: {shown} free")
    fix: Say = ("giải phóng dung lượng hoặc mở rộng ổ đĩa", "free some space or grow the disk")
    if free < fail_below:
        return _fail(cid, say, fix)
    if free < warn_below:
        return _warn(cid, say, fix)
    return _ok(cid, say)


def check_disk_var(p: Probe) -> Check:
    return free_space_check("disk_var", ("thư mục dữ liệu", "var folder"), p.settings.var_dir)


def check_disk_backups(p: Probe) -> Check:
    if importlib.util.find_spec("playbooks") is None:
        return _ok("disk_backups", NO_BACKUP_DOMAIN)
    from playbooks.settings import PlaybookPaths

    folder = PlaybookPaths.from_settings(p.settings, dict(p.env)).db_backup_dir
    return free_space_check("disk_backups", ("thư mục sao lưu", "backup folder"), folder)


# -- backups -----------------------------------------------------------------------------------


def _backup_job_every() -> float | None:
    """How often (seconds) ``tldops up``'s scheduler backs the database up; None if never."""
    from ops_cli.scheduler import KNOWN_JOBS

    for module, attr, every, _first in KNOWN_JOBS:
        if (module, attr) == ("playbooks.jobs", "scheduled_db_backup"):
            job = getattr(importlib.import_module(module), attr, None)
            return every if callable(job) else None
    return None


def _lease_holder(engine: Engine | None) -> str | None:
    if engine is None:
        return None
    from ops_cli.scheduler import Lease

    try:
        return Lease(engine).holder_now()
    except Exception:  # the leases table is missing on a database that is behind
        return None


def check_backup_schedule(p: Probe) -> Check:
    cid = "backup_schedule"
    if importlib.util.find_spec("playbooks") is None:
        return _ok(cid, NO_BACKUP_DOMAIN)
    every = _backup_job_every()
    if every is None:
        return _fail(
            cid,
            ("không có công việc sao lưu CSDL định kỳ", "no scheduled database backup job"),
            ("cài lại tldops", "reinstall tldops"),
        )
    if p.env.get("TLDOPS_SCHEDULER", "on").lower() in SCHEDULER_OFF:
        return _warn(
            cid,
            (
                "TLDOPS_SCHEDULER=off: tiến trình với cấu hình này không chạy sao lưu định kỳ",
                "TLDOPS_SCHEDULER=off: a process with these settings runs no scheduled backups",
            ),
            (
                "bật lịch chạy ở một `tldops up`, hoặc chạy `tldops backup db` bằng cron",
                "turn the scheduler on in one `tldops up`, or run `tldops backup db` from cron",
            ),
        )
    hours = f"{every / 3600:g}"
    say: Say = (
        f"sao lưu CSDL mỗi {hours} giờ trong lịch chạy của `tldops up`, kiểm chứng bằng khôi phục",
        f"database backup every {hours} h in `tldops up`'s scheduler, verified by a restore",
    )
    holder = _lease_holder(p.engine)
    if holder is None:
        return _warn(
            cid,
            (
                f"{say[0]}; hiện không tiến trình nào giữ lịch chạy",
                f"{say[1]}; no process holds the scheduler lease now",
            ),
            (
                "kiểm tra `tldops up` đang chạy (không có --no-scheduler)",
                "check that `tldops up` is running (without --no-scheduler)",
            ),
        )
    return _ok(cid, (f"{say[0]}; đang chạy ở {holder}", f"{say[1]}; run by {holder}"))


def _verifications(engine: Engine) -> tuple[datetime | None, datetime | None, bool | None]:
    """(newest passed verification, newest verification, whether it passed) of the database
    backups (restic agents' runs are not restored by tldops, so they are not counted)."""
    from playbooks.enums import DataBackupKind
    from playbooks.models import BackupVerification as V
    from playbooks.models import DataBackup

    db_backups = (DataBackup, DataBackup.id == V.backup_id)
    with engine.connect() as conn:
        good = conn.scalar(
            select(func.max(V.at))
            .join(*db_backups)
            .where(V.ok.is_(True), DataBackup.kind == DataBackupKind.db)
        )
        last = conn.execute(
            select(V.at, V.ok)
            .join(*db_backups)
            .where(DataBackup.kind == DataBackupKind.db)
            .order_by(V.at.desc(), V.id.desc())
            .limit(1)
        ).first()
    return good, (last.at if last else None), (bool(last.ok) if last else None)


def check_backup_verified(p: Probe) -> Check:
    cid = "backup_verified"
    if importlib.util.find_spec("playbooks") is None:
        return _ok(cid, NO_BACKUP_DOMAIN)
    if p.engine is None:
        return _warn(cid, DB_DOWN)
    try:
        good, last, last_ok = _verifications(p.engine)
    except Exception as exc:
        why = _reason(exc)
        return _warn(
            cid, (f"không đọc được lịch sử sao lưu: {why}", f"cannot read backups: {why}"), UPGRADE
        )
    if good is None:
        return _warn(
            cid,
            ("chưa có bản sao lưu CSDL nào được kiểm chứng", "no verified backup yet"),
            BACKUP_NOW,
        )
    days = f"{(p.now - good).total_seconds() / 86400:.1f}"
    say: Say = (
        f"bản sao lưu kiểm chứng mới nhất: {_local(good)} ({days} ngày trước)",
        f"newest verified backup: {_local(good)} ({days} days ago)",
    )
    if p.now - good > BACKUP_MAX_AGE:
        return _warn(cid, say, BACKUP_NOW)
    if last_ok is False and last is not None and last > good:
        return _warn(
            cid,
            (
                f"{say[0]}; lần kiểm chứng sau ({_local(last)}) thất bại",
                f"{say[1]}; a later verification ({_local(last)}) failed",
            ),
            BACKUP_NOW,
        )
    return _ok(cid, say)


# -- running -----------------------------------------------------------------------------------

# In this order: the file checks look before anything opens the database.
CHECKS: tuple[Callable[[Probe], Check], ...] = (
    check_secret_key,
    check_var_dir,
    check_database_file,
    check_database,
    check_schema,
    check_timezone,
    check_clock,
    check_external_url,
    check_allowed_nets,
    check_smtp,
    check_prometheus,
    check_alertmanager,
    check_disk_var,
    check_disk_backups,
    check_backup_schedule,
    check_backup_verified,
)


def run_checks(
    environ: Mapping[str, str] | None = None, now: datetime | None = None
) -> list[Check]:
    """Every check in order, against ``environ`` (default: this process's environment)."""
    env = dict(os.environ if environ is None else environ)
    settings = Settings.from_env(env)
    probe = Probe(env, settings, now or datetime.now(UTC), _sqlite_file(settings.database_url))
    results: list[Check] = []
    try:
        for fn in CHECKS:
            try:
                results.append(fn(probe))
            except Exception as exc:  # one broken check must not hide the others
                why = f"{type(exc).__name__}: {_reason(exc)}"
                cid = fn.__name__.removeprefix("check_")
                results.append(_fail(cid, (f"lỗi khi kiểm tra: {why}", f"check crashed: {why}")))
    finally:
        if probe.engine is not None:
            probe.engine.dispose()
    return results


# -- output ------------------------------------------------------------------------------------

_STATUS = {
    "ok": "[green]đạt / ok[/]",
    "warn": "[yellow]cảnh báo / warn[/]",
    "fail": "[bold red]lỗi / fail[/]",
}


def _both(vi: str, en: str) -> str:
    return f"{vi} / {en}" if vi or en else ""


def summary(checks: Iterable[Check]) -> str:
    counts = {"ok": 0, "warn": 0, "fail": 0}
    for c in checks:
        counts[c.status] += 1
    ok, warn, fail = counts["ok"], counts["warn"], counts["fail"]
    return f"{ok} đạt, {warn} cảnh báo, {fail} lỗi / {ok} ok, {warn} warn, {fail} fail"


def render_table(checks: list[Check]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from inventory.runtime import console

    table = Table()
    table.add_column("Kiểm tra / Check", no_wrap=True)
    table.add_column("Kết quả / Status", no_wrap=True)
    # Folded, never cut with "…": a path or a variable name is the useful part.
    table.add_column("Chi tiết / Details", overflow="fold", ratio=3)
    table.add_column("Cách sửa / Fix", overflow="fold", ratio=2)
    for c in checks:
        table.add_row(
            c.id,
            _STATUS[c.status],
            escape(_both(c.message_vi, c.message_en)),
            escape(_both(c.fix_vi, c.fix_en)),
        )
    console.print(table)
    console.print(summary(checks), highlight=False)


class Format(StrEnum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    """Add the ``doctor`` command to the top-level ``tldops`` app."""

    @app.command("doctor")
    def doctor(
        fmt: Annotated[
            Format, typer.Option("--format", help="table (mặc định / default) | json")
        ] = Format.table,
    ) -> None:
        """Kiểm tra cấu hình / check the configuration a running site depends on."""
        checks = run_checks()
        if fmt is Format.json:
            typer.echo(json.dumps([asdict(c) for c in checks], ensure_ascii=False, indent=2))
        else:
            render_table(checks)
        if any(c.status == "fail" for c in checks):
            raise typer.Exit(1)
