"""Database plumbing shared by every domain: the declarative base, engines, sessions, migrations.

SQLite (embedded, WAL) and PostgreSQL are both first-class::

    engine = make_engine("sqlite:///var/tldops.db")
    upgrade(engine)                       # Alembic: every domain's migrations to their heads
    with session_scope(engine) as s:      # commits on success, rolls back on error
        ...
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, Enum, MetaData, String, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger("tldops.db")

# Domains whose ``<package>/migrations/versions`` folders hold Alembic revisions. Each domain
# other than inventory keeps its own branch (branch_labels=(package,), depends_on the inventory
# base) so that domains never edit each other's migration chains.
MIGRATION_PACKAGES = (
    "inventory",
    "monitoring",
    "playbooks",
    "videoconf",
    "training_lms",
    "ops_cli",
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every tldops table, in every domain."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware.

    SQLite has no time zones; without this, values read back would be naive and compare wrongly
    against aware ones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; tldops stores aware timestamps only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def PathString(length: int = 255) -> String:
    """A string column compared byte-wise on every engine (materialised tree paths).

    PostgreSQL's default locale collations ignore punctuation, which would break range scans on
    paths such as ``/1/42/``; the "C" collation orders them as bytes, like SQLite does.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")  # type: ignore[return-value]


def db_enum(cls: type) -> Enum:
    """Column type for a Python enum, stored as its values in a VARCHAR(32) on every engine.

    Not a native PostgreSQL ENUM, so adding a member never needs an ALTER TYPE migration.

    >>> from inventory.enums import DeviceStatus
    >>> db_enum(DeviceStatus).enums
    ['planned', 'active', 'repair', 'retired']
    """
    return Enum(
        cls,
        native_enum=False,
        length=32,
        validate_strings=True,
        values_callable=lambda e: [m.value for m in e],
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    >>> make_engine("sqlite://").dialect.name
    'sqlite'
    """
    db_file: Path | None = None
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////:memory:"):
        db_path = url.removeprefix("sqlite:///").split("?", 1)[0]
        if db_path and db_path != ":memory:" and not db_path.startswith("file:"):
            db_file = Path(db_path)
            if not db_file.parent.exists():
                # The folder of the database holds nothing anyone else should read.
                db_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pool: dict[str, Any] = {}
    if db_file is not None or url.startswith("postgresql"):
        # At least as many connections as the web server's worker threads (40), so a burst of
        # requests queues on the database lock, not on the pool (QueuePool defaults to 5 + 10).
        pool = {"pool_size": 20, "max_overflow": 30, "pool_timeout": 10}
    engine = create_engine(url, echo=echo, future=True, **pool)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            if db_file is not None:
                _private(db_file)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

    return engine


def _private(db_file: Path) -> None:
    """Database files are 0600: they hold every record (SQLite gives -wal/-shm the same mode)."""
    for path in (db_file, db_file.with_name(db_file.name + "-wal")):
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except OSError:
            pass  # not ours to change (a read-only copy): the umask still applies to new files


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises."""
    session = make_sessionmaker(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def import_all_models() -> MetaData:
    """Import every domain's ``models`` module so ``Base.metadata`` knows all tables."""
    for pkg in MIGRATION_PACKAGES:
        if importlib.util.find_spec(f"{pkg}.models") is not None:
            importlib.import_module(f"{pkg}.models")
    return Base.metadata


def _version_locations() -> list[str]:
    locations = []
    for pkg in MIGRATION_PACKAGES:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            continue
        versions = Path(next(iter(spec.submodule_search_locations))) / "migrations" / "versions"
        if versions.is_dir():
            locations.append(str(versions))
    return locations


def alembic_config(engine: Engine) -> Any:
    """An Alembic ``Config`` bound to ``engine`` with every domain's version folder."""
    from alembic.config import Config

    here = Path(__file__).parent / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(here))
    cfg.set_main_option("version_locations", " ".join(_version_locations()))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> list[str]:
    """Bring the schema of every domain to its newest revision (idempotent), then put back any
    index the models declare that the database lacks (see :mod:`inventory.schema_check`).

    Returns what was repaired, one bilingual line each (empty on a sound database).
    """
    from alembic import command

    from inventory.schema_check import repair_schema

    command.upgrade(alembic_config(engine), revision)
    if revision != "heads":
        return []  # a partial upgrade: the models describe the newest schema, not this one
    repaired = repair_schema(engine)
    for line in repaired:
        log.warning("%s", line)
    return repaired


def current_heads(engine: Engine) -> set[str]:
    """Revisions the database is at (empty set for a fresh database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())
