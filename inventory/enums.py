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


# Vietnamese names of enum values, for tables and forms (files and APIs keep the English values).
LABELS_VI: dict[StrEnum, str] = {
    ContactRole.leader: "lãnh đạo",
    ContactRole.it: "CNTT",
    ContactRole.meeting: "hội nghị",
    ContactRole.training: "đào tạo",
    CredentialKind.snmp_v2c: "SNMP v2c",
    CredentialKind.snmp_v3: "SNMP v3",
    CredentialKind.ssh: "SSH",
    ServiceKind.http: "web (HTTP)",
    ServiceKind.tcp: "cổng TCP",
    ServiceKind.tls: "chứng chỉ TLS",
    ServiceKind.smtp: "thư (SMTP)",
    ServiceKind.dns: "tên miền (DNS)",
    ServiceKind.icmp: "ping (ICMP)",
    DeviceStatus.planned: "dự kiến",
    DeviceStatus.active: "đang dùng",
    DeviceStatus.repair: "đang sửa",
    DeviceStatus.retired: "thanh lý",
}

# Extra spellings accepted on input for contact roles (Vietnamese, with or without diacritics).
_ROLE_ALIASES: dict[str, ContactRole] = {
    "lanh dao": ContactRole.leader,
    "lanh_dao": ContactRole.leader,
    "lanhdao": ContactRole.leader,
    "cntt": ContactRole.it,
    "hoi nghi": ContactRole.meeting,
    "hoi_nghi": ContactRole.meeting,
    "hoinghi": ContactRole.meeting,
    "hop": ContactRole.meeting,
    "dao tao": ContactRole.training,
    "dao_tao": ContactRole.training,
    "daotao": ContactRole.training,
}


def label_vi(value: StrEnum) -> str:
    """The Vietnamese name of an enum value (the value itself when none is defined).

    >>> label_vi(ContactRole.it)
    'CNTT'
    """
    return LABELS_VI.get(value, value.value)


def parse_contact_role(text: str) -> ContactRole:
    """A contact role from its English value or its Vietnamese name.

    >>> parse_contact_role("Lãnh đạo"), parse_contact_role("it")
    (<ContactRole.leader: 'leader'>, <ContactRole.it: 'it'>)

    Raises ``ValueError`` naming the accepted values.
    """
    from inventory.text import fold

    key = fold(text)
    try:
        return ContactRole(key)
    except ValueError:
        pass
    found = _ROLE_ALIASES.get(key)
    if found is None:
        accepted = ", ".join(f"{r.value} ({LABELS_VI[r]})" for r in ContactRole)
        raise ValueError(f"unknown contact role {text!r}; accepted: {accepted}")
    return found
