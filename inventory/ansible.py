"""Ansible dynamic inventory built from the tldops inventory.

``tldops inventory ansible --list [--unit CODE]`` and ``--host NAME`` print JSON in the format of
Ansible's ``script`` inventory plugin; ``inventory/ansible_plugin/tldops_inventory.py`` is the
executable script Ansible runs (``ansible-playbook -i .../tldops_inventory.py site.yml``).

Hosts are the *active* devices that have a management IP; a host is named after the device's
hostname (its asset tag when it has none, or when two devices share a hostname). Groups:

``all``               children: the top unit's group, every ``kind_*`` and ``platform_*`` group
``unit_<code slug>``  one per unit (``unit_hni``, ``unit_hni_001`` ...), its devices as hosts and
                      its child units' groups as ``children`` — so ``--limit unit_hni`` reaches
                      the whole Hà Nội subtree
``kind_<kind>``       ``kind_switch``, ``kind_server`` ...
``platform_<p>``      ``platform_cisco_ios``, ``platform_linux`` ...

``_meta.hostvars`` carries ``ansible_host``, ``ansible_user`` / ``ansible_port`` (from the
device's SSH credential profile), ``ansible_connection`` and ``ansible_network_os`` (from the
platform: ``network_cli`` + ``cisco.ios.ios`` for ``cisco_ios``, ``ssh`` for ``linux`` ...) and
``tldops_asset_tag``, ``tldops_unit``, ``tldops_unit_path``, ``tldops_province`` (the level-2
ancestor's code), ``tldops_kind``, ``tldops_site``, ``tldops_platform``, ``tldops_snmp_profile``.

Secrets never appear: the password is the template
``{{ lookup('ansible.builtin.env', 'TLDOPS_CRED_SSH_NETWORK_PASSWORD') }}`` whose variable name
comes from :func:`inventory.secrets.credential_env_var`; the playbook runner puts the decrypted
value in the child's environment. Ansible (2.19+) trusts templates in ``_meta.hostvars`` of
script output, so the lookup is rendered at run time.

Built with three set-based queries and plain dicts, so 100k hosts take seconds::

    inv = build_inventory(session, unit_code="HNI")
    print(inv.to_json())
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.enums import CredentialKind, DeviceStatus
from inventory.errors import NotFound
from inventory.models import CredentialProfile, Device, Site, Unit, subtree_filter
from inventory.secrets import credential_env_var
from inventory.service import InventoryService
from inventory.text import slugify

# netmiko/tldops platform → (ansible_connection, ansible_network_os). This is the one list of
# platforms: ``InventoryService.set_device`` accepts exactly these names. Rows stored before
# that check with another name get no connection variables (Ansible's defaults apply).
PLATFORM_CONNECTIONS: Mapping[str, tuple[str, str | None]] = {
    "cisco_ios": ("ansible.netcommon.network_cli", "cisco.ios.ios"),
    "cisco_xe": ("ansible.netcommon.network_cli", "cisco.ios.ios"),
    "cisco_nxos": ("ansible.netcommon.network_cli", "cisco.nxos.nxos"),
    "cisco_asa": ("ansible.netcommon.network_cli", "cisco.asa.asa"),
    "cisco_xr": ("ansible.netcommon.network_cli", "cisco.iosxr.iosxr"),
    "arista_eos": ("ansible.netcommon.network_cli", "arista.eos.eos"),
    "juniper_junos": ("ansible.netcommon.network_cli", "junipernetworks.junos.junos"),
    "mikrotik_routeros": ("ansible.netcommon.network_cli", "community.routeros.routeros"),
    "huawei": ("ansible.netcommon.network_cli", "community.network.ce"),
    "vyos": ("ansible.netcommon.network_cli", "vyos.vyos.vyos"),
    "fortinet": ("ansible.netcommon.httpapi", "fortinet.fortios.fortios"),
    "dell_os10": ("ansible.netcommon.network_cli", "dellemc.os10.os10"),
    "aruba_aoscx": ("ansible.netcommon.httpapi", "arubanetworks.aoscx.aoscx"),
    "ruckus_fastiron": ("ansible.netcommon.network_cli", "community.network.icx"),
    "ubiquiti_edgeswitch": ("ansible.netcommon.network_cli", "community.network.edgeswitch"),
    "linux": ("ssh", None),
    "freebsd": ("ssh", None),
}


def connection_vars(platform: str | None) -> dict[str, str]:
    """Ansible connection variables for a platform.

    >>> connection_vars("cisco_ios")
    {'ansible_connection': 'ansible.netcommon.network_cli', 'ansible_network_os': 'cisco.ios.ios'}
    >>> connection_vars("linux")
    {'ansible_connection': 'ssh'}
    """
    spec = PLATFORM_CONNECTIONS.get(platform or "")
    if spec is None:
        return {}
    connection, network_os = spec
    out = {"ansible_connection": connection}
    if network_os:
        out["ansible_network_os"] = network_os
    return out


def env_lookup(variable: str) -> str:
    """The Jinja expression Ansible renders to the value of an environment variable.

    >>> env_lookup("TLDOPS_CRED_SSH_PASSWORD")
    "{{ lookup('ansible.builtin.env', 'TLDOPS_CRED_SSH_PASSWORD') }}"
    """
    return f"{{{{ lookup('ansible.builtin.env', '{variable}') }}}}"


@dataclass(frozen=True)
class AnsibleGroup:
    """One inventory group: direct hosts and child groups."""

    name: str
    hosts: tuple[str, ...] = ()
    children: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        # A group with neither key is read by Ansible as a host named after the group.
        out: dict[str, Any] = {"hosts": list(self.hosts)}
        if self.children:
            out["children"] = list(self.children)
        return out


@dataclass(frozen=True)
class AnsibleInventory:
    """A complete dynamic inventory: groups (``all`` first) and per-host variables."""

    groups: Mapping[str, AnsibleGroup]
    hostvars: Mapping[str, Mapping[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``--list`` (Ansible's script-inventory format)."""
        out: dict[str, Any] = {name: group.as_dict() for name, group in self.groups.items()}
        out["_meta"] = {"hostvars": self.hostvars}
        return out

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=indent)


_SIMPLE_CODE = re.compile(r"^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$")


def unit_group_name(code: str) -> str:
    """The ASCII group name of a unit.

    >>> unit_group_name("HNI-001")
    'unit_hni_001'
    """
    # Most codes are already ASCII words joined by "-"/"_": skip the Unicode folding for them.
    slug = code.lower().replace("-", "_") if _SIMPLE_CODE.match(code) else slugify(code)
    return f"unit_{slug}" if slug else "unit_"


def _unique_group_names(units: list[tuple[int, str]]) -> dict[int, str]:
    """Group name per unit id; slugs that collide (``HN-1`` vs ``HN_1``) get the unit id."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    for uid, code in sorted(units):
        name = unit_group_name(code)
        if name in taken or name == "unit_":
            name = f"{name.rstrip('_')}_{uid}"
        taken.add(name)
        names[uid] = name
    return names


def build_inventory(session: Session, *, unit_code: str | None = None) -> AnsibleInventory:
    """The inventory of the subtree of ``unit_code`` (default: the whole federation).

    >>> inv = build_inventory(session, unit_code="HNI")
    >>> inv.groups["all"].children[0]
    'unit_hni'
    >>> inv.hostvars["hni-sw01"]["ansible_network_os"]
    'cisco.ios.ios'
    """
    svc = InventoryService(session)
    top = svc.unit(unit_code) if unit_code else svc.root()
    in_tree = subtree_filter(Unit.path, top.path)

    unit_rows = session.execute(
        select(Unit.id, Unit.code, Unit.parent_id, Unit.path, Unit.level)
        .where(in_tree)
        .order_by(Unit.path)
    ).all()
    # Ancestors above the subtree are needed only to name the province of each host.
    above = [int(p) for p in top.path.strip("/").split("/")[:-1]]
    ancestor_rows = (
        session.execute(select(Unit.id, Unit.code, Unit.level).where(Unit.id.in_(above))).all()
        if above
        else []
    )
    code_of: dict[int, str] = {r.id: r.code for r in ancestor_rows}
    level_of: dict[int, int] = {r.id: r.level for r in ancestor_rows}
    for r in unit_rows:
        code_of[r.id] = r.code
        level_of[r.id] = r.level
    group_of = _unique_group_names([(r.id, r.code) for r in unit_rows])
    path_of = {r.id: r.path for r in unit_rows}
    # Rows come in path order, so a parent is always seen before its children.
    top_ids = [int(p) for p in top.path.strip("/").split("/")]
    province_of: dict[int, str | None] = {
        top.id: next((code_of[a] for a in top_ids if level_of.get(a) == 2), None)
    }
    for r in unit_rows:
        if r.id == top.id:
            continue
        province_of[r.id] = r.code if r.level == 2 else province_of.get(r.parent_id or 0)

    profiles = {
        p.id: p
        for p in session.execute(
            select(
                CredentialProfile.id,
                CredentialProfile.name,
                CredentialProfile.kind,
                CredentialProfile.username,
                CredentialProfile.params,
            )
        ).all()
    }

    device_rows = session.execute(
        select(
            Device.id,
            Device.asset_tag,
            Device.hostname,
            Device.mgmt_ip,
            Device.kind,
            Device.platform,
            Device.unit_id,
            Device.ssh_profile_id,
            Device.snmp_profile_id,
            Site.code.label("site_code"),
        )
        .join(Unit, Unit.id == Device.unit_id)
        .outerjoin(Site, Site.id == Device.site_id)
        .where(in_tree, Device.status == DeviceStatus.active, Device.mgmt_ip.is_not(None))
        .order_by(Device.asset_tag)
    ).all()

    hostname_count: dict[str, int] = {}
    for d in device_rows:
        if d.hostname and d.hostname.strip():
            key = d.hostname.strip()
            hostname_count[key] = hostname_count.get(key, 0) + 1

    password_var = {
        pid: env_lookup(credential_env_var(p.name, "password")) for pid, p in profiles.items()
    }
    platform_group: dict[str, str] = {}
    hostvars: dict[str, dict[str, Any]] = {}
    unit_hosts: dict[int, list[str]] = {}
    kind_hosts: dict[str, list[str]] = {}
    platform_hosts: dict[str, list[str]] = {}
    for d in device_rows:
        hostname = (d.hostname or "").strip()
        name = hostname if hostname and hostname_count[hostname] == 1 else d.asset_tag
        if name in hostvars:
            name = f"{d.asset_tag}-{d.id}"
        hv: dict[str, Any] = {"ansible_host": d.mgmt_ip}
        ssh = profiles.get(d.ssh_profile_id) if d.ssh_profile_id is not None else None
        if ssh is not None and ssh.kind is CredentialKind.ssh:
            if ssh.username:
                hv["ansible_user"] = ssh.username
            port = (ssh.params or {}).get("port")
            if port:
                hv["ansible_port"] = int(port)
            fields = (ssh.params or {}).get("secret_fields")
            # Profiles from before ``secret_fields`` was recorded hold a password.
            if fields is None or "password" in fields:
                hv["ansible_password"] = password_var[ssh.id]
            if fields is not None and "private_key" in fields:
                # ansible-core 2.19 takes the key itself (through ssh-agent), not only a file.
                hv["ansible_ssh_private_key"] = env_lookup(
                    credential_env_var(ssh.name, "private_key")
                )
                if "passphrase" in fields:
                    hv["ansible_ssh_private_key_passphrase"] = env_lookup(
                        credential_env_var(ssh.name, "passphrase")
                    )
        hv.update(connection_vars(d.platform))
        kind = d.kind.value
        snmp = profiles.get(d.snmp_profile_id) if d.snmp_profile_id is not None else None
        hv.update(
            {
                "tldops_asset_tag": d.asset_tag,
                "tldops_unit": code_of[d.unit_id],
                "tldops_unit_path": path_of[d.unit_id],
                "tldops_province": province_of[d.unit_id],
                "tldops_kind": kind,
                "tldops_site": d.site_code,
                "tldops_platform": d.platform,
                "tldops_snmp_profile": snmp.name if snmp is not None else None,
            }
        )
        hostvars[name] = hv
        unit_hosts.setdefault(d.unit_id, []).append(name)
        kind_hosts.setdefault(f"kind_{kind}", []).append(name)
        if d.platform:
            group = platform_group.get(d.platform)
            if group is None:
                group = platform_group[d.platform] = f"platform_{slugify(d.platform)}"
            platform_hosts.setdefault(group, []).append(name)

    children: dict[int, list[str]] = {}
    for r in unit_rows:
        if r.id != top.id and r.parent_id is not None:
            children.setdefault(r.parent_id, []).append(group_of[r.id])

    groups: dict[str, AnsibleGroup] = {}
    extra = sorted(kind_hosts) + sorted(platform_hosts)
    groups["all"] = AnsibleGroup("all", (), (group_of[top.id], *extra))
    for r in unit_rows:
        name = group_of[r.id]
        groups[name] = AnsibleGroup(
            name, tuple(unit_hosts.get(r.id, ())), tuple(sorted(children.get(r.id, ())))
        )
    for name in sorted(kind_hosts):
        groups[name] = AnsibleGroup(name, tuple(kind_hosts[name]))
    for name in sorted(platform_hosts):
        groups[name] = AnsibleGroup(name, tuple(platform_hosts[name]))
    return AnsibleInventory(groups=groups, hostvars=hostvars)


def host_vars(session: Session, *, name: str, unit_code: str | None = None) -> Mapping[str, Any]:
    """The variables of one host, as ``--host NAME`` prints them.

    Raises :class:`~inventory.errors.NotFound` if no active managed device has that name.

    >>> host_vars(session, name="hni-rt01")["ansible_host"]
    '198.18.1.5'
    """
    inv = build_inventory(session, unit_code=unit_code)
    found = inv.hostvars.get(name)
    if found is None:
        raise NotFound(
            f"Không có máy {name!r} trong inventory Ansible / no Ansible host {name!r}",
            hint="hosts are active devices with a management IP, named by hostname "
            "(or asset tag); list them with `tldops inventory ansible --list`",
        )
    return found
