"""The videoconf Alembic branch: its own tables only, and it downgrades and re-upgrades cleanly."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from inventory.db import alembic_config, current_heads, make_engine, upgrade
from videoconf.models import Base

VC_TABLES = {
    "vc_deployments",
    "vc_rooms",
    "vc_conferences",
    "vc_conference_rooms",
    "vc_participants",
    "vc_invitations",
    "vc_overrides",
    "vc_reminders",
    "vc_attendance",
}


def test_branch_downgrades_and_upgrades(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        assert "vc_0002" in current_heads(engine)
        assert set(inspect(engine).get_table_names()) >= VC_TABLES
        mine = {t for t in Base.metadata.tables if t.startswith("vc_")}
        assert mine == VC_TABLES
        command.downgrade(alembic_config(engine), "videoconf@base")
        left = set(inspect(engine).get_table_names())
        assert not (left & VC_TABLES) and "units" in left  # the inventory is untouched
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= VC_TABLES
    finally:
        engine.dispose()
