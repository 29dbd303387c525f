"""The tldops exception tree.

Every package raises subclasses of :class:`OpsError`, so a front door (the CLI, the HTTP API)
can turn any user mistake into a clear message and exit code instead of a traceback::

    OpsError                      base of everything tldops raises on purpose
    ├── ConfigError               the environment is wrong (missing secret key, bad database URL)
    ├── NotFound                  a code, tag or id that does not exist
    ├── Conflict                  the change would break a uniqueness or consistency rule
    ├── ValidationFailed          user input is bad; carries every :class:`Problem` found
    ├── PermissionDenied          the principal has no grant for this unit subtree
    └── SecretError               a secret cannot be decrypted (wrong or rotated key)

Other domains root their own trees here (``monitoring.errors.PollError(OpsError)`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass


class OpsError(Exception):
    """Base class of every error tldops raises on purpose.

    ``message`` is shown to the user as is; ``hint`` says how to fix it. ``exit_code`` is what
    the CLI exits with and ``http_status`` what the API answers; subclasses set both on the
    class, so a front door never has to guess from the type.
    """

    exit_code: int = 1
    http_status: int = 422

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  → {self.hint}"


class ConfigError(OpsError):
    """The environment or configuration is wrong."""

    exit_code = 2
    http_status = 500


class NotFound(OpsError):
    """A referenced object does not exist."""

    exit_code = 2
    http_status = 404


class Conflict(OpsError):
    """The change conflicts with existing data."""

    exit_code = 2
    http_status = 409


class PermissionDenied(OpsError):
    """The acting principal may not do this on this unit."""

    exit_code = 3
    http_status = 403


class SecretError(OpsError):
    """A secret could not be encrypted or decrypted."""

    exit_code = 2
    http_status = 500


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one value of user input.

    ``row`` is the 1-based line number in the file (the header is line 1), or ``None`` when the
    problem is not tied to a row. ``why_vi`` and ``why_en`` say what is wrong and how to fix it.

    >>> Problem(file="units.csv", row=3, column="level", value="9",
    ...         why_vi="cấp phải từ 1 đến 4", why_en="level must be 1 to 4").render()
    'units.csv, dòng/row 3, cột/column level = "9": cấp phải từ 1 đến 4 / level must be 1 to 4'
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    why_vi: str
    why_en: str
    # The workbook sheet the row is on (None for CSV files and single-sheet imports).
    sheet: str | None = None

    def render(self) -> str:
        where = [self.file if self.sheet is None else f"{self.file} [{self.sheet}]"]
        if self.row is not None:
            where.append(f"dòng/row {self.row}")
        if self.column is not None:
            col = f"cột/column {self.column}"
            if self.value is not None:
                col += f' = "{self.value}"'
            where.append(col)
        return f"{', '.join(where)}: {self.why_vi} / {self.why_en}"


class ValidationFailed(OpsError):
    """User input has problems; nothing was written. ``problems`` lists every one."""

    exit_code = 2

    def __init__(self, problems: list[Problem], *, message: str | None = None) -> None:
        self.problems = problems
        n = len(problems)
        super().__init__(
            message
            or f"{n} lỗi trong dữ liệu nhập, không có gì được ghi / "
            f"{n} problem(s) in the input, nothing was written"
        )
