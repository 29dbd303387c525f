"""The videoconf exception tree (every class is an :class:`inventory.errors.OpsError`)::

    VideoconfError                  base of everything videoconf raises on purpose
    ├── BookingConflict             a person or a physical room is already booked at that time
    │                               (``conflicts`` names who/what and which occurrence)
    ├── CapacityExceeded            the overlapping load would exceed the Jitsi deployment(s)
    ├── RecurrenceError             an RRULE/EXDATE or a time the user typed cannot be used
    ├── WebhookRejected             a Prosody webhook with a wrong token or an unusable payload
    └── JitsiUnavailable            a Jitsi endpoint did not answer after the bounded retries

Not-found cases raise :class:`inventory.errors.NotFound` so front doors map them to 404 / exit 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from inventory.errors import Conflict, OpsError


class VideoconfError(OpsError):
    """Base of the videoconf errors."""

    exit_code = 2


@dataclass(frozen=True)
class ConflictDetail:
    """One reason a booking is refused: what clashes, with which conference, at which occurrence.

    >>> ConflictDetail(kind="host", subject="CB001 Nguyễn Văn An", other_conference="Giao ban",
    ...                occurrence_local="02/03/2027 08:00").render()
    'chủ trì/host CB001 Nguyễn Văn An: trùng/clashes with "Giao ban" at 02/03/2027 08:00'
    """

    kind: str  # host | participant | room | capacity
    subject: str
    other_conference: str  # empty when the caller may not see that conference
    occurrence_local: str

    # Not annotated, so a class constant rather than a dataclass field.
    _LABELS = {
        "host": "chủ trì/host",
        "participant": "đại biểu bắt buộc/required participant",
        "room": "phòng họp/room",
        "capacity": "máy chủ/deployment",
    }

    def render(self) -> str:
        label = self._LABELS.get(self.kind, self.kind)
        if not self.other_conference:
            # A conference the caller may not see: only that one exists at that time.
            return (
                f"{label} {self.subject}: trùng một hội nghị khác/clashes with another "
                f"conference at {self.occurrence_local}"
            )
        return (
            f"{label} {self.subject}: trùng/clashes with "
            f'"{self.other_conference}" at {self.occurrence_local}'
        )


class BookingConflict(Conflict, VideoconfError):
    """The host, a required participant or a physical room is double-booked."""

    exit_code = 2

    def __init__(self, conflicts: list[ConflictDetail]) -> None:
        self.conflicts = conflicts
        lines = "\n".join(f"  • {c.render()}" for c in conflicts[:20])
        more = f"\n  … +{len(conflicts) - 20}" if len(conflicts) > 20 else ""
        super().__init__(
            f"Không đặt được lịch: {len(conflicts)} xung đột / "
            f"cannot book: {len(conflicts)} conflict(s)\n{lines}{more}",
            hint="choose another time or room, or make the clashing participants optional "
            "(--optional-unit / --optional-officer)",
        )


@dataclass(frozen=True)
class CapacityShortfall:
    """How far one deployment is over capacity at one occurrence."""

    deployment: str
    occurrence_local: str
    load: int
    limit: int
    reason: str  # participants | bandwidth

    def render(self) -> str:
        what = (
            "người tham dự/participants"
            if self.reason == "participants"
            else "băng thông/bandwidth"
        )
        return f"{self.deployment} at {self.occurrence_local}: {self.load} > {self.limit} ({what})"


class CapacityExceeded(Conflict, VideoconfError):
    """No deployment can carry the overlapping load."""

    exit_code = 2

    def __init__(self, shortfalls: list[CapacityShortfall]) -> None:
        self.shortfalls = shortfalls
        lines = "\n".join(f"  • {s.render()}" for s in shortfalls[:20])
        super().__init__(
            "Vượt công suất máy chủ hội nghị / the Jitsi deployment capacity would be "
            f"exceeded\n{lines}",
            hint="pick another time, allow --auto-place on another deployment, or raise the "
            "deployment's declared capacity",
        )


class RecurrenceError(VideoconfError):
    """A recurrence rule, exception date or time value is unusable."""


class WebhookRejected(VideoconfError):
    """A webhook call was not authenticated or its payload is not understood."""


class JitsiUnavailable(VideoconfError):
    """A Jitsi endpoint could not be reached after bounded retries."""

    exit_code = 1
    http_status = 503
