"""Errors of the training domain, rooted at :class:`inventory.errors.OpsError`::

    OpsError
    ├── TrainingError            a training rule would be broken (exit 2)
    │   ├── NotEnrolled          a result or attendance for someone not enrolled in the class
    │   └── PlanImpossible       the plan cannot reach 100 % by the date asked
    └── MoodleError              the Moodle web service refused or failed (exit 1)
        ├── MoodleAuthError      invalid or expired token (errorcode invalidtoken, accessexception)
        └── MoodleCourseError    the course does not exist on the Moodle site

Lookups of unknown codes raise :class:`inventory.errors.NotFound`, duplicates
:class:`inventory.errors.Conflict`, bad files :class:`inventory.errors.ValidationFailed`.
"""

from __future__ import annotations

from inventory.errors import OpsError


class TrainingError(OpsError):
    """A training rule would be broken."""

    exit_code = 2


class NotEnrolled(TrainingError):
    """The officer holds no seat in the class (not enrolled, waiting or withdrawn)."""

    http_status = 404


class PlanImpossible(TrainingError):
    """No schedule of classes fits before the target date."""


class MoodleError(OpsError):
    """The Moodle web service answered with an error or could not be reached.

    ``errorcode`` is Moodle's own code (``invalidtoken``, ``invalidrecord`` ...) when it sent one.
    """

    exit_code = 1
    http_status = 502  # the upstream LMS failed, not the caller's input

    def __init__(self, message: str, *, errorcode: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.errorcode = errorcode


class MoodleAuthError(MoodleError):
    """The web-service token was refused."""


class MoodleCourseError(MoodleError):
    """The Moodle course id does not exist."""
