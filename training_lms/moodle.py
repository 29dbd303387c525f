"""Optional sync of course completions from the federation's Moodle site.

Moodle's web-service REST protocol: ``GET <site>/webservice/rest/server.php`` with ``wstoken``,
``wsfunction`` and ``moodlewsrestformat=json``. Two functions are used:

* ``core_enrol_get_enrolled_users(courseid)`` → ``[{"id", "username", "idnumber", "email",
  "fullname", ...}]``
* ``core_completion_get_course_completion_status(courseid, userid)`` →
  ``{"completionstatus": {"completed": bool, "aggregation": int, "completions": [{"type",
  "title", "status", "complete", "timecompleted", ...}]}, "warnings": []}``

Errors come back with HTTP 200 and a JSON body ``{"exception": "moodle_exception", "errorcode":
"invalidtoken", "message": "Invalid token - token not found"}``; an unknown course id is a
``dml_missing_record_exception`` with errorcode ``invalidrecord``. A user without completion
criteria in the course answers ``nocriteriaset``, which just means "not completed".

Officers are matched by Moodle's ``idnumber`` (set to the officer code when accounts are
created), falling back to ``username``. A completion becomes a passed result with source
``moodle`` and ``external_ref = moodle:<courseid>:<userid>``, so running the sync again records
nothing twice. A full Moodle cannot run in this environment; the tests use a local HTTP server
that answers with these documented shapes.

::

    client = MoodleClient(base_url="https://lms.congdoan.vn", token=token,
                          http=requests.Session())
    report = sync_completions(session, client=client, actor="moodle-sync")
    report.recorded, report.unmatched
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.config import TIMEZONE
from inventory.db import utcnow
from inventory.models import Officer
from training_lms.errors import MoodleAuthError, MoodleCourseError, MoodleError
from training_lms.models import Course
from training_lms.service import TrainingService

REST_PATH = "/webservice/rest/server.php"
AUTH_ERRORS = frozenset({"invalidtoken", "accessexception", "servicerequireslogin"})
COURSE_ERRORS = frozenset({"invalidrecord", "invalidcourseid", "errorcoursecontextnotvalid"})


@dataclass(frozen=True)
class MoodleUser:
    id: int
    username: str
    idnumber: str
    fullname: str
    email: str


@dataclass(frozen=True)
class MoodleCompletion:
    completed: bool
    completed_at: datetime | None


class MoodleClient:
    """A typed wrapper over two Moodle web-service functions; ``http`` is injected."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        http: requests.Session,
        timeout: float = 10.0,
    ) -> None:
        self.url = base_url.rstrip("/") + REST_PATH
        self._token = token
        self.http = http
        self.timeout = timeout

    def call(self, function: str, *, params: dict[str, Any]) -> Any:
        """Call one web-service function and return its decoded JSON, or raise MoodleError.

        >>> client.call("core_webservice_get_site_info", params={})["sitename"]
        'Đào tạo trực tuyến TLĐ'
        """
        query = {
            "wstoken": self._token,
            "wsfunction": function,
            "moodlewsrestformat": "json",
            **params,
        }
        try:
            resp = self.http.get(self.url, params=query, timeout=self.timeout)
        except requests.RequestException as exc:
            raise MoodleError(
                f"Không kết nối được Moodle / cannot reach Moodle at {self.url}: "
                f"{type(exc).__name__}",
                hint="check the site URL and the network",
            ) from exc
        if resp.status_code != 200:
            raise MoodleError(
                f"Moodle trả về HTTP {resp.status_code} / Moodle answered HTTP {resp.status_code}"
            )
        try:
            data = resp.json()
        except ValueError as exc:
            raise MoodleError(
                "Moodle không trả về JSON / Moodle did not answer JSON",
                hint="is the REST protocol enabled (Site administration → Plugins → Web services)?",
            ) from exc
        if isinstance(data, dict) and "exception" in data:
            code = str(data.get("errorcode", ""))
            message = str(data.get("message", ""))
            if code in AUTH_ERRORS:
                raise MoodleAuthError(
                    f"Moodle từ chối mã truy cập / Moodle refused the token: {message}",
                    errorcode=code,
                    hint="create a token for the tldops web service user and set "
                    "TLDOPS_MOODLE_TOKEN",
                )
            if code in COURSE_ERRORS:
                raise MoodleCourseError(
                    f"Không có khóa học trên Moodle / course not found on Moodle: {message}",
                    errorcode=code,
                    hint="fix the course's moodle id (`tldops training course set CODE "
                    "--moodle-id N`)",
                )
            raise MoodleError(f"Moodle: {code}: {message}", errorcode=code)
        return data

    def enrolled_users(self, course_id: int) -> list[MoodleUser]:
        data = self.call("core_enrol_get_enrolled_users", params={"courseid": course_id})
        if not isinstance(data, list):
            raise MoodleError("Moodle trả về dữ liệu lạ / unexpected enrolled users payload")
        return [
            MoodleUser(
                id=int(u["id"]),
                username=str(u.get("username", "")),
                idnumber=str(u.get("idnumber", "")),
                fullname=str(u.get("fullname", "")),
                email=str(u.get("email", "")),
            )
            for u in data
        ]

    def completion(self, course_id: int, user_id: int) -> MoodleCompletion:
        try:
            data = self.call(
                "core_completion_get_course_completion_status",
                params={"courseid": course_id, "userid": user_id},
            )
        except MoodleError as err:
            if err.errorcode == "nocriteriaset":
                return MoodleCompletion(completed=False, completed_at=None)
            raise
        status = data.get("completionstatus", {}) if isinstance(data, dict) else {}
        completed = bool(status.get("completed"))
        times = [
            int(c["timecompleted"]) for c in status.get("completions", []) if c.get("timecompleted")
        ]
        at = datetime.fromtimestamp(max(times), tz=UTC) if times else None
        return MoodleCompletion(completed=completed, completed_at=at)


@dataclass(frozen=True)
class CourseSync:
    course_code: str
    moodle_course_id: int
    enrolled: int
    completed: int
    recorded: int
    unmatched: tuple[str, ...]  # Moodle usernames with no officer of that code


@dataclass(frozen=True)
class SyncReport:
    courses: list[CourseSync] = field(default_factory=list)

    @property
    def recorded(self) -> int:
        return sum(c.recorded for c in self.courses)

    @property
    def unmatched(self) -> int:
        return sum(len(c.unmatched) for c in self.courses)


def sync_completions(
    session: Session,
    *,
    client: MoodleClient,
    course_codes: list[str] | None = None,
    actor: str = "moodle-sync",
    clock: Callable[[], datetime] = utcnow,
    max_users: int = 5000,
) -> SyncReport:
    """Pull completions for every course with a ``moodle_course_id`` (or only ``course_codes``)
    and record new ones as passed results with certificates. The caller commits.

    Requests are bounded: one per course plus one per enrolled user, at most ``max_users`` users
    per course.
    """
    svc = TrainingService(session, actor=actor, clock=clock)
    q = select(Course).where(Course.moodle_course_id.is_not(None)).order_by(Course.code)
    if course_codes:
        q = q.where(Course.code.in_(course_codes))
    out: list[CourseSync] = []
    today = clock().astimezone(TIMEZONE).date()
    for course in session.scalars(q).all():
        assert course.moodle_course_id is not None
        users = client.enrolled_users(course.moodle_course_id)[:max_users]
        keys = {u.idnumber or u.username for u in users}
        officers = {
            o.code: o for o in session.scalars(select(Officer).where(Officer.code.in_(keys)))
        }
        completed = recorded = 0
        unmatched: list[str] = []
        for user in users:
            officer = officers.get(user.idnumber) or officers.get(user.username)
            if officer is None:
                unmatched.append(user.username)
                continue
            status = client.completion(course.moodle_course_id, user.id)
            if not status.completed:
                continue
            completed += 1
            taken: date = (
                status.completed_at.astimezone(TIMEZONE).date() if status.completed_at else today
            )
            _, created = svc.record_completion(
                course_code=course.code,
                officer_code=officer.code,
                taken_on=taken,
                external_ref=f"moodle:{course.moodle_course_id}:{user.id}",
            )
            recorded += created
        out.append(
            CourseSync(
                course_code=course.code,
                moodle_course_id=course.moodle_course_id,
                enrolled=len(users),
                completed=completed,
                recorded=recorded,
                unmatched=tuple(unmatched),
            )
        )
    return SyncReport(courses=out)
