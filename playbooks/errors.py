"""Errors of the playbooks domain, rooted at :class:`inventory.errors.OpsError`::

    OpsError
    └── PlaybookError              base of this package
        ├── PlaybookNotFound       no such playbook file (exit 2)
        ├── RunFailed              ansible-runner could not start or crashed
        ├── DeviceUnreachable      SSH to a device failed (auth, host key, timeout, hang)
        ├── ConfigRepoError        the config git repository is broken
        ├── BackupError            a database backup or restore failed
        ├── VerifyFailed           a restored backup does not match its source
        └── FailoverError          a failover drill could not complete

Per-device operations do not raise :class:`DeviceUnreachable` to the caller: they return it
inside a result so one dead device never stops a run.
"""

from __future__ import annotations

from inventory.errors import NotFound, OpsError


class PlaybookError(OpsError):
    """Base of every error of the playbooks domain."""


class PlaybookNotFound(NotFound, PlaybookError):
    """No playbook, run or backup by that name or id (or not visible to the caller)."""


class RunFailed(PlaybookError):
    pass


class DeviceUnreachable(PlaybookError):
    pass


class ConfigRepoError(PlaybookError):
    pass


class BackupError(PlaybookError):
    pass


class VerifyFailed(PlaybookError):
    pass


class FailoverError(PlaybookError):
    pass
