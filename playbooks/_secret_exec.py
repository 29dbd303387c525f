"""Launcher between ansible-runner and ``ansible-playbook`` that hands over secrets off disk.

ansible-runner writes its whole child environment into ``artifacts/<id>/command`` (and
``env/envvars`` when given ``envvars=``), so secrets cannot travel through it. Instead
:mod:`playbooks.runner` prefixes the command with this script and a FIFO path; the parent writes
a JSON object of variables into the FIFO, this script reads it, adds it to its own environment
and ``exec``s the real command. A FIFO has no content on disk: only the pipe's name exists.

Usage (by the runner only): ``python _secret_exec.py FIFO COMMAND [ARGS...]``
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> None:
    fifo, command = argv[1], argv[2:]
    with open(fifo, encoding="utf-8") as pipe:
        secrets = json.load(pipe)
    os.environ.update({str(k): str(v) for k, v in secrets.items()})
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
