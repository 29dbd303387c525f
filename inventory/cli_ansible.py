"""``tldops inventory ansible --list|--host NAME [--unit CODE]``: Ansible dynamic inventory."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from inventory.ansible import build_inventory, host_vars
from inventory.runtime import cli_session


def ansible(
    list_: Annotated[bool, typer.Option("--list", help="the whole inventory as JSON")] = False,
    host: Annotated[str | None, typer.Option("--host", help="variables of one host")] = None,
    unit: Annotated[
        str | None, typer.Option("--unit", "-u", help="only the subtree of this unit code")
    ] = None,
    pretty: Annotated[bool, typer.Option("--pretty", help="indented JSON")] = False,
) -> None:
    """Inventory động cho Ansible / Ansible dynamic inventory (JSON, never a secret).

    `ansible-playbook -i inventory/ansible_plugin/tldops_inventory.py site.yml` runs this
    through the shipped script; see the README section "Ansible inventory".
    """
    if list_ == (host is not None):
        raise typer.BadParameter("give exactly one of --list or --host NAME")
    indent = 2 if pretty else None
    with cli_session() as session:
        if host is not None:
            text = json.dumps(
                host_vars(session, name=host, unit_code=unit), ensure_ascii=False, indent=indent
            )
        else:
            text = build_inventory(session, unit_code=unit).to_json(indent=indent)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add ``ansible`` to the ``tldops inventory`` app."""
    app.command("ansible")(ansible)
