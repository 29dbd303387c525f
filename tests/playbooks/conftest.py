"""Fixtures of the playbooks tests: a real non-root SSH user with sudo and real sshd daemons."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.playbooks.sshhosts import Sshd, TestUser, create_user, delete_user, start_sshd


def _need(tool: str) -> None:
    if shutil.which(tool) is None and not Path(tool).exists():
        msg = f"{tool} is missing; `make test` installs it (APT_PACKAGES)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def ssh_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestUser]:
    if os.geteuid() != 0:
        pytest.fail("the playbooks tests create a test user and need root")
    for tool in ("/usr/sbin/sshd", "sudo", "useradd", "ssh"):
        _need(tool)
    user = create_user(tmp_path_factory.mktemp("sshuser"))
    yield user
    delete_user()


@pytest.fixture(scope="session")
def sshd(ssh_user: TestUser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    daemon = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield daemon
    daemon.stop()
