"""A seeded federation (the demo generator's ``small`` plan) with one account per role.

Accounts (passwords are ``<username>-password``):

    admin        admin on TLD (the whole tree)
    it_hni       it_staff on HNI (Hà Nội) — a province IT officer
    viewer_hni   viewer on HNI
    nogrant      no grant at all

Module-scoped: building it takes a second, and the authorisation tests only read or write
through the API (each writing test uses its own codes).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from inventory.db import make_engine, session_scope
from inventory.demo import PLANS, seed_plan
from inventory.models import Custody, Device, Officer, Unit, subtree_filter
from inventory.security import Role
from ops_cli.accounts import AccountService
from ops_cli.web import create_app

USERS: dict[str, tuple[tuple[Role, str], ...]] = {
    "admin": ((Role.admin, "TLD"),),
    "it_hni": ((Role.it_staff, "HNI"),),
    "viewer_hni": ((Role.viewer, "HNI"),),
    "nogrant": (),
}


def password_of(username: str) -> str:
    return f"{username}-password"


@dataclass(frozen=True)
class World:
    engine: Engine
    app: FastAPI
    tokens: dict[str, str]
    # Objects of Hồ Chí Minh (outside HNI) and of Hà Nội, for cross-province checks.
    hcm_unit: str
    hcm_officer: str
    hcm_device: str
    hni_unit: str
    hni_officer: str
    hni_device: str

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


def _first(engine: Engine, model: type, top: str) -> str:
    with session_scope(engine) as s:
        path = s.scalar(select(Unit.path).where(Unit.code == top))
        assert path is not None
        if model is Unit:
            code = s.scalar(
                select(Unit.code).where(subtree_filter(Unit.path, path), Unit.level == 3).limit(1)
            )
        elif model is Officer:
            code = s.scalar(
                select(Officer.code)
                .join(Unit)
                .join(Custody, Custody.officer_id == Officer.id)
                .where(subtree_filter(Unit.path, path))
                .order_by(Officer.code)
                .limit(1)
            )
        else:
            code = s.scalar(
                select(Device.asset_tag)
                .join(Unit)
                .join(Custody, Custody.device_id == Device.id)
                .where(subtree_filter(Unit.path, path))
                .order_by(Device.asset_tag)
                .limit(1)
            )
        assert code is not None
        return str(code)


def build_world(db_path: Path) -> World:
    engine = make_engine(f"sqlite:///{db_path}")
    seed_plan(engine, plan=PLANS["small"])
    tokens: dict[str, str] = {}
    with session_scope(engine) as s:
        svc = AccountService(s, actor="test")
        for username, grants in USERS.items():
            svc.create_user(username=username, password=password_of(username))
            for role, unit in grants:
                svc.grant(username=username, role=role, unit_code=unit)
            tokens[username], _ = svc.create_token(username=username, name="tests")
    return World(
        engine=engine,
        app=create_app(engine, secure_cookies=False),
        tokens=tokens,
        hcm_unit=_first(engine, Unit, "HCM"),
        hcm_officer=_first(engine, Officer, "HCM"),
        hcm_device=_first(engine, Device, "HCM"),
        hni_unit=_first(engine, Unit, "HNI"),
        hni_officer=_first(engine, Officer, "HNI"),
        hni_device=_first(engine, Device, "HNI"),
    )


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    target = tmp_path_factory.mktemp("web") / "tldops.db"
    shutil.copyfile(sqlite_template, target)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLDOPS_SECRET_KEY", Fernet.generate_key().decode())
        w = build_world(target)
        yield w
    w.engine.dispose()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(world.app) as c:
        yield c
