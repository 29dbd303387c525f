"""The Prometheus collector (fresh registry per test), the ``tldops monitor`` CLI in-process,
and the HTTP API on a small FastAPI app that provides the state ``ops_cli`` would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from inventory.db import make_engine, session_scope
from inventory.enums import DeviceKind
from inventory.errors import OpsError
from inventory.models import Unit
from inventory.security import Grant, Principal, Role
from inventory.service import record_event
from monitoring.alerts_api import router as alias_router
from monitoring.api import router
from monitoring.collector import make_collector
from monitoring.jobs import alert_cycle, poll_cycle
from monitoring.models import Alert, AlertState, Silence
from monitoring.service import MonitorSettings
from tests.monitoring.monpeers import FakeClock, Snmpd, Snmpsim, add_snmp_device, build_org

SETTINGS = MonitorSettings(allowed_nets="127.0.0.0/8", timeout=0.5, retries=0)


def populated(url: str, snmpsim: Snmpsim, clock: FakeClock) -> Engine:
    engine = make_engine(url)
    with session_scope(engine) as s:
        build_org(s)
        add_snmp_device(
            s,
            tag="HN-SW-01",
            kind=DeviceKind.switch,
            unit="HN-BD",
            port=snmpsim.port,
            community="switch",
            site="HN-BD-OFFICE",
        )
        add_snmp_device(
            s, tag="HCM-UPS-01", kind=DeviceKind.ups, unit="HCM", port=snmpsim.port, community="ups"
        )
        # A demo device in the benchmarking range: never contacted, reported as not polled.
        add_snmp_device(
            s,
            tag="DEMO-SW",
            kind=DeviceKind.switch,
            unit="HCM",
            port=161,
            community="x",
            ip="198.18.5.5",
        )
        hn = s.scalar(select(Unit).where(Unit.code == "HN"))
        record_event(
            s,
            source="playbooks.backup",
            kind="backup_succeeded",
            message="ok",
            unit_id=hn.id,
            data={"target": "db-main", "backup_kind": "db"},
            at=clock() - timedelta(hours=1),
        )
    asyncio.run(poll_cycle(engine, settings=SETTINGS, clock=clock))
    clock.advance(minutes=2)
    alert_cycle(engine, clock=clock, mailer=None, settings=SETTINGS)
    return engine


def test_collector_samples_with_org_labels(
    sqlite_url: str, snmpsim: Snmpsim, clock: FakeClock
) -> None:
    engine = populated(sqlite_url, snmpsim, clock)
    registry = CollectorRegistry()
    registry.register(make_collector(engine))
    families = {
        f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    up = {s.labels["device"]: s for s in families["tldops_device_up"].samples}
    assert set(up) == {"hn-sw-01", "hcm-ups-01"}  # the skipped demo device is not "down"
    sw = up["hn-sw-01"]
    assert sw.value == 1.0
    assert sw.labels == {
        "unit": "HN-BD",
        "province": "HN",
        "site": "HN-BD-OFFICE",
        "kind": "switch",
        "device": "hn-sw-01",
        "instance": "127.0.0.1",
    }
    polled = {s.labels["device"]: s.value for s in families["tldops_device_polled"].samples}
    assert polled["demo-sw"] == 0.0
    ifs = {s.labels["interface"]: s for s in families["tldops_interface_in_octets"].samples}
    assert ifs["Gi0/1"].value == 123_456_789 and ifs["Gi0/1"].labels["alias"] == "uplink to VNPT"
    assert families["tldops_ups_on_battery"].samples[0].value == 1.0
    assert families["tldops_ups_minutes_remaining"].samples[0].value == 6.0
    (backup,) = families["tldops_backup_last_success_timestamp_seconds"].samples
    assert backup.labels == {"target": "db-main", "backup_kind": "db"}
    assert backup.value == pytest.approx((clock() - timedelta(hours=1, minutes=2)).timestamp())
    firing = {
        (s.labels["state"], s.labels["province"]): s.value
        for s in families["tldops_alerts"].samples
    }
    assert firing[("firing", "HCM")] >= 1  # ups_on_battery fired after its 1 minute


def test_collector_limited_to_a_subtree(
    sqlite_url: str, snmpsim: Snmpsim, clock: FakeClock
) -> None:
    """``path_prefix`` keeps other provinces' devices, interfaces, alerts and backups out."""
    engine = populated(sqlite_url, snmpsim, clock)
    with session_scope(engine) as s:
        paths = {u.code: u.path for u in s.scalars(select(Unit))}

    def scrape(prefix: Any) -> dict[str, Any]:
        registry = CollectorRegistry()
        registry.register(make_collector(engine, path_prefix=prefix))
        text = generate_latest(registry).decode()
        return {f.name: f for f in text_string_to_metric_families(text)}

    def devices(fams: dict[str, Any], name: str) -> set[str]:
        return {smp.labels["device"] for smp in fams[name].samples}

    everything = scrape(None)
    assert devices(everything, "tldops_device_polled") == {"hn-sw-01", "hcm-ups-01", "demo-sw"}
    hn = scrape(paths["HN"])
    assert devices(hn, "tldops_device_polled") == {"hn-sw-01"}
    assert devices(hn, "tldops_interface_in_octets") == {"hn-sw-01"}
    assert not hn["tldops_ups_on_battery"].samples
    assert {smp.labels["province"] for smp in hn["tldops_alerts"].samples} <= {"HN"}
    assert len(hn["tldops_backup_last_success_timestamp_seconds"].samples) == 1  # HN's event
    hcm = scrape([paths["HCM"]])
    assert devices(hcm, "tldops_device_polled") == {"hcm-ups-01", "demo-sw"}
    assert {smp.labels["province"] for smp in hcm["tldops_alerts"].samples} == {"HCM"}
    assert not hcm["tldops_backup_last_success_timestamp_seconds"].samples
    both = scrape([paths["HN"], paths["HCM"]])
    assert devices(both, "tldops_device_polled") == devices(everything, "tldops_device_polled")


def test_cli_poll_status_alerts_ack_silence_export(
    sqlite_url: str, snmpd: Snmpd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ops_cli.cli import app

    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        build_org(s)
        add_snmp_device(
            s,
            tag="HN-SW-01",
            kind=DeviceKind.switch,
            unit="HN",
            port=snmpd.port,
            community=snmpd.community,
        )
        add_snmp_device(
            s,
            tag="DEMO-SW",
            kind=DeviceKind.switch,
            unit="HCM",
            port=161,
            community="x",
            ip="198.18.5.5",
        )
    env = {
        "TLDOPS_DATABASE_URL": sqlite_url,
        "TLDOPS_MONITOR_ALLOWED_NETS": "127.0.0.0/8",
        "TLDOPS_MONITOR_TIMEOUT": "0.5",
        "TLDOPS_MONITOR_RETRIES": "0",
        "TLDOPS_SMTP_PORT": "1",
        "TLDOPS_ACTOR": "it.hn",
        "COLUMNS": "200",
    }
    runner = CliRunner()
    r = runner.invoke(app, ["monitor", "poll", "--once", "--no-checks"], env=env)
    assert r.exit_code == 0, r.output
    assert "up 1" in r.output and "not polled 1" in r.output
    r = runner.invoke(app, ["monitor", "status", "--unit", "TLD"], env=env)
    assert r.exit_code == 0, r.output
    assert "not polled (outside allowed networks)" in r.output and "tmon-snmpd" in r.output
    r = runner.invoke(app, ["monitor", "status", "--unit", "NOPE"], env=env)
    assert r.exit_code == 2 and "NOPE" in r.output

    # An alert to list and acknowledge (a stored backup failure fires at once).
    with session_scope(engine) as s:
        hn = s.scalar(select(Unit).where(Unit.code == "HN"))
        record_event(
            s,
            source="playbooks.backup",
            kind="backup_failed",
            message="disk full",
            unit_id=hn.id,
            data={"target": "db-main", "backup_kind": "db"},
        )
    r = runner.invoke(app, ["monitor", "evaluate"], env=env)
    assert r.exit_code == 0 and "firing 1" in r.output, r.output
    r = runner.invoke(app, ["monitor", "alerts", "--unit", "HN"], env=env)
    assert "backup_failed" in r.output
    with session_scope(engine) as s:
        alert_id = s.scalar(select(Alert.id))
    r = runner.invoke(app, ["monitor", "ack", str(alert_id), "--comment", "đang xử lý"], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["monitor", "ack", "99999"], env=env)
    assert r.exit_code == 2 and "99999" in r.output
    r = runner.invoke(
        app,
        ["monitor", "silence", "--unit", "HN", "--hours", "1", "--rule", "device_down"],
        env=env,
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "monitor",
            "maintenance",
            "--unit",
            "HCM",
            "--start",
            "2026-12-01T22:00",
            "--end",
            "2026-12-01T21:00",
        ],
        env=env,
    )
    assert r.exit_code == 2 and "end must be after start" in r.output
    with session_scope(engine) as s:
        a = s.get(Alert, alert_id)
        assert a is not None and a.acknowledged_by == "it.hn" and a.ack_comment == "đang xử lý"
        (sil,) = s.scalars(select(Silence)).all()
        assert sil.rule == "device_down" and sil.created_by == "it.hn"
    r = runner.invoke(app, ["monitor", "unsilence", str(sil.id)], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["monitor", "silences"], env=env)
    assert "device_down" not in r.output
    out = tmp_path / "prom"
    r = runner.invoke(app, ["monitor", "export-prometheus", str(out), "--shards", "2"], env=env)
    assert r.exit_code == 0, r.output
    assert (out / "prometheus-shard-1.yml").exists() and (out / "snmp.yml").exists()
    assert "2 targets" in r.output
    # No flag: the secrets are in snmp.yml (0600), and the command says so.
    assert snmpd.community in (out / "snmp.yml").read_text()
    assert (out / "snmp.yml").stat().st_mode & 0o777 == 0o600
    assert "holds the SNMP secrets (mode 0600)" in r.output
    r = runner.invoke(app, ["monitor", "export-prometheus", str(out), "--placeholders"], env=env)
    assert r.exit_code == 0, r.output
    assert snmpd.community not in (out / "snmp.yml").read_text()
    assert "${TLDOPS_CRED_CRED_HN_SW_01_COMMUNITY}" in (out / "snmp.yml").read_text()
    assert (out / "snmp.yml").stat().st_mode & 0o777 == 0o644
    assert "placeholders" in r.output


@pytest.fixture
def api(
    sqlite_url: str, snmpsim: Snmpsim, clock: FakeClock
) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    engine = populated(sqlite_url, snmpsim, clock)
    with session_scope(engine) as s:
        paths = {u.code: u.path for u in s.scalars(select(Unit))}
    principals = {
        "admin": Principal.system("admin"),
        "hn": Principal(name="it.hn", grants=(Grant(Role.it_staff, paths["HN"]),)),
        "hcm-viewer": Principal(name="v.hcm", grants=(Grant(Role.viewer, paths["HCM"]),)),
    }
    app = FastAPI()
    app.state.engine = engine

    @app.middleware("http")
    async def who(request: Request, call_next: Any) -> Any:
        request.state.principal = principals.get(request.headers.get("x-test-user", ""))
        return await call_next(request)

    # What the web app's error mapping does (the status an error class carries).
    @app.exception_handler(OpsError)
    async def ops_error(_request: Request, exc: OpsError) -> JSONResponse:
        return JSONResponse({"error": {"message": exc.message}}, status_code=exc.http_status)

    app.include_router(router)
    app.include_router(alias_router)  # what the web app mounts for /api/alerts
    with TestClient(app) as client:
        yield client, principals
    engine.dispose()


def test_api_status_alerts_ack_silence_checks(api: tuple[TestClient, dict[str, Any]]) -> None:
    client, _ = api
    admin = {"x-test-user": "admin"}
    st = client.get("/api/monitoring/status", headers=admin).json()
    assert st["unit"]["code"] == "TLD" and st["unit"]["up"] == 2 and st["unit"]["not_polled"] == 1
    kids = {c["code"]: c for c in st["children"]}
    assert set(kids) == {"HN", "HCM"}
    assert (kids["HN"]["devices"], kids["HN"]["up"], kids["HN"]["not_polled"]) == (1, 1, 0)
    assert (kids["HCM"]["devices"], kids["HCM"]["up"], kids["HCM"]["not_polled"]) == (2, 1, 1)
    assert kids["HCM"]["alerts_firing"] >= 1 and kids["HN"]["alerts_firing"] == 0
    assert st["devices_total"] == 3 and len(st["devices"]) == 3
    skipped = client.get(
        "/api/monitoring/status", params={"device_status": "skipped", "limit": 1}, headers=admin
    ).json()
    assert skipped["devices_total"] == 1 and [d["asset_tag"] for d in skipped["devices"]] == [
        "DEMO-SW"
    ]
    demo = next(d for d in st["devices"] if d["asset_tag"] == "DEMO-SW")
    assert demo["status"] == "skipped" and demo["detail"] == "not polled (outside allowed networks)"

    hn = {"x-test-user": "hn"}
    st_hn = client.get("/api/monitoring/status", params={"unit": "HN"}, headers=hn).json()
    assert st_hn["unit"]["devices"] == 1
    assert (
        client.get("/api/monitoring/status", params={"unit": "HCM"}, headers=hn).status_code == 404
    )
    assert client.get("/api/monitoring/status").status_code == 401

    page = client.get("/api/alerts", headers=admin).json()
    rules = {a["rule"] for a in page["items"]}
    assert {"ups_on_battery", "ups_low_runtime"} <= rules and page["total"] == len(page["items"])
    # HN's IT staff do not see HCM's UPS alerts, and cannot acknowledge them.
    assert all(
        a["labels"]["province"] == "HN"
        for a in client.get("/api/monitoring/alerts", headers=hn).json()["items"]
    )
    ups_alert = next(a for a in page["items"] if a["rule"] == "ups_on_battery")
    r = client.post(
        f"/api/monitoring/alerts/{ups_alert['id']}/ack", json={"comment": "x"}, headers=hn
    )
    assert r.status_code == 404
    viewer = {"x-test-user": "hcm-viewer"}
    r = client.post(f"/api/alerts/{ups_alert['id']}/ack", json={"comment": "x"}, headers=viewer)
    assert r.status_code == 403
    r = client.post(
        f"/api/alerts/{ups_alert['id']}/ack", json={"comment": "thay ắc quy"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "admin"

    r = client.post("/api/monitoring/silences", json={"unit": "HN-BD", "hours": 2}, headers=hn)
    assert r.status_code == 201 and r.json()["created_by"] == "it.hn"
    silence_id, planned_end = r.json()["id"], r.json()["ends_at"]
    r = client.post("/api/monitoring/silences", json={"unit": "HCM", "hours": 2}, headers=hn)
    assert r.status_code == 404
    assert (
        client.delete(f"/api/monitoring/silences/{silence_id}", headers=viewer).status_code == 404
    )
    r = client.delete(f"/api/monitoring/silences/{silence_id}", headers=hn)
    assert r.status_code == 200
    assert r.json()["ends_at"] < planned_end  # ended now, not in two hours
    assert client.get("/api/monitoring/checks", headers=admin).json()["total"] == 0
    # Ids beyond the database's integer range are refused up front (422), never a 500.
    assert client.post("/api/alerts/99999999999/ack", json={}, headers=admin).status_code == 422
    assert client.delete("/api/monitoring/silences/0", headers=admin).status_code == 422
    st_all = client.get(
        "/api/monitoring/alerts", params={"all": True, "state": "firing"}, headers=admin
    ).json()
    assert all(a["state"] == AlertState.firing.value for a in st_all["items"])


def test_api_other_provinces_look_missing(api: tuple[TestClient, dict[str, Any]]) -> None:
    """Another province's unit, alert, silence or device answers 404 exactly like one that does
    not exist; a visible unit without the needed role answers 403."""
    client, _ = api
    admin, hn, viewer = ({"x-test-user": u} for u in ("admin", "hn", "hcm-viewer"))

    def same_404(path: str, missing: str, other: str, **kw: Any) -> None:
        ra = client.request(kw.pop("method", "GET"), path.format(missing), headers=hn, **kw)
        rb = client.request(
            kw.pop("method2", ra.request.method), path.format(other), headers=hn, **kw
        )
        assert (ra.status_code, rb.status_code) == (404, 404), (ra.text, rb.text)

    r = client.post("/api/alerts/987654/ack", json={}, headers=admin)
    assert r.status_code == 404 and "987654" in r.json()["error"]["message"]
    for path in ("/api/monitoring/status?unit={}", "/api/monitoring/alerts?unit={}"):
        same_404(path, "NOPE", "HCM")
    ups = next(
        a["id"]
        for a in client.get("/api/alerts", headers=admin).json()["items"]
        if a["rule"] == "ups_on_battery"
    )
    same_404("/api/alerts/{}/ack", "987654", str(ups), method="POST", json={})
    same_404("/api/monitoring/alerts/{}/ack", "987654", str(ups), method="POST", json={})

    def silence(who: dict[str, str], **body: Any) -> Any:
        return client.post("/api/monitoring/silences", json={"hours": 1, **body}, headers=who)

    assert silence(hn, unit="HCM").status_code == 404
    assert silence(hn, unit="NOPE").status_code == 404
    # A silence of one's own unit naming another province's device: that device is missing.
    for device in ("HCM-UPS-01", "DEMO-SW", "NO-SUCH-DEV"):
        r = silence(hn, unit="HN", device=device)
        assert r.status_code == 404 and device in r.json()["error"]["message"], r.text
    # A visible device outside the silenced subtree could never match: refused as well.
    assert silence(admin, unit="HCM", device="HN-SW-01").status_code == 404
    assert silence(viewer, unit="HCM").status_code == 403  # visible, but only a viewer
    ok = silence(hn, unit="HN", device="HN-SW-01")
    assert ok.status_code == 201, ok.text
    hcm_silence = silence(admin, unit="HCM").json()["id"]
    same_404("/api/monitoring/silences/{}", "987654", str(hcm_silence), method="DELETE")
    assert (
        client.delete(f"/api/monitoring/silences/{ok.json()['id']}", headers=viewer).status_code
        == 404
    )
    assert (
        client.delete(f"/api/monitoring/silences/{hcm_silence}", headers=viewer).status_code == 403
    )
