"""Who is acting, and on which part of the tree they may act.

A :class:`Principal` holds grants: a role on a unit subtree. The web app (``ops_cli``) builds it
from the logged-in account; domains only ask it questions, so they never depend on how accounts
are stored::

    p = Principal(name="it.hanoi", grants=(Grant(Role.it_staff, "/1/2/"),))
    p.can(Role.it_staff, "/1/2/17/")     # True: inside the granted subtree
    p.can(Role.viewer, "/1/3/")           # False: another province

Role order: admin ⊇ every role; any role ⊇ viewer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import false, or_
from sqlalchemy.sql.elements import ColumnElement

from inventory.errors import PermissionDenied
from inventory.models import subtree_filter


class Role(StrEnum):
    admin = "admin"
    it_staff = "it_staff"
    training_coordinator = "training_coordinator"
    meeting_host = "meeting_host"
    viewer = "viewer"


@dataclass(frozen=True)
class Grant:
    role: Role
    unit_path: str


@dataclass(frozen=True)
class Principal:
    name: str
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    @classmethod
    def system(cls, name: str = "system") -> Principal:
        """An all-powerful principal for the CLI and scheduled jobs (root of every path)."""
        return cls(name=name, grants=(Grant(Role.admin, "/"),))

    def _roles_at(self, unit_path: str) -> set[Role]:
        return {g.role for g in self.grants if unit_path.startswith(g.unit_path)}

    def can(self, role: Role, unit_path: str) -> bool:
        """May this principal act as ``role`` on the unit at ``unit_path``?"""
        roles = self._roles_at(unit_path)
        if Role.admin in roles:
            return True
        if role is Role.viewer:
            return bool(roles)
        return role in roles

    def require(self, role: Role, unit_path: str) -> None:
        if not self.can(role, unit_path):
            raise PermissionDenied(
                f"Không có quyền {role.value} trên đơn vị này / "
                f"no {role.value} permission on this unit",
            )

    def visible_paths(self, role: Role = Role.viewer) -> list[str]:
        """Roots of the subtrees where ``role`` applies (outermost only)."""
        paths = sorted(
            {
                g.unit_path
                for g in self.grants
                if g.role is Role.admin or role is Role.viewer or g.role is role
            }
        )
        roots: list[str] = []
        for p in paths:
            if not any(p.startswith(r) for r in roots):
                roots.append(p)
        return roots

    def visible_filter(self, path_column: Any, role: Role = Role.viewer) -> ColumnElement[bool]:
        """SQL condition restricting ``path_column`` to what this principal may see."""
        roots = self.visible_paths(role)
        if not roots:
            return false()
        return or_(*(subtree_filter(path_column, r) for r in roots))
