"""``tldops monitor service add|remove|list``: the services monitoring checks, without Python.

::

    tldops monitor service add TLD cong-thong-tin --kind http --target https://congdoan.vn/ \\
        --expect 200
    tldops monitor service add HNI thu-hni --kind smtp --target mail.hni.congdoan.vn --port 25
    tldops monitor service list --unit HNI
    tldops monitor service remove thu-hni

The rows are written by :class:`~inventory.service.InventoryService` (the same methods as the
HTTP API ``/api/services``); ``tldops monitor check`` reads them.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from inventory.enums import ServiceKind, label_vi
from inventory.runtime import cli_session, console, current_actor
from inventory.service import InventoryService

service_app = typer.Typer(
    help="Dịch vụ được kiểm tra / monitored services: add, remove, list.", no_args_is_help=True
)


@service_app.command("add")
def add(
    unit: str,
    name: str,
    kind: Annotated[ServiceKind, typer.Option(help="http, tcp, tls, smtp, dns, icmp")],
    target: Annotated[str, typer.Option(help="URL, host:port, DNS name or address")],
    port: Annotated[int | None, typer.Option(help="port when the target has none")] = None,
    expect: Annotated[
        str | None, typer.Option(help="HTTP status (http) or expected answer (dns, banner)")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="record it, do not check")] = False,
) -> None:
    """Add a service of UNIT for monitoring to check."""
    with cli_session() as session:
        row = InventoryService(session, actor=current_actor()).add_service(
            unit_code=unit,
            name=name,
            kind=kind,
            target=target,
            port=port,
            expect=expect,
            enabled=not disabled,
        )
        saved = row.name
    console.print(f"dịch vụ / service {saved} → {unit}")


@service_app.command("remove")
def remove(name: str) -> None:
    """Stop checking a service and delete it."""
    with cli_session() as session:
        InventoryService(session, actor=current_actor()).remove_service(name)
    console.print(f"dịch vụ / service {name} removed")


@service_app.command("list")
def list_(
    unit: Annotated[str | None, typer.Option("--unit", "-u", help="unit (default: root)")] = None,
    only: Annotated[
        bool, typer.Option("--only", help="this unit's services, not its subtree's")
    ] = False,
) -> None:
    """Services of a unit's subtree."""
    with cli_session() as session:
        rows = InventoryService(session).services(unit, subtree=not only)
        table = Table(
            "tên / name",
            "đơn vị / unit",
            "loại / kind",
            "đích / target",
            "cổng / port",
            "kỳ vọng / expect",
            "bật / enabled",
            title="Dịch vụ giám sát / monitored services",
        )
        for r in rows:
            params = r.params or {}
            expect = params.get("expect_status", params.get("expect"))
            table.add_row(
                r.name,
                r.unit.code,
                label_vi(r.kind),
                r.target,
                str(params.get("port") or "—"),
                "—" if expect is None else str(expect),
                "có" if r.enabled else "không",
            )
        console.print(table)
