"""Records that cross videoconf's boundary (API bodies, reports, the webhook payload).

The attendance webhook accepts the JSON that Prosody's ``mod_event_sync_component`` (jitsi-contrib)
posts for occupant events, unchanged::

    POST /api/videoconf/events/{deployment}
    Authorization: Bearer <the deployment's webhook token>
    {
      "event_name": "muc-occupant-joined",          # or "muc-occupant-left"
      "room_name": "tldk3q...",                      # the conference's room name
      "room_jid": "tldk3q...@conference.meet.congdoan.vn",
      "is_breakout": false,
      "breakout_room_id": null,
      "occupant": {
        "occupant_jid": "tldk3q...@conference.meet.congdoan.vn/ab12cd34",
        "name": "Nguyễn Văn An",                     # JWT context.user.name
        "email": "an@congdoan.vn",                   # JWT context.user.email
        "id": "CB001",                               # JWT context.user.id (officer code)
        "joined_at": 1772326800,                     # unix seconds
        "left_at": 1772330400                        # only on muc-occupant-left
      }
    }

Room events (``muc-room-created`` / ``muc-room-destroyed``) are accepted and ignored; breakout
room occupants are ignored (the main room's join/leave is what attendance counts).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from inventory.enums import UnitKind

# At most this many unit/subtree/officer/moderator/room entries in one booking (the service
# checks the same bound for every front door).
MAX_SELECTORS = 200


class ProsodyOccupant(BaseModel):
    model_config = ConfigDict(extra="allow")

    occupant_jid: str
    name: str | None = None
    email: str | None = None
    id: str | None = None
    joined_at: float | None = None
    left_at: float | None = None


class ProsodyEvent(BaseModel):
    """One ``mod_event_sync_component`` POST body (see the module docstring)."""

    model_config = ConfigDict(extra="allow")

    event_name: str
    room_name: str
    room_jid: str | None = None
    is_breakout: bool = False
    breakout_room_id: str | None = None
    occupant: ProsodyOccupant | None = None
    created_at: float | None = None
    destroyed_at: float | None = None


class WebhookAck(BaseModel):
    stored: bool
    conference_id: int | None
    officer_code: str | None


class OccurrenceOut(BaseModel):
    recurrence_id: datetime
    start: datetime
    end: datetime
    moved: bool


class ParticipantOut(BaseModel):
    kind: str
    unit_code: str | None
    level: int | None
    officer_code: str | None
    required: bool
    unit_kinds: list[str] | None = None


class InvitationOut(BaseModel):
    officer_code: str
    officer_name: str
    unit_code: str
    email: str | None
    required: bool
    moderator: bool
    sent_sequence: int | None
    sent_method: str | None


class ConferenceOut(BaseModel):
    id: int
    uid: str
    title: str
    host_code: str
    host_name: str
    unit_code: str
    deployment: str
    start: datetime
    end: datetime
    rrule: str | None
    status: str
    sequence: int
    invitees: int


class ConferenceDetail(ConferenceOut):
    description: str | None
    lobby: bool
    has_password: bool
    room_name: str
    exdates: list[datetime]
    rooms: list[str]
    participants: list[ParticipantOut]
    invitations: list[InvitationOut]
    occurrences: list[OccurrenceOut]
    # Participant rows and invitees outside the caller's subtrees: counted, not named.
    hidden_participants: int = 0
    hidden_invitations: int = 0


class BookingIn(BaseModel):
    """Body of ``POST /api/conferences``; times are ISO 8601 (naive = Vietnam time)."""

    title: str = Field(min_length=1, max_length=255)
    host: str = Field(description="officer code of the host (moderator)")
    start: datetime
    end: datetime
    units: list[str] = []
    optional_units: list[str] = []
    subtrees: list[str] = Field(default=[], description='"CODE" or "CODE:LEVEL", e.g. "TLD:2"')
    optional_subtrees: list[str] = []
    kinds: list[UnitKind] = Field(
        default=[],
        max_length=len(UnitKind),
        description="keep only units of these kinds in every subtree (alone: the whole tree), "
        'e.g. ["province_federation"] with "TLD:2" = the provinces only',
    )
    officers: list[str] = []
    optional_officers: list[str] = []
    moderators: list[str] = []
    rooms: list[str] = []
    deployment: str | None = None
    auto_place: bool = True
    lobby: bool = False
    password: str | None = None
    rrule: str | None = None
    exdates: list[datetime] = []
    description: str | None = Field(default=None, max_length=5000)
    send: bool = False

    @model_validator(mode="after")
    def _bounded(self) -> BookingIn:
        n = sum(
            len(x)
            for x in (
                self.units,
                self.optional_units,
                self.subtrees,
                self.optional_subtrees,
                self.officers,
                self.optional_officers,
                self.moderators,
                self.rooms,
            )
        )
        if n > MAX_SELECTORS:
            raise PydanticCustomError(
                "too_many_selectors",
                f"Tối đa {MAX_SELECTORS} mục mời và phòng trong một lịch ({n}) / at most "
                f"{MAX_SELECTORS} participant selectors and rooms per booking ({n})",
            )
        if len(self.exdates) > 520:
            raise PydanticCustomError(
                "too_many_exdates", "Tối đa 520 ngày ngoại lệ / at most 520 exception dates"
            )
        return self


class BookingOut(BaseModel):
    conference_id: int
    uid: str
    deployment: str
    placed_elsewhere: bool
    occurrences: int
    invitees: int
    units_without_contacts: list[str]
    emails_sent: int
    # Set when the booking is saved but the invitations could not be e-mailed.
    mail_error: str | None = None


class SendOut(BaseModel):
    conference_id: int
    emails_sent: int


class CancelIn(BaseModel):
    occurrence: datetime | None = Field(
        default=None, description="original start of the one occurrence to cancel"
    )
    send: bool = False


class RescheduleIn(BaseModel):
    start: datetime
    end: datetime
    occurrence: datetime | None = Field(
        default=None, description="original start of the one occurrence to move"
    )
    send: bool = False


class AttendeeLine(BaseModel):
    name: str | None
    email: str | None
    officer_code: str | None
    unit_code: str | None
    first_join: datetime
    last_leave: datetime | None
    minutes: int
    sessions: int


class UnitAttendance(BaseModel):
    unit_code: str
    unit_name: str
    joined: bool
    first_join: datetime | None
    last_leave: datetime | None
    minutes: int
    attendees: list[str]


class AttendanceReport(BaseModel):
    conference_id: int
    title: str
    occurrence: datetime | None
    units: list[UnitAttendance]
    never_joined: list[UnitAttendance]
    attendees: list[AttendeeLine]
    unmatched_participants: int
    # Units and attendees outside the caller's subtrees: counted, not named.
    hidden_units: int = 0
    hidden_attendees: int = 0


class DeploymentOut(BaseModel):
    name: str
    base_url: str
    max_participants: int
    video_bridges: int
    bandwidth_mbps: int
    per_participant_kbps: int
    active: bool


class ServerStatus(BaseModel):
    deployment: str
    health: str
    health_detail: str
    bridges_reachable: int
    bridges_declared: int
    participants_now: int
    conferences_now: int
    max_stress: float
    booked_load_now: int
    max_participants: int
