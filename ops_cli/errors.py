"""Errors of the web front door and the account store.

::

    OpsError
    └── AccountError                 anything about accounts
        ├── LoginFailed              wrong username/password, or the account is disabled
        │   └── AccountLocked        too many failures of one username from one address
        ├── TooManyAttempts          too many failed logins from one client address
        ├── PasswordRejected         a new password is too weak or equals the old one
        └── CsrfFailed               an unsafe request without the session's CSRF token
"""

from __future__ import annotations

from inventory.errors import OpsError, PermissionDenied


class AccountError(OpsError):
    """Base of the account errors."""

    exit_code = 2


class LoginFailed(AccountError):
    """Username or password wrong (deliberately not saying which)."""

    http_status = 401


class AccountLocked(LoginFailed):
    """One (username, client address) pair failed too often and is refused for a while.

    Answered exactly like :class:`LoginFailed` (same status and message), so the lock does not
    tell a client that the username exists; the class exists for the service's own records.
    """


class TooManyAttempts(AccountError):
    """The client address made too many failed attempts recently."""

    http_status = 429


class PasswordRejected(AccountError):
    """A proposed password does not meet the policy."""


class CsrfFailed(PermissionDenied):
    """The request did not carry the CSRF token of its session."""
