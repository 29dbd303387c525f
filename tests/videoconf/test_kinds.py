"""Participants by unit kind: level 2 holds the province federations *and* the central sector
unions (and corporation unions), so ``TLD:2`` alone invites more than "the provinces"."""

from __future__ import annotations

import os

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from inventory.db import session_scope
from inventory.enums import ContactRole, UnitKind
from ops_cli.cli import app
from tests.videoconf.conftest import APP_SECRET, add_deployment, build_org, conf_service
from videoconf.models import Conference
from videoconf.recurrence import parse_local
from videoconf.schemas import BookingIn
from videoconf.service import BookingRequest, SubtreeSelector

PROVINCES = ["CT", "DN", "HCM", "HN", "HP", "KT"]


def _demo_like(session: Session) -> None:
    """build_org's six provinces plus two other level-2 units with a meeting contact each."""
    inv = build_org(session)
    for code, name, kind in (
        ("CDN-YT", "Công đoàn Y tế Việt Nam", UnitKind.central_sector_union),
        ("CDTCT-DK", "Công đoàn Dầu khí Việt Nam", UnitKind.corporation_union),
    ):
        inv.create_unit(code=code, name=name, level=2, kind=kind, parent_code="TLD")
        inv.create_officer(code=f"{code}-1", full_name=f"Liên hệ {code}", unit_code=code)
        inv.add_contact(unit_code=code, officer_code=f"{code}-1", role=ContactRole.meeting)
    session.flush()


def _codes(session: Session, conf: Conference) -> list[str]:
    return sorted(u.code for u in conf_service(session).expected_units(conf))


def test_subtree_with_kind_selects_only_the_province_federations(session: Session) -> None:
    _demo_like(session)
    svc = conf_service(session)
    add_deployment(svc)
    start, end = parse_local("01/03/2027 08:00"), parse_local("01/03/2027 10:00")
    every = svc.book(
        BookingRequest(
            title="Cấp 2",
            host_code="CB000",
            start=start,
            end=end,
            subtrees=(SubtreeSelector("TLD", 2),),
        )
    )
    assert len(_codes(session, svc.conference(every.conference_id))) == 8
    svc.cancel(every.conference_id)
    res = svc.book(
        BookingRequest(
            title="Giao ban các tỉnh",
            host_code="CB000",
            start=start,
            end=end,
            subtrees=(SubtreeSelector("TLD", 2),),
            kinds=(UnitKind.province_federation,),
        )
    )
    session.commit()
    conf = svc.conference(res.conference_id)
    assert _codes(session, conf) == PROVINCES  # stored, so attendance expects the same
    assert res.units_without_contacts == ("KT",)
    assert conf.participants[0].unit_kinds == ["province_federation"]
    # Kinds are repeatable and work without a subtree (the whole tree).
    res2 = svc.book(
        BookingRequest(
            title="Ngành và tập đoàn",
            host_code="CB999",
            start=start,
            end=end,
            kinds=(UnitKind.central_sector_union, UnitKind.corporation_union),
        )
    )
    assert _codes(session, svc.conference(res2.conference_id)) == ["CDN-YT", "CDTCT-DK"]


def test_booking_schema_takes_kinds() -> None:
    body = BookingIn.model_validate(
        {
            "title": "x",
            "host": "CB000",
            "start": "2027-03-01T08:00",
            "end": "2027-03-01T09:00",
            "subtrees": ["TLD:2"],
            "kinds": ["province_federation"],
        }
    )
    assert body.kinds == [UnitKind.province_federation]


def test_cli_book_by_kind(db_url: str, engine: Engine) -> None:
    with session_scope(engine) as s:
        _demo_like(s)
        add_deployment(conf_service(s))
    env = {
        "TLDOPS_DATABASE_URL": db_url,
        "TLDOPS_SECRET_KEY": os.environ["TLDOPS_SECRET_KEY"],
        "TLDOPS_JITSI_APP_SECRET": APP_SECRET,
        "TLDOPS_ACTOR": "cli:host",
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(
        app,
        [
            "conf",
            "book",
            "--title",
            "Giao ban các tỉnh",
            "--host",
            "CB000",
            "--start",
            "01/03/2027 08:00",
            "--duration",
            "60",
            "--subtree",
            "TLD:2",
            "--kind",
            "province_federation",
            "--no-send",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    with session_scope(engine) as s:
        conf = s.scalars(select(Conference)).one()
        assert _codes(s, conf) == PROVINCES
