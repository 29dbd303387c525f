"""Conference operations: the only writer of the videoconf tables (every change is audited).

    svc = ConferenceService(session, actor="cli:an", box=SecretBox.from_settings(settings))
    result = svc.book(BookingRequest(title="Giao ban toàn quốc", host_code="CB001",
                                     start=parse_local("01/03/2027 08:00"),
                                     end=parse_local("01/03/2027 10:00"),
                                     subtrees=(SubtreeSelector("TLD", 2),),
                                     rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=10"))
    svc.send_invitations(result.conference_id, mailer=Mailer(SmtpSettings.from_env()))

Booking refuses (nothing written) when the host, a required participant or a physical room is
already booked at an overlapping occurrence (:class:`BookingConflict`), or when no Jitsi
deployment can carry the overlapping load (:class:`CapacityExceeded`).
"""

from __future__ import annotations

import hmac
import math
import secrets
import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from inventory.config import Settings
from inventory.db import utcnow
from inventory.enums import ContactRole, UnitKind
from inventory.errors import NotFound, Problem, ValidationFailed
from inventory.mail import Mailer
from inventory.models import Officer, Unit, UnitContact, subtree_filter
from inventory.secrets import SecretBox
from inventory.security import Principal, Role
from inventory.service import AuditedService, InventoryService, row_snapshot
from videoconf import ical
from videoconf.errors import (
    BookingConflict,
    CapacityExceeded,
    CapacityShortfall,
    ConflictDetail,
    RecurrenceError,
    VideoconfError,
    WebhookRejected,
)
from videoconf.jitsi import TokenUser, join_url, make_room_name, make_token
from videoconf.models import (
    AttendanceAction,
    AttendanceEvent,
    Conference,
    ConferenceParticipant,
    ConferenceRoom,
    ConferenceStatus,
    Invitation,
    JitsiDeployment,
    MeetingRoom,
    OccurrenceOverride,
    ParticipantKind,
)
from videoconf.recurrence import (
    BOOKING_HORIZON,
    Occurrence,
    expand,
    fmt_local,
    normalise_rrule,
)
from videoconf.schemas import (
    MAX_SELECTORS,
    AttendanceReport,
    AttendeeLine,
    ConferenceDetail,
    ConferenceOut,
    InvitationOut,
    OccurrenceOut,
    ParticipantOut,
    ProsodyEvent,
    UnitAttendance,
)

# Participants may open the room this long before the first occurrence; links stop working
# this long after the last one ends.
EARLY_JOIN = timedelta(hours=1)
EXPIRY_GRACE = timedelta(minutes=30)
# Attendance events this close to an occurrence count for it.
ATTENDANCE_SLACK = timedelta(hours=1)
MAX_DURATION = timedelta(hours=12)
# Bounds on the work one booking may ask for.
MAX_ROOM_CAPACITY = 10_000
_CHUNK = 500


@dataclass(frozen=True)
class SubtreeSelector:
    """Every unit under ``root_code`` (at ``level`` only, if given; of ``kinds`` only, if given),
    e.g. the province federations, which share level 2 with the central sector unions::

        SubtreeSelector("TLD", 2, kinds=(UnitKind.province_federation,))

    >>> SubtreeSelector.parse("TLD:2")
    SubtreeSelector(root_code='TLD', level=2, kinds=())
    """

    root_code: str
    level: int | None = None
    kinds: tuple[UnitKind, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SubtreeSelector:
        code, _, level = text.strip().partition(":")
        if not code:
            raise VideoconfError(f"Bộ chọn rỗng / empty subtree selector {text!r}")
        if level and not level.isdigit():
            raise VideoconfError(
                f"Cấp không hợp lệ trong {text!r} / bad level in {text!r}",
                hint='write "CODE" or "CODE:LEVEL", e.g. "TLD:2" for every province federation',
            )
        return cls(root_code=code, level=int(level) if level else None)

    def render(self) -> str:
        text = self.root_code if self.level is None else f"{self.root_code}:{self.level}"
        return text + "".join(f" [{k.value}]" for k in self.kinds)


@dataclass(frozen=True)
class BookingRequest:
    """What a host asks for. Times are aware datetimes (any zone; stored as UTC)."""

    title: str
    host_code: str
    start: datetime
    end: datetime
    units: tuple[str, ...] = ()
    optional_units: tuple[str, ...] = ()
    subtrees: tuple[SubtreeSelector, ...] = ()
    optional_subtrees: tuple[SubtreeSelector, ...] = ()
    # Keep only units of these kinds in every subtree selector; alone (no subtree), selects
    # those kinds in the whole tree.
    kinds: tuple[UnitKind, ...] = ()
    officers: tuple[str, ...] = ()
    optional_officers: tuple[str, ...] = ()
    moderators: tuple[str, ...] = ()
    rooms: tuple[str, ...] = ()
    deployment: str | None = None
    auto_place: bool = True
    lobby: bool = False
    password: str | None = None
    rrule: str | None = None
    exdates: tuple[datetime, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class BookingResult:
    conference_id: int
    uid: str
    deployment: str
    placed_elsewhere: bool
    occurrences: int
    invitees: int
    units_without_contacts: tuple[str, ...]


@dataclass(frozen=True)
class DeploymentSecrets:
    app_secret: str
    webhook_token: str


@dataclass
class _Invitee:
    officer: Officer
    unit_id: int
    required: bool
    moderator: bool


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _label(officer: Officer) -> str:
    return f"{officer.code} {officer.full_name}"


class ConferenceService(AuditedService):
    """Operations on conferences for one session, one acting user and one principal."""

    def __init__(
        self,
        session: Session,
        *,
        actor: str = "system",
        box: SecretBox | None = None,
        clock: Callable[[], datetime] = utcnow,
        principal: Principal | None = None,
    ) -> None:
        super().__init__(session, actor=actor, clock=clock)
        self._box = box
        self.principal = principal or Principal.system(actor)
        self.inventory = InventoryService(session, actor=actor, clock=clock)
        self._occ_cache: dict[int, list[Occurrence]] = {}

    # -- what the principal may see and change ---------------------------------------------
    def _allow(self, path: str, role: Role, missing: NotFound) -> None:
        """Out of sight is answered as missing; in sight without ``role`` is a refusal."""
        if not self.principal.can(Role.viewer, path):
            raise missing
        self.principal.require(role, path)

    def _sees(self, path: str | None) -> bool:
        return path is not None and self.principal.can(Role.viewer, path)

    def _visible_officer(self, code: str, role: Role = Role.viewer) -> Officer:
        off = self.inventory.officer(code)
        unit = self.session.get(Unit, off.unit_id)
        assert unit is not None
        self._allow(unit.path, role, _no_officer(code))
        return off

    def _visible_unit(self, code: str, role: Role = Role.viewer) -> Unit:
        unit = self.inventory.unit(code)
        self._allow(unit.path, role, _no_unit(code))
        return unit

    def visible_conference(self, conference_id: int, role: Role = Role.viewer) -> Conference:
        conf = self.conference(conference_id)
        self._allow(conf.unit.path, role, _no_conference(conference_id))
        return conf

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            self._box = SecretBox.from_settings(Settings.from_env())
        return self._box

    # -- deployments ------------------------------------------------------------------------
    def add_deployment(
        self,
        *,
        name: str,
        base_url: str,
        app_id: str,
        app_secret: str,
        domain: str,
        max_participants: int,
        bandwidth_mbps: int,
        muc_domain: str | None = None,
        audience: str = "jitsi",
        jicofo_url: str | None = None,
        prosody_url: str | None = None,
        bridge_urls: Sequence[str] = (),
        video_bridges: int | None = None,
        per_participant_kbps: int = 1500,
        webhook_token: str | None = None,
    ) -> tuple[JitsiDeployment, str]:
        """Register a Jitsi deployment; returns it and the webhook token to give Prosody.

        >>> dep, token = svc.add_deployment(name="hq", base_url="https://meet.congdoan.vn",
        ...     app_id="tldops", app_secret=s, domain="meet.congdoan.vn",
        ...     max_participants=300, bandwidth_mbps=1000)
        """
        problems: list[Problem] = []
        if len(app_secret.encode()) < 32:
            problems.append(
                Problem(
                    "deployment",
                    None,
                    "app_secret",
                    None,
                    "bí mật ứng dụng phải dài ít nhất 32 byte",
                    "app secret must be at least 32 bytes (HS256 key)",
                )
            )
        for field, value in (
            ("max_participants", max_participants),
            ("bandwidth_mbps", bandwidth_mbps),
            ("per_participant_kbps", per_participant_kbps),
        ):
            if value <= 0:
                problems.append(
                    Problem(
                        "deployment",
                        None,
                        field,
                        str(value),
                        "phải là số dương",
                        "must be positive",
                    )
                )
        if not base_url.startswith(("http://", "https://")):
            problems.append(
                Problem(
                    "deployment",
                    None,
                    "base_url",
                    base_url,
                    "phải bắt đầu bằng http:// hoặc https://",
                    "must start with http:// or https://",
                )
            )
        if problems:
            raise ValidationFailed(problems)
        if self.session.scalar(select(JitsiDeployment.id).where(JitsiDeployment.name == name)):
            raise VideoconfError(f"Máy chủ {name!r} đã có / deployment {name!r} already exists")
        token = webhook_token or secrets.token_urlsafe(32)
        dep = JitsiDeployment(
            name=name,
            base_url=base_url.rstrip("/"),
            app_id=app_id,
            audience=audience,
            domain=domain,
            muc_domain=muc_domain or f"conference.{domain}",
            jicofo_url=jicofo_url,
            prosody_url=prosody_url,
            bridge_urls=list(bridge_urls),
            max_participants=max_participants,
            video_bridges=video_bridges or max(1, len(bridge_urls)),
            bandwidth_mbps=bandwidth_mbps,
            per_participant_kbps=per_participant_kbps,
            secret_blob=self.box.seal({"app_secret": app_secret, "webhook_token": token}),
        )
        self.session.add(dep)
        self.session.flush()
        self._audit(
            "create", "vc_deployment", name, before=None, after=row_snapshot(dep), unit_path=None
        )
        return dep, token

    def deployment(self, name: str) -> JitsiDeployment:
        dep = self.session.scalar(select(JitsiDeployment).where(JitsiDeployment.name == name))
        if dep is None:
            raise NotFound(
                f"Không có máy chủ hội nghị {name!r} / no Jitsi deployment {name!r}",
                hint="list them with `tldops conf deployments list`",
            )
        return dep

    def deployments(self) -> Sequence[JitsiDeployment]:
        return self.session.scalars(select(JitsiDeployment).order_by(JitsiDeployment.id)).all()

    def deployment_secrets(self, dep: JitsiDeployment) -> DeploymentSecrets:
        data = self.box.open(dep.secret_blob)
        return DeploymentSecrets(app_secret=data["app_secret"], webhook_token=data["webhook_token"])

    # -- rooms ------------------------------------------------------------------------------
    def add_room(self, *, code: str, name: str, unit_code: str, capacity: int) -> MeetingRoom:
        """Register a physical meeting room at a unit."""
        unit = self._visible_unit(unit_code, Role.meeting_host)
        if self.session.scalar(select(MeetingRoom.id).where(MeetingRoom.code == code)):
            raise VideoconfError(f"Phòng {code!r} đã có / room {code!r} already exists")
        if capacity <= 0:
            raise VideoconfError("Sức chứa phải dương / capacity must be positive")
        if capacity > MAX_ROOM_CAPACITY:
            raise VideoconfError(
                f"Sức chứa tối đa {MAX_ROOM_CAPACITY} / capacity is at most {MAX_ROOM_CAPACITY}"
            )
        room = MeetingRoom(code=code, name=name, unit_id=unit.id, capacity=capacity)
        self.session.add(room)
        self.session.flush()
        self._audit(
            "create", "vc_room", code, before=None, after=row_snapshot(room), unit_path=unit.path
        )
        return room

    def room(self, code: str) -> MeetingRoom:
        room = self.session.scalar(select(MeetingRoom).where(MeetingRoom.code == code))
        if room is None:
            raise NotFound(f"Không có phòng họp {code!r} / no meeting room {code!r}")
        return room

    def _bookable_room(self, code: str) -> MeetingRoom:
        room = self.room(code)
        self._allow(
            room.unit.path,
            Role.meeting_host,
            NotFound(f"Không có phòng họp {code!r} / no meeting room {code!r}"),
        )
        return room

    def rooms(self) -> Sequence[MeetingRoom]:
        return self.session.scalars(select(MeetingRoom).order_by(MeetingRoom.code)).all()

    # -- conferences: lookup and occurrences ------------------------------------------------
    def conference(self, conference_id: int) -> Conference:
        conf = self.session.get(Conference, conference_id)
        if conf is None:
            raise _no_conference(conference_id)
        return conf

    def occurrences(self, conf: Conference) -> list[Occurrence]:
        """Every remaining occurrence of ``conf`` within its booking horizon (cached per call)."""
        cached = self._occ_cache.get(conf.id)
        if cached is not None:
            return cached
        occ = expand(
            start=conf.start_at,
            end=conf.end_at,
            rrule_text=conf.rrule,
            exdates=[datetime.fromisoformat(x) for x in conf.exdates],
            overrides={o.recurrence_id: (o.start_at, o.end_at) for o in conf.overrides},
            horizon_end=conf.start_at + BOOKING_HORIZON,
        )
        if conf.id is not None:
            self._occ_cache[conf.id] = occ
        return occ

    def _forget(self, conf: Conference) -> None:
        self._occ_cache.pop(conf.id, None)

    def _occurrence(self, conf: Conference, recurrence_id: datetime) -> Occurrence:
        rid = recurrence_id.astimezone(UTC)
        for occ in self.occurrences(conf):
            if occ.recurrence_id == rid:
                return occ
        raise NotFound(
            f"Hội nghị {conf.id} không có buổi lúc {fmt_local(rid)} / "
            f"conference {conf.id} has no occurrence starting {fmt_local(rid)}",
            hint="`tldops conf show ID` lists the occurrences with their original start",
        )

    # -- participants -----------------------------------------------------------------------
    def _selector_units(self, sel: SubtreeSelector) -> list[Unit]:
        root = self._visible_unit(sel.root_code)
        units = self._expand_stored(root, sel.level, sel.kinds)
        if not units:
            raise VideoconfError(
                f"Bộ chọn {sel.render()} không có đơn vị nào / selector {sel.render()} "
                "matches no unit",
                hint="check the level: 2 = province federations and central sector unions",
            )
        return units

    def _unit_contacts(self, unit_ids: Sequence[int]) -> dict[int, list[Officer]]:
        """A unit's meeting contacts, or its leaders when it has no meeting contact."""
        by_role: dict[int, dict[ContactRole, list[Officer]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for chunk in _chunks(list(unit_ids)):
            rows = self.session.execute(
                select(UnitContact.unit_id, UnitContact.role, Officer)
                .join(Officer, Officer.id == UnitContact.officer_id)
                .where(
                    UnitContact.unit_id.in_(chunk),
                    UnitContact.role.in_([ContactRole.meeting, ContactRole.leader]),
                    Officer.active.is_(True),
                )
                .order_by(Officer.code)
            ).all()
            for unit_id, role, officer in rows:
                by_role[unit_id][role].append(officer)
        out: dict[int, list[Officer]] = {}
        for unit_id in unit_ids:
            roles = by_role.get(unit_id, {})
            out[unit_id] = roles.get(ContactRole.meeting) or roles.get(ContactRole.leader) or []
        return out

    def _resolve(
        self, req: BookingRequest, host: Officer
    ) -> tuple[dict[int, _Invitee], list[ConferenceParticipant], list[Unit]]:
        """Invitees (by officer id), the participant rows, and units that have no contact."""
        invitees: dict[int, _Invitee] = {
            host.id: _Invitee(officer=host, unit_id=host.unit_id, required=True, moderator=True)
        }
        rows: list[ConferenceParticipant] = []

        def add(officer: Officer, unit_id: int, required: bool, moderator: bool = False) -> None:
            cur = invitees.get(officer.id)
            if cur is None:
                invitees[officer.id] = _Invitee(officer, unit_id, required, moderator)
            else:
                cur.required = cur.required or required
                cur.moderator = cur.moderator or moderator

        for codes, required in ((req.officers, True), (req.optional_officers, False)):
            for code in codes:
                off = self._visible_officer(code)
                add(off, off.unit_id, required)
                rows.append(
                    ConferenceParticipant(
                        kind=ParticipantKind.officer, officer_id=off.id, required=required
                    )
                )
        unit_sets: list[tuple[list[Unit], bool]] = []
        for codes, required in ((req.units, True), (req.optional_units, False)):
            for code in codes:
                unit = self._visible_unit(code)
                unit_sets.append(([unit], required))
                rows.append(
                    ConferenceParticipant(
                        kind=ParticipantKind.unit, unit_id=unit.id, required=required
                    )
                )
        required_sels: tuple[SubtreeSelector, ...] = req.subtrees
        if req.kinds and not req.subtrees and not req.optional_subtrees:
            required_sels = (SubtreeSelector(self.inventory.root().code),)
        for sels, required in ((required_sels, True), (req.optional_subtrees, False)):
            for sel in sels:
                if req.kinds and not sel.kinds:
                    sel = replace(sel, kinds=tuple(dict.fromkeys(req.kinds)))
                units = self._selector_units(sel)
                root = self._visible_unit(sel.root_code)
                unit_sets.append((units, required))
                rows.append(
                    ConferenceParticipant(
                        kind=ParticipantKind.subtree,
                        unit_id=root.id,
                        level=sel.level,
                        unit_kinds=[k.value for k in sel.kinds] or None,
                        required=required,
                    )
                )
        all_ids = sorted({u.id for units, _ in unit_sets for u in units})
        contacts = self._unit_contacts(all_ids)
        uncovered: dict[int, Unit] = {}
        for units, required in unit_sets:
            for unit in units:
                officers = contacts.get(unit.id, [])
                if not officers:
                    uncovered[unit.id] = unit
                for off in officers:
                    add(off, unit.id, required)
        for code in req.moderators:
            off = self._visible_officer(code)
            add(off, off.unit_id, False, moderator=True)
        return invitees, rows, sorted(uncovered.values(), key=lambda u: u.path)

    def expected_units(self, conf: Conference) -> list[Unit]:
        """Units invited as units or through a subtree selector (what attendance expects)."""
        seen: dict[int, Unit] = {}
        for p in conf.participants:
            if p.kind is ParticipantKind.unit and p.unit is not None:
                seen[p.unit.id] = p.unit
            elif p.kind is ParticipantKind.subtree and p.unit is not None:
                for u in self._expand_stored(p.unit, p.level, p.unit_kinds):
                    seen[u.id] = u
        return sorted(seen.values(), key=lambda u: u.path)

    def _expand_stored(
        self, root: Unit, level: int | None, kinds: Sequence[str | UnitKind] | None = None
    ) -> list[Unit]:
        """A stored subtree selector's units (whoever booked it; the caller filters views)."""
        q = select(Unit).where(subtree_filter(Unit.path, root.path))
        if level is not None:
            q = q.where(Unit.level == level)
        if kinds:
            q = q.where(Unit.kind.in_([UnitKind(k) for k in kinds]))
        return list(self.session.scalars(q.order_by(Unit.path)))

    # -- conflicts and capacity -------------------------------------------------------------
    def _overlapping(
        self,
        window: tuple[datetime, datetime],
        exclude_id: int | None,
        deployment_id: int | None = None,
    ) -> list[Conference]:
        q = select(Conference).where(
            Conference.status == ConferenceStatus.scheduled,
            Conference.start_at < window[1],
            Conference.series_end_at > window[0],
        )
        if exclude_id is not None:
            q = q.where(Conference.id != exclude_id)
        if deployment_id is not None:
            q = q.where(Conference.deployment_id == deployment_id)
        return list(self.session.scalars(q.order_by(Conference.id)))

    @staticmethod
    def _pairs(
        mine: list[Occurrence], theirs: list[Occurrence]
    ) -> Iterable[tuple[Occurrence, Occurrence]]:
        """Overlapping (mine, theirs) pairs; ``mine`` is sorted and its members do not overlap."""
        starts = [o.start for o in mine]
        for other in theirs:
            i = bisect_left(starts, other.end) - 1
            while i >= 0 and mine[i].end > other.start:
                yield mine[i], other
                i -= 1

    def _conflicts(
        self,
        *,
        occurrences: list[Occurrence],
        host: Officer,
        required_ids: set[int],
        room_ids: set[int],
        exclude_id: int | None,
    ) -> list[ConflictDetail]:
        window = (occurrences[0].start, max(o.end for o in occurrences))
        others = self._overlapping(window, exclude_id)
        if not others:
            return []
        ids = [c.id for c in others]
        busy: dict[int, set[int]] = defaultdict(set)  # conference -> required officer ids
        for chunk in _chunks(ids):
            for cid, oid in self.session.execute(
                select(Invitation.conference_id, Invitation.officer_id).where(
                    Invitation.conference_id.in_(chunk), Invitation.required.is_(True)
                )
            ):
                busy[cid].add(oid)
        rooms_of: dict[int, set[int]] = defaultdict(set)
        if room_ids:
            for chunk in _chunks(ids):
                for cid, rid in self.session.execute(
                    select(ConferenceRoom.conference_id, ConferenceRoom.room_id).where(
                        ConferenceRoom.conference_id.in_(chunk)
                    )
                ):
                    rooms_of[cid].add(rid)
        found: dict[tuple[str, int, int], ConflictDetail] = {}
        first_at: dict[tuple[str, int, int], datetime] = {}
        names: dict[int, str] = {}

        def note(kind: str, subject_id: int, subject: str, other: Conference, at: datetime) -> None:
            key = (kind, subject_id, other.id)
            if key in first_at and first_at[key] <= at:
                return
            first_at[key] = at
            # A conference the caller cannot see is not described: only that one exists.
            hidden = not self._sees(other.unit.path)
            found[key] = ConflictDetail(
                kind=kind,
                subject=subject,
                other_conference="" if hidden else f"#{other.id} {other.title}",
                occurrence_local=fmt_local(at),
            )

        need_names = set()
        for other in others:
            pairs = list(self._pairs(occurrences, self.occurrences(other)))
            if not pairs:
                continue
            people = busy[other.id] | {other.host_id}
            at = min(p[0].start for p in pairs)
            if host.id in people:
                note("host", host.id, _label(host), other, at)
            for oid in (required_ids - {host.id}) & people:
                need_names.add(oid)
                note("participant", oid, str(oid), other, at)
            for rid in room_ids & rooms_of[other.id]:
                room = self.session.get(MeetingRoom, rid)
                note("room", rid, f"{room.code} {room.name}" if room else str(rid), other, at)
        if need_names:
            for chunk in _chunks(sorted(need_names)):
                for off in self.session.scalars(select(Officer).where(Officer.id.in_(chunk))):
                    names[off.id] = _label(off)
        out = []
        for (kind, sid, _), detail in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            if kind == "participant":
                detail = ConflictDetail(
                    kind=kind,
                    subject=names.get(sid, str(sid)),
                    other_conference=detail.other_conference,
                    occurrence_local=detail.occurrence_local,
                )
            out.append(detail)
        return out

    def _shortfalls(
        self, dep: JitsiDeployment, occurrences: list[Occurrence], load: int, exclude_id: int | None
    ) -> list[CapacityShortfall]:
        """Where ``load`` more participants would push ``dep`` over its declared capacity."""
        window = (occurrences[0].start, max(o.end for o in occurrences))
        theirs: list[tuple[Occurrence, int]] = []
        for other in self._overlapping(window, exclude_id, deployment_id=dep.id):
            theirs.extend((o, other.expected_load) for o in self.occurrences(other))
        theirs.sort(key=lambda t: t[0].start)
        their_starts = [t[0].start for t in theirs]
        out: list[CapacityShortfall] = []
        for occ in occurrences:
            # Peak concurrent load inside this occurrence: sweep the clipped intervals.
            edges: list[tuple[datetime, int]] = []
            hi = bisect_left(their_starts, occ.end)
            for o, n in theirs[:hi]:
                if o.end > occ.start:
                    edges.append((max(o.start, occ.start), n))
                    edges.append((min(o.end, occ.end), -n))
            edges.sort(key=lambda e: (e[0], e[1]))  # leaving before joining at the same instant
            peak = current = 0
            for _, delta in edges:
                current += delta
                peak = max(peak, current)
            total = peak + load
            if total > dep.max_participants:
                out.append(
                    CapacityShortfall(
                        dep.name, fmt_local(occ.start), total, dep.max_participants, "participants"
                    )
                )
            else:
                mbps = math.ceil(total * dep.per_participant_kbps / 1000)
                if mbps > dep.bandwidth_mbps:
                    out.append(
                        CapacityShortfall(
                            dep.name, fmt_local(occ.start), mbps, dep.bandwidth_mbps, "bandwidth"
                        )
                    )
            if len(out) >= 3:
                break
        return out

    def _place(
        self,
        *,
        occurrences: list[Occurrence],
        load: int,
        preferred: str | None,
        auto_place: bool,
        exclude_id: int | None,
    ) -> tuple[JitsiDeployment, bool]:
        """The deployment to use and whether it differs from the one asked for."""
        active = [d for d in self.deployments() if d.active]
        if not active:
            raise NotFound(
                "Chưa có máy chủ Jitsi nào / no Jitsi deployment is registered",
                hint="add one with `tldops conf deployments add`",
            )
        candidates: list[JitsiDeployment]
        if preferred is not None:
            first = self.deployment(preferred)
            candidates = [first] + ([d for d in active if d.id != first.id] if auto_place else [])
        else:
            candidates = active if auto_place else active[:1]
        shortfalls: list[CapacityShortfall] = []
        for dep in candidates:
            missing = self._shortfalls(dep, occurrences, load, exclude_id)
            if not missing:
                return dep, preferred is not None and dep.name != preferred
            shortfalls.extend(missing)
        raise CapacityExceeded(shortfalls)

    # -- booking ----------------------------------------------------------------------------
    def _check_times(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        if start.tzinfo is None or end.tzinfo is None:
            raise RecurrenceError("Thời gian phải có múi giờ / times must be timezone-aware")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            raise RecurrenceError(
                f"Giờ kết thúc {fmt_local(end)} phải sau giờ bắt đầu {fmt_local(start)} / "
                "the end must be after the start"
            )
        if end - start > MAX_DURATION:
            raise RecurrenceError("Một buổi họp tối đa 12 giờ / one sitting lasts at most 12 h")
        if start < self.clock():
            raise RecurrenceError(
                f"Giờ bắt đầu {fmt_local(start)} đã qua / the start is in the past",
                hint="times are read as Vietnam time (Asia/Ho_Chi_Minh)",
            )
        return start, end

    def book(self, req: BookingRequest) -> BookingResult:
        """Book a conference, refusing conflicts and over-capacity (nothing is written then).

        >>> r = svc.book(BookingRequest(title="Giao ban", host_code="CB001", start=s, end=e,
        ...                             units=("HN",), rrule="FREQ=WEEKLY;COUNT=4"))
        >>> r.occurrences
        4
        """
        title = req.title.strip()
        if not title:
            raise VideoconfError("Thiếu tiêu đề / the title is empty")
        selectors = sum(
            len(x)
            for x in (
                req.units,
                req.optional_units,
                req.subtrees,
                req.optional_subtrees,
                req.officers,
                req.optional_officers,
                req.moderators,
                req.rooms,
            )
        )
        if selectors > MAX_SELECTORS:
            raise VideoconfError(
                f"Tối đa {MAX_SELECTORS} mục mời và phòng trong một lịch ({selectors}) / "
                f"at most {MAX_SELECTORS} participant selectors and rooms per booking "
                f"({selectors})",
                hint='select many units at once with a subtree, e.g. "TLD:2"',
            )
        host = self._visible_officer(req.host_code, Role.meeting_host)
        host_unit = self.session.get(Unit, host.unit_id)
        assert host_unit is not None
        start, end = self._check_times(req.start, req.end)
        rule = normalise_rrule(req.rrule, start=start) if req.rrule else None
        exdates = sorted({x.astimezone(UTC) for x in req.exdates})
        occurrences = expand(start=start, end=end, rrule_text=rule, exdates=exdates, strict=True)
        if not occurrences:
            raise RecurrenceError(
                "Không còn buổi họp nào sau khi trừ EXDATE / "
                "no occurrence left after the exceptions"
            )
        invitees, participant_rows, uncovered = self._resolve(req, host)
        rooms = [self._bookable_room(code) for code in dict.fromkeys(req.rooms)]
        required_ids = {oid for oid, inv in invitees.items() if inv.required}
        conflicts = self._conflicts(
            occurrences=occurrences,
            host=host,
            required_ids=required_ids,
            room_ids={r.id for r in rooms},
            exclude_id=None,
        )
        if conflicts:
            raise BookingConflict(conflicts)
        load = len(invitees)
        dep, moved = self._place(
            occurrences=occurrences,
            load=load,
            preferred=req.deployment,
            auto_place=req.auto_place,
            exclude_id=None,
        )
        conf = Conference(
            uid=f"{uuid.uuid4()}@tldops",
            title=title,
            description=req.description,
            host_id=host.id,
            unit_id=host.unit_id,
            deployment_id=dep.id,
            room_name=make_room_name(),
            start_at=start,
            end_at=end,
            series_end_at=max(o.end for o in occurrences),
            rrule=rule,
            exdates=[x.isoformat() for x in exdates],
            lobby=req.lobby,
            password_blob=self.box.seal({"password": req.password}) if req.password else None,
            sequence=0,
            status=ConferenceStatus.scheduled,
            expected_load=load,
            created_at=self.clock(),
            updated_at=self.clock(),
        )
        conf.participants = participant_rows
        conf.rooms = rooms
        conf.invitations = [
            Invitation(
                officer_id=oid,
                unit_id=inv.unit_id,
                required=inv.required,
                moderator=inv.moderator,
                email=inv.officer.email,
            )
            for oid, inv in invitees.items()
        ]
        self.session.add(conf)
        self.session.flush()
        after = row_snapshot(conf)
        after.update(invitees=load, rooms=[r.code for r in rooms])
        self._audit(
            "create",
            "conference",
            conf.uid,
            before=None,
            after=after,
            unit_path=host_unit.path,
            note=f"deployment {dep.name}; {len(occurrences)} occurrence(s)",
        )
        return BookingResult(
            conference_id=conf.id,
            uid=conf.uid,
            deployment=dep.name,
            placed_elsewhere=moved,
            occurrences=len(occurrences),
            invitees=load,
            units_without_contacts=tuple(u.code for u in uncovered),
        )

    def _require_host_rights(self, conf: Conference) -> None:
        self._allow(conf.unit.path, Role.meeting_host, _no_conference(conf.id))

    def _require_scheduled(self, conf: Conference) -> None:
        if conf.status is not ConferenceStatus.scheduled:
            raise VideoconfError(
                f"Hội nghị {conf.id} đã bị hủy / conference {conf.id} is cancelled"
            )

    def cancel(self, conference_id: int, *, occurrence: datetime | None = None) -> Conference:
        """Cancel the whole conference, or one occurrence (given by its original start).

        >>> svc.cancel(12, occurrence=parse_local("08/03/2027 08:00"))   # that Monday only
        """
        conf = self.conference(conference_id)
        self._require_host_rights(conf)
        self._require_scheduled(conf)
        before = row_snapshot(conf)
        if occurrence is None:
            conf.status = ConferenceStatus.cancelled
        else:
            occ = self._occurrence(conf, occurrence)
            conf.exdates = sorted({*conf.exdates, occ.recurrence_id.isoformat()})
            for ov in list(conf.overrides):
                if ov.recurrence_id == occ.recurrence_id:
                    conf.overrides.remove(ov)
        conf.sequence += 1
        conf.updated_at = self.clock()
        self._forget(conf)
        self.session.flush()
        self._audit(
            "cancel",
            "conference",
            conf.uid,
            before=before,
            after=row_snapshot(conf),
            unit_path=conf.unit.path,
            note=None if occurrence is None else f"occurrence {fmt_local(occurrence)}",
        )
        return conf

    def reschedule(
        self,
        conference_id: int,
        *,
        start: datetime,
        end: datetime,
        occurrence: datetime | None = None,
    ) -> Conference:
        """Move the whole series (exceptions move with it) or one occurrence; SEQUENCE += 1.

        >>> svc.reschedule(12, start=parse_local("02/03/2027 14:00"),
        ...                end=parse_local("02/03/2027 16:00"))
        """
        conf = self.conference(conference_id)
        self._require_host_rights(conf)
        self._require_scheduled(conf)
        start, end = self._check_times(start, end)
        before = row_snapshot(conf)
        if occurrence is None:
            delta = start - conf.start_at
            new_ex = [(datetime.fromisoformat(x) + delta) for x in conf.exdates]
            new_ov = {
                o.recurrence_id + delta: (o.start_at + delta, o.end_at + delta)
                for o in conf.overrides
            }
            candidate = expand(
                start=start, end=end, rrule_text=conf.rrule, exdates=new_ex, overrides=new_ov
            )
        else:
            occ = self._occurrence(conf, occurrence)
            ovs = {o.recurrence_id: (o.start_at, o.end_at) for o in conf.overrides}
            ovs[occ.recurrence_id] = (start, end)
            candidate = [Occurrence(start=start, end=end, recurrence_id=occ.recurrence_id)]
        if not candidate:
            raise RecurrenceError("Không còn buổi họp nào / no occurrence left")
        required_ids = {i.officer_id for i in conf.invitations if i.required}
        conflicts = self._conflicts(
            occurrences=candidate,
            host=conf.host,
            required_ids=required_ids,
            room_ids={r.id for r in conf.rooms},
            exclude_id=conf.id,
        )
        if conflicts:
            raise BookingConflict(conflicts)
        self._place(
            occurrences=candidate,
            load=conf.expected_load,
            preferred=conf.deployment.name,
            auto_place=False,
            exclude_id=conf.id,
        )
        if occurrence is None:
            conf.start_at, conf.end_at = start, end
            conf.exdates = [x.isoformat() for x in new_ex]
            for ov in conf.overrides:
                ov.recurrence_id += delta
                ov.start_at += delta
                ov.end_at += delta
        else:
            existing = next(
                (o for o in conf.overrides if o.recurrence_id == candidate[0].recurrence_id), None
            )
            if existing is None:
                conf.overrides.append(
                    OccurrenceOverride(
                        recurrence_id=candidate[0].recurrence_id, start_at=start, end_at=end
                    )
                )
            else:
                existing.start_at, existing.end_at = start, end
        conf.sequence += 1
        conf.updated_at = self.clock()
        self.session.flush()
        self._forget(conf)
        conf.series_end_at = max(o.end for o in self.occurrences(conf))
        self.session.flush()
        self._audit(
            "reschedule",
            "conference",
            conf.uid,
            before=before,
            after=row_snapshot(conf),
            unit_path=conf.unit.path,
            note=None if occurrence is None else f"occurrence {fmt_local(occurrence)}",
        )
        return conf

    def list_query(
        self,
        *,
        unit_code: str | None = None,
        include_cancelled: bool = False,
        upcoming_only: bool = False,
    ) -> Select[Conference]:
        """A ``Select[Conference]`` filtered by host unit subtree, newest first."""
        q = select(Conference).join(Unit, Unit.id == Conference.unit_id)
        if unit_code:
            q = q.where(subtree_filter(Unit.path, self.inventory.unit(unit_code).path))
        if not include_cancelled:
            q = q.where(Conference.status == ConferenceStatus.scheduled)
        if upcoming_only:
            q = q.where(Conference.series_end_at >= self.clock())
        return q.order_by(Conference.start_at.desc(), Conference.id.desc())

    def summary(self, conf: Conference) -> ConferenceOut:
        """The list view of a conference."""
        return ConferenceOut(
            id=conf.id,
            uid=conf.uid,
            title=conf.title,
            host_code=conf.host.code,
            host_name=conf.host.full_name,
            unit_code=conf.unit.code,
            deployment=conf.deployment.name,
            start=conf.start_at,
            end=conf.end_at,
            rrule=conf.rrule,
            status=conf.status.value,
            sequence=conf.sequence,
            invitees=self.session.scalar(
                select(func.count()).where(Invitation.conference_id == conf.id)
            )
            or 0,
        )

    def detail(self, conf: Conference) -> ConferenceDetail:
        """Everything about a conference except secrets (no password, no tokens)."""
        moved = {o.recurrence_id for o in conf.overrides}
        # Invitees and participants outside the caller's subtrees are counted, not named.
        participants = [
            p
            for p in conf.participants
            if self._sees(p.unit.path if p.unit else p.officer.unit.path if p.officer else None)
        ]
        invitations = [i for i in conf.invitations if self._sees(i.unit.path)]
        return ConferenceDetail(
            **self.summary(conf).model_dump(),
            description=conf.description,
            lobby=conf.lobby,
            has_password=conf.password_blob is not None,
            room_name=conf.room_name,
            exdates=[datetime.fromisoformat(x) for x in conf.exdates],
            rooms=[r.code for r in conf.rooms],
            participants=[
                ParticipantOut(
                    kind=p.kind.value,
                    unit_code=p.unit.code if p.unit else None,
                    level=p.level,
                    unit_kinds=p.unit_kinds,
                    officer_code=p.officer.code if p.officer else None,
                    required=p.required,
                )
                for p in participants
            ],
            hidden_participants=len(conf.participants) - len(participants),
            invitations=[
                InvitationOut(
                    officer_code=i.officer.code,
                    officer_name=i.officer.full_name,
                    unit_code=i.unit.code,
                    email=i.email,
                    required=i.required,
                    moderator=i.moderator,
                    sent_sequence=i.sent_sequence,
                    sent_method=i.sent_method,
                )
                for i in invitations
            ],
            hidden_invitations=len(conf.invitations) - len(invitations),
            occurrences=[
                OccurrenceOut(
                    recurrence_id=o.recurrence_id,
                    start=o.start,
                    end=o.end,
                    moved=o.recurrence_id in moved,
                )
                for o in self.occurrences(conf)
            ],
        )

    # -- links and invitations --------------------------------------------------------------
    def join_link(self, conf: Conference, invitation: Invitation) -> str:
        """The invitee's own link: a JWT for this room, valid over the whole series."""
        dep = conf.deployment
        occ = self.occurrences(conf)
        first = occ[0].start if occ else conf.start_at
        last = max((o.end for o in occ), default=conf.end_at)
        officer = invitation.officer
        token = make_token(
            app_id=dep.app_id,
            app_secret=self.deployment_secrets(dep).app_secret,
            audience=dep.audience,
            subject=dep.domain,
            room=conf.room_name,
            user=TokenUser(
                id=officer.code,
                name=officer.full_name,
                email=invitation.email,
                moderator=invitation.moderator,
            ),
            not_before=first - EARLY_JOIN,
            expires=last + EXPIRY_GRACE,
        )
        return join_url(base_url=dep.base_url, room=conf.room_name, token=token)

    def password(self, conf: Conference) -> str | None:
        if conf.password_blob is None:
            return None
        value = self.box.open(conf.password_blob).get("password")
        return str(value) if value else None

    def _invite_event(self, conf: Conference, inv: Invitation, link: str) -> ical.InviteEvent:
        occ = self.occurrences(conf)
        recurrence_note = f"{conf.rrule} ({len(occ)} buổi)" if conf.rrule else ""
        location = "; ".join(f"{r.name} ({r.code})" for r in conf.rooms)
        body = ical.describe(
            title=conf.title,
            host=conf.host.full_name,
            when=ical.when_text(conf.start_at, conf.end_at),
            join_url=link,
            password=self.password(conf),
            lobby=conf.lobby,
            location=location,
            recurrence_note=recurrence_note,
        )
        if conf.description:
            body = f"{conf.description}\n\n{body}"
        return ical.InviteEvent(
            uid=conf.uid,
            sequence=conf.sequence,
            title=conf.title,
            description=body,
            start=conf.start_at,
            end=conf.end_at,
            rrule=conf.rrule,
            exdates=tuple(datetime.fromisoformat(x) for x in conf.exdates),
            moved=tuple(
                ical.MovedOccurrence(o.recurrence_id, o.start_at, o.end_at)
                for o in sorted(conf.overrides, key=lambda o: o.recurrence_id)
            ),
            organizer_name=conf.host.full_name,
            organizer_email=conf.host.email or "tldops@congdoan.vn",
            attendee_name=inv.officer.full_name,
            attendee_email=inv.email or "",
            join_url=link,
            location=location,
        )

    def invitation_messages(
        self,
        conf: Conference,
        *,
        mailer: Mailer,
        method: ical.Method,
        cancel_recurrence_id: datetime | None = None,
    ) -> list[tuple[Invitation, EmailMessage]]:
        """One e-mail with an ``.ics`` per invitee that has an address."""
        out: list[tuple[Invitation, EmailMessage]] = []
        stamp = self.clock()
        when = fmt_local(cancel_recurrence_id or conf.start_at)
        if method == "CANCEL":
            subject = f"Hủy hội nghị trực tuyến: {conf.title} ({when})"
        elif conf.sequence > 0:
            subject = f"Cập nhật lịch hội nghị trực tuyến: {conf.title} ({when})"
        else:
            subject = f"Thư mời hội nghị trực tuyến: {conf.title} ({when})"
        # One query for the invitees and their officers (not one per invitation).
        invitations = self.session.scalars(
            select(Invitation)
            .options(joinedload(Invitation.officer))
            .where(Invitation.conference_id == conf.id)
            .order_by(Invitation.id)
        ).all()
        for inv in invitations:
            if not inv.email:
                continue
            link = self.join_link(conf, inv)
            event = self._invite_event(conf, inv, link)
            ics = ical.build_ics(
                event, method=method, stamp=stamp, cancel_recurrence_id=cancel_recurrence_id
            )
            if method == "CANCEL":
                text = (
                    f"Kính gửi đồng chí {inv.officer.full_name},\n\n"
                    f'Hội nghị trực tuyến "{conf.title}"'
                    + (f" buổi {when}" if cancel_recurrence_id else "")
                    + " đã bị hủy. Xin bỏ qua đường dẫn đã gửi trước đây.\n"
                )
            else:
                text = f"Kính gửi đồng chí {inv.officer.full_name},\n\n{event.description}\n"
            msg = mailer.new_message(to=[inv.email], subject=subject, text=text)
            msg.add_attachment(
                ics,
                maintype="text",
                subtype="calendar",
                params={"method": method, "charset": "utf-8"},
                filename="hoi-nghi.ics",
            )
            out.append((inv, msg))
        return out

    def send_invitations(
        self,
        conference_id: int,
        *,
        mailer: Mailer,
        cancel_recurrence_id: datetime | None = None,
    ) -> int:
        """E-mail every invitee the current state (REQUEST, or CANCEL when cancelled).

        Returns how many messages were sent; invitees without an e-mail address are skipped.
        """
        conf = self.conference(conference_id)
        method: ical.Method = (
            "CANCEL"
            if conf.status is ConferenceStatus.cancelled or cancel_recurrence_id is not None
            else "REQUEST"
        )
        pairs = self.invitation_messages(
            conf, mailer=mailer, method=method, cancel_recurrence_id=cancel_recurrence_id
        )
        mailer.send_many([m for _, m in pairs])
        now = self.clock()
        for inv, _ in pairs:
            inv.sent_sequence = conf.sequence
            inv.sent_method = method
            inv.sent_at = now
        self.session.flush()
        return len(pairs)

    # -- attendance -------------------------------------------------------------------------
    def ingest_webhook(
        self, *, deployment: str, token: str | None, event: ProsodyEvent
    ) -> AttendanceEvent | None:
        """Store one Prosody occupant event; returns ``None`` for events attendance ignores.

        Raises :class:`WebhookRejected` when ``token`` is not the deployment's webhook token.
        """
        dep = self.session.scalar(select(JitsiDeployment).where(JitsiDeployment.name == deployment))
        expected = self.deployment_secrets(dep).webhook_token if dep is not None else None
        if (
            dep is None
            or expected is None
            or not token
            or not hmac.compare_digest(token.encode(), expected.encode())
        ):
            # Same answer for an unknown deployment and a wrong token: reveal nothing.
            raise WebhookRejected(
                "Webhook không hợp lệ / webhook not authenticated",
                hint="send Authorization: Bearer <deployment webhook token>",
            )
        if event.event_name not in ("muc-occupant-joined", "muc-occupant-left"):
            return None
        if event.is_breakout:
            return None
        occ = event.occupant
        if occ is None:
            raise WebhookRejected("Thiếu occupant / occupant missing in an occupant event")
        action = (
            AttendanceAction.joined
            if event.event_name == "muc-occupant-joined"
            else AttendanceAction.left
        )
        stamp = occ.joined_at if action is AttendanceAction.joined else occ.left_at
        at = datetime.fromtimestamp(stamp, UTC) if stamp else self.clock()
        room = event.room_name.strip().lower()
        conf = self.session.scalar(
            select(Conference).where(
                Conference.room_name == room, Conference.deployment_id == dep.id
            )
        )
        officer_id: int | None = None
        unit_id: int | None = None
        if conf is not None:
            inv = self._match_invitation(conf, email=occ.email, user_id=occ.id)
            if inv is not None:
                officer_id, unit_id = inv.officer_id, inv.unit_id
        if officer_id is None:
            off = self._match_officer(email=occ.email, user_id=occ.id)
            if off is not None:
                officer_id, unit_id = off.id, off.unit_id
        row = AttendanceEvent(
            deployment_id=dep.id,
            conference_id=conf.id if conf else None,
            room_name=room,
            action=action,
            at=at,
            occupant_jid=occ.occupant_jid,
            name=occ.name,
            email=occ.email,
            user_id=occ.id,
            officer_id=officer_id,
            unit_id=unit_id,
            raw=event.model_dump(mode="json"),
            received_at=self.clock(),
        )
        self.session.add(row)
        self.session.flush()
        return row

    def _match_invitation(
        self, conf: Conference, *, email: str | None, user_id: str | None
    ) -> Invitation | None:
        """The invitation this occupant is: by e-mail first, then by the JWT user id."""
        mail = (email or "").strip().lower()
        if mail:
            inv = self.session.scalar(
                select(Invitation)
                .where(Invitation.conference_id == conf.id, func.lower(Invitation.email) == mail)
                .order_by(Invitation.id)
                .limit(1)
            )
            if inv is not None:
                return inv
        if user_id:
            return self.session.scalar(
                select(Invitation)
                .join(Officer, Officer.id == Invitation.officer_id)
                .where(Invitation.conference_id == conf.id, Officer.code == user_id)
            )
        return None

    def _match_officer(self, *, email: str | None, user_id: str | None) -> Officer | None:
        if email:
            off = self.session.scalar(
                select(Officer)
                .where(func.lower(Officer.email) == email.strip().lower())
                .order_by(Officer.id)
                .limit(1)
            )
            if off is not None:
                return off
        if user_id:
            return self.session.scalar(select(Officer).where(Officer.code == user_id))
        return None

    def attendance_report(
        self, conference_id: int, *, occurrence: datetime | None = None
    ) -> AttendanceReport:
        """Who joined, when and for how long, per unit; and the invited units that never joined.

        ``occurrence`` (original start) limits the report to that sitting.
        """
        conf = self.visible_conference(conference_id)
        occs = self.occurrences(conf)
        q = select(AttendanceEvent).where(AttendanceEvent.conference_id == conf.id)
        window: Occurrence | None = None
        if occurrence is not None:
            window = self._occurrence(conf, occurrence)
            q = q.where(
                AttendanceEvent.at >= window.start - ATTENDANCE_SLACK,
                AttendanceEvent.at <= window.end + ATTENDANCE_SLACK,
            )
        events = list(self.session.scalars(q.order_by(AttendanceEvent.at, AttendanceEvent.id)))
        now = self.clock()

        def close_at(joined: datetime) -> datetime:
            """An unclosed session ends with its occurrence (or now, if that is sooner)."""
            for o in occs:
                if o.start - ATTENDANCE_SLACK <= joined <= o.end:
                    return max(joined, min(o.end, now))
            return joined

        # Sessions per occupant JID (one JID per browser session in Jitsi).
        open_: dict[str, AttendanceEvent] = {}
        sessions: list[tuple[AttendanceEvent, datetime, datetime | None]] = []
        for ev in events:
            if ev.action is AttendanceAction.joined:
                if ev.occupant_jid in open_:
                    prev = open_[ev.occupant_jid]
                    sessions.append((prev, prev.at, ev.at))
                open_[ev.occupant_jid] = ev
            else:
                start_ev = open_.pop(ev.occupant_jid, None)
                if start_ev is not None:
                    sessions.append((start_ev, start_ev.at, ev.at))
                else:
                    sessions.append((ev, ev.at, ev.at))
        for ev in open_.values():
            sessions.append((ev, ev.at, None))

        def minutes(intervals: list[tuple[datetime, datetime]]) -> int:
            total = timedelta()
            cur_s: datetime | None = None
            cur_e: datetime | None = None
            for s, e in sorted(intervals):
                if cur_e is None or s > cur_e:
                    if cur_s is not None and cur_e is not None:
                        total += cur_e - cur_s
                    cur_s, cur_e = s, e
                else:
                    cur_e = max(cur_e, e)
            if cur_s is not None and cur_e is not None:
                total += cur_e - cur_s
            return int(total.total_seconds() // 60)

        by_person: dict[str, list[tuple[AttendanceEvent, datetime, datetime | None]]] = defaultdict(
            list
        )
        for s in sessions:
            ev = s[0]
            key = (
                f"o{ev.officer_id}"
                if ev.officer_id
                else f"e{(ev.email or '').lower()}"
                if (ev.email)
                else f"j{ev.occupant_jid}"
            )
            by_person[key].append(s)
        officers = {
            o.id: o
            for o in self.session.scalars(
                select(Officer).where(
                    Officer.id.in_([e.officer_id for e in events if e.officer_id] or [-1])
                )
            )
        }
        unit_ids = {e.unit_id for e in events if e.unit_id}
        units = {
            u.id: u
            for u in self.session.scalars(select(Unit).where(Unit.id.in_(list(unit_ids) or [-1])))
        }
        attendees: list[AttendeeLine] = []
        unit_intervals: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        unit_people: dict[int, list[str]] = defaultdict(list)
        unit_first: dict[int, datetime] = {}
        unit_last: dict[int, datetime] = {}
        unmatched = 0
        for person in by_person.values():
            first_ev = person[0][0]
            intervals = [(s, e if e is not None else close_at(s)) for _, s, e in person]
            left = [e for _, _, e in person if e is not None]
            off = officers.get(first_ev.officer_id) if first_ev.officer_id else None
            unit = units.get(first_ev.unit_id) if first_ev.unit_id else None
            name = off.full_name if off else first_ev.name
            line = AttendeeLine(
                name=name,
                email=first_ev.email,
                officer_code=off.code if off else None,
                unit_code=unit.code if unit else None,
                first_join=min(s for _, s, _ in person),
                last_leave=max(left) if left else None,
                minutes=minutes(intervals),
                sessions=len(person),
            )
            attendees.append(line)
            if unit is None:
                unmatched += 1
                continue
            unit_intervals[unit.id].extend(intervals)
            unit_people[unit.id].append(name or first_ev.occupant_jid)
            unit_first[unit.id] = min(unit_first.get(unit.id, line.first_join), line.first_join)
            if line.last_leave is not None:
                unit_last[unit.id] = max(unit_last.get(unit.id, line.last_leave), line.last_leave)
        expected = self.expected_units(conf)
        report_units: list[UnitAttendance] = []
        never: list[UnitAttendance] = []
        listed = {u.id for u in expected} | set(unit_intervals)
        all_units = {u.id: u for u in expected} | units
        visible_codes = {u.code for u in all_units.values() if self._sees(u.path)}
        hidden_units = sum(1 for uid in listed if not self._sees(all_units[uid].path))
        listed = {uid for uid in listed if self._sees(all_units[uid].path)}
        for uid in sorted(listed, key=lambda i: all_units[i].path):
            unit = all_units[uid]
            joined = uid in unit_intervals
            row = UnitAttendance(
                unit_code=unit.code,
                unit_name=unit.name,
                joined=joined,
                first_join=unit_first.get(uid),
                last_leave=unit_last.get(uid),
                minutes=minutes(unit_intervals[uid]) if joined else 0,
                attendees=sorted(unit_people.get(uid, [])),
            )
            report_units.append(row)
            if not joined:
                never.append(row)
        # People of units outside the caller's subtrees are counted, not named.
        shown = [a for a in attendees if a.unit_code is None or a.unit_code in visible_codes]
        hidden_attendees = len(attendees) - len(shown)
        attendees = sorted(shown, key=lambda a: (a.first_join, a.name or ""))
        return AttendanceReport(
            conference_id=conf.id,
            title=conf.title,
            occurrence=window.recurrence_id if window else None,
            units=report_units,
            never_joined=never,
            attendees=attendees,
            unmatched_participants=unmatched,
            hidden_units=hidden_units,
            hidden_attendees=hidden_attendees,
        )


# One message for a missing record and for one outside the principal's sight.
def _no_conference(conference_id: int) -> NotFound:
    return NotFound(
        f"Không có hội nghị số {conference_id} / no conference {conference_id}",
        hint="list them with `tldops conf list`",
    )


def _no_officer(code: str) -> NotFound:
    return NotFound(f"Không có cán bộ mã {code!r} / no officer with code {code!r}")


def _no_unit(code: str) -> NotFound:
    return NotFound(f"Không có đơn vị mã {code!r} / no unit with code {code!r}")
