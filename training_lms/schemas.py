"""Pydantic records the HTTP API sends and receives (``/api/training/...``)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from training_lms.enums import (
    Audience,
    CertificateStatus,
    ClassStatus,
    CourseCategory,
    EnrolmentStatus,
)
from training_lms.service import MAX_CAPACITY, MAX_SPAN_DAYS


class CourseIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=255)
    category: CourseCategory
    validity_months: int | None = Field(default=None, gt=0)
    pass_mark: float = Field(default=5.0, gt=0)
    max_score: float = Field(default=10.0, gt=0)
    title_en: str | None = None
    moodle_course_id: int | None = None


class CourseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    title: str
    title_en: str | None
    category: CourseCategory
    validity_months: int | None
    pass_mark: float
    max_score: float
    moodle_course_id: int | None


class CurriculumOut(BaseModel):
    course_code: str
    course_title: str
    audience: Audience


class ClassIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    course_code: str
    unit_code: str
    starts_on: date
    ends_on: date
    capacity: int = Field(gt=0, json_schema_extra={"maximum": MAX_CAPACITY})
    place: str | None = Field(default=None, max_length=500)
    online_ref: str | None = Field(default=None, max_length=1000)
    trainer: str | None = Field(default=None, max_length=255)

    @field_validator("capacity")
    @classmethod
    def _capacity_bound(cls, value: int) -> int:
        if value > MAX_CAPACITY:
            raise PydanticCustomError(
                "capacity_too_large",
                f"Sĩ số tối đa {MAX_CAPACITY} / capacity is at most {MAX_CAPACITY}",
            )
        return value

    @model_validator(mode="after")
    def _span_bound(self) -> ClassIn:
        days = (self.ends_on - self.starts_on).days + 1
        if days < 1:
            raise PydanticCustomError(
                "class_span", "Ngày kết thúc trước ngày bắt đầu / the class ends before it starts"
            )
        if days > MAX_SPAN_DAYS:
            raise PydanticCustomError(
                "class_span",
                f"Một lớp kéo dài tối đa {MAX_SPAN_DAYS} ngày (lớp này {days} ngày) / "
                f"a class spans at most {MAX_SPAN_DAYS} days (this one {days})",
            )
        return self


class ClassOut(BaseModel):
    code: str
    course_code: str
    unit_code: str
    starts_on: date
    ends_on: date
    capacity: int
    place: str | None
    online_ref: str | None
    trainer: str | None
    status: ClassStatus
    enrolled: int
    waiting: int


class EnrolmentIn(BaseModel):
    officer_code: str


class EnrolmentOut(BaseModel):
    officer_code: str
    full_name: str
    status: EnrolmentStatus


class ClassDetail(ClassOut):
    enrolments: list[EnrolmentOut]


class AttendanceIn(BaseModel):
    session_number: int = Field(ge=1)
    officer_codes: list[str] = Field(min_length=1, max_length=500)
    present: bool = True


class AttendanceOut(BaseModel):
    session_number: int
    recorded: int
    present: bool


class RevokeIn(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


class ResultIn(BaseModel):
    officer_code: str
    score: float = Field(ge=0)
    taken_on: date | None = None


class ResultOut(BaseModel):
    officer_code: str
    course_code: str
    score: float | None
    passed: bool
    taken_on: date
    certificate_number: str | None


class CertificateOut(BaseModel):
    number: str
    officer_code: str
    full_name: str
    unit_code: str
    course_code: str
    issued_on: date
    expires_on: date | None
    status: CertificateStatus
    verification_code: str


class GapOut(BaseModel):
    officer_code: str
    full_name: str
    unit_code: str
    course_code: str
    course_title: str
    kind: str


class ChildProgress(BaseModel):
    unit_code: str
    unit_name: str
    numerator: int
    denominator: int
    value: float | None
    met: bool | None


class ProgressOut(BaseModel):
    """The ``officers_trained`` indicator for one unit's subtree."""

    unit_code: str
    unit_name: str
    as_of: date
    target: float
    numerator: int
    denominator: int
    value: float | None
    met: bool | None
    failing: int
    children: list[ChildProgress]
