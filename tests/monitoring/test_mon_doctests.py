"""Docstring examples run as written, and settings errors read well."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "monitoring.snmp",
        "monitoring.snmp_ber",
        "monitoring.rates",
        "monitoring.promstack",
        "monitoring.service",
        "monitoring.checks",
        "monitoring.notify",
        "monitoring.alerts",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0


def test_bad_monitoring_settings_are_a_clear_error() -> None:
    from monitoring.errors import ConfigInvalid
    from monitoring.service import MonitorSettings

    with pytest.raises(ConfigInvalid) as exc:
        MonitorSettings.from_env({"TLDOPS_MONITOR_ALLOWED_NETS": "127.0.0.0/8,not-a-net"})
    assert "TLDOPS_MONITOR_ALLOWED_NETS" in str(exc.value)
    with pytest.raises(ConfigInvalid):
        MonitorSettings.from_env({"TLDOPS_MONITOR_TIMEOUT": "soon"})
    ok = MonitorSettings.from_env({"TLDOPS_MONITOR_ALLOWED_NETS": "127.0.0.0/8, 198.18.0.0/15"})
    assert [str(n) for n in ok.nets] == ["127.0.0.0/8", "198.18.0.0/15"]
