"""A coordinator's whole flow through ``tldops`` in-process (CliRunner on ops_cli.cli.app):
import officers, set up the curriculum, run a class with a waiting list and attendance, import
results, then see ``officers_trained`` per unit with the missing people named — in
``tldops training status`` and beside the equipment indicators in ``tldops targets``."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from inventory.db import make_engine, make_sessionmaker
from inventory.enums import UnitKind
from inventory.service import InventoryService
from ops_cli.cli import app


def _seed_units(db_url: str) -> None:
    engine = make_engine(db_url)
    session: Session = make_sessionmaker(engine)()
    inv = InventoryService(session, actor="setup")
    inv.create_unit(
        code="TLD", name="Tổng Liên đoàn Lao động Việt Nam", level=1, kind=UnitKind.central
    )
    inv.create_unit(
        code="HN",
        name="LĐLĐ thành phố Hà Nội",
        level=2,
        kind=UnitKind.province_federation,
        parent_code="TLD",
    )
    inv.create_unit(
        code="HN-BD", name="LĐLĐ quận Ba Đình", level=3, kind=UnitKind.district, parent_code="HN"
    )
    inv.create_unit(
        code="DN",
        name="LĐLĐ thành phố Đà Nẵng",
        level=2,
        kind=UnitKind.province_federation,
        parent_code="TLD",
    )
    session.commit()
    session.close()
    engine.dispose()


def test_coordinator_flow(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No wrapping inside table cells. Set through the environment: assigning console.width
    # would pin the shared console's width for every later test when monkeypatch restores it.
    monkeypatch.setenv("COLUMNS", "220")
    _seed_units(db_url)
    runner = CliRunner()
    env = {"TLDOPS_DATABASE_URL": db_url, "TLDOPS_ACTOR": "coordinator.hn"}

    def run(*args: str, code: int = 0) -> str:
        res = runner.invoke(app, list(args), env=env)
        assert res.exit_code == code, res.output
        return res.output

    officers = tmp_path / "can_bo.csv"
    officers.write_text(
        "code,full_name,unit_code,position,full_time,email,phone\n"
        "HN-001,Nguyễn Văn An,HN,Chủ tịch,yes,an@ldld.hanoi.vn,\n"
        "HN-002,Trần Thị Bình,HN-BD,Phó Chủ tịch,yes,,\n"
        "HN-003,Lê Văn Cường,HN-BD,Trưởng ban,yes,,\n"
        "HN-004,Phạm Thị Dung,HN,Cộng tác viên,no,,\n"
        "DN-001,Hoàng Văn Em,DN,Chủ tịch,yes,,\n",
        encoding="utf-8",
    )
    assert "5 mới / created" in run("training", "import", "officers", str(officers))

    run(
        "training",
        "course",
        "add",
        "IT-BASIC",
        "Tin học văn phòng cơ bản",
        "--category",
        "office_basics",
        "--validity",
        "24",
    )
    run(
        "training",
        "course",
        "add",
        "DOC-MGMT",
        "Phần mềm quản lý văn bản",
        "--category",
        "document_management",
    )
    run("training", "curriculum", "add", "IT-BASIC")
    run("training", "curriculum", "add", "DOC-MGMT")
    assert "DOC-MGMT" in run("training", "curriculum", "list")

    start = date.today() - timedelta(days=20)
    end = start + timedelta(days=1)
    run(
        "training",
        "class",
        "add",
        "HN-01",
        "--course",
        "IT-BASIC",
        "--unit",
        "HN",
        "--start",
        start.strftime("%d/%m/%Y"),
        "--end",
        end.isoformat(),
        "--capacity",
        "2",
        "--online",
        "https://meet.congdoan.vn/hn-01",
        "--trainer",
        "ThS. Vũ Hải",
    )
    out = run("training", "enrol", "HN-01", "HN-001", "HN-002", "HN-003")
    assert "HN-003: waiting" in out
    run("training", "attend", "HN-01", "1", "HN-001", "HN-002")
    out = run("training", "withdraw", "HN-01", "HN-002")
    assert "HN-003: waiting → enrolled" in out
    run("training", "enrol", "HN-01", "HN-002")  # back of the queue

    bad = tmp_path / "ket_qua_loi.csv"
    bad.write_text(
        "class_code,officer_code,score,date\n"
        f"HN-01,HN-001,8,{end.isoformat()}\n"
        f"HN-01,HN-002,9,{end.isoformat()}\n",
        encoding="utf-8",
    )
    res = runner.invoke(app, ["training", "import", "results", str(bad)], env=env)
    assert res.exit_code == 2
    assert "ket_qua_loi.csv, dòng/row 3, cột/column officer_code" in res.output
    assert "Traceback" not in res.output

    good = tmp_path / "ket_qua.csv"
    good.write_text(
        "class_code,officer_code,score,date\n"
        f"HN-01,HN-001,8,{end.isoformat()}\n"
        f"HN-01,HN-003,4,{end.isoformat()}\n",
        encoding="utf-8",
    )
    out = run("training", "import", "results", str(good))
    assert "1 đạt / passed, 1 không đạt / failed" in out
    out = run("training", "result", "HN-01", "HN-003", "6.5")
    assert "đạt / passed" in out and "certificate IT-BASIC-" in out

    out = run("training", "status", "--unit", "TLD")
    assert "0/4" in out  # nobody has DOC-MGMT yet; the part-timer is not counted
    assert "HN-001" in out and "Nguyễn Văn An" in out and "DOC-MGMT" in out
    assert "Hoàng Văn Em" in out

    out = run("targets", "--unit", "TLD", "--format", "json")
    report = json.loads(out)
    ids = [i["id"] for i in report["indicators"]]
    assert ids[:4] == ["equipped_offices", "officers_with_computer", "eis_usage", "app_software"]
    trained = report["indicators"][ids.index("officers_trained")]
    assert (trained["numerator"], trained["denominator"]) == (0, 4)
    assert {c["unit_code"]: c["denominator"] for c in trained["children"]} == {"DN": 1, "HN": 3}
    failing = {f["code"]: [r["code"] for r in f["reasons"]] for f in trained["failing"]}
    assert failing["HN-001"] == ["missing_course:DOC-MGMT"]
    assert failing["HN-002"] == ["missing_course:DOC-MGMT", "missing_course:IT-BASIC"]

    out = run("training", "gaps", "--unit", "HN")
    assert "HN-002" in out and "4 lượt" in out
    out = run("training", "gaps", "--unit", "HN", "--expiring", "800d")
    assert "HN-001" in out and "HN-003" in out
    run("training", "gaps", "--expiring", "soon", code=2)

    certs = run("training", "certs", "--unit", "HN")
    assert certs.count("IT-BASIC-") == 2
    out = run(
        "training",
        "plan",
        "--unit",
        "TLD",
        "--by",
        (date.today() + timedelta(days=60)).isoformat(),
        "--capacity",
        "2",
        "--create",
    )
    assert "đã tạo / created" in out
    assert "HN-DOC-MGMT-" in run("training", "class", "list", "--unit", "HN")

    xlsx, pdf = tmp_path / "bc.xlsx", tmp_path / "bc.pdf"
    run("training", "report", "--unit", "TLD", "--xlsx", str(xlsx), "--pdf", str(pdf))
    assert xlsx.stat().st_size > 0 and pdf.read_bytes().startswith(b"%PDF")

    assert "HN-002: waiting → enrolled" in run("training", "class", "capacity", "HN-01", "3")
    run("training", "class", "status", "HN-01", "finished")
    show = run("training", "class", "show", "HN-01")
    assert "finished" in show and "6.5 đạt" in show and "4 không đạt" not in show

    number = re.search(r"IT-BASIC-\d{4}-\d{6}", certs)
    assert number is not None
    code = re.search(rf"{number.group(0)}.*?([A-Z2-9]{{10}})", certs)
    assert code is not None
    assert "valid" in run("training", "certs", "--verify", code.group(1).lower())
    run("training", "certs", "--revoke", number.group(0), code=1)  # --reason is required
    run("training", "certs", "--revoke", number.group(0), "--reason", "ghi nhầm")
    assert "revoked" in run("training", "certs", "--verify", code.group(1))

    assert "8 mới / created" in run("training", "curriculum", "load")
    assert "TH-VP" in run("training", "course", "list")

    res = runner.invoke(app, ["training", "class", "show", "NOPE"], env=env)
    assert res.exit_code == 2 and "NOPE" in res.output
