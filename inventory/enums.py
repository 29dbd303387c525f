"""Closed vocabularies of the inventory (values are what files and APIs carry)."""

from __future__ import annotations

from enum import StrEnum


class UnitKind(StrEnum):
    central = "central"
    province_federation = "province_federation"
    central_sector_union = "central_sector_union"
    corporation_union = "corporation_union"
    district = "district"
    industrial_zone = "industrial_zone"
    grassroots = "grassroots"


class DeviceKind(StrEnum):
    pc = "pc"
    laptop = "laptop"
    printer = "printer"
    switch = "switch"
    router = "router"
    firewall = "firewall"
    access_point = "access_point"
    server = "server"
    storage = "storage"
    ups = "ups"
    other = "other"


COMPUTER_KINDS = frozenset({DeviceKind.pc, DeviceKind.laptop})
NETWORK_KINDS = frozenset(
    {DeviceKind.switch, DeviceKind.router, DeviceKind.firewall, DeviceKind.access_point}
)


class DeviceStatus(StrEnum):
    planned = "planned"
    active = "active"
    repair = "repair"
    retired = "retired"


class LinkStatus(StrEnum):
    active = "active"
    terminated = "terminated"


class SoftwareCategory(StrEnum):
    document_management = "document_management"
    statistics_reporting = "statistics_reporting"
    hr_organization = "hr_organization"
    finance_assets = "finance_assets"
    eis = "eis"
    antivirus = "antivirus"
    office = "office"
    os = "os"
    other = "other"


REQUIRED_APP_CATEGORIES = (
    SoftwareCategory.document_management,
    SoftwareCategory.statistics_reporting,
    SoftwareCategory.hr_organization,
    SoftwareCategory.finance_assets,
)


class SoftwareStatus(StrEnum):
    active = "active"
    expired = "expired"


class SiteKind(StrEnum):
    datacenter = "datacenter"
    office = "office"


class CredentialKind(StrEnum):
    snmp_v2c = "snmp_v2c"
    snmp_v3 = "snmp_v3"
    ssh = "ssh"


class SnmpAuthProtocol(StrEnum):
    sha = "SHA"
    sha256 = "SHA256"
    md5 = "MD5"


class SnmpPrivProtocol(StrEnum):
    aes = "AES"
    aes256 = "AES256"
    des = "DES"


class ContactRole(StrEnum):
    """Why an officer is a contact of a unit (alert routing, meeting invitations, training)."""

    leader = "leader"
    it = "it"
    meeting = "meeting"
    training = "training"


class ServiceKind(StrEnum):
    """What a service check does (monitoring reads these rows)."""

    http = "http"
    tcp = "tcp"
    tls = "tls"
    smtp = "smtp"
    dns = "dns"
    icmp = "icmp"


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"
