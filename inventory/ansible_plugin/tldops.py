"""Ansible inventory plugin ``tldops``: the same inventory as ``tldops_inventory.py``, in-process.

Use it when Ansible runs from the Python environment where tldops is installed (the project
venv). Write an inventory source file whose name ends in ``tldops.yml``::

    # site.tldops.yml
    plugin: tldops
    # database_url: postgresql+psycopg://tldops@db/tldops   (default: TLDOPS_DATABASE_URL)
    # unit: HNI                                             (default: TLDOPS_ANSIBLE_UNIT)

and point Ansible at this folder::

    export ANSIBLE_INVENTORY_PLUGINS=$PWD/inventory/ansible_plugin
    export ANSIBLE_INVENTORY_ENABLED=tldops,script,yaml,ini
    ansible-playbook -i site.tldops.yml site.yml --limit unit_hni

Groups and host variables are exactly those of :func:`inventory.ansible.build_inventory`; the
password variables are ``lookup('ansible.builtin.env', ...)`` templates, which is why the plugin
declares its data trusted (Ansible ≥ 2.19 only renders templates from trusted sources).
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

DOCUMENTATION = r"""
    name: tldops
    short_description: Devices and organisation units from the tldops inventory database
    description:
        - Hosts are active devices with a management IP; groups are unit_<code> (nested along the
          organisation tree), kind_<kind> and platform_<platform>.
        - Passwords are never read; they are env lookups filled in by the tldops runner.
    options:
        plugin:
            description: Marks this file as a tldops inventory source.
            required: true
            choices: ['tldops']
        database_url:
            description: SQLAlchemy URL of the tldops database.
            type: str
            env:
                - name: TLDOPS_DATABASE_URL
        unit:
            description: Only the subtree of this unit code.
            type: str
            env:
                - name: TLDOPS_ANSIBLE_UNIT
"""


class InventoryModule(BaseInventoryPlugin):  # type: ignore[misc]
    NAME = "tldops"
    # Our values contain env-lookup templates for passwords; they must be rendered.
    trusted_by_default = True

    def verify_file(self, path: str) -> bool:
        return bool(super().verify_file(path)) and path.endswith(("tldops.yml", "tldops.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        from inventory.ansible import build_inventory
        from inventory.config import Settings
        from inventory.db import make_sessionmaker
        from inventory.errors import OpsError
        from inventory.runtime import get_engine

        settings = Settings.from_env()
        url = self.get_option("database_url")
        if url:
            settings = Settings(
                database_url=url,
                var_dir=settings.var_dir,
                secret_keys=settings.secret_keys,
                lang=settings.lang,
            )
        try:
            session = make_sessionmaker(get_engine(settings))()
            try:
                built = build_inventory(session, unit_code=self.get_option("unit") or None)
            finally:
                session.close()
        except OpsError as err:
            raise AnsibleParserError(f"tldops inventory: {err}") from err

        for name in built.groups:
            if name != "all":
                self.inventory.add_group(name)
        for name, group in built.groups.items():
            for host in group.hosts:
                self.inventory.add_host(host, group=name)
            for child in group.children:
                self.inventory.add_child(name, child)
        for host, variables in built.hostvars.items():
            for key, value in variables.items():
                self.inventory.set_variable(host, key, value)
