"""``tldops targets`` in-process through the real top-level app, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from inventory.db import make_engine, session_scope
from inventory.enums import DeviceKind, SoftwareCategory, UnitKind
from inventory.service import InventoryService
from ops_cli.cli import app

MINE = ["equipped_offices", "officers_with_computer", "eis_usage", "app_software"]
ONLY_MINE = [arg for ind in MINE for arg in ("--indicator", ind)]


def seed(db_url: str) -> None:
    """TLD → HN (equipped, with EIS) → HN-BD (printer only); TLD → HCM (nothing)."""
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        svc = InventoryService(session, actor="test")
        svc.create_unit(code="TLD", name="Tổng Liên đoàn", level=1, kind=UnitKind.central)
        svc.create_unit(
            code="HN",
            name="LĐLĐ thành phố Hà Nội",
            level=2,
            kind=UnitKind.province_federation,
            parent_code="TLD",
        )
        svc.create_unit(
            code="HN-BD",
            name="LĐLĐ quận Ba Đình",
            level=3,
            kind=UnitKind.district,
            parent_code="HN",
        )
        svc.create_unit(
            code="HCM",
            name="LĐLĐ TP Hồ Chí Minh",
            level=2,
            kind=UnitKind.province_federation,
            parent_code="TLD",
        )
        for kind in ("pc", "printer", "router"):
            svc.create_device(asset_tag=f"HN-{kind}", kind=DeviceKind(kind), unit_code="HN")
        svc.upsert_link(unit_code="HN", isp="VNPT", kind="ftth", bandwidth_mbps=100)
        svc.upsert_software(unit_code="HN", product="HTTTĐH", category=SoftwareCategory.eis)
        svc.create_device(asset_tag="BD-PR", kind=DeviceKind.printer, unit_code="HN-BD")
        svc.create_officer(code="CB-1", full_name="Nguyễn Thị Hoa", unit_code="HN")
        svc.assign_device("HN-pc", officer_code="CB-1")
        svc.create_officer(code="CB-2", full_name="Lê Văn Nam", unit_code="HN-BD")
    engine.dispose()


@pytest.fixture
def cli(db_url: str) -> tuple[CliRunner, dict[str, str]]:
    seed(db_url)
    return CliRunner(), {"TLDOPS_DATABASE_URL": db_url, "TLDOPS_ACTOR": "tester", "COLUMNS": "200"}


def test_json_is_the_report_shape(cli: tuple[CliRunner, dict[str, str]]) -> None:
    runner, env = cli
    res = runner.invoke(app, ["targets", "--format", "json", *ONLY_MINE], env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["unit"] == {"code": "TLD", "name": "Tổng Liên đoàn"}
    assert [i["id"] for i in data["indicators"]] == MINE
    eq = data["indicators"][0]
    assert (eq["numerator"], eq["denominator"], eq["met"]) == (1, 4, False)
    assert {f["code"] for f in eq["failing"]} == {"TLD", "HN-BD", "HCM"}
    assert [c["unit_code"] for c in eq["children"]] == ["HCM", "HN"]
    off = data["indicators"][1]
    assert (off["numerator"], off["denominator"]) == (1, 2)
    assert off["failing"][0]["reasons"][0]["code"] == "no_assigned_computer"
    # --unit picks the subtree.
    res = runner.invoke(app, ["targets", "--unit", "HN", "-f", "json", "-i", "eis_usage"], env=env)
    sub = json.loads(res.stdout)
    assert sub["unit"]["code"] == "HN"
    assert [(i["numerator"], i["denominator"]) for i in sub["indicators"]] == [(1, 1)]


def test_default_registry_through_the_cli(cli: tuple[CliRunner, dict[str, str]]) -> None:
    runner, env = cli
    res = runner.invoke(app, ["targets", "--format", "json"], env=env)
    assert res.exit_code == 0, res.output
    ids = [i["id"] for i in json.loads(res.stdout)["indicators"]]
    assert ids[:4] == MINE
    if importlib.util.find_spec("training_lms.indicators") is not None:
        assert "officers_trained" in ids


def test_table_vietnamese_and_english(cli: tuple[CliRunner, dict[str, str]]) -> None:
    runner, env = cli
    res = runner.invoke(app, ["targets", *ONLY_MINE, "--failing-limit", "1"], env=env)
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "Tỷ lệ cơ quan công đoàn được trang bị đủ thiết bị và kết nối Internet" in out
    assert "25,0 %" in out and "1/4" in out and "✗" in out and "✓" in out
    assert "không có máy tính (PC/laptop) đang hoạt động" in out
    # Three units fail equipped_offices; one shown, the rest counted.
    assert "… và 2 mục khác" in out
    res = runner.invoke(app, ["targets", "--lang", "en", "-i", "equipped_offices"], env=env)
    assert "no active computer (pc/laptop)" in res.stdout
    assert "25.0 %" in res.stdout


def test_csv_flat_rows(cli: tuple[CliRunner, dict[str, str]], tmp_path: Path) -> None:
    runner, env = cli
    out = tmp_path / "t.csv"
    res = runner.invoke(app, ["targets", "-f", "csv", "-o", str(out), *ONLY_MINE], env=env)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    # Per indicator: the total row and one per direct child (HCM, HN).
    assert len(rows) == 4 * 3
    total = rows[0]
    assert (total["indicator_id"], total["row"], total["unit_code"]) == (
        "equipped_offices",
        "total",
        "TLD",
    )
    assert (total["numerator"], total["denominator"], total["met"]) == ("1", "4", "no")
    hn = next(r for r in rows if r["indicator_id"] == "eis_usage" and r["unit_code"] == "HN")
    assert (hn["row"], hn["value"], hn["met"]) == ("child", "1.000000", "yes")


def test_xlsx_sheets(cli: tuple[CliRunner, dict[str, str]], tmp_path: Path) -> None:
    runner, env = cli
    out = tmp_path / "chi-tieu.xlsx"
    res = runner.invoke(app, ["targets", "-f", "xlsx", "-o", str(out), *ONLY_MINE], env=env)
    assert res.exit_code == 0, res.output
    wb = load_workbook(out)
    assert wb.sheetnames == ["Tổng hợp", *MINE]
    summary = [r for r in wb["Tổng hợp"].iter_rows(values_only=True) if r and r[0] in MINE]
    assert [(r[0], r[3], r[4]) for r in summary] == [
        ("equipped_offices", 1, 4),
        ("officers_with_computer", 1, 2),
        ("eis_usage", 1, 2),
        ("app_software", 0, 4),
    ]
    eq_rows = list(wb["equipped_offices"].iter_rows(values_only=True))
    failing_codes = [r[1] for r in eq_rows if r and r[0] == "unit"]
    assert sorted(failing_codes) == ["HCM", "HN-BD", "TLD"]
    # xlsx needs a file; asking without one is a usage error, not a traceback.
    res = runner.invoke(app, ["targets", "-f", "xlsx"], env=env)
    assert res.exit_code == 2 and "--output" in res.stderr


def test_errors_are_clean(cli: tuple[CliRunner, dict[str, str]]) -> None:
    runner, env = cli
    res = runner.invoke(app, ["targets", "--unit", "NOPE"], env=env)
    assert res.exit_code == 2 and "NOPE" in res.stderr and "Traceback" not in res.output
    res = runner.invoke(app, ["targets", "--indicator", "nope"], env=env)
    assert res.exit_code == 2 and "equipped_offices" in res.stderr


def test_snapshot_snapshots_compare(cli: tuple[CliRunner, dict[str, str]], db_url: str) -> None:
    runner, env = cli
    res = runner.invoke(app, ["targets", "snapshot", "--label", "Q2/2026"], env=env)
    assert res.exit_code == 0, res.output
    # HN-BD gets what it lacked; HCM gets an EIS.
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        svc = InventoryService(session, actor="test")
        svc.create_device(asset_tag="BD-PC", kind=DeviceKind.pc, unit_code="HN-BD")
        svc.create_device(asset_tag="BD-SW", kind=DeviceKind.switch, unit_code="HN-BD")
        svc.upsert_link(unit_code="HN-BD", isp="FPT", kind="ftth", bandwidth_mbps=50)
        svc.upsert_software(unit_code="HCM", product="HTTTĐH", category=SoftwareCategory.eis)
    engine.dispose()
    res = runner.invoke(app, ["targets", "snapshot", "--label", "Q3/2026"], env=env)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["targets", "snapshot", "--unit", "HN", "--label", "HN"], env=env)
    assert res.exit_code == 0, res.output

    res = runner.invoke(app, ["targets", "snapshots"], env=env)
    assert res.exit_code == 0, res.output
    assert res.stdout.index("Q3/2026") < res.stdout.index("Q2/2026")
    res = runner.invoke(app, ["targets", "snapshots", "--unit", "HN"], env=env)
    assert "HN" in res.stdout and "Q2/2026" not in res.stdout

    res = runner.invoke(app, ["targets", "compare", "Q2/2026", "Q3/2026", "-f", "json"], env=env)
    assert res.exit_code == 0, res.output
    changes = {c["id"]: c for c in json.loads(res.stdout)["indicators"]}
    eq = changes["equipped_offices"]
    assert (eq["before"]["numerator"], eq["after"]["numerator"]) == (1, 2)
    assert eq["newly_passing"] == ["HN-BD"] and eq["newly_failing"] == []
    assert eq["delta"] == pytest.approx(0.25)
    assert changes["eis_usage"]["newly_passing"] == ["HCM"]
    res = runner.invoke(app, ["targets", "compare", "Q2/2026", "Q3/2026"], env=env)
    assert res.exit_code == 0 and "+25.0" in res.stdout and "HN-BD" in res.stdout
    res = runner.invoke(app, ["targets", "compare", "Q2/2026", "Q9/2099"], env=env)
    assert res.exit_code == 2 and "Q9/2099" in res.stderr


def test_broken_plugin_is_a_warning_not_a_failure(
    cli: tuple[CliRunner, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution on sys.path publishes a ``tldops.indicators`` entry point whose module
    does not exist: the report still runs, and stderr says which plug-in was skipped."""
    info = tmp_path / "tldops_broken_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tldops-broken-plugin\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[tldops.indicators]\nbroken_demo = tldops_missing_module:Indicator\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    runner, env = cli
    res = runner.invoke(app, ["targets", "-f", "json", "-i", "eis_usage"], env=env)
    assert res.exit_code == 0, res.output
    assert "Cảnh báo / Warning" in res.stderr and "broken_demo" in res.stderr
    assert "Traceback" not in res.stderr
    assert [i["id"] for i in json.loads(res.stdout)["indicators"]] == ["eis_usage"]
