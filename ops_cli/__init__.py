"""The front doors of tldops: the ``tldops`` CLI and the web app / HTTP API.

* :mod:`ops_cli.cli` — the Typer app that mounts every domain's commands.
* :mod:`ops_cli.up` — ``tldops up``: migrate, (demo) seed, first admin, scheduler, serve.
* :mod:`ops_cli.web` — ``create_app(engine)``: authentication (session cookie or API token),
  CSRF, error mapping, every domain's router, ``/metrics``.
* :mod:`ops_cli.pages` + ``templates/`` — the dashboard (Jinja2, Vietnamese by default).
* :mod:`ops_cli.accounts`, :mod:`ops_cli.models`, :mod:`ops_cli.accounts_cli` — local accounts,
  grants on unit subtrees, sessions, API tokens; ``tldops user ...``.
* :mod:`ops_cli.scheduler` — periodic domain jobs, each isolated.
"""
