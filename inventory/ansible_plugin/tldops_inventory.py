#!/usr/bin/env python3
"""Ansible dynamic inventory script for tldops (Ansible's ``script`` inventory plugin).

Ansible runs it with ``--list`` (once; the output carries ``_meta.hostvars``, so ``--host`` is
never needed, but it is supported)::

    export TLDOPS_DATABASE_URL=postgresql+psycopg://tldops@db/tldops   # default: var/tldops.db
    ansible-inventory -i inventory/ansible_plugin/tldops_inventory.py --graph
    ansible-playbook  -i inventory/ansible_plugin/tldops_inventory.py site.yml --limit unit_hni

    # only one subtree of the organisation (e.g. the Hà Nội federation):
    TLDOPS_ANSIBLE_UNIT=HNI ansible-playbook -i .../tldops_inventory.py site.yml

Passwords are not in the output: ``ansible_password`` is
``{{ lookup('ansible.builtin.env', 'TLDOPS_CRED_<PROFILE>_PASSWORD') }}`` and the process that
starts Ansible (the tldops playbook runner) sets that variable. The script needs the Python that
has tldops installed; when started by another interpreter it re-executes itself with the
repository's ``.venv/bin/python`` (or ``TLDOPS_PYTHON``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _ensure_tldops() -> None:
    """Re-exec under an interpreter that can import tldops (Ansible starts us via the shebang,
    which may find a Python without our dependencies)."""
    try:
        import sqlalchemy  # noqa: F401

        import inventory.ansible  # noqa: F401

        return
    except ImportError:
        pass
    repo = Path(__file__).resolve().parents[2]
    if not os.environ.get("_TLDOPS_INVENTORY_REEXEC"):
        for python in (os.environ.get("TLDOPS_PYTHON", ""), str(repo / ".venv" / "bin" / "python")):
            if python and Path(python).exists():
                os.environ["_TLDOPS_INVENTORY_REEXEC"] = "1"
                os.execv(python, [python, str(Path(__file__).resolve()), *sys.argv[1:]])
    sys.stderr.write(
        "tldops inventory: this Python cannot import tldops; install it (`make venv`) or set "
        "TLDOPS_PYTHON to the interpreter that has it\n"
    )
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tldops dynamic inventory for Ansible")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--list", action="store_true", help="the whole inventory")
    mode.add_argument("--host", help="variables of one host")
    parser.add_argument(
        "--unit",
        default=os.environ.get("TLDOPS_ANSIBLE_UNIT") or None,
        help="only the subtree of this unit code (env TLDOPS_ANSIBLE_UNIT)",
    )
    args = parser.parse_args(argv)
    _ensure_tldops()

    import json

    from inventory.ansible import build_inventory
    from inventory.db import make_sessionmaker
    from inventory.errors import OpsError
    from inventory.runtime import get_engine

    try:
        session = make_sessionmaker(get_engine())()
        try:
            inv = build_inventory(session, unit_code=args.unit)
        finally:
            session.close()
    except OpsError as err:
        sys.stderr.write(f"tldops inventory: {err}\n")
        return 2
    if args.host is not None:
        # Ansible's convention for unknown hosts is an empty object, not an error.
        sys.stdout.write(json.dumps(inv.hostvars.get(args.host, {}), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(inv.to_json() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
