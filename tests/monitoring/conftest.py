"""Fixtures for the monitoring tests; the peers themselves live in ``monpeers.py``."""

from tests.monitoring.monpeers import clock, smtp_server, snmpd, snmpsim, webhook_sink

__all__ = ["clock", "smtp_server", "snmpd", "snmpsim", "webhook_sink"]
