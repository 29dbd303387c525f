"""Fixtures for the training tests: a small federation tree, officers and the curriculum.

Tree::

    TLD (1, central)
    ├── HN (2)            officers HN-1 (full-time), HN-IT (full-time, it_staff), HN-PT (part-time)
    │   └── HN-BD (3)     officers BD-1, BD-2
    │       └── HN-BD-CS1 (4, grassroots — outside the target's scope)   officer CS-1
    └── HCM (2)           officer HCM-1, HCM-OLD (inactive)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from inventory.enums import UnitKind
from inventory.service import InventoryService
from training_lms.enums import Audience, CourseCategory
from training_lms.service import TrainingService


@dataclass
class Clock:
    """A settable clock injected into the services."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 3, 0, tzinfo=UTC))


def build_world(session: Session, clock: Callable[[], datetime]) -> TrainingService:
    inv = InventoryService(session, actor="tester", clock=clock)
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
        code="HN-BD-CS1",
        name="CĐCS Công ty Điện lực Ba Đình",
        level=4,
        kind=UnitKind.grassroots,
        parent_code="HN-BD",
    )
    inv.create_unit(
        code="HCM",
        name="LĐLĐ Thành phố Hồ Chí Minh",
        level=2,
        kind=UnitKind.province_federation,
        parent_code="TLD",
    )
    inv.create_officer(code="HN-1", full_name="Nguyễn Văn An", unit_code="HN")
    inv.create_officer(code="HN-IT", full_name="Lê Minh Tuấn", unit_code="HN", it_staff=True)
    inv.create_officer(code="HN-PT", full_name="Phạm Thị Hoa", unit_code="HN", full_time=False)
    inv.create_officer(code="BD-1", full_name="Trần Thị Bình", unit_code="HN-BD")
    inv.create_officer(code="BD-2", full_name="Đỗ Văn Cường", unit_code="HN-BD")
    inv.create_officer(code="CS-1", full_name="Vũ Thị Dung", unit_code="HN-BD-CS1")
    inv.create_officer(code="HCM-1", full_name="Hoàng Văn Em", unit_code="HCM")
    inv.create_officer(code="HCM-OLD", full_name="Ngô Văn Giang", unit_code="HCM")
    inv.update_officer("HCM-OLD", active=False)

    svc = TrainingService(session, actor="coordinator", clock=clock)
    svc.create_course(
        code="IT-BASIC",
        title="Tin học văn phòng cơ bản",
        category=CourseCategory.office_basics,
        validity_months=24,
        pass_mark=5,
    )
    svc.create_course(
        code="DOC-MGMT",
        title="Phần mềm quản lý văn bản",
        category=CourseCategory.document_management,
        validity_months=None,
        pass_mark=5,
    )
    svc.create_course(
        code="NET-SEC",
        title="Mạng và an toàn thông tin",
        category=CourseCategory.advanced_it,
        validity_months=12,
        pass_mark=7,
    )
    svc.require(course_code="IT-BASIC", audience=Audience.full_time)
    svc.require(course_code="DOC-MGMT", audience=Audience.full_time)
    svc.require(course_code="NET-SEC", audience=Audience.it_staff)
    session.flush()
    return svc


@pytest.fixture
def world(session: Session, clock: Clock) -> TrainingService:
    return build_world(session, clock)
