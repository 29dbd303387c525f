"""What every command-line front end needs: the engine from the environment, a session, a console,
and the Typer group class that turns :class:`OpsError` into a clear message and exit code.

Domain CLIs build their Typer apps with ``typer.Typer(cls=OpsGroup)`` only at the top level
(``ops_cli``); their commands just raise ``OpsError`` subclasses and use::

    with cli_session(actor="cli") as session:
        svc = InventoryService(session, actor=current_actor())
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.core import TyperGroup

from inventory.config import Settings
from inventory.db import current_heads, make_engine, session_scope, upgrade
from inventory.errors import ConfigError, OpsError, ValidationFailed
from inventory.secrets import load_secret_key

console = Console()
err_console = Console(stderr=True)


def current_actor() -> str:
    """Who is running the CLI, for the audit log (``TLDOPS_ACTOR`` overrides the OS user)."""
    return os.environ.get("TLDOPS_ACTOR") or f"cli:{getpass.getuser()}"


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    engine = make_engine(url)
    _ensure_schema(engine)
    return engine


def _ensure_schema(engine: Engine) -> None:
    """Upgrade the schema if the database is behind the code (cheap when it is current)."""
    from alembic.script import ScriptDirectory

    from inventory.db import alembic_config

    wanted = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    if current_heads(engine) != wanted:
        upgrade(engine)


def get_engine(settings: Settings | None = None) -> Engine:
    """The engine for ``TLDOPS_DATABASE_URL`` (migrated to the newest schema on first use)."""
    return _engine_for((settings or Settings.from_env()).database_url)


@contextmanager
def cli_session(settings: Settings | None = None) -> Iterator[Session]:
    """A session on the configured database; commits on success, rolls back on error."""
    with session_scope(get_engine(settings)) as session:
        yield session


def render_error(err: OpsError) -> None:
    err_console.print(f"[bold red]Lỗi / Error:[/] {err.message}", highlight=False)
    if isinstance(err, ValidationFailed):
        for problem in err.problems:
            err_console.print(f"  • {problem.render()}", highlight=False, soft_wrap=True)
    if err.hint:
        err_console.print(f"  → {err.hint}", highlight=False)


def _load_key_quietly() -> None:
    """Put the key of ``var/secret.key`` in the environment if ``TLDOPS_SECRET_KEY`` is unset.
    A broken key file is a warning here, not an error: most commands need no key, and the ones
    that do say so when they try to decrypt."""
    try:
        load_secret_key(Settings.from_env().var_dir, create=False)
    except ConfigError as err:
        err_console.print(f"[yellow]Cảnh báo / warning:[/] {err.message}", highlight=False)
        if err.hint:
            err_console.print(f"  → {err.hint}", highlight=False)


class OpsGroup(TyperGroup):
    """Click group that prints :class:`OpsError` without a traceback and exits with its code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            # Every command finds the secret key like `tldops up` does (env, else
            # var/secret.key), so a database made by `make demo` works from any command.
            _load_key_quietly()
            return super().invoke(ctx)
        except OpsError as err:
            render_error(err)
            raise typer.Exit(err.exit_code) from err
