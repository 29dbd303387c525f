"""Grants checked on every reference a write of the playbooks domain makes.

The CLI acts as the operator of the host (no principal); the API and any other caller that acts
for a person pass that person's :class:`~inventory.security.Principal`. Then:

* a unit (the subtree a run, backup or pair belongs to) must be visible to the caller, or it
  answers 404 exactly like a unit that does not exist, and the caller needs ``it_staff`` there;
* a write without a unit (the whole federation, an explicit inventory) needs ``admin``;
* an existing object the write replaces must be in the caller's subtree as well.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.errors import NotFound
from inventory.models import Unit
from inventory.security import Principal, Role


def require_unit_write(
    session: Session,
    principal: Principal | None,
    *,
    unit_id: int | None = None,
    unit_code: str | None = None,
    role: Role = Role.it_staff,
) -> Unit | None:
    """The unit a write targets, after checking ``principal`` may write there.

    With neither ``unit_id`` nor ``unit_code`` the write is federation-wide: admin only.
    """
    unit: Unit | None = None
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        key = str(unit_id)
    elif unit_code is not None:
        unit = session.scalar(select(Unit).where(Unit.code == unit_code))
        key = unit_code
    else:
        if principal is not None:
            principal.require(Role.admin, "/")
        return None
    if unit is None or (principal is not None and not principal.can(Role.viewer, unit.path)):
        raise NotFound(f"Không có đơn vị {key!r} / no unit {key!r}")
    if principal is not None:
        principal.require(role, unit.path)
    return unit


def require_admin(principal: Principal | None) -> None:
    """Writes that can reach anything (an explicit inventory) are for administrators."""
    if principal is not None:
        principal.require(Role.admin, "/")
