"""Training writes stay inside the caller's grants, seats hold under concurrent enrolments, and
per-request work is bounded.

* Every code a write names (class, officer, organising unit, certificate) must lie in a subtree
  where the caller is a training coordinator; one outside the caller's sight is answered exactly
  like a missing one (404, nothing about it in the answer).
* A capacity-1 class receiving 8 enrolments at once, each on its own connection, seats exactly one.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from inventory.db import make_sessionmaker
from inventory.errors import NotFound, OpsError, PermissionDenied
from inventory.security import Grant, Principal, Role
from inventory.service import InventoryService
from ops_cli.web import status_of
from tests.training_lms.conftest import Clock
from training_lms.api import router
from training_lms.enums import EnrolmentStatus
from training_lms.errors import TrainingError
from training_lms.models import Certificate, ClassSession, Enrolment, Result
from training_lms.reports import build_report, write_xlsx
from training_lms.service import TrainingService


def _path(session: Session, code: str) -> str:
    return InventoryService(session).unit(code).path


def _client(engine: Engine, session: Session) -> TestClient:
    tld, hn, hcm = (_path(session, c) for c in ("TLD", "HN", "HCM"))
    principals = {
        "admin": Principal.system("admin"),
        "coord.hcm": Principal("coord.hcm", (Grant(Role.training_coordinator, hcm),)),
        # Sees the whole tree, coordinates only HCM: HN is visible but not theirs to change.
        "coord.hcm+view": Principal(
            "coord.hcm+view",
            (Grant(Role.training_coordinator, hcm), Grant(Role.viewer, tld)),
        ),
        "coord.hn": Principal("coord.hn", (Grant(Role.training_coordinator, hn),)),
    }
    app = FastAPI()
    app.state.engine = engine

    @app.middleware("http")
    async def who(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.principal = principals[request.headers["x-test-principal"]]
        return await call_next(request)

    @app.exception_handler(OpsError)
    async def ops_error(request: Request, exc: OpsError) -> JSONResponse:
        return JSONResponse({"error": {"message": exc.message}}, status_code=status_of(exc))

    app.include_router(router)
    return TestClient(app)


def _h(name: str) -> dict[str, str]:
    return {"x-test-principal": name}


def _classes(svc: TrainingService) -> None:
    for code, unit in (("HCM-01", "HCM"), ("HN-01", "HN")):
        svc.create_class(
            code=code,
            course_code="IT-BASIC",
            unit_code=unit,
            starts_on=date(2026, 2, 2),
            ends_on=date(2026, 2, 3),
            capacity=5,
        )


def test_coordinator_cannot_write_another_provinces_officer(
    engine: Engine, session: Session, world: TrainingService
) -> None:
    _classes(world)
    # A legacy cross-province seat, made before writes were scoped (here by the national admin).
    world.enrol(class_code="HCM-01", officer_code="BD-1")
    session.commit()
    client = _client(engine, session)
    enrol = "/api/training/classes/HCM-01/enrolments"

    missing = client.post(enrol, json={"officer_code": "NOBODY"}, headers=_h("coord.hcm"))
    assert missing.status_code == 404
    r = client.post(enrol, json={"officer_code": "HN-1"}, headers=_h("coord.hcm"))
    assert r.status_code == 404
    assert "Nguyễn Văn An" not in r.text
    assert r.json()["error"]["message"] == missing.json()["error"]["message"].replace(
        "NOBODY", "HN-1"
    )
    # The HCM coordinator's own officer is fine.
    ok = client.post(enrol, json={"officer_code": "HCM-1"}, headers=_h("coord.hcm"))
    assert ok.status_code == 201 and ok.json()["status"] == "enrolled"

    # No result (hence no certificate counting for HN) for the HN officer holding a seat.
    r = client.post(
        "/api/training/classes/HCM-01/results",
        json={"officer_code": "BD-1", "score": 9},
        headers=_h("coord.hcm"),
    )
    assert r.status_code == 404 and "Trần Thị Bình" not in r.text
    r = client.post(
        "/api/training/classes/HCM-01/attendance",
        json={"session_number": 1, "officer_codes": ["BD-1"]},
        headers=_h("coord.hcm"),
    )
    assert r.status_code == 404
    r = client.delete(f"{enrol}/BD-1", headers=_h("coord.hcm"))
    assert r.status_code == 404
    session.expire_all()
    assert session.scalar(select(func.count(Result.id))) == 0
    assert session.scalar(select(func.count(Certificate.id))) == 0

    # Seen (a viewer grant on the root) but not theirs to change: a refusal, not a 404.
    r = client.post(enrol, json={"officer_code": "HN-1"}, headers=_h("coord.hcm+view"))
    assert r.status_code == 403

    # A class of another province: 404 exactly like a missing class, for reads and writes.
    gone = client.get("/api/training/classes/NOPE", headers=_h("coord.hcm"))
    other = client.get("/api/training/classes/HN-01", headers=_h("coord.hcm"))
    assert (gone.status_code, other.status_code) == (404, 404)
    assert other.json()["error"]["message"] == gone.json()["error"]["message"].replace(
        "NOPE", "HN-01"
    )
    r = client.post(
        "/api/training/classes/HN-01/enrolments",
        json={"officer_code": "HCM-1"},
        headers=_h("coord.hcm"),
    )
    assert r.status_code == 404
    # Opening a class at another province's unit.
    body = {
        "code": "HN-99",
        "course_code": "IT-BASIC",
        "unit_code": "HN",
        "starts_on": "2026-04-01",
        "ends_on": "2026-04-01",
        "capacity": 3,
    }
    r = client.post("/api/training/classes", json=body, headers=_h("coord.hcm"))
    assert r.status_code == 404
    assert client.get("/api/training/progress?unit=HN", headers=_h("coord.hcm")).status_code == 404


def test_certificate_of_another_province_is_not_found(
    engine: Engine, session: Session, world: TrainingService
) -> None:
    _classes(world)
    world.enrol(class_code="HN-01", officer_code="HN-1")
    world.record_result(class_code="HN-01", officer_code="HN-1", score=9)
    cert = session.scalars(select(Certificate)).one()
    session.commit()
    client = _client(engine, session)
    r = client.post(
        f"/api/training/certificates/{cert.number}/revoke",
        json={"reason": "thử thu hồi"},
        headers=_h("coord.hcm"),
    )
    assert r.status_code == 404
    r = client.get(
        f"/api/training/certificates/verify/{cert.verification_code}", headers=_h("coord.hcm")
    )
    assert r.status_code == 404 and "Nguyễn Văn An" not in r.text


def test_service_checks_every_reference(session: Session, world: TrainingService) -> None:
    """The service itself refuses, whatever front door calls it."""
    _classes(world)
    hcm = Principal("coord.hcm", (Grant(Role.training_coordinator, _path(session, "HCM")),))
    svc = TrainingService(session, actor="coord.hcm", clock=world.clock, principal=hcm)
    with pytest.raises(NotFound):
        svc.enrol(class_code="HCM-01", officer_code="HN-1")
    with pytest.raises(NotFound):
        svc.enrol(class_code="HN-01", officer_code="HCM-1")
    with pytest.raises(NotFound):
        svc.set_capacity(class_code="HN-01", capacity=9)
    with pytest.raises(NotFound):
        svc.create_class(
            code="X",
            course_code="IT-BASIC",
            unit_code="HN-BD",
            starts_on=date(2026, 4, 1),
            ends_on=date(2026, 4, 1),
            capacity=3,
        )
    # Courses are national: only the root's coordinator changes them.
    with pytest.raises(PermissionDenied):
        svc.update_course("IT-BASIC", title="Đổi tên")
    assert svc.enrol(class_code="HCM-01", officer_code="HCM-1").status is EnrolmentStatus.enrolled


def test_concurrent_enrolments_never_overbook(
    engine: Engine, session: Session, world: TrainingService, clock: Clock
) -> None:
    inv = InventoryService(session, actor="tester", clock=clock)
    codes = [f"HCM-C{i}" for i in range(8)]
    for code in codes:
        inv.create_officer(code=code, full_name=f"Học viên {code}", unit_code="HCM")
    world.create_class(
        code="HCM-ONE",
        course_code="IT-BASIC",
        unit_code="HCM",
        starts_on=date(2026, 3, 2),
        ends_on=date(2026, 3, 2),
        capacity=1,
    )
    session.commit()
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(len(codes), timeout=30)
    errors: list[BaseException] = []

    def enrol(code: str) -> None:
        s = factory()
        try:
            svc = TrainingService(s, actor=f"t:{code}", clock=clock)
            barrier.wait()
            svc.enrol(class_code="HCM-ONE", officer_code=code)
            s.commit()
        except BaseException as exc:  # reported below, not swallowed
            s.rollback()
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=enrol, args=(c,)) for c in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    session.expire_all()
    rows = session.scalars(select(Enrolment).order_by(Enrolment.queue_no)).all()
    statuses = [r.status for r in rows]
    assert statuses.count(EnrolmentStatus.enrolled) == 1
    assert statuses.count(EnrolmentStatus.waiting) == 7
    assert sorted(r.queue_no for r in rows) == list(range(1, 9))


# -- bounds --------------------------------------------------------------------------------------
def test_class_bounds_api(engine: Engine, session: Session, world: TrainingService) -> None:
    session.commit()
    client = _client(engine, session)
    base = {
        "code": "HCM-B",
        "course_code": "IT-BASIC",
        "unit_code": "HCM",
        "starts_on": "2026-04-01",
        "ends_on": "2026-04-02",
        "capacity": 10,
    }
    r = client.post("/api/training/classes", json=base | {"capacity": 2**40}, headers=_h("admin"))
    assert r.status_code == 422 and "10000" in r.text and "Sĩ số" in r.text
    r = client.post(
        "/api/training/classes",
        json=base | {"starts_on": "2000-01-01", "ends_on": "2099-12-31"},
        headers=_h("admin"),
    )
    assert r.status_code == 422 and "366" in r.text
    session.expire_all()
    assert session.scalar(select(func.count(ClassSession.id))) == 0
    ok = client.post("/api/training/classes", json=base | {"capacity": 10_000}, headers=_h("admin"))
    assert ok.status_code == 201


def test_class_bounds_service(session: Session, world: TrainingService) -> None:
    kwargs = {"code": "B", "course_code": "IT-BASIC", "unit_code": "HCM"}
    with pytest.raises(TrainingError, match="10000"):
        world.create_class(
            **kwargs,
            starts_on=date(2026, 4, 1),
            ends_on=date(2026, 4, 1),
            capacity=2**40,
        )
    with pytest.raises(TrainingError, match="366"):
        world.create_class(
            **kwargs, starts_on=date(2000, 1, 1), ends_on=date(2099, 12, 31), capacity=5
        )
    # A full leap year is fine (366 daily sessions), a day more is not.
    world.create_class(**kwargs, starts_on=date(2028, 1, 1), ends_on=date(2028, 12, 31), capacity=5)
    assert len(world.sessions("B")) == 366
    with pytest.raises(TrainingError, match="366"):
        world.create_class(
            code="B2",
            course_code="IT-BASIC",
            unit_code="HCM",
            starts_on=date(2028, 1, 1),
            ends_on=date(2029, 1, 1),
            capacity=5,
        )
    with pytest.raises(TrainingError, match="10000"):
        world.set_capacity(class_code="B", capacity=10_001)


def test_report_cells_that_look_like_formulas_stay_text(
    session: Session, world: TrainingService, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    inv = InventoryService(session, actor="tester")
    inv.create_officer(code="HN-F", full_name='=HYPERLINK("http://198.18.0.1","x")', unit_code="HN")
    report = build_report(session, unit=inv.unit("TLD"), on=date(2026, 3, 1))
    wb = load_workbook(write_xlsx(report, tmp_path / "r.xlsx"))
    cells = [c for row in wb["Cán bộ chưa đạt"].iter_rows(min_row=2) for c in row]
    names = {c.value for c in cells if isinstance(c.value, str) and "HYPERLINK" in c.value}
    assert names == {'\'=HYPERLINK("http://198.18.0.1","x")'}
    assert all(c.data_type != "f" for c in cells)
