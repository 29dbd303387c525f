"""HTTP API of videoconf; the web app mounts ``router``.

``/api/conferences`` (logged-in users, unit-subtree permissions)::

    GET  /api/conferences?unit=HN&include_cancelled=false&limit=50&offset=0
    GET  /api/conferences/{id}
    POST /api/conferences                      BookingIn  → 201 BookingOut (409 on conflicts)
    POST /api/conferences/{id}/cancel          CancelIn   → ConferenceOut
    POST /api/conferences/{id}/reschedule      RescheduleIn → ConferenceOut
    POST /api/conferences/{id}/send            (re)send the invitations → SendOut
    GET  /api/conferences/{id}/attendance?occurrence=2027-03-01T08:00+07:00

``/api/videoconf/events/{deployment}`` is called by Prosody (``mod_event_sync_component``), not by
a user: it is authenticated by the deployment's webhook token (``Authorization: Bearer ...``),
never by a login. Point the component's ``api_prefix`` at ``.../api/videoconf/events/{name}``;
its ``/events/occupant/joined`` style suffixes are accepted too. Payload: see
:mod:`videoconf.schemas`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from sqlalchemy.orm import Session

from inventory.api_deps import IdPath, Page, PageDep, PrincipalDep, SessionDep, paginate
from inventory.mail import Mailer, MailError, SmtpSettings
from inventory.models import Officer, Unit
from inventory.security import Principal, Role
from videoconf.errors import WebhookRejected
from videoconf.recurrence import LOCAL_TZ
from videoconf.schemas import (
    AttendanceReport,
    BookingIn,
    BookingOut,
    CancelIn,
    ConferenceDetail,
    ConferenceOut,
    ProsodyEvent,
    RescheduleIn,
    SendOut,
    WebhookAck,
)
from videoconf.service import BookingRequest, ConferenceService, SubtreeSelector


def get_mailer() -> Mailer:
    """The SMTP mailer from the environment (tests override this dependency)."""
    return Mailer(SmtpSettings.from_env())


MailerDep = Annotated[Mailer, Depends(get_mailer)]

conferences = APIRouter(prefix="/api/conferences", tags=["conferences"])
events = APIRouter(prefix="/api/videoconf", tags=["videoconf"])


def _aware(value: datetime) -> datetime:
    """API times without an offset are Vietnam time."""
    return value if value.tzinfo is not None else value.replace(tzinfo=LOCAL_TZ)


def _service(session: Session, principal: Principal) -> ConferenceService:
    return ConferenceService(session, actor=principal.name, principal=principal)


@conferences.get("", response_model=Page[ConferenceOut])
def list_conferences(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    unit: Annotated[str | None, Query(description="unit code: its subtree only")] = None,
    include_cancelled: bool = False,
) -> Page[ConferenceOut]:
    """Conferences hosted in the units the caller may see, newest first."""
    svc = _service(session, principal)
    q = svc.list_query(unit_code=unit, include_cancelled=include_cancelled).where(
        principal.visible_filter(Unit.path)
    )
    return paginate(session, q, page, svc.summary)


@conferences.get("/{conference_id}", response_model=ConferenceDetail)
def get_conference(
    conference_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> ConferenceDetail:
    svc = _service(session, principal)
    return svc.detail(svc.visible_conference(conference_id))


@conferences.post("", response_model=BookingOut, status_code=status.HTTP_201_CREATED)
def book_conference(
    body: BookingIn, session: SessionDep, principal: PrincipalDep, mailer: MailerDep
) -> BookingOut:
    """Book; 409 with every conflict (who/what, which occurrence) when refused."""
    svc = _service(session, principal)
    res = svc.book(
        BookingRequest(
            title=body.title,
            host_code=body.host,
            start=_aware(body.start),
            end=_aware(body.end),
            units=tuple(body.units),
            optional_units=tuple(body.optional_units),
            subtrees=tuple(SubtreeSelector.parse(s) for s in body.subtrees),
            optional_subtrees=tuple(SubtreeSelector.parse(s) for s in body.optional_subtrees),
            kinds=tuple(body.kinds),
            officers=tuple(body.officers),
            optional_officers=tuple(body.optional_officers),
            moderators=tuple(body.moderators),
            rooms=tuple(body.rooms),
            deployment=body.deployment,
            auto_place=body.auto_place,
            lobby=body.lobby,
            password=body.password,
            rrule=body.rrule,
            exdates=tuple(_aware(x) for x in body.exdates),
            description=body.description,
        )
    )
    sent, mail_error = 0, None
    if body.send:
        # Commit first: an SMTP outage must not undo the booking (resend with /send).
        session.commit()
        try:
            sent = svc.send_invitations(res.conference_id, mailer=mailer)
        except MailError as exc:
            session.rollback()
            mail_error = exc.message
    return BookingOut(
        conference_id=res.conference_id,
        uid=res.uid,
        deployment=res.deployment,
        placed_elsewhere=res.placed_elsewhere,
        occurrences=res.occurrences,
        invitees=res.invitees,
        units_without_contacts=list(res.units_without_contacts),
        emails_sent=sent,
        mail_error=mail_error,
    )


@conferences.post("/{conference_id}/cancel", response_model=ConferenceOut)
def cancel_conference(
    conference_id: IdPath,
    body: CancelIn,
    session: SessionDep,
    principal: PrincipalDep,
    mailer: MailerDep,
) -> ConferenceOut:
    svc = _service(session, principal)
    occurrence = _aware(body.occurrence) if body.occurrence else None
    conf = svc.cancel(conference_id, occurrence=occurrence)
    if body.send:
        _send_after_commit(session, svc, conf.id, mailer, cancel_recurrence_id=occurrence)
    return svc.summary(conf)


@conferences.post("/{conference_id}/reschedule", response_model=ConferenceOut)
def reschedule_conference(
    conference_id: IdPath,
    body: RescheduleIn,
    session: SessionDep,
    principal: PrincipalDep,
    mailer: MailerDep,
) -> ConferenceOut:
    svc = _service(session, principal)
    conf = svc.reschedule(
        conference_id,
        start=_aware(body.start),
        end=_aware(body.end),
        occurrence=_aware(body.occurrence) if body.occurrence else None,
    )
    if body.send:
        _send_after_commit(session, svc, conf.id, mailer)
    return svc.summary(conf)


def _send_after_commit(
    session: Session,
    svc: ConferenceService,
    conference_id: IdPath,
    mailer: Mailer,
    *,
    cancel_recurrence_id: datetime | None = None,
) -> int:
    """Commit the change, then e-mail; a mail failure says the change is saved."""
    session.commit()
    try:
        return svc.send_invitations(
            conference_id, mailer=mailer, cancel_recurrence_id=cancel_recurrence_id
        )
    except MailError as exc:
        raise MailError(
            f"Đã lưu thay đổi nhưng chưa gửi được thư / the change is saved but no e-mail went "
            f"out: {exc.message}",
            hint=f"retry with POST /api/conferences/{conference_id}/send",
        ) from exc


@conferences.post("/{conference_id}/send", response_model=SendOut)
def send_conference(
    conference_id: IdPath, session: SessionDep, principal: PrincipalDep, mailer: MailerDep
) -> SendOut:
    """(Re)send every invitee the current calendar (REQUEST, or CANCEL when cancelled)."""
    svc = _service(session, principal)
    conf = svc.visible_conference(conference_id, Role.meeting_host)
    return SendOut(conference_id=conf.id, emails_sent=svc.send_invitations(conf.id, mailer=mailer))


@conferences.get("/{conference_id}/attendance", response_model=AttendanceReport)
def conference_attendance(
    conference_id: IdPath,
    session: SessionDep,
    principal: PrincipalDep,
    occurrence: Annotated[
        datetime | None, Query(description="original start of one occurrence")
    ] = None,
) -> AttendanceReport:
    svc = _service(session, principal)
    return svc.attendance_report(
        conference_id, occurrence=_aware(occurrence) if occurrence else None
    )


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@events.post("/events/{deployment}", response_model=WebhookAck)
@events.post("/events/{deployment}/{suffix:path}", response_model=WebhookAck)
def prosody_event(
    deployment: str,
    body: ProsodyEvent,
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
    suffix: str = "",
) -> WebhookAck:
    """Store a Prosody occupant joined/left event (token auth, no user login)."""
    svc = ConferenceService(session, actor=f"webhook:{deployment}")
    try:
        row = svc.ingest_webhook(deployment=deployment, token=_bearer(authorization), event=body)
    except WebhookRejected as exc:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=exc.message,
            headers={"WWW-Authenticate": "Bearer"},
        ) from exc
    if row is None:
        return WebhookAck(stored=False, conference_id=None, officer_code=None)
    officer = session.get(Officer, row.officer_id) if row.officer_id is not None else None
    officer_code = officer.code if officer else None
    return WebhookAck(stored=True, conference_id=row.conference_id, officer_code=officer_code)


router = APIRouter()
router.include_router(conferences)
router.include_router(events)
