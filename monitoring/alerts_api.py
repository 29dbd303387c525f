"""``/api/alerts``: the alias the web issue names, as its own module so the web app can mount it
like any domain router (``router`` attribute): list alerts, acknowledge one.

The same operations live under ``/api/monitoring/alerts`` (see :mod:`monitoring.api`).
"""

from __future__ import annotations

from monitoring.api import alerts_router as router

__all__ = ["router"]
