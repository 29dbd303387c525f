"""The web app's front door: who may scrape /metrics, the scheduler under any server, /docs
without a CDN."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inventory.db import make_engine, upgrade
from ops_cli.scheduler import Job, Scheduler
from ops_cli.web import app_from_env, create_app
from tests.ops_cli.conftest import World


def test_metrics_only_for_the_scraper_or_the_whole_tree(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(world.app, client=("127.0.0.1", 5000)) as local:
        assert local.get("/metrics").status_code == 200
        # Behind a reverse proxy on the same host every client is loopback: not trusted.
        relayed = local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert relayed.status_code == 401
    with TestClient(world.app, client=("198.18.0.77", 5000)) as remote:
        assert remote.get("/metrics").status_code == 401
        province = remote.get("/metrics", headers=world.headers("viewer_hni"))
        assert province.status_code == 403 and "tldops_" not in province.text
        assert remote.get("/metrics", headers=world.headers("admin")).status_code == 200
        monkeypatch.setenv("TLDOPS_METRICS_TOKEN", "scrape-token-0123456789abcdef")
        scraper = {"Authorization": "Bearer scrape-token-0123456789abcdef"}
        scraped = remote.get("/metrics", headers=scraper)
        assert scraped.status_code == 200 and "tldops_" in scraped.text


def test_scheduler_runs_under_the_server_lifespan(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine)
    ran = threading.Event()
    sched = Scheduler(engine, jobs=[Job(name="probe", func=ran.set, every=60.0)])
    app = create_app(engine, secure_cookies=False, scheduler=sched)
    with TestClient(app):
        assert ran.wait(10), "the scheduler did not start with the server"
    assert sched._thread is None  # stopped with the server


def test_factory_app_has_the_scheduler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TLDOPS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TLDOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'f.db'}")
    app = app_from_env()
    assert app.state.scheduler is not None and app.state.scheduler.jobs
    assert (tmp_path / "var").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "var" / "f.db").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("TLDOPS_SCHEDULER", "off")
    assert app_from_env().state.scheduler is None


def test_docs_served_without_a_cdn(world: World) -> None:
    with TestClient(world.app) as c:
        page = c.get("/docs")
        assert page.status_code == 200
        assert "https://" not in page.text and "/static/swagger/swagger-ui-bundle.js" in page.text
        js = c.get("/static/swagger/swagger-ui-bundle.js")
        assert js.status_code == 200 and len(js.content) > 100_000
        assert c.get("/static/swagger/../../etc/passwd").status_code == 404
        assert c.get("/static/swagger/index.html").status_code == 404
