"""``/import``: an office's workbook uploaded from the browser — dry run first, then confirm.

1. ``POST /import`` stores the upload as ``var/uploads/<sha256>/<its name>`` (0600, the
   folders 0700) and runs a dry run: the page shows the per-row problems (file, sheet, row, column,
   value, why) or the change summary per kind.
2. ``POST /import/confirm`` imports the stored file named by its sha256 — the very bytes that
   were checked — and removes it.

The importer writes the whole organisation tree, so the page is for IT staff granted the root
unit; others get the reason, not a form.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from inventory.api_deps import SessionDep
from inventory.config import Settings
from inventory.errors import NotFound, PermissionDenied, ValidationFailed
from inventory.security import Principal, Role
from inventory.transfer import ImportReport, import_file, import_workbook
from inventory.transfer_read import SUFFIXES
from inventory.transfer_rules import TransferKind
from ops_cli.pages import PagePrincipal, no_store, render

router = APIRouter(include_in_schema=False)

KINDS = ("all", *(k.value for k in TransferKind))
_SHA = re.compile(r"[0-9a-f]{64}")


def _uploads() -> Path:
    folder = Settings.from_env().var_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def _require_root_it(principal: Principal) -> None:
    if not principal.can(Role.it_staff, "/"):
        raise PermissionDenied(
            "Chỉ cán bộ CNTT được giao đơn vị gốc (Tổng Liên đoàn) mới nhập tệp / only IT staff "
            "granted the root unit may import files",
            hint="gửi tệp cho cán bộ CNTT của Tổng Liên đoàn, hoặc dùng các trang sửa của đơn "
            "vị / send the file to HQ IT staff, or use the unit's edit pages",
        )


def _store(name: str, data: bytes) -> tuple[str, Path]:
    sha = hashlib.sha256(data).hexdigest()
    folder = _uploads() / sha
    folder.mkdir(exist_ok=True, mode=0o700)
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return sha, path


def _stored(sha: str) -> Path:
    folder = _uploads() / sha if _SHA.fullmatch(sha) else None
    files = [p for p in folder.iterdir() if p.is_file()] if folder and folder.is_dir() else []
    if len(files) != 1:
        raise NotFound(
            "Tệp đã tải lên không còn (đã nhập hoặc đã xóa) / the uploaded file is gone "
            "(already imported or removed)"
        )
    return files[0]


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def _run(
    session: SessionDep, path: Path, kind: str, actor: str, *, dry_run: bool
) -> list[ImportReport]:
    if kind == "all":
        return import_workbook(session, path=path, actor=actor, dry_run=dry_run)
    return [import_file(session, kind=TransferKind(kind), path=path, actor=actor, dry_run=dry_run)]


def _page(request: Request, status: int = 200, **ctx: object) -> HTMLResponse:
    return no_store(render(request, "import.html", status=status, kinds=KINDS, **ctx))  # type: ignore[return-value]


@router.get("/import")
def import_form(request: Request, principal: PagePrincipal) -> HTMLResponse:
    _require_root_it(principal)
    return _page(request)


@router.post("/import")
async def import_upload(
    request: Request,
    principal: PagePrincipal,
    session: SessionDep,
    upload: Annotated[UploadFile, File()],
    kind: Annotated[str, Form()] = "all",
) -> HTMLResponse:
    _require_root_it(principal)
    # Only the base name, in characters every file system and log takes.
    name = re.sub(r"[^\w.\- ]", "_", Path(upload.filename or "").name)[-120:]
    suffix = Path(name).suffix.lower()
    if kind not in KINDS or suffix not in SUFFIXES:
        return _page(request, 422, refused=True, filename=name, kind=kind)
    sha, path = _store(name, await upload.read())
    actor = f"web:{request.state.identity.username}"
    try:
        reports = _run(session, path, kind, actor, dry_run=True)
    except ValidationFailed as err:
        _discard(path)
        return _page(request, 422, problems=err.problems, filename=name, kind=kind)
    finally:
        session.rollback()
    return _page(request, reports=reports, filename=name, kind=kind, sha=sha)


@router.post("/import/confirm")
def import_confirm(
    request: Request,
    principal: PagePrincipal,
    session: SessionDep,
    sha: Annotated[str, Form(max_length=64)],
    kind: Annotated[str, Form(max_length=16)],
) -> HTMLResponse:
    _require_root_it(principal)
    if kind not in KINDS:
        raise NotFound("Không có loại dữ liệu này / no such kind")
    path = _stored(sha)
    filename = path.name
    actor = f"web:{request.state.identity.username}"
    try:
        reports = _run(session, path, kind, actor, dry_run=False)
    except ValidationFailed as err:
        # The database changed since the dry run (another import, an edit): nothing written.
        session.rollback()
        return _page(request, 422, problems=err.problems, filename=filename, kind=kind)
    session.commit()
    _discard(path)
    return _page(request, reports=reports, filename=filename, kind=kind, done=True)
