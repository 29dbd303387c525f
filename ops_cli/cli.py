"""The ``tldops`` command: mounts every domain's Typer sub-app.

Domains never import each other; this module is where they meet. A domain whose CLI module is
missing is simply not mounted (so a partial install still runs).
"""

from __future__ import annotations

import importlib
import importlib.util

import typer

from inventory.runtime import OpsGroup

app = typer.Typer(
    cls=OpsGroup,
    name="tldops",
    help="tldops — vận hành CNTT Tổng Liên đoàn Lao động Việt Nam / IT operations for the VGCL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# (command name, module, attribute holding the typer.Typer, help)
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


def _mount() -> None:
    for name, module, attr in MOUNTS:
        if importlib.util.find_spec(module) is None:
            continue
        sub = getattr(importlib.import_module(module), attr, None)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=name)
    if importlib.util.find_spec("ops_cli.up") is not None:
        importlib.import_module("ops_cli.up").register(app)


_mount()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
