"""The examples in the monitoring modules' docstrings run and say what they claim."""

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
