"""Closed vocabularies of the training domain (values are what files and APIs carry)."""

from __future__ import annotations

from enum import StrEnum


class CourseCategory(StrEnum):
    """What a course teaches (the federation's IT training plan)."""

    office_basics = "office_basics"  # tin học văn phòng cơ bản
    internet_email = "internet_email"  # Internet và thư điện tử
    document_management = "document_management"  # phần mềm quản lý văn bản
    statistics_reporting = "statistics_reporting"  # phần mềm tổng hợp báo cáo thống kê
    hr_organization = "hr_organization"  # phần mềm quản lý tổ chức cán bộ
    finance_assets = "finance_assets"  # phần mềm quản lý tài chính, tài sản
    eis = "eis"  # Hệ thống thông tin điều hành
    advanced_it = "advanced_it"  # phần cứng, mạng, an toàn thông tin (cán bộ chuyên trách CNTT)


CATEGORY_VI: dict[CourseCategory, str] = {
    CourseCategory.office_basics: "Tin học văn phòng cơ bản",
    CourseCategory.internet_email: "Internet và thư điện tử",
    CourseCategory.document_management: "Phần mềm quản lý văn bản",
    CourseCategory.statistics_reporting: "Phần mềm tổng hợp báo cáo thống kê",
    CourseCategory.hr_organization: "Phần mềm quản lý tổ chức cán bộ",
    CourseCategory.finance_assets: "Phần mềm quản lý tài chính, tài sản",
    CourseCategory.eis: "Hệ thống thông tin điều hành",
    CourseCategory.advanced_it: "Phần cứng, mạng và an toàn thông tin",
}


class Audience(StrEnum):
    """Who a curriculum rule applies to (always within full-time, active officers of in-scope
    units): everyone, or only core IT staff (``Officer.it_staff``)."""

    full_time = "full_time"
    it_staff = "it_staff"


class ClassStatus(StrEnum):
    planned = "planned"
    finished = "finished"
    cancelled = "cancelled"


class EnrolmentStatus(StrEnum):
    enrolled = "enrolled"
    waiting = "waiting"
    withdrawn = "withdrawn"


class ResultSource(StrEnum):
    manual = "manual"
    import_ = "import"
    moodle = "moodle"


class CertificateStatus(StrEnum):
    """``valid`` may still be past its expiry date; expiry is judged against a date."""

    valid = "valid"
    revoked = "revoked"
    superseded = "superseded"
