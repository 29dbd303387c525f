"""``tldops inventory`` / ``tldops targets`` / ``tldops db``.

Core commands live here; larger command families live in sibling modules that expose
``register(app)`` (``cli_manage`` device/contact/credential settings, ``cli_transfer``
import/export, ``cli_demo`` demo data, ``cli_ansible`` dynamic inventory) or their own app
(``cli_targets.targets_app``).
"""

from __future__ import annotations

import importlib
import importlib.util
from datetime import date
from typing import Annotated

import typer
from rich.table import Table
from rich.tree import Tree
from sqlalchemy import func, select

from inventory.models import Device, Officer, Unit
from inventory.runtime import cli_session, console, current_actor, get_engine
from inventory.secrets import generate_key
from inventory.service import InventoryService

app = typer.Typer(
    help="Kho dữ liệu: cây tổ chức, cán bộ, thiết bị / the inventory.", no_args_is_help=True
)
db_app = typer.Typer(help="Cơ sở dữ liệu / database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema and repair lost indexes (idempotent)."""
    from inventory.db import current_heads, upgrade

    engine = get_engine()
    # get_engine migrates only a database that is behind; this also checks a current one.
    for line in upgrade(engine):
        console.print(f"[yellow]{line}[/]", highlight=False)
    console.print(f"schema: {', '.join(sorted(current_heads(engine)))}")


@app.command("secret-key")
def secret_key() -> None:
    """Print a new key for TLDOPS_SECRET_KEY (encrypts credential profiles at rest)."""
    typer.echo(generate_key())


@app.command("tree")
def tree(
    unit: Annotated[str | None, typer.Option("--unit", "-u", help="root of the subtree")] = None,
    depth: Annotated[int, typer.Option(help="levels below the unit to show")] = 1,
) -> None:
    """Show the organisation tree with device and officer counts."""
    with cli_session() as session:
        svc = InventoryService(session)
        top = svc.unit(unit) if unit else svc.root()
        units = session.scalars(svc.subtree(top.code).where(Unit.level <= top.level + depth)).all()
        dev_counts = dict(
            session.execute(
                select(Unit.id, func.count(Device.id))
                .join(Device, Device.unit_id == Unit.id)
                .where(Unit.id.in_([u.id for u in units]))
                .group_by(Unit.id)
            )
            .tuples()
            .all()
        )
        off_counts = dict(
            session.execute(
                select(Unit.id, func.count(Officer.id))
                .join(Officer, Officer.unit_id == Unit.id)
                .where(Unit.id.in_([u.id for u in units]))
                .group_by(Unit.id)
            )
            .tuples()
            .all()
        )
        nodes: dict[int, Tree] = {}
        root_node = None
        for u in units:
            label = (
                f"[bold]{u.code}[/] {u.name} [dim](cấp {u.level}, "
                f"{dev_counts.get(u.id, 0)} thiết bị, {off_counts.get(u.id, 0)} cán bộ)[/]"
            )
            parent = nodes.get(u.parent_id or -1)
            node = parent.add(label) if parent is not None else Tree(label)
            if root_node is None:
                root_node = node
            nodes[u.id] = node
        if root_node is not None:
            console.print(root_node)


@app.command("search")
def search(query: str, limit: int = 20) -> None:
    """Find units by name or code, ignoring diacritics ("ha noi" finds "Hà Nội")."""
    with cli_session() as session:
        table = Table("code", "tên / name", "cấp / level", "kind")
        for u in InventoryService(session).search_units(query, limit=limit):
            table.add_row(u.code, u.name, str(u.level), u.kind.value)
        console.print(table)


def _parse_day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@app.command("assign")
def assign(
    asset_tag: str,
    officer_code: str,
    on: Annotated[str | None, typer.Option(help="ISO date, default today")] = None,
) -> None:
    """Hand a device to an officer (closes the previous holder's custody)."""
    with cli_session() as session:
        InventoryService(session, actor=current_actor()).assign_device(
            asset_tag, officer_code=officer_code, on=_parse_day(on)
        )
    console.print(f"{asset_tag} → {officer_code}")


@app.command("return")
def return_(
    asset_tag: str,
    on: Annotated[str | None, typer.Option(help="ISO date, default today")] = None,
) -> None:
    """Record that a device was handed back."""
    with cli_session() as session:
        InventoryService(session, actor=current_actor()).return_device(asset_tag, on=_parse_day(on))
    console.print(f"{asset_tag} ← returned")


for _module in (
    "inventory.cli_manage",
    "inventory.cli_transfer",
    "inventory.cli_template",
    "inventory.cli_demo",
    "inventory.cli_ansible",
):
    if importlib.util.find_spec(_module) is not None:
        importlib.import_module(_module).register(app)

if importlib.util.find_spec("inventory.cli_targets") is not None:
    targets_app = importlib.import_module("inventory.cli_targets").targets_app
