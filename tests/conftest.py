"""Shared fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL.

``db_url`` (and ``engine``/``session`` built on it) is parametrised over both engines. The
PostgreSQL server is the one `make test` starts (``tests/services/postgres.sh``); its URL comes in
``TLDOPS_TEST_PG_URL``. Without it the PostgreSQL cases are skipped locally, but fail under CI so a
missing server can never turn the suite silently SQLite-only.

Each test gets its own database: SQLite copies a migrated template file, PostgreSQL runs
``CREATE DATABASE ... TEMPLATE``. Tests may therefore commit, use several sessions or run the CLI
in a subprocess against ``db_url``.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from inventory.db import make_engine, make_sessionmaker, upgrade

PG_URL = os.environ.get("TLDOPS_TEST_PG_URL", "")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_counter = itertools.count()

# A fixed key for tests; production keys come from the environment.
TEST_SECRET_KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TLDOPS_SECRET_KEY", TEST_SECRET_KEY)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _pg_admin() -> Engine:
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not PG_URL:
        if IN_CI:
            pytest.fail("TLDOPS_TEST_PG_URL is not set under CI; run the suite with `make test`")
        pytest.skip("PostgreSQL not started (run `make test`, or set TLDOPS_TEST_PG_URL)")
    name = f"tldops_tpl_{os.getpid()}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name)
    engine = make_engine(url.render_as_string(hide_password=False))
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh migrated database on the parametrised engine."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "tldops.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"tldops_t_{os.getpid()}_{next(_counter)}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(
            text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}" STRATEGY FILE_COPY')
        )
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh migrated SQLite database only (for tests where the engine does not matter)."""
    target = tmp_path / "tldops.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    s = make_sessionmaker(engine)()
    yield s
    s.rollback()
    s.close()
