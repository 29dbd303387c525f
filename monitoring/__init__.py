"""tldops monitoring: read-only observation of the federation's devices and services.

Entry points other packages use (names are a contract with the web app's scheduler)::

    from monitoring.jobs import poll_cycle, check_cycle, alert_cycle
    summary = await poll_cycle(engine, settings=MonitorSettings.from_env(), clock=utcnow)
    checks = await check_cycle(engine, settings=MonitorSettings.from_env(), clock=utcnow)
    alerts = alert_cycle(engine, clock=utcnow, mailer=Mailer(SmtpSettings.from_env()))

    from monitoring.collector import make_collector     # /metrics
    registry = CollectorRegistry(); registry.register(make_collector(engine))

    from monitoring.api import router, alerts_router     # /api/monitoring, /api/alerts alias
    from monitoring.cli import app                       # `tldops monitor …`

``poll_cycle`` and ``check_cycle`` are coroutines (run them with ``asyncio.run`` from a thread);
``alert_cycle`` is a plain function. Each ``poll_cycle`` makes its own poller (its event loop is
new) but reuses what earlier cycles learnt about each agent's table size.

Modules: ``snmp`` (the poller: v3 through pysnmp's shared asyncio engine, v2c through
``snmp_ber``, a small BER codec on one shared UDP socket — pyasn1 decoding is where a pysnmp poll
spends its CPU), ``checks`` (tcp/http/tls/smtp/dns/icmp), ``rates``
(counter wrap/reboot), ``alerts`` (rules, lifecycle, suppression, routing, escalation),
``notify`` (e-mail via ``inventory.mail.Mailer``, Alertmanager-v4 webhook), ``collector``
(prometheus-client Collector), ``promstack`` (Prometheus/snmp_exporter/Alertmanager configs),
``service`` (storage and status per unit), ``jobs`` (scheduler entry points).

Setting ``TLDOPS_ALLOWED_NETS`` (comma-separated CIDRs, default all; read by ``inventory.netguard``,
the platform's one guard, which also reads the older ``TLDOPS_MONITOR_ALLOWED_NETS``) limits what
the poller and checks contact; other targets are reported "not polled (outside allowed networks)".

``tldops monitor export-prometheus DIR`` writes the SNMP communities and v3 keys into
``DIR/snmp.yml`` (mode 0600; every other generated file is 0644 and holds no secret): the
snmp_exporter Debian ships (0.21) reads one ``--config.file`` and expands no environment
variables, so that file must hold the real values. ``--placeholders`` writes
``${TLDOPS_CRED_<PROFILE>_<FIELD>}`` instead, for operators who render the file themselves.
"""
