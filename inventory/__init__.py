"""The inventory core: organisation tree, sites, officers, devices, custody, links, networks,
software, credentials, audit log, import/export, Ansible inventory, and the target engine."""
