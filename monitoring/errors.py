"""Errors raised by the monitoring package::

    OpsError (inventory.errors)
    └── MonitoringError          base of everything monitoring raises on purpose
        ├── ConfigInvalid        a monitoring setting or an export directory is unusable
        ├── AlertNotFound        an alert id that does not exist (or is not visible)
        ├── NotifyError          a notification channel failed (SMTP, webhook)
        └── ExportFailed         a generated Prometheus/Alertmanager file could not be written

Per-device failures (a dead agent, a wrong key) are *data* (``DeviceSample.status``), never
exceptions: one dead device never stops a poll cycle.
"""

from __future__ import annotations

from inventory.errors import NotFound, OpsError


class MonitoringError(OpsError):
    """Base of the monitoring error tree."""


class ConfigInvalid(MonitoringError):
    exit_code = 2


class AlertNotFound(NotFound, MonitoringError):
    """No alert (or silence, maintenance window) with that id is visible to the caller."""


class NotifyError(MonitoringError):
    """A notification could not be delivered."""


class ExportFailed(MonitoringError):
    """Generated configuration could not be written."""
