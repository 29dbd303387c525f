"""Generate a Prometheus + snmp_exporter + Alertmanager stack from the inventory.

At scale (10k+ devices) polling moves to Prometheus and snmp_exporter; tldops stays the source
of truth and writes their configuration (``tldops monitor export-prometheus DIR``)::

    DIR/prometheus.yml                 scrape jobs (or prometheus-shard-<i>.yml with --shards N)
    DIR/targets/snmp-<province>.json   file_sd groups labelled with the org tree
    DIR/snmp.yml                       snmp_exporter modules (Debian's 0.21 format: auth per module)
                                       WITH the SNMP communities / v3 keys in it: mode 0600
    DIR/rules/tldops.rules.yml         alerting rules equivalent to the built-in defaults
    DIR/alertmanager.yml               routes following the org tree to each unit's IT contacts

The snmp_exporter shipped with Debian 12 (0.21) has no separate ``auths`` section, so each
(profile, credential) pair becomes one module named ``<profile>__<credential>``; a target picks
its module through the ``__param_module`` label of its file_sd group. 0.21 also takes a single
``--config.file`` and expands no environment variables, so a placeholder in ``snmp.yml`` reaches
the agent verbatim (every scrape fails with "wrong digest" / an unknown community). The default
export therefore decrypts the credentials into ``snmp.yml`` and writes it with mode 0600 (the
other files stay 0644 and hold no secret). ``with_secrets=False`` (``--placeholders``) writes
``${TLDOPS_CRED_<PROFILE>_<FIELD>}`` instead, for an operator who renders the file with their
own tooling (envsubst, a vault agent) before the exporter reads it. Every file is written
atomically (temp file + rename).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.enums import ContactRole, CredentialKind, DeviceStatus
from inventory.mail import SmtpSettings
from inventory.models import CredentialProfile, Device, Officer, Site, Unit, UnitContact
from inventory.secrets import SecretBox, credential_env_var
from monitoring.alerts import RULES, THRESHOLDS
from monitoring.errors import ExportFailed
from monitoring.service import load_units, province_of
from monitoring.snmp import (
    HR_COLUMNS,
    IF_COLUMNS,
    IFX_COLUMNS,
    PRINTER_COLUMNS,
    PROFILES,
    SYS_DESCR,
    SYS_NAME,
    SYS_UPTIME,
    UPS_SCALARS,
)

UPLINK_RE = "(?i).*(uplink|wan).*"


@dataclass(frozen=True)
class ExportOptions:
    """What to generate. ``shards`` > 1 writes one Prometheus config per shard (hashmod)."""

    snmp_exporter: str = "127.0.0.1:9116"
    tldops_metrics: str = "127.0.0.1:8080"
    alertmanager: str = "127.0.0.1:9093"
    scrape_interval: str = "60s"
    scrape_timeout: str = "30s"
    evaluation_interval: str = "30s"
    shards: int = 1
    # snmp_exporter 0.21 cannot expand placeholders: the secrets go into snmp.yml (0600).
    with_secrets: bool = True
    webhook_url: str | None = None


@dataclass(frozen=True)
class ExportResult:
    files: tuple[Path, ...]
    targets: int
    modules: int
    receivers: int
    secrets_file: Path | None = None  # the one file holding SNMP secrets (mode 0600), if any


def atomic_write(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "x"


# -- snmp.yml ---------------------------------------------------------------------------------
def _idx(label: str = "ifIndex") -> list[dict[str, Any]]:
    return [{"labelname": label, "type": "gauge"}]


_IF_LOOKUPS = [
    {
        "labels": ["ifIndex"],
        "labelname": "ifName",
        "oid": IFX_COLUMNS["name"],
        "type": "DisplayString",
    },
    {
        "labels": ["ifIndex"],
        "labelname": "ifAlias",
        "oid": IFX_COLUMNS["alias"],
        "type": "DisplayString",
    },
]


def _if_metric(name: str, oid: str, typ: str) -> dict[str, Any]:
    return {
        "name": name,
        "oid": oid,
        "type": typ,
        "help": f"IF-MIB {name}",
        "indexes": _idx(),
        "lookups": _IF_LOOKUPS,
    }


def module_metrics(module: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(walk OIDs, metric definitions) of one of our poll modules, for snmp_exporter."""
    if module == "system":
        return [SYS_UPTIME, SYS_NAME, SYS_DESCR], [
            {
                "name": "sysUpTime",
                "oid": SYS_UPTIME,
                "type": "gauge",
                "help": "sysUpTime (1/100 s)",
            },
            {"name": "sysName", "oid": SYS_NAME, "type": "DisplayString", "help": "sysName"},
        ]
    if module == "interfaces":
        metrics = [
            _if_metric("ifAdminStatus", IF_COLUMNS["admin"], "gauge"),
            _if_metric("ifOperStatus", IF_COLUMNS["oper"], "gauge"),
            _if_metric("ifSpeed", IF_COLUMNS["speed"], "gauge"),
            _if_metric("ifInOctets", IF_COLUMNS["in_octets"], "counter"),
            _if_metric("ifOutOctets", IF_COLUMNS["out_octets"], "counter"),
            _if_metric("ifInErrors", IF_COLUMNS["in_errors"], "counter"),
            _if_metric("ifOutErrors", IF_COLUMNS["out_errors"], "counter"),
            _if_metric("ifHCInOctets", IFX_COLUMNS["hc_in_octets"], "counter"),
            _if_metric("ifHCOutOctets", IFX_COLUMNS["hc_out_octets"], "counter"),
            _if_metric("ifHighSpeed", IFX_COLUMNS["high_speed"], "gauge"),
        ]
        walk = [*IF_COLUMNS.values(), *IFX_COLUMNS.values()]
        return walk, metrics
    if module == "host_resources":
        lk = [
            {
                "labels": ["hrStorageIndex"],
                "labelname": "hrStorageDescr",
                "oid": HR_COLUMNS["storage_descr"],
                "type": "DisplayString",
            }
        ]
        return list(HR_COLUMNS.values()), [
            {
                "name": "hrProcessorLoad",
                "oid": HR_COLUMNS["cpu_load"],
                "type": "gauge",
                "help": "hrProcessorLoad",
                "indexes": _idx("hrDeviceIndex"),
            },
            {
                "name": "hrStorageAllocationUnits",
                "oid": HR_COLUMNS["storage_units"],
                "type": "gauge",
                "help": "bytes per unit",
                "indexes": _idx("hrStorageIndex"),
                "lookups": lk,
            },
            {
                "name": "hrStorageSize",
                "oid": HR_COLUMNS["storage_size"],
                "type": "gauge",
                "help": "size in units",
                "indexes": _idx("hrStorageIndex"),
                "lookups": lk,
            },
            {
                "name": "hrStorageUsed",
                "oid": HR_COLUMNS["storage_used"],
                "type": "gauge",
                "help": "used units",
                "indexes": _idx("hrStorageIndex"),
                "lookups": lk,
            },
        ]
    if module == "ups":
        names = {
            "battery_status": "upsBatteryStatus",
            "seconds_on_battery": "upsSecondsOnBattery",
            "minutes_remaining": "upsEstimatedMinutesRemaining",
            "charge_percent": "upsEstimatedChargeRemaining",
            "output_source": "upsOutputSource",
        }
        return list(UPS_SCALARS.values()), [
            {"name": names[k], "oid": oid, "type": "gauge", "help": f"UPS-MIB {names[k]}"}
            for k, oid in UPS_SCALARS.items()
        ]
    if module == "printer":
        idx = [
            {"labelname": "hrDeviceIndex", "type": "gauge"},
            {"labelname": "prtMarkerSuppliesIndex", "type": "gauge"},
        ]
        lk = [
            {
                "labels": ["hrDeviceIndex", "prtMarkerSuppliesIndex"],
                "labelname": "prtMarkerSuppliesDescription",
                "oid": PRINTER_COLUMNS["supply_descr"],
                "type": "DisplayString",
            }
        ]
        return list(PRINTER_COLUMNS.values()), [
            {
                "name": "prtMarkerSuppliesLevel",
                "oid": PRINTER_COLUMNS["supply_level"],
                "type": "gauge",
                "help": "supply level",
                "indexes": idx,
                "lookups": lk,
            },
            {
                "name": "prtMarkerSuppliesMaxCapacity",
                "oid": PRINTER_COLUMNS["supply_max"],
                "type": "gauge",
                "help": "supply capacity",
                "indexes": idx,
                "lookups": lk,
            },
            {
                "name": "hrPrinterStatus",
                "oid": PRINTER_COLUMNS["printer_status"],
                "type": "gauge",
                "help": "printer status",
                "indexes": _idx("hrDeviceIndex"),
            },
        ]
    raise ValueError(module)


def _auth_block(
    profile: CredentialProfile, box: SecretBox | None, with_secrets: bool
) -> tuple[int, dict[str, Any]]:
    secret: dict[str, Any] = {}
    if with_secrets:
        if box is None:
            raise ExportFailed(
                "cần khóa giải mã để ghi thông tin SNMP vào snmp.yml / "
                "a SecretBox is needed to write the SNMP secrets into snmp.yml",
                hint="set TLDOPS_SECRET_KEY, or export with --placeholders and render the "
                "${TLDOPS_CRED_...} values yourself",
            )
        secret = box.open(profile.secret_blob)

    def val(field: str) -> str:
        # Without secrets, the placeholder names the env var the operator renders it from.
        return (
            str(secret.get(field, ""))
            if with_secrets
            else "${" + credential_env_var(profile.name, field) + "}"
        )

    if profile.kind is CredentialKind.snmp_v2c:
        return 2, {"community": val("community")}
    params = profile.params or {}
    level = str(params.get("security_level", "authPriv"))
    auth: dict[str, Any] = {"username": profile.username or "", "security_level": level}
    if level in ("authNoPriv", "authPriv"):
        auth["password"] = val("auth_key")
        auth["auth_protocol"] = str(params.get("auth_protocol", "SHA"))
    if level == "authPriv":
        auth["priv_protocol"] = str(params.get("priv_protocol", "AES"))
        auth["priv_password"] = val("priv_key")
    return 3, auth


def snmp_exporter_config(
    pairs: set[tuple[tuple[str, ...], CredentialProfile]],
    *,
    box: SecretBox | None,
    with_secrets: bool,
) -> dict[str, Any]:
    """snmp.yml content: one module per (module list, credential profile) in use."""
    out: dict[str, Any] = {}
    for modules, profile in sorted(pairs, key=lambda p: (p[0], p[1].name)):
        walk: list[str] = []
        metrics: list[dict[str, Any]] = []
        for m in modules:
            w, ms = module_metrics(m)
            walk += [o for o in w if o not in walk]
            metrics += ms
        version, auth = _auth_block(profile, box, with_secrets)
        out[module_name(modules, profile.name)] = {
            "walk": walk,
            "metrics": metrics,
            "version": version,
            "max_repetitions": 25,
            "retries": 1,
            "timeout": "5s",
            "auth": auth,
        }
    return out


def module_name(modules: tuple[str, ...], profile_name: str) -> str:
    """snmp_exporter module name for a module list and a credential profile.

    >>> module_name(("system", "interfaces"), "snmp-hq")
    'system_interfaces__snmp_hq'
    """
    return "_".join(modules) + "__" + _slug(profile_name)


# -- rules ------------------------------------------------------------------------------------
def rules_config() -> dict[str, Any]:
    """Prometheus alerting rules equivalent to :data:`monitoring.alerts.RULES`."""
    org = "unit, province, district, site, kind, device, instance"
    exprs: dict[str, str] = {
        "device_down": 'up{job="snmp"} == 0',
        "snmp_error": 'snmp_scrape_pdus_returned{job="snmp"} == 0',
        "uplink_down": f'ifOperStatus{{ifAlias=~"{UPLINK_RE}"}} == 2 '
        f"and on(instance, ifIndex) ifAdminStatus == 1",
        "interface_down": f'ifOperStatus{{ifAlias!="", ifAlias!~"{UPLINK_RE}"}} == 2 '
        f"and on(instance, ifIndex) ifAdminStatus == 1",
        "uplink_saturated": f"max by ({org}, ifIndex, ifAlias) ("
        f'rate(ifHCInOctets{{ifAlias=~"{UPLINK_RE}"}}[5m]) * 8 '
        f"> {THRESHOLDS['uplink_utilisation']} * ifHighSpeed * 1000000 "
        f'or rate(ifHCOutOctets{{ifAlias=~"{UPLINK_RE}"}}[5m]) * 8 '
        f"> {THRESHOLDS['uplink_utilisation']} * ifHighSpeed * 1000000)",
        "ups_on_battery": "upsOutputSource == 5",
        "ups_low_runtime": f"upsEstimatedMinutesRemaining < {THRESHOLDS['ups_minutes_remaining']} "
        "or upsBatteryStatus >= 3",
        "disk_full": f'100 * hrStorageUsed{{hrStorageDescr=~"/.*"}} / hrStorageSize > '
        f"{THRESHOLDS['disk_used_percent']}",
        "service_down": "tldops_service_up == 0",
        "cert_expiring": f"tldops_tls_cert_days_remaining < {THRESHOLDS['cert_days']}",
        "toner_low": f"100 * prtMarkerSuppliesLevel / (prtMarkerSuppliesMaxCapacity > 0) < "
        f"{THRESHOLDS['toner_percent']} and prtMarkerSuppliesLevel >= 0",
        "backup_stale": "time() - tldops_backup_last_success_timestamp_seconds > 26 * 3600",
        "backup_failed": "tldops_backup_last_failure_timestamp_seconds "
        "> on(target, backup_kind) tldops_backup_last_success_timestamp_seconds",
    }
    # split_brain is raised from tldops events only; it has no Prometheus equivalent.
    rules = []
    for name, rule in RULES.items():
        if name not in exprs:
            continue
        entry: dict[str, Any] = {
            "alert": name,
            "expr": exprs[name],
            "labels": {"severity": rule.severity.value},
            "annotations": {"summary": rule.summary, "description": rule.description},
        }
        if rule.for_seconds:
            entry["for"] = f"{int(rule.for_seconds)}s"
        rules.append(entry)
    return {"groups": [{"name": "tldops", "rules": rules}]}


# -- alertmanager -----------------------------------------------------------------------------
def alertmanager_config(
    session: Session, *, smtp: SmtpSettings, webhook_url: str | None
) -> dict[str, Any]:
    """Routes that follow the tree: root → province → district → unit, each to the IT contacts
    of the unit (units without contacts fall through to their nearest ancestor's receiver)."""
    units = load_units(session)
    emails: dict[int, list[str]] = defaultdict(list)
    for uid, email in session.execute(
        select(UnitContact.unit_id, Officer.email)
        .join(Officer, Officer.id == UnitContact.officer_id)
        .where(
            UnitContact.role == ContactRole.it, Officer.active.is_(True), Officer.email.is_not(None)
        )
        .order_by(Officer.email)
    ):
        if email:
            emails[uid].append(email)
    root = min((u for u in units.values() if u.parent_id is None), key=lambda u: u.id, default=None)

    def receiver(u: Unit) -> dict[str, Any]:
        r: dict[str, Any] = {"name": f"unit-{u.code}"}
        if emails.get(u.id):
            r["email_configs"] = [{"to": ", ".join(emails[u.id]), "send_resolved": True}]
        if webhook_url:
            r["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
        return r

    receivers = [receiver(root)] if root else [{"name": "default"}]
    label_for_level = {2: "province", 3: "district"}
    by_parent_path: dict[str, list[Unit]] = defaultdict(list)
    contact_units = sorted(
        (units[i] for i in emails if i in units and (root is None or i != root.id)),
        key=lambda u: u.path,
    )
    for u in contact_units:
        receivers.append(receiver(u))
        # Nest under the nearest ancestor that also has a route.
        anc = [
            units[a]
            for a in u.ancestor_ids()[:-1]
            if a in emails and a in units and root and a != root.id
        ]
        by_parent_path[anc[-1].path if anc else ""].append(u)

    def routes(parent_path: str) -> list[dict[str, Any]]:
        out = []
        for u in by_parent_path.get(parent_path, []):
            label = label_for_level.get(u.level, "unit")
            r: dict[str, Any] = {"receiver": f"unit-{u.code}", "matchers": [f'{label}="{u.code}"']}
            children = routes(u.path)
            if children:
                r["routes"] = children
            out.append(r)
        return out

    route: dict[str, Any] = {
        "receiver": receivers[0]["name"],
        "group_by": ["alertname", "unit"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
    }
    child_routes = routes("")
    if child_routes:
        route["routes"] = child_routes
    host, port = smtp.host, smtp.port
    glob: dict[str, Any] = {
        "smtp_smarthost": f"{host}:{port}",
        "smtp_from": smtp.sender,
        "smtp_require_tls": smtp.tls != "none",
        "resolve_timeout": "5m",
    }
    return {
        "global": glob,
        "route": route,
        "receivers": receivers,
        # The org-aware suppression: a gateway/uplink down mutes the rest of its site. "unit" is
        # in `equal` so devices without a site (site="") never mute each other across units.
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="device_down"', 'kind=~"router|firewall"'],
                "target_matchers": ['alertname!="uplink_down"'],
                "equal": ["site", "unit"],
            },
            {
                "source_matchers": ['alertname="uplink_down"'],
                "target_matchers": ['alertname!="uplink_down"'],
                "equal": ["site", "unit"],
            },
        ],
    }


# -- prometheus.yml + file_sd ----------------------------------------------------------------
def prometheus_config(opts: ExportOptions, *, shard: int | None) -> dict[str, Any]:
    relabel: list[dict[str, Any]] = []
    if shard is not None:
        relabel += [
            {
                "source_labels": ["__address__"],
                "modulus": opts.shards,
                "target_label": "__tmp_hash",
                "action": "hashmod",
            },
            {"source_labels": ["__tmp_hash"], "regex": str(shard), "action": "keep"},
        ]
    relabel += [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": opts.snmp_exporter},
    ]
    cfg: dict[str, Any] = {
        "global": {
            "scrape_interval": opts.scrape_interval,
            "scrape_timeout": opts.scrape_timeout,
            "evaluation_interval": opts.evaluation_interval,
            "external_labels": {"tldops_shard": str(shard if shard is not None else 0)},
        },
        "rule_files": ["rules/*.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [opts.alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": "snmp",
                "metrics_path": "/snmp",
                "file_sd_configs": [{"files": ["targets/snmp-*.json"], "refresh_interval": "5m"}],
                "relabel_configs": relabel,
            },
        ],
    }
    if shard in (None, 0):
        cfg["scrape_configs"].append(
            {"job_name": "tldops", "static_configs": [{"targets": [opts.tldops_metrics]}]}
        )
    return cfg


def export_prometheus(
    session: Session,
    directory: Path,
    *,
    options: ExportOptions,
    box: SecretBox | None,
    smtp: SmtpSettings,
) -> ExportResult:
    """Write the whole stack's configuration for the inventory into ``directory``.

    >>> # export_prometheus(session, Path("var/prom"), options=ExportOptions(), box=box,
    >>> #                   smtp=SmtpSettings.from_env())
    """
    if options.shards < 1:
        raise ExportFailed(
            "số phân mảnh phải ≥ 1 / shards must be ≥ 1", hint="use --shards 1 or more"
        )
    units = load_units(session)
    sites = {s.id: s.code for s in session.scalars(select(Site))}
    rows = session.execute(
        select(Device, CredentialProfile)
        .join(CredentialProfile, Device.snmp_profile_id == CredentialProfile.id)
        .where(
            Device.status == DeviceStatus.active,
            Device.monitored.is_(True),
            Device.mgmt_ip.is_not(None),
            CredentialProfile.kind.in_([CredentialKind.snmp_v2c, CredentialKind.snmp_v3]),
        )
        .order_by(Device.id)
    ).all()
    groups: dict[str, dict[tuple[str, ...], list[str]]] = defaultdict(lambda: defaultdict(list))
    pairs: set[tuple[tuple[str, ...], CredentialProfile]] = set()
    for dev, prof in rows:
        unit = units[dev.unit_id]
        prov = province_of(units, unit)
        ids = unit.ancestor_ids()
        district = units[ids[2]].code if len(ids) > 2 and ids[2] in units else ""
        modules = tuple((prof.params or {}).get("modules") or PROFILES[dev.kind])
        pairs.add((modules, prof))
        port = dev.snmp_port or int((prof.params or {}).get("port", 161))
        addr = f"[{dev.mgmt_ip}]:{port}" if ":" in str(dev.mgmt_ip) else f"{dev.mgmt_ip}:{port}"
        key = (
            unit.code,
            prov.code,
            district,
            sites.get(dev.site_id, "") if dev.site_id else "",
            dev.kind.value,
            dev.hostname or dev.asset_tag,
            module_name(modules, prof.name),
        )
        groups[prov.code][key].append(addr)
    files: list[Path] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tdir = directory / "targets"
        tdir.mkdir(exist_ok=True)
        wanted = set()
        for prov_code, by_key in sorted(groups.items()):
            sd = []
            for (unit_c, prov_c, dist, site, kind, device, module), addrs in sorted(by_key.items()):
                sd.append(
                    {
                        "targets": sorted(addrs),
                        "labels": {
                            "unit": unit_c,
                            "province": prov_c,
                            "district": dist,
                            "site": site,
                            "kind": kind,
                            "device": device,
                            "__param_module": module,
                        },
                    }
                )
            path = tdir / f"snmp-{_slug(prov_code)}.json"
            wanted.add(path.name)
            atomic_write(path, json.dumps(sd, ensure_ascii=False, indent=1) + "\n")
            files.append(path)
        if not groups:
            # promtool warns on a glob matching nothing; keep one empty group file.
            path = tdir / "snmp-empty.json"
            wanted.add(path.name)
            atomic_write(path, "[]\n")
            files.append(path)
        for stale in tdir.glob("snmp-*.json"):
            if stale.name not in wanted:
                stale.unlink()
        snmp_cfg = snmp_exporter_config(pairs, box=box, with_secrets=options.with_secrets)
        path = directory / "snmp.yml"
        atomic_write(
            path,
            yaml.safe_dump(snmp_cfg, sort_keys=False, allow_unicode=True),
            mode=0o600 if options.with_secrets else 0o644,
        )
        files.append(path)
        path = directory / "rules" / "tldops.rules.yml"
        atomic_write(path, yaml.safe_dump(rules_config(), sort_keys=False, allow_unicode=True))
        files.append(path)
        am = alertmanager_config(session, smtp=smtp, webhook_url=options.webhook_url)
        path = directory / "alertmanager.yml"
        atomic_write(path, yaml.safe_dump(am, sort_keys=False, allow_unicode=True))
        files.append(path)
        shard_ids: list[int | None] = [None] if options.shards == 1 else list(range(options.shards))
        for shard in shard_ids:
            name = "prometheus.yml" if shard is None else f"prometheus-shard-{shard}.yml"
            path = directory / name
            atomic_write(
                path, yaml.safe_dump(prometheus_config(options, shard=shard), sort_keys=False)
            )
            files.append(path)
    except OSError as exc:
        raise ExportFailed(
            f"Không ghi được cấu hình vào {directory} / cannot write to {directory}: {exc}",
            hint="check the directory exists and is writable",
        ) from exc
    return ExportResult(
        files=tuple(files),
        targets=sum(len(a) for g in groups.values() for a in g.values()),
        modules=len(snmp_cfg),
        receivers=len(am["receivers"]),
        secrets_file=directory / "snmp.yml" if options.with_secrets and snmp_cfg else None,
    )
