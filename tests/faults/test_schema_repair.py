"""A database whose revision is current but whose indexes were lost is repaired on upgrade."""

from __future__ import annotations

from pathlib import Path

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


def test_every_listed_job_resolves_and_a_missing_one_stops_start_up() -> None:
    import pytest

    from inventory.errors import ConfigError
    from ops_cli.scheduler import KNOWN_JOBS, discover_jobs

    found = {j.name for j in discover_jobs()}
    assert found == {f"{m}.{f}" for m, f, _e, _a in KNOWN_JOBS}
    with pytest.raises(ConfigError, match=r"monitoring\.jobs\.no_such_job"):
        discover_jobs((("monitoring.jobs", "no_such_job", 60.0, 0.0),))


def test_db_upgrade_command_repairs_a_current_database(tmp_path: Path) -> None:

    from typer.testing import CliRunner

    from ops_cli.cli import app

    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_devices_unit_kind_status"))
    engine.dispose()
    result = CliRunner().invoke(app, ["db", "upgrade"], env={"TLDOPS_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert "ix_devices_unit_kind_status" in result.output
    engine = make_engine(url)
    assert "ix_devices_unit_kind_status" in {
        ix["name"] for ix in inspect(engine).get_indexes("devices")
    }
    engine.dispose()
