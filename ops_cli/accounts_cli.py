"""``tldops user``: accounts of the web dashboard and API (mounted by ``ops_cli.cli``).

::

    tldops user add it.hanoi --name "Nguyễn Văn An"        # prints a one-time password
    tldops user grant it.hanoi it_staff HN                  # it_staff on Hà Nội and below
    tldops user token it.hanoi --name backup-script         # prints an API token once
    tldops user list
    tldops user disable it.hanoi                            # sessions end, tokens stop working
    tldops user passwd it.hanoi --revoke-tokens             # new one-time password, tokens revoked
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from inventory.runtime import cli_session, console, current_actor
from inventory.security import Role
from ops_cli.accounts import AccountService

app = typer.Typer(help="Tài khoản web / web accounts, roles and API tokens.", no_args_is_help=True)


@app.command("add")
def add(
    username: str,
    name: Annotated[str, typer.Option("--name", help="display name")] = "",
    email: Annotated[str | None, typer.Option("--email")] = None,
) -> None:
    """Create an account with a one-time password (changed at first login)."""
    with cli_session() as session:
        svc = AccountService(session, actor=current_actor())
        user, otp = svc.create_user(username=username, display_name=name, email=email)
        console.print(f"Đã tạo / created [bold]{user.username}[/]")
        console.print(f"Mật khẩu một lần / one-time password: [bold]{otp}[/]", highlight=False)


@app.command("grant")
def grant(username: str, role: Role, unit_code: str) -> None:
    """Give ROLE on the subtree of UNIT_CODE."""
    with cli_session() as session:
        AccountService(session, actor=current_actor()).grant(
            username=username, role=role, unit_code=unit_code
        )
        console.print(f"{username}: +{role.value} @ {unit_code}")


@app.command("revoke")
def revoke(username: str, role: Role, unit_code: str) -> None:
    """Remove ROLE on UNIT_CODE from the account."""
    with cli_session() as session:
        AccountService(session, actor=current_actor()).revoke(
            username=username, role=role, unit_code=unit_code
        )
        console.print(f"{username}: -{role.value} @ {unit_code}")


@app.command("list")
def list_users() -> None:
    """Every account with its grants."""
    with cli_session() as session:
        table = Table("username", "name", "active", "grants", "last login")
        for u in AccountService(session).users():
            grants = ", ".join(f"{g.role.value}@{g.unit.code}" for g in u.grants) or "—"
            last = u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "—"
            table.add_row(u.username, u.display_name, "yes" if u.active else "no", grants, last)
        console.print(table)


@app.command("token")
def token(
    username: str,
    name: Annotated[str, typer.Option("--name", help="what the token is for")] = "script",
    days: Annotated[int | None, typer.Option("--days", help="expires after N days")] = None,
) -> None:
    """Issue an API token (shown once; only its hash is stored)."""
    with cli_session() as session:
        raw, tok = AccountService(session, actor=current_actor()).create_token(
            username=username, name=name, expires_in=timedelta(days=days) if days else None
        )
        console.print(f"token #{tok.id} ({tok.name}) — hiển thị một lần / shown once:")
        console.print(raw, highlight=False, soft_wrap=True)


@app.command("disable")
def disable(username: str) -> None:
    """Disable an account: its sessions end and its API tokens stop working."""
    with cli_session() as session:
        AccountService(session, actor=current_actor()).set_active(username=username, active=False)
        console.print(f"{username}: disabled")


@app.command("enable")
def enable(username: str) -> None:
    """Enable a disabled account again."""
    with cli_session() as session:
        AccountService(session, actor=current_actor()).set_active(username=username, active=True)
        console.print(f"{username}: enabled")


@app.command("passwd")
def passwd(
    username: str,
    revoke_tokens: Annotated[
        bool,
        typer.Option(
            "--revoke-tokens",
            help="also revoke every API token of the user (without it, tokens keep working)",
        ),
    ] = False,
) -> None:
    """Reset a password to a new one-time password and end all the user's sessions."""
    with cli_session() as session:
        otp = AccountService(session, actor=current_actor()).set_password(
            username=username, revoke_tokens=revoke_tokens
        )
        console.print(f"Mật khẩu một lần / one-time password: [bold]{otp}[/]", highlight=False)
        if revoke_tokens:
            console.print("Đã thu hồi mọi mã truy cập API / every API token revoked")
        else:
            console.print(
                "Mã truy cập API vẫn hoạt động (thêm --revoke-tokens để thu hồi) / API tokens "
                "keep working (add --revoke-tokens to revoke them)"
            )
