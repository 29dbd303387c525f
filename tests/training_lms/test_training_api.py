"""``/api/training`` through a real FastAPI app on both engines, with unit-subtree permissions.

Login is the web app's business (``ops_cli``); here a request header picks one of a few fixed
principals so the tests exercise this router's own permission checks and subtree filters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from inventory.errors import OpsError
from inventory.security import Grant, Principal, Role
from inventory.service import InventoryService
from ops_cli.web import status_of
from training_lms.api import router
from training_lms.service import TrainingService


def _app(engine: Engine, session: Session) -> TestClient:
    paths = {code: InventoryService(session).unit(code).path for code in ("TLD", "HN", "HCM")}
    principals = {
        "admin": Principal.system("admin"),
        "coord.hn": Principal("coord.hn", (Grant(Role.training_coordinator, paths["HN"]),)),
        "viewer.hcm": Principal("viewer.hcm", (Grant(Role.viewer, paths["HCM"]),)),
        "nobody": Principal("nobody"),
    }
    app = FastAPI()
    app.state.engine = engine

    @app.middleware("http")
    async def who(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        name = request.headers.get("x-test-principal")
        if name:
            request.state.principal = principals[name]
        return await call_next(request)

    @app.exception_handler(OpsError)
    async def ops_error(request: Request, exc: OpsError) -> JSONResponse:
        return JSONResponse({"error": {"message": exc.message}}, status_code=status_of(exc))

    app.include_router(router)
    return TestClient(app)


def test_api_classes_enrolment_results_progress(
    engine: Engine, session: Session, world: TrainingService
) -> None:
    world.create_class(
        code="HCM-01",
        course_code="IT-BASIC",
        unit_code="HCM",
        starts_on=date(2026, 2, 2),
        ends_on=date(2026, 2, 2),
        capacity=5,
    )
    session.commit()
    client = _app(engine, session)

    def h(name: str) -> dict[str, str]:
        return {"x-test-principal": name}

    assert client.get("/api/training/courses").status_code == 401
    assert client.get("/api/training/courses", headers=h("nobody")).status_code == 403
    codes = [c["code"] for c in client.get("/api/training/courses", headers=h("viewer.hcm")).json()]
    assert codes == ["DOC-MGMT", "IT-BASIC", "NET-SEC"]
    # Courses are national: a province coordinator may not add one.
    new = {"code": "EIS", "title": "Hệ thống thông tin điều hành", "category": "eis"}
    assert client.post("/api/training/courses", json=new, headers=h("coord.hn")).status_code == 403
    assert client.post("/api/training/courses", json=new, headers=h("admin")).status_code == 201

    body = {
        "code": "HN-01",
        "course_code": "IT-BASIC",
        "unit_code": "HN",
        "starts_on": "2026-02-09",
        "ends_on": "2026-02-10",
        "capacity": 1,
        "online_ref": "https://meet.congdoan.vn/hn-01",
    }
    assert client.post("/api/training/classes", json=body, headers=h("coord.hn")).status_code == 201
    body_hcm = {**body, "code": "HCM-02", "unit_code": "HCM"}
    # Another province's unit is answered as missing, as inventory does.
    r = client.post("/api/training/classes", json=body_hcm, headers=h("coord.hn"))
    assert r.status_code == 404
    # Lists only show the principal's subtree.
    hn_list = client.get("/api/training/classes", headers=h("coord.hn")).json()
    assert [c["code"] for c in hn_list["items"]] == ["HN-01"] and hn_list["total"] == 1
    assert client.get("/api/training/classes?unit=HN", headers=h("viewer.hcm")).status_code == 404
    assert client.get("/api/training/classes", headers=h("admin")).json()["total"] == 2

    enrol = "/api/training/classes/HN-01/enrolments"
    first = client.post(enrol, json={"officer_code": "BD-1"}, headers=h("coord.hn")).json()
    second = client.post(enrol, json={"officer_code": "BD-2"}, headers=h("coord.hn")).json()
    assert (first["status"], second["status"]) == ("enrolled", "waiting")
    detail = client.get("/api/training/classes/HN-01", headers=h("coord.hn")).json()
    assert (detail["enrolled"], detail["waiting"]) == (1, 1)
    promoted = client.delete(f"{enrol}/BD-1", headers=h("coord.hn")).json()
    assert promoted == {"officer_code": "BD-2", "full_name": "Đỗ Văn Cường", "status": "enrolled"}
    res = client.post(
        "/api/training/classes/HN-01/results",
        json={"officer_code": "BD-2", "score": 8.5},
        headers=h("coord.hn"),
    ).json()
    assert res["passed"] is True and res["certificate_number"].startswith("IT-BASIC-2026-")
    r = client.post(
        "/api/training/classes/HN-01/results",
        json={"officer_code": "BD-1", "score": 8},
        headers=h("coord.hn"),
    )
    assert r.status_code == 404 and "BD-1" in r.json()["error"]["message"]  # NotEnrolled

    att = client.post(
        "/api/training/classes/HN-01/attendance",
        json={"session_number": 2, "officer_codes": ["BD-2"], "present": False},
        headers=h("coord.hn"),
    )
    assert att.json() == {"session_number": 2, "recorded": 1, "present": False}
    bad_session = client.post(
        "/api/training/classes/HN-01/attendance",
        json={"session_number": 9, "officer_codes": ["BD-2"]},
        headers=h("coord.hn"),
    )
    assert bad_session.status_code == 404

    certs = client.get("/api/training/certificates?unit=HN", headers=h("coord.hn")).json()
    assert [c["officer_code"] for c in certs["items"]] == ["BD-2"]
    code = certs["items"][0]["verification_code"]
    assert (
        client.get(f"/api/training/certificates/verify/{code}", headers=h("admin")).json()["number"]
        == res["certificate_number"]
    )
    hidden = client.get(f"/api/training/certificates/verify/{code}", headers=h("viewer.hcm"))
    assert hidden.status_code == 404
    assert client.get("/api/training/certificates", headers=h("viewer.hcm")).json()["total"] == 0
    number = res["certificate_number"]
    revoke = f"/api/training/certificates/{number}/revoke"
    assert client.post(revoke, json={"reason": "nhầm"}, headers=h("viewer.hcm")).status_code == 404
    revoked = client.post(revoke, json={"reason": "ghi nhầm điểm"}, headers=h("coord.hn"))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"

    prog = client.get("/api/training/progress?unit=HN&as_of=2026-03-01", headers=h("coord.hn"))
    p = prog.json()
    assert (p["numerator"], p["denominator"], p["met"], p["failing"]) == (0, 4, False, 4)
    assert p["children"] == [
        {
            "unit_code": "HN-BD",
            "unit_name": "LĐLĐ quận Ba Đình",
            "numerator": 0,
            "denominator": 2,
            "value": 0.0,
            "met": False,
        }
    ]
    gaps = client.get("/api/training/gaps?unit=HN&limit=2", headers=h("coord.hn")).json()
    assert gaps["total"] == 9 and len(gaps["items"]) == 2  # BD-2 lost IT-BASIC: revoked
    assert client.get("/api/training/progress?unit=HN", headers=h("viewer.hcm")).status_code == 404
    assert client.get("/api/training/classes/NOPE", headers=h("admin")).status_code == 404
