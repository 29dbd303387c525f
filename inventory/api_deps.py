"""FastAPI dependencies every domain router uses; the web app (``ops_cli``) provides the state.

The app sets ``app.state.engine`` and, per request, ``request.state.principal`` (from the
session cookie or API token). Domain routers only declare what they need::

    router = APIRouter(prefix="/api/conferences", tags=["conferences"])

    @router.get("", response_model=Page[ConferenceOut])
    def list_conferences(session: SessionDep, principal: PrincipalDep,
                         page: PageDep, unit: str | None = None) -> Page[ConferenceOut]:
        q = select(Conference).join(Unit).where(principal.visible_filter(Unit.path))
        return paginate(session, q, page, ConferenceOut.model_validate)

Errors: raise ``OpsError`` subclasses; the app maps NotFound→404, PermissionDenied→403,
Conflict→409, ValidationFailed and other OpsError→422, with a JSON body
``{"error": {"type", "message", "hint", "problems"}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from inventory.db import session_scope
from inventory.security import Principal

T = TypeVar("T")


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; committed if the handler returns, rolled back if it raises.

    Declared with ``scope="function"`` (``SessionDep``): the commit runs when the handler
    returns and *before* the response is sent, so a failed commit (a full disk, a lock) is the
    client's 503, never a 2xx for a write that was lost. On SQLite a write request takes the
    write lock up front (``BEGIN IMMEDIATE``): SQLite's busy wait then applies, where a read
    that later tries to write would fail at once when another process wrote meanwhile.
    """
    engine = request.app.state.engine
    with session_scope(engine) as session:
        if request.method in {"POST", "PUT", "PATCH", "DELETE"} and engine.dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        yield session


def get_principal(request: Request) -> Principal:
    """The authenticated principal; 401 when the request carries no valid login or token."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise HTTPException(
            status_code=401,
            detail="Chưa đăng nhập / not authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="items per page")] = 50,
    # Bounded so a hostile or mistyped offset cannot overflow SQLite's 64-bit integers.
    offset: Annotated[int, Query(ge=0, le=100_000_000, description="items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` plus the ``total`` matching the filter."""

    items: list[T]
    total: int
    limit: int
    offset: int


def paginate(
    session: Session, query: Select[Any], page: PageParams, convert: Callable[[Any], T]
) -> Page[T]:
    """Run ``query`` for one page and count all matches; ``convert`` maps each row to a model."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(query.limit(page.limit).offset(page.offset)).all()
    return Page[T](
        items=[convert(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


# A database id in a URL path: bounded to the 32-bit range of the id columns, so a huge value is
# a 422 from validation rather than an integer overflow inside the database driver.
IdPath = Annotated[int, Path(ge=1, le=2_147_483_647)]

SessionDep = Annotated[Session, Depends(get_session, scope="function")]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
PageDep = Annotated[PageParams, Depends(page_params)]
