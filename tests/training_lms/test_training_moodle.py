"""The Moodle completion sync against a local HTTP server.

Moodle itself (PHP, a database, cron) cannot run in this environment, so a small
``http.server`` on 127.0.0.1 stands in for ``/webservice/rest/server.php``. It answers with the
JSON shapes Moodle documents for ``core_enrol_get_enrolled_users`` and
``core_completion_get_course_completion_status``, and with Moodle's error bodies (HTTP 200 +
``{"exception", "errorcode", "message"}``) for a bad token, an unknown course and a user
without completion criteria.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from sqlalchemy.orm import Session

from training_lms.enums import CertificateStatus, ResultSource
from training_lms.errors import MoodleAuthError, MoodleCourseError, MoodleError
from training_lms.moodle import MoodleClient, sync_completions
from training_lms.service import TrainingService

TOKEN = "0123456789abcdef0123456789abcdef"
DONE_AT = int(datetime(2026, 2, 10, 2, 30, tzinfo=UTC).timestamp())

USERS = {
    42: [
        {
            "id": 7,
            "username": "hn1",
            "idnumber": "HN-1",
            "fullname": "Nguyễn Văn An",
            "email": "an@congdoan.vn",
        },
        {
            "id": 8,
            "username": "BD-1",
            "idnumber": "",
            "fullname": "Trần Thị Bình",
            "email": "binh@congdoan.vn",
        },
        {"id": 9, "username": "ghost", "idnumber": "", "fullname": "Khách", "email": ""},
        {"id": 10, "username": "bd2", "idnumber": "BD-2", "fullname": "Đỗ Văn Cường", "email": ""},
    ]
}
COMPLETIONS: dict[tuple[int, int], Any] = {
    (42, 7): {
        "completed": True,
        "aggregation": 1,
        "completions": [
            {
                "type": 4,
                "title": "Hoạt động",
                "status": "Có",
                "complete": True,
                "timecompleted": DONE_AT - 3600,
            },
            {
                "type": 2,
                "title": "Bài kiểm tra",
                "status": "Có",
                "complete": True,
                "timecompleted": DONE_AT,
            },
        ],
    },
    (42, 8): {
        "completed": False,
        "aggregation": 1,
        "completions": [
            {
                "type": 4,
                "title": "Hoạt động",
                "status": "Không",
                "complete": False,
                "timecompleted": None,
            },
        ],
    },
}


class FakeMoodle(BaseHTTPRequestHandler):
    calls: list[str] = []

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(200)  # Moodle reports errors with HTTP 200, too
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path != "/webservice/rest/server.php":
            self.send_error(404)
            return
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        FakeMoodle.calls.append(q.get("wsfunction", ""))
        if q.get("moodlewsrestformat") != "json":
            self._send(
                {
                    "exception": "invalid_parameter_exception",
                    "errorcode": "invalidparameter",
                    "message": "Invalid parameter value detected",
                }
            )
            return
        if q.get("wstoken") != TOKEN:
            self._send(
                {
                    "exception": "moodle_exception",
                    "errorcode": "invalidtoken",
                    "message": "Invalid token - token not found",
                }
            )
            return
        fn, course = q.get("wsfunction"), int(q.get("courseid", "0"))
        if course not in USERS:
            self._send(
                {
                    "exception": "dml_missing_record_exception",
                    "errorcode": "invalidrecord",
                    "message": "Can't find data record in database table course.",
                }
            )
            return
        if fn == "core_enrol_get_enrolled_users":
            self._send(USERS[course])
        elif fn == "core_completion_get_course_completion_status":
            status = COMPLETIONS.get((course, int(q["userid"])))
            if status is None:
                self._send(
                    {
                        "exception": "moodle_exception",
                        "errorcode": "nocriteriaset",
                        "message": "No completion criteria set for this course",
                    }
                )
            else:
                self._send({"completionstatus": status, "warnings": []})
        else:
            self._send(
                {
                    "exception": "dml_missing_record_exception",
                    "errorcode": "invalidrecord",
                    "message": "Can't find data record in database table external_functions.",
                }
            )


@pytest.fixture
def moodle_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeMoodle)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    FakeMoodle.calls = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_sync_records_completions_once(
    session: Session, world: TrainingService, moodle_url: str
) -> None:
    world.update_course("DOC-MGMT", moodle_course_id=42)
    with requests.Session() as http:
        client = MoodleClient(base_url=moodle_url, token=TOKEN, http=http, timeout=5)
        report = sync_completions(session, client=client, actor="moodle-sync")
        (course,) = report.courses
        # ghost matches no officer; HN-1 (by idnumber) completed; BD-1 (by username) has not;
        # BD-2's course has no criteria for them → not completed, not an error.
        assert (course.enrolled, course.completed, course.recorded) == (4, 1, 1)
        assert course.unmatched == ("ghost",)
        # One call for the users, one per matched user.
        assert FakeMoodle.calls.count("core_completion_get_course_completion_status") == 3
        again = sync_completions(session, client=client)
        assert again.recorded == 0
    (cert,) = world.certificates(officer_code="HN-1", status=CertificateStatus.valid)
    assert cert.course.code == "DOC-MGMT"
    # Completion time 09:30 Hanoi time on 10/02/2026 is the issue day.
    assert cert.issued_on == date(2026, 2, 10) and cert.expires_on is None
    from training_lms.models import Result

    result = session.get(Result, cert.result_id)
    assert result is not None
    assert (result.source, result.score, result.external_ref) == (
        ResultSource.moodle,
        None,
        "moodle:42:7",
    )


def test_moodle_errors(session: Session, world: TrainingService, moodle_url: str) -> None:
    with requests.Session() as http:
        bad = MoodleClient(base_url=moodle_url, token="wrong", http=http, timeout=5)
        with pytest.raises(MoodleAuthError) as exc:
            bad.enrolled_users(42)
        assert exc.value.errorcode == "invalidtoken"
        assert "Invalid token" in exc.value.message
        good = MoodleClient(base_url=moodle_url, token=TOKEN, http=http, timeout=5)
        with pytest.raises(MoodleCourseError) as exc2:
            good.enrolled_users(999)
        assert exc2.value.errorcode == "invalidrecord"
        world.update_course("IT-BASIC", moodle_course_id=999)
        with pytest.raises(MoodleCourseError):
            sync_completions(session, client=good)
        # Nothing listens on this port (bound then closed): a clear MoodleError, no traceback.
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        down = MoodleClient(base_url=f"http://127.0.0.1:{port}", token=TOKEN, http=http, timeout=2)
        with pytest.raises(MoodleError) as exc3:
            down.enrolled_users(42)
        assert "cannot reach Moodle" in exc3.value.message


def test_moodle_sync_cli(
    db_url: str, session: Session, world: TrainingService, moodle_url: str
) -> None:
    from typer.testing import CliRunner

    from ops_cli.cli import app

    world.update_course("DOC-MGMT", moodle_course_id=42)
    session.commit()
    runner = CliRunner()
    env = {"TLDOPS_DATABASE_URL": db_url, "TLDOPS_MOODLE_URL": moodle_url}
    res = runner.invoke(app, ["training", "moodle-sync"], env=env)
    assert res.exit_code == 1 and "TLDOPS_MOODLE_TOKEN" in res.output
    res = runner.invoke(app, ["training", "moodle-sync"], env={**env, "TLDOPS_MOODLE_TOKEN": "x"})
    assert res.exit_code == 1 and "refused the token" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["training", "moodle-sync"], env={**env, "TLDOPS_MOODLE_TOKEN": TOKEN})
    assert res.exit_code == 0, res.output
    assert "DOC-MGMT" in res.output and "ghost" in res.output
    session.expire_all()
    assert len(world.certificates(officer_code="HN-1", status=CertificateStatus.valid)) == 1
