"""Province-scoped callers of the playbooks domain: what another province owns answers 404
like something missing, and every reference of a write is checked against the caller's grants."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from inventory.db import make_engine, session_scope
from inventory.enums import CredentialKind, DeviceKind, UnitKind
from inventory.errors import Conflict, NotFound, OpsError, PermissionDenied
from inventory.models import Unit
from inventory.secrets import SecretBox
from inventory.security import Grant, Principal, Role
from inventory.service import InventoryService
from playbooks.api import router
from playbooks.configbackup import BackupSettings, ConfigRepo, backup_configs
from playbooks.enums import RunStatus
from playbooks.failover import NodeSpec, define_pair, drill_failover
from playbooks.models import PlaybookRun
from playbooks.runner import run_playbook

LOCAL_PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
"""


def _app(engine: Engine, who: dict[str, Principal]) -> FastAPI:
    """The router as ops_cli mounts it: errors answered with the status their class declares."""
    api = FastAPI()
    api.state.engine = engine
    api.include_router(router)

    @api.exception_handler(OpsError)
    async def _ops(_request: Request, exc: OpsError) -> JSONResponse:
        return JSONResponse({"error": {"message": exc.message}}, status_code=exc.http_status)

    @api.middleware("http")
    async def _principal(request: Request, call_next: Any) -> Any:
        request.state.principal = who["p"]
        return await call_next(request)

    return api


@pytest.fixture
def world(sqlite_url: str) -> Any:
    engine = make_engine(sqlite_url)
    box = SecretBox([os.environ["TLDOPS_SECRET_KEY"]])
    with session_scope(engine) as s:
        svc = InventoryService(s, actor="t")
        svc.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
        for code, name in (("HNI", "LĐLĐ TP Hà Nội"), ("HCM", "LĐLĐ TP Hồ Chí Minh")):
            svc.create_unit(
                code=code,
                name=name,
                level=2,
                kind=UnitKind.province_federation,
                parent_code="TLD",
            )
        svc.create_credential(
            name="ssh-x", kind=CredentialKind.ssh, username="x", box=box, secret={"password": "p"}
        )
        for tag, unit in (("HNI-SW-1", "HNI"), ("HCM-SW-1", "HCM")):
            svc.create_device(
                asset_tag=tag,
                kind=DeviceKind.switch,
                unit_code=unit,
                hostname=tag.lower(),
                mgmt_ip="127.0.0.1",
                platform="linux",
            )
        paths = dict(s.execute(select(Unit.code, Unit.path)).all())
        ids = dict(s.execute(select(Unit.code, Unit.id)).all())
        runs = {}
        for key, unit_id in (("hni", ids["HNI"]), ("hcm", ids["HCM"]), ("fed", None)):
            run = PlaybookRun(
                playbook="office_baseline.yml",
                unit_id=unit_id,
                status=RunStatus.successful,
                actor="t",
                started_at=datetime.now(UTC),
            )
            s.add(run)
            s.flush()
            runs[key] = run.id
    yield {"engine": engine, "box": box, "paths": paths, "ids": ids, "runs": runs}
    engine.dispose()


# A grant on the root unit is "/" (ops_cli.accounts.principal_for).
def _it(path: str, role: Role = Role.it_staff) -> Principal:
    return Principal(name="it.hni", grants=(Grant(role, path),))


def test_another_provinces_run_and_device_answer_404_like_missing_ones(world: Any) -> None:
    it_hni = _it(world["paths"]["HNI"])
    who = {"p": it_hni}
    runs = world["runs"]
    with TestClient(_app(world["engine"], who)) as client:
        assert client.get(f"/api/operations/runs/{runs['hni']}").status_code == 200
        missing = client.get("/api/operations/runs/999999")
        assert missing.status_code == 404 and "no run 999999" in missing.text
        for key in ("hcm", "fed"):
            other = client.get(f"/api/operations/runs/{runs[key]}")
            assert other.status_code == 404, other.text
            assert other.json() == {
                "error": {"message": f"Không có lần chạy {runs[key]} / no run {runs[key]}"}
            }
        gone = client.get("/api/operations/config-backups/NO-SUCH/diff")
        hidden = client.get("/api/operations/config-backups/HCM-SW-1/diff")
        assert gone.status_code == hidden.status_code == 404
        assert hidden.json()["error"]["message"] == (
            "Không có thiết bị 'HCM-SW-1' / no device 'HCM-SW-1'"
        )
        who["p"] = Principal(name="admin", grants=(Grant(Role.admin, "/"),))
        for key in ("hni", "hcm", "fed"):
            assert client.get(f"/api/operations/runs/{runs[key]}").status_code == 200


def _run_count(engine: Engine) -> int:
    with session_scope(engine) as s:
        return int(s.scalar(select(func.count()).select_from(PlaybookRun)) or 0)


def test_writes_check_every_reference_against_the_grants(world: Any, tmp_path: Path) -> None:
    engine, box, paths, ids = world["engine"], world["box"], world["paths"], world["ids"]
    it_hni, viewer_hni = _it(paths["HNI"]), _it(paths["HNI"], Role.viewer)
    admin = Principal(name="admin", grants=(Grant(Role.admin, "/"),))
    before = _run_count(engine)
    inventory = {
        "all": {
            "hosts": {
                "lab-1": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                }
            }
        }
    }
    playbook = tmp_path / "ping.yml"
    playbook.write_text(LOCAL_PLAYBOOK)
    common: dict[str, Any] = {
        "playbook": str(playbook),
        "runs_dir": tmp_path / "runs",
        "actor": "it.hni",
        "secrets": {},
    }

    # Runs: another province's unit is "missing"; a viewer may not launch; no unit or an
    # explicit inventory reaches anything, so only an administrator may.
    with session_scope(engine) as s:
        with pytest.raises(NotFound, match="no unit"):
            run_playbook(s, unit_id=ids["HCM"], principal=it_hni, **common)
        with pytest.raises(PermissionDenied):
            run_playbook(s, unit_id=ids["HNI"], principal=viewer_hni, **common)
        with pytest.raises(PermissionDenied, match="no admin permission"):
            run_playbook(s, inventory=inventory, principal=it_hni, **common)
        with pytest.raises(PermissionDenied, match="no admin permission"):
            run_playbook(s, inventory=inventory, unit_id=ids["HNI"], principal=it_hni, **common)
    assert _run_count(engine) == before  # refused before a run was recorded
    with session_scope(engine) as s:
        ok = run_playbook(s, inventory=inventory, principal=admin, **common)
    assert ok.status is RunStatus.successful

    # Config backups: the subtree named must be writable by the caller.
    repo = ConfigRepo(tmp_path / "configs")
    settings = BackupSettings(conn_timeout_s=1, read_timeout_s=1)
    with session_scope(engine) as s:
        with pytest.raises(PermissionDenied, match="no admin permission"):
            backup_configs(s, box=box, repo=repo, settings=settings, principal=it_hni)
        with pytest.raises(NotFound, match="no unit 'HCM'"):
            backup_configs(
                s, box=box, repo=repo, settings=settings, unit_code="HCM", principal=it_hni
            )
        with pytest.raises(PermissionDenied):
            backup_configs(
                s, box=box, repo=repo, settings=settings, unit_code="HNI", principal=viewer_hni
            )

    # keepalived pairs: the unit, and the pair being replaced, must be the caller's.
    node = NodeSpec(
        name="a",
        ssh_host="127.0.0.1",
        state_file="/run/ka",
        stop_command="true",
        start_command="true",
    )
    spec: dict[str, Any] = {"vip": "127.0.0.200", "virtual_router_id": 7, "nodes": [node]}
    with session_scope(engine) as s:
        define_pair(s, name="hcm-portal", unit_code="HCM", actor="admin", principal=admin, **spec)
        define_pair(s, name="hni-portal", unit_code="HNI", actor="it", principal=it_hni, **spec)
    with session_scope(engine) as s:
        with pytest.raises(NotFound, match="no unit 'HCM'"):
            define_pair(s, name="x", unit_code="HCM", actor="it", principal=it_hni, **spec)
        with pytest.raises(Conflict, match="already in use"):
            define_pair(s, name="hcm-portal", unit_code="HNI", actor="it", principal=it_hni, **spec)
        with pytest.raises(NotFound, match="no keepalived pair 'hcm-portal'"):
            drill_failover(
                s,
                pair="hcm-portal",
                box=box,
                clock=lambda: datetime.now(UTC),
                actor="it",
                principal=it_hni,
            )
        with pytest.raises(PermissionDenied):
            drill_failover(
                s,
                pair="hni-portal",
                box=box,
                clock=lambda: datetime.now(UTC),
                actor="viewer",
                principal=viewer_hni,
            )
