"""The ``tldops`` command: mounts every domain's Typer sub-app.

Domains never import each other; this module is where they meet. Sub-apps are loaded lazily:
``tldops targets`` imports the inventory CLI only, not the SNMP poller, Ansible runner or web
stack, which keeps every command's start-up short and means a domain that fails to import
breaks only its own commands. A domain whose CLI module is missing is simply not mounted (so a
partial install still runs).
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from typing import Any

import typer
import typer.main

from inventory.runtime import OpsGroup

# (command name, module, attribute holding the typer.Typer)
MOUNTS: tuple[tuple[str, str, str], ...] = (
    ("inventory", "inventory.cli", "app"),
    ("targets", "inventory.cli", "targets_app"),
    ("db", "inventory.cli", "db_app"),
    ("monitor", "monitoring.cli", "app"),
    ("play", "playbooks.cli", "play_app"),
    ("backup", "playbooks.cli", "backup_app"),
    ("drill", "playbooks.cli", "drill_app"),
    ("failover", "playbooks.cli", "failover_app"),
    ("conf", "videoconf.cli", "app"),
    ("training", "training_lms.cli", "app"),
    ("user", "ops_cli.accounts_cli", "app"),
)


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@cache
def _load(name: str) -> Any:
    """The click group for the mounted sub-app ``name``, importing its module on first use."""
    for cmd_name, module, attr in MOUNTS:
        if cmd_name != name or not _available(module):
            continue
        sub = getattr(importlib.import_module(module), attr, None)
        if isinstance(sub, typer.Typer):
            # get_group, not get_command: a sub-app with one command must stay a group
            # (`tldops db upgrade`, not `tldops db`).
            group = typer.main.get_group(sub)
            group.name = name
            return group
    return None


class LazyOpsGroup(OpsGroup):
    """The top-level group: sub-apps of MOUNTS are listed always, imported when invoked."""

    def list_commands(self, ctx: Any) -> list[str]:
        eager = list(super().list_commands(ctx))
        lazy = [n for n, module, _ in MOUNTS if n not in eager and _available(module)]
        return [*lazy, *eager]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return super().get_command(ctx, cmd_name) or _load(cmd_name)


app = typer.Typer(
    cls=LazyOpsGroup,
    name="tldops",
    help="tldops — vận hành CNTT Tổng Liên đoàn Lao động Việt Nam / IT operations for the VGCL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root() -> None:
    """tldops — vận hành CNTT Tổng Liên đoàn Lao động Việt Nam / IT operations for the VGCL."""


if _available("ops_cli.up"):
    importlib.import_module("ops_cli.up").register(app)
if _available("ops_cli.doctor"):
    importlib.import_module("ops_cli.doctor").register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
