"""``export-prometheus``: the generated files pass Debian's promtool / amtool / snmp_exporter
checks, and a real Prometheus + prometheus-snmp-exporter stack built from them scrapes real
snmpd agents (v2c and v3) on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine

from inventory.config import Settings
from inventory.db import make_engine, session_scope
from inventory.enums import DeviceKind
from inventory.mail import SmtpSettings
from inventory.secrets import SecretBox
from monitoring.alerts import RULES
from monitoring.promstack import ExportOptions, ExportResult, export_prometheus
from tests.monitoring.monpeers import Snmpd, _stop, add_snmp_device, build_org, free_port, need


def make_inventory(url: str, snmpd: Snmpd) -> Engine:
    engine = make_engine(url)
    with session_scope(engine) as s:
        build_org(s)
        add_snmp_device(
            s,
            tag="HN-SW-01",
            kind=DeviceKind.switch,
            unit="HN",
            port=snmpd.port,
            community=snmpd.community,
            site="HN-OFFICE",
        )
        add_snmp_device(
            s,
            tag="BD-SW-01",
            kind=DeviceKind.switch,
            unit="HN-BD",
            port=snmpd.port,
            v3=(snmpd.user, snmpd.auth_key, snmpd.priv_key),
            site="HN-BD-OFFICE",
        )
        add_snmp_device(
            s,
            tag="HCM-SRV-01",
            kind=DeviceKind.server,
            unit="HCM",
            port=snmpd.port,
            community=snmpd.community,
        )
        add_snmp_device(
            s,
            tag="HCM-UPS-01",
            kind=DeviceKind.ups,
            unit="HCM",
            port=snmpd.port,
            community=snmpd.community,
        )
        add_snmp_device(
            s,
            tag="HCM-PRN-01",
            kind=DeviceKind.printer,
            unit="HCM",
            port=snmpd.port,
            community=snmpd.community,
        )
    return engine


def export(engine: Engine, out: Path, **opts: Any) -> ExportResult:
    box = SecretBox.from_settings(Settings.from_env())
    with session_scope(engine) as s:
        return export_prometheus(
            s,
            out,
            options=ExportOptions(**opts),
            box=box,
            smtp=SmtpSettings(host="127.0.0.1", port=2525),
        )


def run_tool(*args: str, cwd: Path) -> str:
    r = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"{args[0]} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout + r.stderr


def test_generated_files_pass_promtool_amtool_and_snmp_exporter(
    sqlite_url: str, snmpd: Snmpd, tmp_path: Path
) -> None:
    engine = make_inventory(sqlite_url, snmpd)
    # The default export (no secrets flag): snmp_exporter 0.21 must be able to use it as is.
    res = export(engine, tmp_path, webhook_url="http://127.0.0.1:9099/hook")
    assert res.targets == 5 and res.modules == 5 and res.receivers == 4
    out = run_tool(need("promtool"), "check", "config", "prometheus.yml", cwd=tmp_path)
    assert "SUCCESS" in out
    out = run_tool(need("promtool"), "check", "rules", "rules/tldops.rules.yml", cwd=tmp_path)
    assert f"SUCCESS: {len(RULES) - 1} rules found" in out  # all but split_brain (events only)
    out = run_tool(need("amtool"), "check-config", "alertmanager.yml", cwd=tmp_path)
    assert "SUCCESS" in out and "4 receivers" in out
    run_tool(need("prometheus-snmp-exporter"), "--config.file=snmp.yml", "--dry-run", cwd=tmp_path)
    assert oct((tmp_path / "snmp.yml").stat().st_mode & 0o777) == "0o600"
    assert res.secrets_file == tmp_path / "snmp.yml"
    assert snmpd.community in (tmp_path / "snmp.yml").read_text()
    others = [f for f in res.files if f.name != "snmp.yml"]
    assert all(f.stat().st_mode & 0o777 == 0o644 for f in others)
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave nothing behind

    groups = json.loads((tmp_path / "targets" / "snmp-hn.json").read_text())
    labels = {g["labels"]["device"]: g["labels"] for g in groups}
    assert labels["bd-sw-01"]["district"] == "HN-BD" and labels["bd-sw-01"]["province"] == "HN"
    assert labels["hn-sw-01"]["site"] == "HN-OFFICE"
    am = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    (hn,) = [r for r in am["route"]["routes"] if r["receiver"] == "unit-HN"]
    assert hn["matchers"] == ['province="HN"']
    assert hn["routes"] == [{"receiver": "unit-HN-BD", "matchers": ['district="HN-BD"']}]


def test_without_secrets_placeholders_and_sharding(
    sqlite_url: str, snmpd: Snmpd, tmp_path: Path
) -> None:
    engine = make_inventory(sqlite_url, snmpd)
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "snmp-old-province.json").write_text("[]")
    res = export(engine, tmp_path, shards=3, with_secrets=False)
    assert res.secrets_file is None
    assert oct((tmp_path / "snmp.yml").stat().st_mode & 0o777) == "0o644"
    text = (tmp_path / "snmp.yml").read_text()
    assert snmpd.community not in text and snmpd.auth_key not in text
    assert "${TLDOPS_CRED_CRED_HN_SW_01_COMMUNITY}" in text
    assert not (tmp_path / "targets" / "snmp-old-province.json").exists()
    assert not (tmp_path / "prometheus.yml").exists()
    for shard in range(3):
        name = f"prometheus-shard-{shard}.yml"
        run_tool(need("promtool"), "check", "config", name, cwd=tmp_path)
        cfg = yaml.safe_load((tmp_path / name).read_text())
        relabel = cfg["scrape_configs"][0]["relabel_configs"]
        assert relabel[0] == {
            "source_labels": ["__address__"],
            "modulus": 3,
            "target_label": "__tmp_hash",
            "action": "hashmod",
        }
        assert relabel[1]["regex"] == str(shard)


@pytest.fixture
def stack(sqlite_url: str, snmpd: Snmpd, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """snmp_exporter + Prometheus started on our generated config (1 s scrape interval)."""
    engine = make_inventory(sqlite_url, snmpd)
    with session_scope(engine) as s:  # and one router nobody answers for
        add_snmp_device(
            s,
            tag="HCM-RT-DEAD",
            kind=DeviceKind.router,
            unit="HCM",
            port=free_port(),
            community=snmpd.community,
        )
    exporter_port = free_port(socket.SOCK_STREAM)
    prom_port = free_port(socket.SOCK_STREAM)
    cfg = tmp_path / "cfg"
    export(
        engine,
        cfg,
        snmp_exporter=f"127.0.0.1:{exporter_port}",
        tldops_metrics=f"127.0.0.1:{free_port(socket.SOCK_STREAM)}",
        scrape_interval="1s",
        scrape_timeout="1s",
        evaluation_interval="1s",
    )
    logs = open(tmp_path / "stack.log", "w")  # noqa: SIM115 - closed below
    exporter = subprocess.Popen(
        [
            need("prometheus-snmp-exporter"),
            f"--config.file={cfg / 'snmp.yml'}",
            f"--web.listen-address=127.0.0.1:{exporter_port}",
        ],
        stdout=logs,
        stderr=subprocess.STDOUT,
    )
    prom = subprocess.Popen(
        [
            need("prometheus"),
            f"--config.file={cfg / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=logs,
        stderr=subprocess.STDOUT,
        cwd=cfg,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    try:
        yield prom_port, tmp_path / "stack.log"
    finally:
        _stop(prom)
        _stop(exporter)
        logs.close()


def test_real_prometheus_scrapes_snmpd_through_snmp_exporter(stack: tuple[int, Path]) -> None:
    port, log = stack
    api = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + 60
    targets: list[dict[str, Any]] = []
    hc: list[dict[str, Any]] = []
    with httpx.Client(timeout=3) as client:
        while time.monotonic() < deadline:
            try:
                targets = client.get(f"{api}/targets").json()["data"]["activeTargets"]
                snmp = [t for t in targets if t["labels"]["job"] == "snmp"]
                health = {t["labels"]["device"]: t["health"] for t in snmp}
                if (
                    len(snmp) == 6
                    and health.pop("hcm-rt-dead") == "down"
                    and all(h == "up" for h in health.values())
                ):
                    hc = client.get(f"{api}/query", params={"query": "ifHCInOctets"}).json()[
                        "data"
                    ]["result"]
                    if hc:
                        break
            except (httpx.HTTPError, ValueError, KeyError):
                pass  # not ready yet ("Service Unavailable" while the TSDB starts)
            time.sleep(0.5)
        else:
            pytest.fail(f"stack not ready in 60 s: {targets}\n{log.read_text()[-3000:]}")
        snmp = [t for t in targets if t["labels"]["job"] == "snmp"]
        assert {t["labels"]["device"] for t in snmp} == {
            "hn-sw-01",
            "bd-sw-01",
            "hcm-srv-01",
            "hcm-ups-01",
            "hcm-prn-01",
            "hcm-rt-dead",
        }
        devices = {r["metric"]["device"] for r in hc}
        assert {"hn-sw-01", "bd-sw-01", "hcm-srv-01"} <= devices  # v2c and v3 both scraped
        lo = next(
            r
            for r in hc
            if r["metric"]["device"] == "bd-sw-01" and r["metric"].get("ifName") == "lo"
        )
        assert lo["metric"]["province"] == "HN" and lo["metric"]["district"] == "HN-BD"
        assert lo["metric"]["unit"] == "HN-BD" and lo["metric"]["kind"] == "switch"
        assert float(lo["value"][1]) > 0
        legacy = client.get(f"{api}/query", params={"query": "ifInOctets"}).json()["data"]["result"]
        assert legacy
        rules = client.get(f"{api}/rules").json()["data"]["groups"]
        assert {r["name"] for r in rules[0]["rules"]} >= {"device_down", "uplink_down", "disk_full"}
        # The dead router's device_down is pending (for: 5m) with the org labels on it.
        end = time.monotonic() + 20
        pending: list[dict[str, Any]] = []
        while time.monotonic() < end and not pending:
            pending = [
                a
                for a in client.get(f"{api}/alerts").json()["data"]["alerts"]
                if a["labels"].get("alertname") == "device_down"
            ]
            time.sleep(0.5)
        (alert,) = pending
        assert alert["state"] == "pending" and alert["labels"]["device"] == "hcm-rt-dead"
        assert alert["labels"]["province"] == "HCM" and alert["labels"]["severity"] == "critical"
