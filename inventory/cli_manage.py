"""``tldops inventory device|contact|credential``: what an operator sets, without Python.

::

    tldops inventory device show HN-SW-01
    tldops inventory device set HN-SW-01 --platform cisco_ios --snmp-profile snmp-hn \\
        --ssh-profile ssh-net --snmp-port 1161 --monitored yes --site HN-VP
    tldops inventory contact add HN it HN-CB01          # roles: it, meeting, training, leader
    tldops inventory contact add HN "lãnh đạo" HN-CB02  # ... or their Vietnamese names
    tldops inventory contact list HN
    tldops inventory credential create ssh-net --kind ssh --username netops \\
        --private-key-file ~/.ssh/id_ed25519 --passphrase-env KEY_PASS --port 22
    tldops inventory credential list | show NAME | rotate NAME --password-env NEW | remove NAME

Every command goes through :class:`~inventory.service.InventoryService`, the same methods the
HTTP API and the web forms call; bad input is refused with the field named and nothing written.
Secrets are read from an environment variable or a file (``--*-env``, ``--*-file``); a value
on the command line works too but is visible to other users in ``ps``. ``show`` and ``list``
never print a secret, only which secret fields a profile holds.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from inventory.config import Settings
from inventory.enums import ContactRole, CredentialKind
from inventory.errors import OpsError, Problem, ValidationFailed
from inventory.runtime import cli_session, console, current_actor
from inventory.secrets import SecretBox
from inventory.service import UNSET, InventoryService, read_secret_source
from inventory.vocabulary import label_vi, parse_contact_role


class _DefaultGroup(TyperGroup):
    """A group whose first argument, when it is not a sub-command, goes to ``default``
    (``tldops inventory device TAG`` still shows a device, as before the group existed)."""

    default = ""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = [self.default, *args]
        return super().resolve_command(ctx, args)


class _DeviceGroup(_DefaultGroup):
    default = "show"


class _CredentialGroup(_DefaultGroup):
    default = "create"


device_app = typer.Typer(
    cls=_DeviceGroup, help="Thiết bị / devices: show, set.", no_args_is_help=True
)
contact_app = typer.Typer(help="Đầu mối của đơn vị / unit contacts.", no_args_is_help=True)
credential_app = typer.Typer(
    cls=_CredentialGroup,
    help="Hồ sơ xác thực SNMP/SSH (mã hóa) / credential profiles.",
    no_args_is_help=True,
)

_YES = {"yes", "y", "true", "1", "on", "co", "có"}
_NO = {"no", "n", "false", "0", "off", "khong", "không"}
_CLEAR = {"none", "-", ""}


def _bad(field: str, value: str, why_vi: str, why_en: str) -> ValidationFailed:
    return ValidationFailed(
        [Problem(file="cli", row=None, column=field, value=value, why_vi=why_vi, why_en=why_en)]
    )


def _yes_no(field: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _YES:
        return True
    if v in _NO:
        return False
    raise _bad(field, value, "dùng yes/no (có/không)", "use yes or no")


def _profile_arg(value: str | None) -> Any:
    """Option value → service argument: absent = leave alone, "none"/"-" = clear."""
    if value is None:
        return UNSET
    return None if value.strip().lower() in _CLEAR else value


def _role(value: str) -> ContactRole:
    try:
        return parse_contact_role(value)
    except ValueError as exc:
        raise _bad(
            "role",
            value,
            "vai trò: it (CNTT), meeting (hội nghị), training (đào tạo), leader (lãnh đạo)",
            str(exc),
        ) from exc


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if hasattr(value, "value"):
        return label_vi(value)
    if isinstance(value, bool):
        return "có" if value else "không"
    return str(value)


# -- devices ----------------------------------------------------------------------------------
@device_app.command("show")
def device_show(asset_tag: str) -> None:
    """Show one device: how it is reached and watched, and its custody history."""
    with cli_session() as session:
        svc = InventoryService(session)
        d = svc.device(asset_tag)
        table = Table("trường / field", "giá trị / value", title=f"Thiết bị / device {d.asset_tag}")
        rows: list[tuple[str, Any]] = [
            ("loại / kind", d.kind.value),
            ("trạng thái / status", d.status),
            ("đơn vị / unit", f"{d.unit.code} {d.unit.name}"),
            ("địa điểm / site", d.site.code if d.site else None),
            ("tên máy / hostname", d.hostname),
            ("IP quản trị / mgmt_ip", d.mgmt_ip),
            ("hãng / vendor", d.vendor),
            ("model", d.model),
            ("số sê-ri / serial", d.serial),
            ("nền tảng / platform", d.platform),
            ("giám sát / monitored", d.monitored),
            ("hồ sơ SNMP / snmp_profile", _profile_name(session, d.snmp_profile_id)),
            ("cổng SNMP / snmp_port", d.snmp_port),
            ("hồ sơ SSH / ssh_profile", _profile_name(session, d.ssh_profile_id)),
            ("ngày mua / purchase_date", d.purchase_date),
            ("giá trị / cost_vnd", d.cost_vnd),
            ("hết bảo hành / warranty_end", d.warranty_end),
        ]
        for key, value in rows:
            table.add_row(key, _show(value))
        console.print(table)
        hist = Table(
            "cán bộ / officer", "nhận / assigned", "trả / returned", title="Lịch sử giao nhận"
        )
        for row in svc.custody_history(d.asset_tag):
            hist.add_row(
                f"{row.officer.code} {row.officer.full_name}",
                row.assigned_on.strftime("%d/%m/%Y"),
                row.returned_on.strftime("%d/%m/%Y") if row.returned_on else "—",
            )
        console.print(hist)


def _profile_name(session: Any, profile_id: int | None) -> str | None:
    from inventory.models import CredentialProfile

    if profile_id is None:
        return None
    prof = session.get(CredentialProfile, profile_id)
    return prof.name if prof is not None else None


@device_app.command("set")
def device_set(
    asset_tag: str,
    platform: Annotated[
        str | None, typer.Option(help="cisco_ios, linux, mikrotik_routeros ... ('none' clears)")
    ] = None,
    snmp_profile: Annotated[
        str | None, typer.Option(help="SNMP credential profile name ('none' clears)")
    ] = None,
    ssh_profile: Annotated[
        str | None, typer.Option(help="SSH credential profile name ('none' clears)")
    ] = None,
    snmp_port: Annotated[
        str | None, typer.Option(help="UDP port of the agent, 1-65535 ('none': the profile's)")
    ] = None,
    monitored: Annotated[str | None, typer.Option(help="yes/no (có/không): poll it")] = None,
    site: Annotated[str | None, typer.Option(help="site code ('none' clears)")] = None,
) -> None:
    """Set a device's platform, SNMP/SSH profiles, SNMP port, polling and site."""
    kwargs: dict[str, Any] = {
        "platform": _profile_arg(platform),
        "snmp_profile": _profile_arg(snmp_profile),
        "ssh_profile": _profile_arg(ssh_profile),
        "site_code": _profile_arg(site),
    }
    if snmp_port is not None:
        if snmp_port.strip().lower() in _CLEAR:
            kwargs["snmp_port"] = None
        elif not snmp_port.strip().isdigit():
            raise _bad("snmp_port", snmp_port, "cổng là số 1-65535", "a port is a number 1-65535")
        else:
            kwargs["snmp_port"] = int(snmp_port)
    if monitored is not None:
        kwargs["monitored"] = _yes_no("monitored", monitored)
    kwargs = {k: v for k, v in kwargs.items() if v is not UNSET}
    if not kwargs:
        raise OpsError(
            "Không có gì để đặt / nothing to set",
            hint="give --platform, --snmp-profile, --ssh-profile, --snmp-port, --monitored "
            "or --site",
        )
    with cli_session() as session:
        dev = InventoryService(session, actor=current_actor()).set_device(asset_tag, **kwargs)
        tag = dev.asset_tag
    console.print(f"{tag}: đã cập nhật / updated ({', '.join(sorted(kwargs))})")


# -- contacts ---------------------------------------------------------------------------------
@contact_app.command("add")
def contact_add(unit: str, role: str, officer_code: str) -> None:
    """Make OFFICER_CODE the ROLE contact of UNIT (it, meeting, training, leader)."""
    r = _role(role)
    with cli_session() as session:
        InventoryService(session, actor=current_actor()).add_contact(
            unit_code=unit, officer_code=officer_code, role=r
        )
    console.print(f"{unit}: {officer_code} → {label_vi(r)} ({r.value})")


@contact_app.command("remove")
def contact_remove(unit: str, role: str, officer_code: str) -> None:
    """Remove OFFICER_CODE as the ROLE contact of UNIT."""
    r = _role(role)
    with cli_session() as session:
        InventoryService(session, actor=current_actor()).remove_contact(
            unit_code=unit, role=r, officer_code=officer_code
        )
    console.print(f"{unit}: {officer_code} ✗ {label_vi(r)} ({r.value})")


@contact_app.command("list")
def contact_list(
    unit: str,
    role: Annotated[str | None, typer.Option(help="only this role")] = None,
) -> None:
    """The contacts of one unit."""
    r = _role(role) if role else None
    with cli_session() as session:
        rows = InventoryService(session).unit_contacts(unit, r)
        table = Table(
            "vai trò / role",
            "mã cán bộ / officer",
            "họ tên / name",
            "thư / e-mail",
            "điện thoại / phone",
            "hoạt động / active",
            title=f"Đầu mối của {unit} / contacts",
        )
        for c in rows:
            table.add_row(
                label_vi(c.role),
                c.officer.code,
                c.officer.full_name,
                c.officer.email or "—",
                c.officer.phone or "—",
                _show(c.officer.active),
            )
        console.print(table)


# -- credentials ------------------------------------------------------------------------------
def _secret_fields(
    *,
    community: str | None,
    community_env: str | None,
    auth_key: str | None,
    auth_key_env: str | None,
    priv_key: str | None,
    priv_key_env: str | None,
    password: str | None,
    password_env: str | None,
    private_key_file: str | None,
    private_key_env: str | None,
    passphrase_env: str | None,
    legacy_env: bool,
) -> dict[str, str]:
    """Secret fields from their sources; ``legacy_env`` also reads TLDOPS_CRED_COMMUNITY ..."""

    def legacy(name: str) -> str | None:
        return os.environ.get(name) if legacy_env else None

    out = {
        "community": read_secret_source(value=community, env=community_env)
        or legacy("TLDOPS_CRED_COMMUNITY"),
        "auth_key": read_secret_source(value=auth_key, env=auth_key_env)
        or legacy("TLDOPS_CRED_AUTH_KEY"),
        "priv_key": read_secret_source(value=priv_key, env=priv_key_env)
        or legacy("TLDOPS_CRED_PRIV_KEY"),
        "password": read_secret_source(value=password, env=password_env)
        or legacy("TLDOPS_CRED_PASSWORD"),
        "private_key": read_secret_source(env=private_key_env, file=private_key_file),
        "passphrase": read_secret_source(env=passphrase_env),
    }
    key = out.get("private_key")
    if key:
        out["private_key"] = key + "\n"  # OpenSSH refuses a key without its final newline
    return {k: v for k, v in out.items() if v}


_CommunityOpt = Annotated[str | None, typer.Option(help="SNMP v2c community (prefer --*-env)")]
_EnvOpt = Annotated[str | None, typer.Option(metavar="VAR", help="read it from this env var")]
_ValOpt = Annotated[str | None, typer.Option(help="value (visible in ps; prefer the env form)")]
_FileOpt = Annotated[str | None, typer.Option(metavar="PATH", help="read it from this file")]


def _box() -> SecretBox:
    return SecretBox.from_settings(Settings.from_env())


@credential_app.command("create")
def credential_create(
    name: str,
    kind: Annotated[CredentialKind, typer.Option()],
    username: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option(help="default port (SNMP 161, SSH 22)")] = None,
    community: _CommunityOpt = None,
    community_env: _EnvOpt = None,
    auth_key: _ValOpt = None,
    auth_key_env: _EnvOpt = None,
    priv_key: _ValOpt = None,
    priv_key_env: _EnvOpt = None,
    password: _ValOpt = None,
    password_env: _EnvOpt = None,
    private_key_file: _FileOpt = None,
    private_key_env: _EnvOpt = None,
    passphrase_env: _EnvOpt = None,
    auth_protocol: Annotated[str | None, typer.Option(help="SNMPv3: SHA, SHA256, MD5")] = None,
    priv_protocol: Annotated[str | None, typer.Option(help="SNMPv3: AES, AES256, DES")] = None,
) -> None:
    """Store a credential profile, encrypted with the secret key. TLDOPS_CRED_COMMUNITY,
    TLDOPS_CRED_AUTH_KEY, TLDOPS_CRED_PRIV_KEY and TLDOPS_CRED_PASSWORD are read as well."""
    secret = _secret_fields(
        community=community,
        community_env=community_env,
        auth_key=auth_key,
        auth_key_env=auth_key_env,
        priv_key=priv_key,
        priv_key_env=priv_key_env,
        password=password,
        password_env=password_env,
        private_key_file=private_key_file,
        private_key_env=private_key_env,
        passphrase_env=passphrase_env,
        legacy_env=True,
    )
    params: dict[str, Any] = {}
    if auth_protocol:
        params["auth_protocol"] = auth_protocol.upper()
    if priv_protocol:
        params["priv_protocol"] = priv_protocol.upper()
    box = _box()
    with cli_session() as session:
        InventoryService(session, actor=current_actor()).create_credential(
            name=name,
            kind=kind,
            username=username,
            secret=secret,
            box=box,
            params=params,
            port=port,
        )
    console.print(f"credential profile {name} saved (encrypted): {', '.join(sorted(secret))}")


@credential_app.command("list")
def credential_list() -> None:
    """Every credential profile (never a secret)."""
    with cli_session() as session:
        svc = InventoryService(session)
        table = Table(
            "tên / name",
            "loại / kind",
            "người dùng / user",
            "cổng / port",
            "bí mật có / secret fields",
            "thiết bị / devices",
            title="Hồ sơ xác thực / credential profiles",
        )
        for prof in svc.credentials():
            s = svc.credential_summary(prof.name)
            table.add_row(
                s["name"],
                label_vi(prof.kind),
                s["username"] or "—",
                str(s["port"] or "—"),
                ", ".join(s["secret_fields"] or ["?"]),
                str(s["devices"]),
            )
        console.print(table)


@credential_app.command("show")
def credential_show(name: str) -> None:
    """One profile: kind, user, port, parameters, which secret fields it holds, devices."""
    with cli_session() as session:
        svc = InventoryService(session)
        s = svc.credential_summary(name)
        kind = svc.credential(name).kind
    table = Table("trường / field", "giá trị / value", title=f"Hồ sơ / profile {s['name']}")
    table.add_row("loại / kind", label_vi(kind))
    table.add_row("người dùng / user", s["username"] or "—")
    table.add_row("cổng / port", str(s["port"] or "—"))
    for key, value in sorted(s["params"].items()):
        if key != "port":
            table.add_row(key, str(value))
    table.add_row("bí mật có / secret fields", ", ".join(s["secret_fields"] or ["?"]))
    table.add_row("số thiết bị dùng / devices", str(s["devices"]))
    table.add_row("cập nhật / updated", s["updated_at"] or "—")
    console.print(table)


@credential_app.command("rotate")
def credential_rotate(
    name: str,
    username: Annotated[str | None, typer.Option()] = None,
    port: Annotated[str | None, typer.Option(help="new default port ('none' removes)")] = None,
    community_env: _EnvOpt = None,
    auth_key_env: _EnvOpt = None,
    priv_key_env: _EnvOpt = None,
    password_env: _EnvOpt = None,
    private_key_file: _FileOpt = None,
    private_key_env: _EnvOpt = None,
    passphrase_env: _EnvOpt = None,
    replace: Annotated[
        bool, typer.Option(help="drop the secret fields not given (e.g. password → key)")
    ] = False,
) -> None:
    """Give a profile new secrets (from env vars or files); devices keep the profile."""
    secret = _secret_fields(
        community=None,
        community_env=community_env,
        auth_key=None,
        auth_key_env=auth_key_env,
        priv_key=None,
        priv_key_env=priv_key_env,
        password=None,
        password_env=password_env,
        private_key_file=private_key_file,
        private_key_env=private_key_env,
        passphrase_env=passphrase_env,
        legacy_env=False,
    )
    kwargs: dict[str, Any] = {}
    if username is not None:
        kwargs["username"] = username
    if port is not None:
        if port.strip().lower() in _CLEAR:
            kwargs["port"] = None
        elif not port.strip().isdigit():
            raise _bad("port", port, "cổng là số 1-65535", "a port is a number 1-65535")
        else:
            kwargs["port"] = int(port)
    if not secret and not kwargs:
        raise OpsError(
            "Không có gì để đổi / nothing to change",
            hint="give e.g. --password-env VAR, --private-key-file PATH, --community-env VAR",
        )
    box = _box()
    with cli_session() as session:
        InventoryService(session, actor=current_actor()).rotate_credential(
            name, secret=secret, box=box, replace=replace, **kwargs
        )
    console.print(f"credential profile {name} updated: {', '.join(sorted(secret)) or 'no secret'}")


@credential_app.command("remove")
def credential_remove(name: str) -> None:
    """Delete a profile that no device uses."""
    with cli_session() as session:
        InventoryService(session, actor=current_actor()).remove_credential(name)
    console.print(f"credential profile {name} removed")


def register(app: typer.Typer) -> None:
    """Add ``device``, ``contact`` and ``credential`` to the ``tldops inventory`` app."""
    app.add_typer(device_app, name="device")
    app.add_typer(contact_app, name="contact")
    app.add_typer(credential_app, name="credential")
