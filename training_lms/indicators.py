"""The ``officers_trained`` plan target, registered with the target engine through the
``tldops.indicators`` entry point (pyproject.toml)::

    from inventory.targets import compute_report
    report = compute_report(session, unit_code="HN")
    trained = report.indicator("officers_trained")
    trained.numerator, trained.denominator       # (412, 530)
    trained.failing[0].reasons[0].code           # 'missing_course:IT-BASIC'
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy.orm import Session

from inventory.config import TIMEZONE
from inventory.models import Unit
from inventory.targets import Failing, IndicatorResult, Reason
from training_lms.status import TrainingTally, training_tally


@lru_cache(maxsize=1024)
def missing_reason(course_code: str) -> Reason:
    """``missing_course:<CODE>``: no valid certificate of a required course. Cached because a
    root report repeats the same few reasons for many thousands of officers.

    >>> missing_reason("IT-BASIC").vi
    'chưa có chứng chỉ khóa IT-BASIC'
    """
    return Reason(
        f"missing_course:{course_code}",
        f"chưa có chứng chỉ khóa {course_code}",
        f"no certificate for course {course_code}",
    )


@lru_cache(maxsize=1024)
def expired_reason(course_code: str) -> Reason:
    """``expired_course:<CODE>``: the certificate of a required course has expired."""
    return Reason(
        f"expired_course:{course_code}",
        f"chứng chỉ khóa {course_code} đã hết hạn",
        f"certificate for course {course_code} has expired",
    )


NO_CURRICULUM = Reason(
    "no_curriculum",
    "chưa có chương trình đào tạo tin học bắt buộc",
    "no required IT curriculum is defined",
)


@lru_cache(maxsize=4096)
def _reasons(missing: tuple[str, ...], expired: tuple[str, ...]) -> tuple[Reason, ...]:
    found = tuple(missing_reason(c) for c in missing) + tuple(expired_reason(c) for c in expired)
    # Only an empty curriculum leaves a failing officer without a course to name.
    return found or (NO_CURRICULUM,)


class OfficersTrained:
    """Full-time, active officers of in-scope units holding a valid, unexpired certificate for
    every course of the required curriculum (core IT staff: the advanced courses too)."""

    id = "officers_trained"
    title = "Tỷ lệ cán bộ công đoàn chuyên trách được đào tạo, bồi dưỡng tin học"
    title_en = "Full-time officers trained in IT"
    target = 1.0

    def evaluate(self, session: Session, unit: Unit, *, as_of: datetime) -> IndicatorResult:
        """Evaluate over ``unit``'s subtree; certificates are judged on ``as_of``'s local day."""
        tally = training_tally(session, unit=unit, on=as_of.astimezone(TIMEZONE).date())
        return self.from_tally(tally)

    def from_tally(self, tally: TrainingTally) -> IndicatorResult:
        """The indicator from an already computed tally (reports reuse one tally)."""
        failing = [
            Failing("officer", g.code, g.full_name, g.unit_code, _reasons(g.missing, g.expired))
            for g in tally.gaps
        ]
        return tally.scope.result(self, counts=tally.counts, failing=failing)
