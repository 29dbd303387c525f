"""A database whose revision is current but whose indexes were lost is repaired on upgrade."""

from __future__ import annotations

from sqlalchemy import inspect, text

from inventory.db import make_engine, upgrade


def test_upgrade_puts_back_lost_indexes(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_devices_unit_kind_status"))
    assert "ix_devices_unit_kind_status" not in {
        ix["name"] for ix in inspect(engine).get_indexes("devices")
    }
    repaired = upgrade(engine)
    assert any("ix_devices_unit_kind_status" in line for line in repaired)
    assert "ix_devices_unit_kind_status" in {
        ix["name"] for ix in inspect(engine).get_indexes("devices")
    }
    assert upgrade(engine) == []  # a sound database: nothing to do
    engine.dispose()
