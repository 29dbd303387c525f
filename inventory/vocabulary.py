"""The inventory's vocabularies in Vietnamese and English, for display and for input.

Files, the API and the database keep the English values (``access_point``). People read and
type the Vietnamese names, so every surface goes through this module:

- :data:`LABELS` — stored value → ``(Vietnamese, English)`` display names, per vocabulary
  (the web's ``label`` filter and the import template read it);
- :func:`parse_choice` — the stored value from what a person typed: the value itself, either
  display name, or a common spelling of an office workbook (``hỏng/sửa chữa``), matched ignoring
  case, diacritics, spacing and punctuation;
- :func:`suggest` — the nearest accepted spellings, for "did you mean".

>>> parse_choice(DeviceKind, "Máy tính để bàn"), parse_choice(DeviceStatus, "hong/sua chua")
('pc', 'repair')
>>> parse_choice(DeviceKind, "máy fax") is None
True
>>> suggest(DeviceKind, "may tnh de ban")
['Máy tính để bàn']
"""

from __future__ import annotations

import difflib
import re
from enum import StrEnum

from inventory.enums import (
    ContactRole,
    CredentialKind,
    DeviceKind,
    DeviceStatus,
    LinkStatus,
    ServiceKind,
    Severity,
    SiteKind,
    SoftwareCategory,
    SoftwareStatus,
    UnitKind,
)
from inventory.text import fold

LABELS: dict[type[StrEnum], dict[str, tuple[str, str]]] = {
    UnitKind: {
        "central": ("Tổng Liên đoàn", "Confederation (central)"),
        "province_federation": ("LĐLĐ tỉnh, thành phố", "Provincial federation"),
        "central_sector_union": ("Công đoàn ngành trung ương", "Central sector union"),
        "corporation_union": ("Công đoàn tổng công ty", "Corporation union"),
        "district": ("LĐLĐ quận, huyện", "District federation"),
        "industrial_zone": ("Công đoàn khu công nghiệp", "Industrial-zone union"),
        "grassroots": ("Công đoàn cơ sở", "Grassroots union"),
    },
    DeviceKind: {
        "pc": ("Máy tính để bàn", "Desktop PC"),
        "laptop": ("Máy tính xách tay", "Laptop"),
        "printer": ("Máy in", "Printer"),
        "switch": ("Bộ chuyển mạch", "Switch"),
        "router": ("Bộ định tuyến", "Router"),
        "firewall": ("Tường lửa", "Firewall"),
        "access_point": ("Điểm phát Wi-Fi", "Wi-Fi access point"),
        "server": ("Máy chủ", "Server"),
        "storage": ("Thiết bị lưu trữ", "Storage"),
        "ups": ("Bộ lưu điện (UPS)", "UPS"),
        "other": ("Khác", "Other"),
    },
    DeviceStatus: {
        "planned": ("Dự kiến", "Planned"),
        "active": ("Đang dùng", "In use"),
        "repair": ("Đang sửa", "In repair"),
        "retired": ("Thanh lý", "Retired"),
    },
    LinkStatus: {
        "active": ("Đang dùng", "Active"),
        "terminated": ("Đã cắt", "Terminated"),
    },
    SoftwareCategory: {
        "document_management": ("Quản lý văn bản", "Document management"),
        "statistics_reporting": ("Thống kê, báo cáo", "Statistics and reporting"),
        "hr_organization": ("Tổ chức cán bộ", "HR and organisation"),
        "finance_assets": ("Tài chính, tài sản", "Finance and assets"),
        "eis": ("Hệ thống thông tin điều hành", "Executive information system"),
        "antivirus": ("Phòng chống mã độc", "Antivirus"),
        "office": ("Văn phòng", "Office suite"),
        "os": ("Hệ điều hành", "Operating system"),
        "other": ("Khác", "Other"),
    },
    SoftwareStatus: {
        "active": ("Còn hiệu lực", "Active"),
        "expired": ("Hết hạn", "Expired"),
    },
    SiteKind: {
        "datacenter": ("Trung tâm dữ liệu", "Data centre"),
        "office": ("Trụ sở, văn phòng", "Office"),
    },
    CredentialKind: {
        "snmp_v2c": ("SNMP v2c", "SNMP v2c"),
        "snmp_v3": ("SNMP v3", "SNMP v3"),
        "ssh": ("SSH", "SSH"),
    },
    ContactRole: {
        "leader": ("Lãnh đạo", "Leader"),
        "it": ("CNTT", "IT"),
        "meeting": ("Hội nghị", "Meetings"),
        "training": ("Đào tạo", "Training"),
    },
    ServiceKind: {
        "http": ("Web (HTTP)", "Web (HTTP)"),
        "tcp": ("Cổng TCP", "TCP port"),
        "tls": ("Chứng chỉ TLS", "TLS certificate"),
        "smtp": ("Thư (SMTP)", "Mail (SMTP)"),
        "dns": ("Tên miền (DNS)", "DNS"),
        "icmp": ("Ping (ICMP)", "Ping (ICMP)"),
    },
    Severity: {
        "info": ("Thông tin", "Info"),
        "warning": ("Cảnh báo", "Warning"),
        "critical": ("Nghiêm trọng", "Critical"),
    },
}

# Further spellings seen in office workbooks (beyond the value and the two display names).
ALIASES: dict[type[StrEnum], dict[str, tuple[str, ...]]] = {
    UnitKind: {
        "central": ("TLĐ", "Tổng Liên đoàn Lao động Việt Nam", "trung ương"),
        "province_federation": ("LĐLĐ tỉnh", "LĐLĐ thành phố", "tỉnh", "liên đoàn tỉnh"),
        "central_sector_union": ("công đoàn ngành", "CĐ ngành TW"),
        "corporation_union": ("công đoàn tổng công ty", "CĐ tổng công ty", "CĐ TCT"),
        "district": ("LĐLĐ huyện", "LĐLĐ quận", "huyện", "quận", "cấp huyện"),
        "industrial_zone": ("CĐ KCN", "khu công nghiệp", "KCN"),
        "grassroots": ("CĐCS", "cơ sở", "CĐ cơ sở"),
    },
    DeviceKind: {
        "pc": ("máy tính", "máy bàn", "PC", "desktop", "máy tính bàn"),
        "laptop": ("máy xách tay", "notebook", "máy tính xách tay"),
        "printer": ("máy in laser", "máy in màu", "máy photo"),
        "switch": ("switch mạng", "thiết bị chuyển mạch"),
        "router": ("thiết bị định tuyến", "modem", "bộ định tuyến"),
        "firewall": ("thiết bị tường lửa",),
        "access_point": ("wifi", "wi-fi", "bộ phát wifi", "AP", "điểm truy cập"),
        "server": ("server",),
        "storage": ("NAS", "SAN", "lưu trữ"),
        "ups": ("lưu điện", "bộ lưu điện"),
        "other": ("khác",),
    },
    DeviceStatus: {
        "planned": ("chưa đưa vào dùng", "kế hoạch", "sắp mua"),
        "active": ("đang sử dụng", "sử dụng", "tốt", "hoạt động", "bình thường"),
        "repair": ("hỏng/sửa chữa", "hỏng", "sửa chữa", "đang sửa chữa", "hư hỏng"),
        "retired": ("đã thanh lý", "thanh lý", "ngừng sử dụng", "không dùng"),
    },
    LinkStatus: {
        "active": ("đang sử dụng", "hoạt động", "tốt"),
        "terminated": ("cắt", "ngừng", "hủy", "đã hủy", "thanh lý"),
    },
    SoftwareCategory: {
        "document_management": ("văn bản", "quản lý văn bản và điều hành", "QLVB"),
        "statistics_reporting": ("thống kê", "báo cáo thống kê", "báo cáo"),
        "hr_organization": ("tổ chức", "nhân sự", "quản lý cán bộ"),
        "finance_assets": ("tài chính", "kế toán", "tài sản", "kế toán tài sản"),
        "eis": ("thông tin điều hành", "hệ thống điều hành", "EIS"),
        "antivirus": ("diệt virus", "diệt vi rút", "chống virus", "virus"),
        "office": ("tin học văn phòng", "office"),
        "os": ("hệ điều hành", "windows", "linux"),
        "other": ("khác",),
    },
    SoftwareStatus: {
        "active": ("đang dùng", "còn hạn", "hiệu lực"),
        "expired": ("hết hiệu lực", "quá hạn"),
    },
    SiteKind: {"datacenter": ("TTDL", "phòng máy chủ"), "office": ("trụ sở", "văn phòng")},
    ContactRole: {
        "leader": ("lãnh đạo",),
        "it": ("công nghệ thông tin", "tin học", "CNTT"),
        "meeting": ("họp", "họp trực tuyến", "hội nghị trực tuyến"),
        "training": ("tập huấn", "bồi dưỡng"),
    },
    ServiceKind: {
        "http": ("web", "trang web", "cổng thông tin", "https"),
        "tcp": ("cổng", "tcp"),
        "tls": ("chứng chỉ", "ssl", "https cert"),
        "smtp": ("thư", "thư điện tử", "email", "mail"),
        "dns": ("tên miền",),
        "icmp": ("ping",),
    },
}

_PUNCT = re.compile(r"[^a-z0-9]+")


def key(text: str) -> str:
    """How two spellings are compared: no case, no diacritics, punctuation and spaces as one.

    >>> key("Hỏng / Sửa chữa"), key("hong-sua_chua")
    ('hong sua chua', 'hong sua chua')
    """
    return _PUNCT.sub(" ", fold(text)).strip()


def _build(enum: type[StrEnum]) -> dict[str, str]:
    table: dict[str, str] = {}
    labels = LABELS.get(enum, {})
    aliases = ALIASES.get(enum, {})
    # Values and display names first, so a shared alias never hides an exact name.
    for member in enum:
        table[key(member.value)] = member.value
    for member in enum:
        for name in labels.get(member.value, ()):
            table.setdefault(key(name), member.value)
    for member in enum:
        for name in aliases.get(member.value, ()):
            table.setdefault(key(name), member.value)
    return table


_TABLES: dict[type[StrEnum], dict[str, str]] = {}


def spellings(enum: type[StrEnum]) -> dict[str, str]:
    """Every accepted spelling (as :func:`key`) → stored value."""
    table = _TABLES.get(enum)
    if table is None:
        table = _TABLES[enum] = _build(enum)
    return table


def parse_choice(enum: type[StrEnum], text: str) -> str | None:
    """The stored value ``text`` names, or ``None`` when it names none."""
    return spellings(enum).get(key(text))


def label(enum: type[StrEnum], value: str, lang: str = "vi") -> str:
    """The display name of a stored value (the value itself when it has none)."""
    pair = LABELS.get(enum, {}).get(value)
    if pair is None:
        return value
    return pair[1] if lang == "en" else pair[0]


def accepted(enum: type[StrEnum]) -> str:
    """The accepted values for a message: ``pc (Máy tính để bàn), laptop (…)``."""
    return ", ".join(f"{m.value} ({label(enum, m.value)})" for m in enum)


def suggest(enum: type[StrEnum], text: str, n: int = 3) -> list[str]:
    """Vietnamese display names nearest to ``text`` (ignoring diacritics), best first."""
    table = spellings(enum)
    found = difflib.get_close_matches(key(text), list(table), n=n * 3, cutoff=0.75)
    out: list[str] = []
    for spelling in found:
        name = label(enum, table[spelling])
        if name not in out:
            out.append(name)
    return out[:n]


def label_vi(value: StrEnum) -> str:
    """The Vietnamese name of an enum member (its value when none is defined).

    >>> label_vi(ContactRole.it)
    'CNTT'
    """
    return label(type(value), value.value)


def parse_contact_role(text: str) -> ContactRole:
    """A contact role from its English value or a Vietnamese name.

    >>> parse_contact_role("Lãnh đạo"), parse_contact_role("it")
    (<ContactRole.leader: 'leader'>, <ContactRole.it: 'it'>)

    Raises ``ValueError`` naming the accepted values.
    """
    found = parse_choice(ContactRole, text)
    if found is None:
        raise ValueError(f"unknown contact role {text!r}; accepted: {accepted(ContactRole)}")
    return ContactRole(found)
