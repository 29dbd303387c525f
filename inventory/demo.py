"""A realistic, deterministic demo federation: ``tldops inventory demo --size demo|large``.

The tree follows the organisation in force since 1 July 2025: the root *Tổng Liên đoàn Lao động
Việt Nam* (TLD), the 34 province/city federations, central sector unions and corporation unions
(≈60 level-2 units), ≈700 district-equivalent and industrial-zone unions (level 3) and grassroots
unions (level 4). Units get officers (Vietnamese names, positions, ASCII e-mails at
``congdoan.vn``), contacts, office sites, devices with custody, internet links, software,
credential profiles (sealed with :class:`~inventory.secrets.SecretBox`) and federation services.

Some in-scope units are deliberately short of equipment (no printer, no internet, only retired
computers, expired software ...) so that the plan-target scorecard has something to show.

Network rule: every management IP and every service target lies in the benchmarking range
198.18.0.0/15 or on loopback 127.0.0.0/8, so nothing in demo mode ever talks to a real host.

The generator never builds ORM objects per row: ids and materialised paths (``/1/7/93/``) are
computed in Python and rows go in with Core ``executemany`` in batches, so the large size
(100k units, 1M devices, 300k officers) loads in minutes on SQLite. The audit log gets one
summary record per table, not one per row::

    engine = make_engine("sqlite:///var/demo.db")
    upgrade(engine)
    summary = seed_demo(engine, size="demo", seed=20261125)
    summary.devices          # ≈ 10 000
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Table, func, select, text

from inventory.config import Settings
from inventory.db import Base, utcnow
from inventory.enums import (
    ContactRole,
    CredentialKind,
    DeviceKind,
    DeviceStatus,
    LinkStatus,
    ServiceKind,
    SiteKind,
    SoftwareCategory,
    SoftwareStatus,
    UnitKind,
)
from inventory.errors import Conflict
from inventory.models import (
    Unit,
)
from inventory.secrets import SecretBox
from inventory.text import fold, slugify

DemoSize = Literal["demo", "large"]
ProgressFn = Callable[[str, int, int], None]

DEFAULT_SEED = 20261125
ACTOR = "demo-generator"
EMAIL_DOMAIN = "congdoan.vn"
# Fixed timestamps keep the rows of two runs with the same seed identical.
DEMO_EPOCH = datetime(2026, 1, 5, 1, 30, tzinfo=UTC)
DEMO_TODAY = date(2026, 1, 5)

# Credential profiles created by the demo (playbooks/monitoring look them up by name).
SNMP_PROFILE = "snmpv3-default"
SSH_NETWORK_PROFILE = "ssh-network"
SSH_LINUX_PROFILE = "ssh-linux"

BATCH = 5000


class DemoDatabaseNotEmpty(Conflict):
    """The demo only seeds an empty database (it never mixes with real data)."""


# ------------------------------------------------------------------------------------------
# Reference data
# ------------------------------------------------------------------------------------------

# The 34 provinces and centrally-run cities in force since 1 July 2025: (code, name, is_city,
# relative size used to decide how many level-3 unions it has).
PROVINCES: tuple[tuple[str, str, bool, int], ...] = (
    ("HNI", "Hà Nội", True, 3),
    ("HCM", "Hồ Chí Minh", True, 3),
    ("HPG", "Hải Phòng", True, 2),
    ("DNG", "Đà Nẵng", True, 2),
    ("HUE", "Huế", True, 1),
    ("CTO", "Cần Thơ", True, 2),
    ("LCU", "Lai Châu", False, 1),
    ("DBN", "Điện Biên", False, 1),
    ("SLA", "Sơn La", False, 1),
    ("LSN", "Lạng Sơn", False, 1),
    ("QNH", "Quảng Ninh", False, 2),
    ("THA", "Thanh Hóa", False, 2),
    ("NAN", "Nghệ An", False, 2),
    ("HTH", "Hà Tĩnh", False, 1),
    ("CBG", "Cao Bằng", False, 1),
    ("TQG", "Tuyên Quang", False, 1),
    ("LCI", "Lào Cai", False, 1),
    ("TNN", "Thái Nguyên", False, 1),
    ("PTO", "Phú Thọ", False, 2),
    ("BNH", "Bắc Ninh", False, 2),
    ("HYN", "Hưng Yên", False, 2),
    ("NBH", "Ninh Bình", False, 2),
    ("QTI", "Quảng Trị", False, 1),
    ("QNI", "Quảng Ngãi", False, 1),
    ("GLI", "Gia Lai", False, 1),
    ("KHA", "Khánh Hòa", False, 1),
    ("LDG", "Lâm Đồng", False, 2),
    ("DLK", "Đắk Lắk", False, 1),
    ("DNI", "Đồng Nai", False, 2),
    ("TNH", "Tây Ninh", False, 2),
    ("VLG", "Vĩnh Long", False, 1),
    ("DTP", "Đồng Tháp", False, 1),
    ("CMU", "Cà Mau", False, 1),
    ("AGG", "An Giang", False, 2),
)

# Central sector unions (Công đoàn ngành Trung ương): code, name, what their children are.
SECTOR_UNIONS: tuple[tuple[str, str, str], ...] = (
    ("CDGD", "Công đoàn Giáo dục Việt Nam", "Trường Đại học"),
    ("CDYT", "Công đoàn Y tế Việt Nam", "Bệnh viện"),
    ("CDCT", "Công đoàn Công Thương Việt Nam", "Tổng công ty"),
    ("CDXD", "Công đoàn Xây dựng Việt Nam", "Tổng công ty Xây dựng"),
    ("CDNN", "Công đoàn Nông nghiệp và Môi trường Việt Nam", "Viện"),
    ("CDNH", "Công đoàn Ngân hàng Việt Nam", "Ngân hàng"),
    ("CDVC", "Công đoàn Viên chức Việt Nam", "Công đoàn Bộ"),
    ("CDTC", "Công đoàn Tài chính Việt Nam", "Cục"),
    ("CDGT", "Công đoàn Giao thông Vận tải Việt Nam", "Cục"),
    ("CDVH", "Công đoàn Văn hóa, Thể thao và Du lịch Việt Nam", "Nhà hát"),
    ("CDKH", "Công đoàn Khoa học và Công nghệ Việt Nam", "Viện"),
    ("CDTT", "Công đoàn Thông tin và Truyền thông Việt Nam", "Đài"),
    ("CDCA", "Công đoàn Công an nhân dân", "Công đoàn Công an"),
    ("CDQP", "Công đoàn Quốc phòng", "Tổng công ty"),
)

# Corporation unions (Công đoàn Tập đoàn / Tổng công ty).
CORPORATION_UNIONS: tuple[tuple[str, str, str], ...] = (
    ("EVN", "Công đoàn Tập đoàn Điện lực Việt Nam", "Tổng công ty Điện lực"),
    ("PVN", "Công đoàn Dầu khí Việt Nam", "Tổng công ty Dầu khí"),
    ("TKV", "Công đoàn Tập đoàn Công nghiệp Than - Khoáng sản Việt Nam", "Công ty Than"),
    ("VNPT", "Công đoàn Tập đoàn Bưu chính Viễn thông Việt Nam", "Viễn thông"),
    ("VRG", "Công đoàn Tập đoàn Công nghiệp Cao su Việt Nam", "Công ty Cao su"),
    ("VNA", "Công đoàn Tổng công ty Hàng không Việt Nam", "Công ty"),
    ("VNTX", "Công đoàn Tập đoàn Dệt May Việt Nam", "Công ty May"),
    ("VNR", "Công đoàn Tổng công ty Đường sắt Việt Nam", "Công ty Vận tải"),
    ("VCHEM", "Công đoàn Tập đoàn Hóa chất Việt Nam", "Công ty Hóa chất"),
    ("VIMC", "Công đoàn Tổng công ty Hàng hải Việt Nam", "Cảng"),
    ("VTBA", "Công đoàn Tổng công ty Thuốc lá Việt Nam", "Công ty Thuốc lá"),
    ("VNPOST", "Công đoàn Tổng công ty Bưu điện Việt Nam", "Bưu điện"),
)

# fmt: off
PLACES: tuple[str, ...] = (
    "An Phú", "Bình Minh", "Đông Hòa", "Hòa Bình", "Hưng Phú", "Long Thành", "Minh Khai",
    "Phú Lợi", "Quang Trung", "Tân Hiệp", "Thạnh Mỹ", "Thuận An", "Trung Hòa", "Vĩnh Phúc",
    "Yên Hòa", "Đồng Xuân", "Tân Bình", "Phú Nhuận", "Gò Vấp", "Thủ Đức", "Ba Đình",
    "Hoàn Kiếm", "Cầu Giấy", "Long Biên", "Sóc Sơn", "Đông Anh", "Gia Lâm", "Thanh Trì",
    "Hoài Đức", "Sơn Tây", "Ba Vì", "Mê Linh", "Lê Chân", "Ngô Quyền", "Kiến An", "Thủy Nguyên",
    "Hải Châu", "Sơn Trà", "Liên Chiểu", "Ninh Kiều", "Cái Răng", "Bình Thủy", "Hạ Long",
    "Cẩm Phả", "Uông Bí", "Móng Cái", "Sầm Sơn", "Bỉm Sơn", "Vinh", "Cửa Lò", "Hồng Lĩnh",
    "Kỳ Anh", "Từ Sơn", "Quế Võ", "Yên Phong", "Phổ Yên", "Sông Công", "Việt Trì", "Phú Mỹ",
    "Biên Hòa", "Long Khánh", "Trảng Bom", "Nhơn Trạch", "Tân Uyên", "Dĩ An", "Bến Cát",
    "Châu Đốc", "Long Xuyên", "Rạch Giá", "Sa Đéc", "Cao Lãnh", "Bảo Lộc", "Đà Lạt",
    "Buôn Ma Thuột", "Pleiku", "Quy Nhơn", "Nha Trang", "Cam Ranh", "Đông Hà", "Tam Kỳ",
    "Hội An", "Điện Bàn", "Dung Quất", "Vĩnh Yên", "Phúc Yên", "Tam Điệp", "Phủ Lý",
)

REGIONS = ("miền Bắc", "miền Trung", "miền Nam", "Hà Nội", "TP Hồ Chí Minh", "Tây Nguyên")

# Family names weighted roughly by their share of the population.
FAMILY_NAMES = (
    ("Nguyễn", 38), ("Trần", 11), ("Lê", 10), ("Phạm", 7), ("Hoàng", 4), ("Huỳnh", 2),
    ("Phan", 4), ("Vũ", 3), ("Võ", 2), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 2), ("Hồ", 1),
    ("Ngô", 1), ("Dương", 1), ("Lý", 1), ("Đinh", 1), ("Trương", 1), ("Mai", 1), ("Lương", 1),
)
MIDDLE_MALE = ("Văn", "Hữu", "Đức", "Minh", "Quang", "Công", "Thành", "Xuân", "Ngọc", "Anh")
MIDDLE_FEMALE = ("Thị", "Thu", "Ngọc", "Thanh", "Minh", "Hồng", "Phương", "Kim", "Thị Thu")
GIVEN_MALE = (
    "An", "Bình", "Cường", "Dũng", "Dương", "Đạt", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy",
    "Khánh", "Long", "Minh", "Nam", "Phong", "Phúc", "Quân", "Sơn", "Tâm", "Thắng", "Thành",
    "Trung", "Tuấn", "Việt", "Vinh", "Đông", "Khoa", "Lâm", "Tùng",
)
GIVEN_FEMALE = (
    "Anh", "Châu", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Huyền",
    "Lan", "Linh", "Mai", "Ngọc", "Nhung", "Oanh", "Phương", "Quỳnh", "Thảo", "Thủy", "Trang",
    "Vân", "Yến", "Nga", "Loan",
)
GRASSROOTS_COMPANIES = ("May", "Điện tử", "Cơ khí", "Thực phẩm", "Giày da", "Nhựa")
GRASSROOTS_SCHOOLS = ("Tiểu học", "THCS", "THPT", "Mầm non")
GRASSROOTS_OFFICES = ("UBND phường", "UBND xã", "Trạm Y tế")
# fmt: on
_FAMILY_POOL = tuple(name for name, weight in FAMILY_NAMES for _ in range(weight))

STAFF_POSITIONS = (
    "Chuyên viên",
    "Chuyên viên",
    "Chuyên viên",
    "Kế toán",
    "Chánh Văn phòng",
    "Trưởng ban Tổ chức",
    "Trưởng ban Tuyên giáo",
    "Trưởng ban Chính sách - Pháp luật",
    "Chủ nhiệm Ủy ban Kiểm tra",
    "Văn thư",
)
IT_POSITION = "Chuyên viên công nghệ thông tin"


@dataclass(frozen=True)
class Model:
    """A catalogue entry: who makes it, what it is, its platform and its price range (VND)."""

    vendor: str
    model: str
    serial_prefix: str
    platform: str | None
    cost_min: int
    cost_max: int
    warranty_years: int = 3


CATALOGUE: dict[DeviceKind, tuple[Model, ...]] = {
    DeviceKind.pc: (
        Model("Dell", "OptiPlex 7010 SFF", "DL", None, 16_000_000, 20_000_000),
        Model("HP", "ProDesk 400 G9 SFF", "HP", None, 15_000_000, 18_500_000),
        Model("Lenovo", "ThinkCentre M70t Gen 4", "LN", None, 15_500_000, 19_000_000),
        Model("FPT", "Elead T8300i", "FE", None, 11_000_000, 13_500_000),
        Model("CMS", "X-Media Pro", "CM", None, 10_000_000, 12_500_000),
    ),
    DeviceKind.laptop: (
        Model("Dell", "Latitude 5440", "DL", None, 22_000_000, 28_000_000),
        Model("HP", "ProBook 450 G10", "HP", None, 18_000_000, 23_000_000),
        Model("Lenovo", "ThinkPad E14 Gen 5", "LN", None, 17_000_000, 22_000_000),
        Model("ASUS", "ExpertBook B1", "AS", None, 14_000_000, 17_000_000),
    ),
    DeviceKind.printer: (
        Model("HP", "LaserJet Pro M404dn", "VNB", None, 6_000_000, 8_000_000),
        Model("Canon", "LBP 226dw", "CN", None, 5_500_000, 7_000_000),
        Model("Brother", "HL-L2366DW", "BR", None, 4_000_000, 5_000_000),
        Model("Canon", "imageRUNNER 2625i", "CN", None, 40_000_000, 55_000_000),
    ),
    DeviceKind.switch: (
        Model("Cisco", "Catalyst 2960X-24TS-L", "FOC", "cisco_ios", 25_000_000, 35_000_000),
        Model("Cisco", "Catalyst 9200L-24T-4G", "JAE", "cisco_ios", 45_000_000, 60_000_000),
        Model("Huawei", "S5735-L24T4S-A", "HW", "huawei", 15_000_000, 22_000_000),
        Model("MikroTik", "CRS326-24G-2S+RM", "MT", "mikrotik_routeros", 4_000_000, 6_000_000),
    ),
    DeviceKind.router: (
        Model("MikroTik", "RB4011iGS+RM", "MT", "mikrotik_routeros", 5_000_000, 7_000_000),
        Model("Cisco", "ISR 1111-8P", "FGL", "cisco_ios", 30_000_000, 40_000_000),
        Model("Huawei", "AR651", "HW", "huawei", 8_000_000, 11_000_000),
    ),
    DeviceKind.firewall: (
        Model("Fortinet", "FortiGate 60F", "FGT60F", "fortinet", 18_000_000, 25_000_000),
        Model("Fortinet", "FortiGate 100F", "FG100F", "fortinet", 70_000_000, 90_000_000),
        Model("Cisco", "ASA 5508-X", "JAD", "cisco_asa", 45_000_000, 55_000_000),
    ),
    DeviceKind.access_point: (
        Model("Ubiquiti", "UniFi U6 Lite", "UB", None, 3_000_000, 4_000_000),
        Model("Aruba", "Instant On AP22", "AR", None, 4_000_000, 5_000_000),
        Model("Ruijie", "RG-RAP2200(E)", "RJ", None, 2_500_000, 3_500_000),
    ),
    DeviceKind.server: (
        Model("Dell", "PowerEdge R750", "DLS", "linux", 180_000_000, 250_000_000, 5),
        Model("HPE", "ProLiant DL380 Gen10 Plus", "CZJ", "linux", 200_000_000, 280_000_000, 5),
        Model("Lenovo", "ThinkSystem SR650 V2", "LNS", "linux", 170_000_000, 230_000_000, 5),
    ),
    DeviceKind.storage: (
        Model("Dell", "PowerVault ME5024", "DLV", None, 350_000_000, 450_000_000, 5),
        Model("Synology", "RackStation RS3621xs+", "SYN", "linux", 120_000_000, 160_000_000),
    ),
    DeviceKind.ups: (
        Model("APC", "Smart-UPS SRT 3000VA", "AS", None, 25_000_000, 35_000_000),
        Model("Santak", "True Online C6K", "SK", None, 15_000_000, 20_000_000),
    ),
}
HQ_UPS = Model("APC", "Symmetra PX 40kW", "PX", None, 600_000_000, 800_000_000, 5)
HQ_CORE = Model("Cisco", "Catalyst 9500-24Y4C", "FCW", "cisco_ios", 350_000_000, 420_000_000, 5)
HQ_FIREWALL = Model("Fortinet", "FortiGate 600E", "FG6H0E", "fortinet", 450_000_000, 550_000_000)
HQ_ROUTER = Model("Cisco", "ISR 4451-X", "FDO", "cisco_ios", 250_000_000, 300_000_000, 5)

KIND_ABBR = {
    DeviceKind.pc: "PC",
    DeviceKind.laptop: "LT",
    DeviceKind.printer: "PR",
    DeviceKind.switch: "SW",
    DeviceKind.router: "RT",
    DeviceKind.firewall: "FW",
    DeviceKind.access_point: "AP",
    DeviceKind.server: "SV",
    DeviceKind.storage: "ST",
    DeviceKind.ups: "UPS",
    DeviceKind.other: "OT",
}
# Kinds that get a management address (network gear, servers and what SNMP watches).
MANAGED_KINDS = frozenset(
    {
        DeviceKind.switch,
        DeviceKind.router,
        DeviceKind.firewall,
        DeviceKind.access_point,
        DeviceKind.server,
        DeviceKind.storage,
        DeviceKind.ups,
        DeviceKind.printer,
    }
)
SSH_KINDS = frozenset({DeviceKind.switch, DeviceKind.router, DeviceKind.firewall})

ISPS = ("VNPT", "Viettel", "FPT")
APP_PRODUCTS: dict[SoftwareCategory, str] = {
    SoftwareCategory.document_management: "Phần mềm Quản lý văn bản và điều hành (eOffice)",
    SoftwareCategory.statistics_reporting: "Phần mềm Tổng hợp báo cáo thống kê công đoàn",
    SoftwareCategory.hr_organization: "Phần mềm Quản lý tổ chức cán bộ công đoàn",
    SoftwareCategory.finance_assets: "Phần mềm Quản lý tài chính, tài sản công đoàn",
}
EIS_PRODUCT = "Hệ thống thông tin điều hành (HTTTĐH) Tổng Liên đoàn"
ANTIVIRUS = ("Kaspersky Endpoint Security", "Bkav Pro", "ESET Endpoint Security")
OFFICE = ("Microsoft Office LTSC 2021", "LibreOffice 24")
OS_PRODUCTS = ("Windows 11 Pro", "Windows 10 Pro")


# ------------------------------------------------------------------------------------------
# Plans
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoPlan:
    """How big each layer of the generated federation is.

    ``province_children`` is the number of level-3 unions per unit of a province's relative size
    (1-3); sector and corporation unions get ``sector_children`` each. ``grassroots_per_parent``
    grassroots unions go under each level-3 union picked with ``grassroots_share``; each has
    ``grassroots_shared_pcs`` unassigned computers (training room, reception) besides its
    officers' own.
    """

    name: str
    province_children: int
    sector_children: int
    grassroots_share: float
    grassroots_per_parent: tuple[int, int]
    grassroots_shared_pcs: tuple[int, int] = (0, 1)


PLANS: dict[str, DemoPlan] = {
    # Internal, for tests: the same generator with a handful of units per layer.
    "small": DemoPlan("small", 1, 1, 0.5, (1, 2)),
    "demo": DemoPlan("demo", 10, 5, 0.04, (2, 4)),
    "large": DemoPlan("large", 10, 5, 1.0, (120, 165), (2, 5)),
}


def plan_for_hosts(hosts: int) -> DemoPlan:
    """A plan whose federation has roughly ``hosts`` Ansible hosts (active, with a mgmt IP).

    The levels 1-3 of the demo plan give ≈ 4 200 hosts over ≈ 706 level-3 unions; every
    grassroots union adds a router (and one time in four a switch), ≈ 1.225 active hosts each.

    >>> plan_for_hosts(100_000).grassroots_per_parent
    (111, 111)
    """
    base = PLANS["demo"]
    per_parent = max(0, round((hosts - 4200) / 1.225 / 706))
    return DemoPlan(
        f"hosts-{hosts}",
        base.province_children,
        base.sector_children,
        1.0,
        (per_parent, per_parent),
    )


@dataclass(frozen=True)
class DemoSummary:
    """Rows written per table by :func:`seed_demo`."""

    size: str
    seed: int
    units: int
    sites: int
    officers: int
    unit_contacts: int
    credential_profiles: int
    devices: int
    custody: int
    internet_links: int
    vlans: int
    prefixes: int
    software: int
    services: int
    audit_records: int

    def counts(self) -> dict[str, int]:
        """Row counts by table name (for display)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("size", "seed")
        }


# ------------------------------------------------------------------------------------------
# Generation
# ------------------------------------------------------------------------------------------


@dataclass
class _Unit:
    id: int
    code: str
    name: str
    level: int
    kind: UnitKind
    parent_id: int | None
    path: str
    weight: int = 1


class _Addresses:
    """Hands out management addresses that are never real: 198.18.0.0/15, then loopback.

    Level-2/3 units get a /26 block each from 198.18.1.0 upwards (the HQ has 198.18.0.0/24);
    grassroots units take single addresses from 198.19.0.0/16 and, once that is used up, from
    127.16.0.0 upwards (loopback, 16M addresses).
    """

    def __init__(self) -> None:
        self._next_block = int(ipaddress.IPv4Address("198.18.1.0"))
        self._block_end = int(ipaddress.IPv4Address("198.19.0.0"))
        self._next_single = int(ipaddress.IPv4Address("198.19.0.1"))
        self._single_end = int(ipaddress.IPv4Address("198.19.255.255"))

    def block(self) -> ipaddress.IPv4Network:
        if self._next_block >= self._block_end:
            # More level-2/3 units than /26 blocks in 198.18.0.0/16: continue on loopback.
            self._next_block = int(ipaddress.IPv4Address("127.8.0.0"))
            self._block_end = int(ipaddress.IPv4Address("127.16.0.0"))
        net = ipaddress.IPv4Network((self._next_block, 26))
        self._next_block += 64
        return net

    def single(self) -> str:
        while True:
            if self._next_single >= self._single_end:
                self._next_single = int(ipaddress.IPv4Address("127.16.0.1"))
                self._single_end = int(ipaddress.IPv4Address("127.255.255.255"))
            value = self._next_single
            self._next_single += 1
            if value & 0xFF not in (0, 255):
                return str(ipaddress.IPv4Address(value))


class _Ids:
    def __init__(self, conn: Connection, tables: list[Table]) -> None:
        self._next = {
            t.name: (conn.execute(select(func.max(t.c.id))).scalar() or 0) + 1 for t in tables
        }

    def take(self, table: str) -> int:
        value = self._next[table]
        self._next[table] = value + 1
        return value


class _Writer:
    """Buffers rows per table and writes them with Core executemany in foreign-key order."""

    ORDER = (
        "units",
        "sites",
        "credential_profiles",
        "officers",
        "unit_contacts",
        "devices",
        "custody",
        "internet_links",
        "vlans",
        "prefixes",
        "software",
        "services",
    )

    def __init__(self, conn: Connection, tables: dict[str, Table]) -> None:
        self.conn = conn
        self.tables = tables
        self.buffers: dict[str, list[dict[str, Any]]] = {name: [] for name in self.ORDER}
        self.counts: dict[str, int] = dict.fromkeys(self.ORDER, 0)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.buffers[table].append(row)
        self.counts[table] += 1

    def maybe_flush(self) -> None:
        if any(len(rows) >= BATCH for rows in self.buffers.values()):
            self.flush()

    def flush(self) -> None:
        for name in self.ORDER:
            rows = self.buffers[name]
            if rows:
                self.conn.execute(self.tables[name].insert(), rows)
                self.buffers[name] = []


class _Generator:
    def __init__(
        self,
        *,
        conn: Connection,
        plan: DemoPlan,
        seed: int,
        box: SecretBox,
        progress: ProgressFn | None,
    ) -> None:
        self.conn = conn
        self.plan = plan
        self.seed = seed
        self.rng = random.Random(seed)
        self.box = box
        self.progress = progress
        tables = {name: Base.metadata.tables[name] for name in _Writer.ORDER}
        self.ids = _Ids(conn, list(tables.values()))
        self.out = _Writer(conn, tables)
        self.addresses = _Addresses()
        self.emails: set[str] = set()
        self.stamp = {"created_at": DEMO_EPOCH, "updated_at": DEMO_EPOCH}
        self.profiles: dict[str, int] = {}

    # -- the tree ------------------------------------------------------------------------------
    def _unit(
        self, code: str, name: str, level: int, kind: UnitKind, parent: _Unit | None, weight: int
    ) -> _Unit:
        uid = self.ids.take("units")
        path = f"{parent.path if parent else '/'}{uid}/"
        unit = _Unit(uid, code, name, level, kind, parent.id if parent else None, path, weight)
        self.out.add(
            "units",
            {
                "id": uid,
                "code": code,
                "name": name,
                "slug": slugify(name),
                "level": level,
                "kind": kind,
                "parent_id": unit.parent_id,
                "path": path,
                **self.stamp,
            },
        )
        return unit

    def build_tree(self) -> list[_Unit]:
        rng, plan = self.rng, self.plan
        root = self._unit("TLD", "Tổng Liên đoàn Lao động Việt Nam", 1, UnitKind.central, None, 4)
        units = [root]
        level2: list[tuple[_Unit, str]] = []
        for code, place, is_city, weight in PROVINCES:
            where = f"thành phố {place}" if is_city else f"tỉnh {place}"
            if code == "HCM":
                where = "Thành phố Hồ Chí Minh"
            u = self._unit(
                code,
                f"Liên đoàn Lao động {where}",
                2,
                UnitKind.province_federation,
                root,
                weight,
            )
            level2.append((u, where))
        for code, name, child in SECTOR_UNIONS:
            level2.append(
                (self._unit(code, name, 2, UnitKind.central_sector_union, root, 1), child)
            )
        for code, name, child in CORPORATION_UNIONS:
            level2.append((self._unit(code, name, 2, UnitKind.corporation_union, root, 1), child))
        units.extend(u for u, _ in level2)

        level3: list[_Unit] = []
        for parent, label in level2:
            if parent.kind is UnitKind.province_federation:
                n = plan.province_children * parent.weight + rng.randint(0, 2)
                names = self._province_children(label, n)
            else:
                n = plan.sector_children + rng.randint(0, 2)
                names = self._sector_children(parent.kind, label, n)
            for i, (name, kind) in enumerate(names, start=1):
                level3.append(self._unit(f"{parent.code}-{i:03d}", name, 3, kind, parent, 1))
        units.extend(level3)

        lo, hi = plan.grassroots_per_parent
        for parent in level3:
            if rng.random() >= plan.grassroots_share:
                continue
            for i in range(1, rng.randint(lo, hi) + 1):
                units.append(
                    self._unit(
                        f"{parent.code}-{i:03d}",
                        self._grassroots_name(i),
                        4,
                        UnitKind.grassroots,
                        parent,
                        1,
                    )
                )
            self.out.maybe_flush()
        self.out.flush()
        return units

    def _province_children(self, where: str, n: int) -> list[tuple[str, UnitKind]]:
        fixed = [
            (f"Công đoàn Viên chức {where}", UnitKind.district),
            (f"Công đoàn các Khu công nghiệp {where}", UnitKind.industrial_zone),
            (f"Công đoàn ngành Giáo dục {where}", UnitKind.district),
            (f"Công đoàn ngành Y tế {where}", UnitKind.district),
        ]
        places = self.rng.sample(PLACES, k=min(len(PLACES), max(0, n - len(fixed))))
        out = fixed[: min(n, len(fixed))]
        for place in places:
            if self.rng.random() < 0.15:
                out.append((f"Công đoàn Khu công nghiệp {place}", UnitKind.industrial_zone))
            else:
                out.append((f"Công đoàn khu vực {place}", UnitKind.district))
        return out[:n]

    def _sector_children(self, kind: UnitKind, label: str, n: int) -> list[tuple[str, UnitKind]]:
        pool = REGIONS if "Tổng công ty" in label or label in ("Viễn thông", "Bưu điện") else PLACES
        places = self.rng.sample(pool, k=min(n, len(pool)))
        return [(f"Công đoàn {label} {p}", UnitKind.district) for p in places]

    def _grassroots_name(self, i: int) -> str:
        rng = self.rng
        place = rng.choice(PLACES)
        template = rng.random()
        if template < 0.4:
            what = f"Công ty TNHH {rng.choice(GRASSROOTS_COMPANIES)}"
        elif template < 0.7:
            what = f"Trường {rng.choice(GRASSROOTS_SCHOOLS)}"
        else:
            what = rng.choice(GRASSROOTS_OFFICES)
        return f"Công đoàn cơ sở {what} {place} số {i}"

    # -- everything else -------------------------------------------------------------------------
    def credentials(self) -> None:
        rng = self.rng

        def token(n: int) -> str:
            return "".join(
                rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789")
                for _ in range(n)
            )

        specs: list[tuple[str, CredentialKind, str, dict[str, Any], dict[str, Any]]] = [
            (
                SNMP_PROFILE,
                CredentialKind.snmp_v3,
                "tldops",
                {"auth_protocol": "SHA", "priv_protocol": "AES", "security_level": "authPriv"},
                {"auth_key": f"auth-{token(20)}", "priv_key": f"priv-{token(20)}"},
            ),
            (
                SSH_NETWORK_PROFILE,
                CredentialKind.ssh,
                "netadmin",
                {"port": 22},
                {"password": f"net-{token(18)}"},
            ),
            (
                SSH_LINUX_PROFILE,
                CredentialKind.ssh,
                "tldops-ops",
                {"port": 22},
                {"password": f"ops-{token(18)}"},
            ),
        ]
        for name, kind, user, params, secret in specs:
            pid = self.ids.take("credential_profiles")
            self.profiles[name] = pid
            self.out.add(
                "credential_profiles",
                {
                    "id": pid,
                    "name": name,
                    "kind": kind,
                    "username": user,
                    "params": params,
                    "secret_blob": self.box.seal(secret),
                    **self.stamp,
                },
            )

    def _person(self) -> tuple[str, str]:
        """A Vietnamese full name and its e-mail stem (given name + initials, e.g. ``annv``)."""
        rng = self.rng
        family = rng.choice(_FAMILY_POOL)
        if rng.random() < 0.52:
            middle, given = rng.choice(MIDDLE_MALE), rng.choice(GIVEN_MALE)
        else:
            middle, given = rng.choice(MIDDLE_FEMALE), rng.choice(GIVEN_FEMALE)
        full = f"{family} {middle} {given}"
        initials = "".join(part[0] for part in fold(f"{family} {middle}").split())
        return full, f"{fold(given).replace(' ', '')}{initials}"

    def _email(self, stem: str, unit_code: str) -> str:
        base = f"{stem}.{unit_code.lower().replace('-', '')}"
        email, n = f"{base}@{EMAIL_DOMAIN}", 1
        while email in self.emails:
            n += 1
            email = f"{base}{n}@{EMAIL_DOMAIN}"
        self.emails.add(email)
        return email

    def _officers(self, unit: _Unit) -> list[tuple[int, str, bool]]:
        """Officers of ``unit`` as (id, code, full_time); contacts for levels 1-3."""
        rng = self.rng
        if unit.level == 1:
            n = 42
        elif unit.level == 2:
            n = rng.randint(10, 16) + 2 * (unit.weight - 1)
        elif unit.level == 3:
            n = rng.randint(2, 4)
        else:
            n = rng.randint(1, 5)
        it_index = 3 if unit.level <= 2 else (n - 1 if n >= 3 and rng.random() < 0.25 else -1)
        out: list[tuple[int, str, bool]] = []
        leader_id = it_id = None
        for i in range(n):
            oid = self.ids.take("officers")
            full_name, stem = self._person()
            if i == 0:
                position = "Chủ tịch"
            elif i <= (4 if unit.level == 1 else 2 if unit.level == 2 else 1):
                position = "Phó Chủ tịch"
            elif i == it_index:
                position = IT_POSITION
            else:
                position = rng.choice(STAFF_POSITIONS)
            # Grassroots officers are mostly part-time (bán chuyên trách).
            full_time = (rng.random() < 0.93 or i == 0) if unit.level <= 3 else rng.random() < 0.15
            code = f"{unit.code}-CB{i + 1:02d}"
            self.out.add(
                "officers",
                {
                    "id": oid,
                    "code": code,
                    "full_name": full_name,
                    "name_ascii": fold(full_name),
                    "unit_id": unit.id,
                    "position": position,
                    "full_time": full_time,
                    "email": self._email(stem, unit.code),
                    "phone": f"09{rng.randint(0, 99_999_999):08d}",
                    "it_staff": i == it_index,
                    "active": True,
                    **self.stamp,
                },
            )
            out.append((oid, code, full_time))
            if i == 0:
                leader_id = oid
            if i == it_index:
                it_id = oid
        if unit.level <= 3 and leader_id is not None:
            # Without an IT officer the leader's deputy (or the leader) answers for IT.
            it_contact = it_id if it_id is not None else out[min(1, len(out) - 1)][0]
            for officer_id, role in ((leader_id, ContactRole.leader), (it_contact, ContactRole.it)):
                self.out.add(
                    "unit_contacts",
                    {
                        "id": self.ids.take("unit_contacts"),
                        "unit_id": unit.id,
                        "officer_id": officer_id,
                        "role": role,
                    },
                )
        return out

    def _site(self, unit: _Unit, *, code: str, name: str, kind: SiteKind) -> int:
        sid = self.ids.take("sites")
        self.out.add(
            "sites",
            {
                "id": sid,
                "code": code,
                "name": name,
                "kind": kind,
                "unit_id": unit.id,
                "address": None,
                **self.stamp,
            },
        )
        return sid

    def _device(
        self,
        unit: _Unit,
        kind: DeviceKind,
        seq: dict[DeviceKind, int],
        *,
        site_id: int,
        model: Model | None = None,
        status: DeviceStatus = DeviceStatus.active,
        mgmt_ip: str | None = None,
        holder: int | None = None,
        old: bool = False,
    ) -> int:
        rng = self.rng
        model = model or rng.choice(CATALOGUE[kind])
        seq[kind] = seq.get(kind, 0) + 1
        tag = f"{unit.code}-{KIND_ABBR[kind]}{seq[kind]:02d}"
        first_year = 2014 if old else 2018
        purchase = date(first_year, 1, 1) + timedelta(days=rng.randint(0, 365 * (7 if old else 8)))
        if purchase > DEMO_TODAY:
            purchase = DEMO_TODAY - timedelta(days=rng.randint(10, 300))
        if status is DeviceStatus.active and rng.random() < 0.02:
            status = DeviceStatus.repair
        did = self.ids.take("devices")
        managed = kind in MANAGED_KINDS and mgmt_ip is not None
        self.out.add(
            "devices",
            {
                "id": did,
                "asset_tag": tag,
                "kind": kind,
                "unit_id": unit.id,
                "site_id": site_id,
                "hostname": tag.lower(),
                "vendor": model.vendor,
                "model": model.model,
                "serial": f"{model.serial_prefix}{rng.getrandbits(40):010X}",
                "mgmt_ip": mgmt_ip,
                "status": status,
                "platform": model.platform,
                "purchase_date": purchase,
                "cost_vnd": rng.randrange(model.cost_min, model.cost_max + 1, 10_000),
                "warranty_end": purchase.replace(year=purchase.year + model.warranty_years)
                if not (purchase.month == 2 and purchase.day == 29)
                else purchase + timedelta(days=365 * model.warranty_years),
                "assigned_officer_id": holder,
                "snmp_profile_id": self.profiles[SNMP_PROFILE] if managed else None,
                "ssh_profile_id": (
                    self.profiles[SSH_NETWORK_PROFILE]
                    if managed and kind in SSH_KINDS
                    else self.profiles[SSH_LINUX_PROFILE]
                    if managed and model.platform == "linux"
                    else None
                ),
                **self.stamp,
            },
        )
        return did

    def _custody(
        self, device_id: int, officer_id: int, on: date, returned: date | None = None
    ) -> None:
        self.out.add(
            "custody",
            {
                "id": self.ids.take("custody"),
                "device_id": device_id,
                "officer_id": officer_id,
                "assigned_on": on,
                "returned_on": returned,
                "note": "bàn giao khi triển khai demo" if returned is None else "điều chuyển",
            },
        )

    def _gaps(self, unit: _Unit) -> set[str]:
        """Deliberate shortfalls for in-scope units (the scorecard must have failures)."""
        if unit.level == 1 or unit.level > 3:
            return set()
        rng, gaps = self.rng, set()
        for gap, p in (
            ("no_printer", 0.05),
            ("no_internet", 0.04),
            ("retired_computers", 0.03),
            ("no_network", 0.03),
            ("app_gap", 0.07),
            ("eis_gap", 0.08 if unit.level == 2 else 0.0),
        ):
            if rng.random() < p:
                gaps.add(gap)
        return gaps

    def assets(
        self, unit: _Unit, officers: list[tuple[int, str, bool]]
    ) -> ipaddress.IPv4Network | None:
        """Site, devices with custody, links, networks and software of one unit; its /26."""
        rng = self.rng
        gaps = self._gaps(unit)
        seq: dict[DeviceKind, int] = {}
        site_id = self._site(
            unit, code=f"{unit.code}-VP", name=f"Trụ sở {unit.name}", kind=SiteKind.office
        )
        block = self.addresses.block() if unit.level <= 3 and unit.level > 1 else None
        hosts = iter(block.hosts()) if block else None

        def ip() -> str:
            return str(next(hosts)) if hosts is not None else self.addresses.single()

        # Computers: one per officer (most), a few officers without; retired predecessors.
        retired_only = "retired_computers" in gaps
        for oid, _code, _full_time in officers:
            share = 0.9 if unit.level <= 3 else 0.6
            if rng.random() >= share and not (unit.level <= 3 and oid == officers[0][0]):
                continue
            kind = DeviceKind.laptop if rng.random() < 0.3 else DeviceKind.pc
            status = DeviceStatus.retired if retired_only else DeviceStatus.active
            holder = None if retired_only else oid
            did = self._device(unit, kind, seq, site_id=site_id, status=status, holder=holder)
            start = DEMO_TODAY - timedelta(days=rng.randint(30, 1500))
            if rng.random() < 0.15 and len(officers) > 1:
                # An earlier holder handed it over: custody history has two rows.
                other = rng.choice(officers)[0]
                if other != oid:
                    self._custody(did, other, start - timedelta(days=400), start)
            self._custody(did, oid, start, DEMO_TODAY - timedelta(days=5) if retired_only else None)
        for _ in range(rng.randint(0, 2) if unit.level <= 3 else rng.randint(0, 1)):
            self._device(
                unit,
                rng.choice((DeviceKind.pc, DeviceKind.laptop)),
                seq,
                site_id=site_id,
                status=DeviceStatus.retired,
                old=True,
            )
        if unit.level <= 3 and rng.random() < 0.3:
            self._device(unit, DeviceKind.pc, seq, site_id=site_id, status=DeviceStatus.planned)
        if unit.level <= 3 and not retired_only:
            # Shared machines (meeting room, one-stop desk): active but assigned to nobody.
            for _ in range(rng.randint(1, 3) if unit.level == 3 else rng.randint(3, 8)):
                self._device(unit, DeviceKind.pc, seq, site_id=site_id)

        # Printers, network, power.
        if unit.level <= 3:
            printers = (
                0
                if "no_printer" in gaps
                else (rng.randint(2, 5) if unit.level <= 2 else rng.randint(1, 2))
            )
            for _ in range(printers):
                self._device(unit, DeviceKind.printer, seq, site_id=site_id, mgmt_ip=ip())
            if "no_printer" in gaps and rng.random() < 0.5:
                self._device(
                    unit,
                    DeviceKind.printer,
                    seq,
                    site_id=site_id,
                    status=DeviceStatus.retired,
                    old=True,
                )
            if "no_network" not in gaps:
                for _ in range(rng.randint(2, 4) if unit.level <= 2 else 1):
                    self._device(unit, DeviceKind.switch, seq, site_id=site_id, mgmt_ip=ip())
                self._device(unit, DeviceKind.router, seq, site_id=site_id, mgmt_ip=ip())
                if unit.level <= 2 or rng.random() < 0.2:
                    self._device(unit, DeviceKind.firewall, seq, site_id=site_id, mgmt_ip=ip())
                for _ in range(rng.randint(2, 5) if unit.level <= 2 else rng.randint(0, 2)):
                    self._device(unit, DeviceKind.access_point, seq, site_id=site_id, mgmt_ip=ip())
            if unit.level <= 2:
                for _ in range(rng.randint(1, 2)):
                    self._device(unit, DeviceKind.server, seq, site_id=site_id, mgmt_ip=ip())
                self._device(unit, DeviceKind.ups, seq, site_id=site_id, mgmt_ip=ip())
            elif rng.random() < 0.3:
                self._device(unit, DeviceKind.ups, seq, site_id=site_id, mgmt_ip=ip())
        else:
            # Grassroots: a small office router (managed) and sometimes a switch and a printer.
            self._device(
                unit,
                DeviceKind.router,
                seq,
                site_id=site_id,
                model=CATALOGUE[DeviceKind.router][0],
                mgmt_ip=ip(),
            )
            if rng.random() < 0.25:
                self._device(
                    unit,
                    DeviceKind.switch,
                    seq,
                    site_id=site_id,
                    model=CATALOGUE[DeviceKind.switch][3],
                    mgmt_ip=ip(),
                )
            for _ in range(rng.randint(*self.plan.grassroots_shared_pcs)):
                self._device(unit, DeviceKind.pc, seq, site_id=site_id)
            for _ in range(rng.randint(0, 2)):
                self._device(unit, DeviceKind.printer, seq, site_id=site_id)
            for _ in range(rng.randint(0, 2)):
                # Unmanaged access points: the grassroots office has no SNMP budget.
                self._device(unit, DeviceKind.access_point, seq, site_id=site_id)
            if rng.random() < 0.5:
                self._device(unit, DeviceKind.ups, seq, site_id=site_id)

        # Internet, networks, software.
        self._links(unit, gaps)
        if block is not None:
            self._networks(unit, site_id, block)
        self._software(unit, gaps)
        return block

    def _links(self, unit: _Unit, gaps: set[str]) -> None:
        rng = self.rng
        if unit.level > 3:
            if rng.random() < 0.5:
                self._link(unit, rng.choice(ISPS), "ftth", rng.choice((50, 100)), LinkStatus.active)
            return
        if "no_internet" in gaps:
            if rng.random() < 0.5:
                self._link(unit, rng.choice(ISPS), "ftth", 100, LinkStatus.terminated)
            return
        isps = rng.sample(ISPS, k=2 if unit.level <= 2 else 1)
        self._link(unit, isps[0], "ftth", rng.choice((100, 150, 200, 300)), LinkStatus.active)
        if unit.level <= 2:
            self._link(unit, isps[1], "leased_line", rng.choice((20, 50, 100)), LinkStatus.active)

    def _link(self, unit: _Unit, isp: str, kind: str, mbps: int, status: LinkStatus) -> None:
        self.out.add(
            "internet_links",
            {
                "id": self.ids.take("internet_links"),
                "unit_id": unit.id,
                "isp": isp,
                "bandwidth_mbps": mbps,
                "kind": kind,
                "status": status,
                **self.stamp,
            },
        )

    def _networks(self, unit: _Unit, site_id: int, block: ipaddress.IPv4Network) -> None:
        vlan_id = None
        if unit.level <= 2:
            for vid, name in ((10, "QUAN-LY"), (20, "CAN-BO"), (30, "KHACH")):
                rid = self.ids.take("vlans")
                self.out.add("vlans", {"id": rid, "site_id": site_id, "vid": vid, "name": name})
                if vid == 10:
                    vlan_id = rid
        self.out.add(
            "prefixes",
            {
                "id": self.ids.take("prefixes"),
                "prefix": str(block),
                "unit_id": unit.id,
                "site_id": site_id,
                "vlan_id": vlan_id,
                "description": f"Mạng quản trị {unit.code}",
            },
        )

    def _software(self, unit: _Unit, gaps: set[str]) -> None:
        rng = self.rng
        entries: list[tuple[str, SoftwareCategory, SoftwareStatus]] = []
        if unit.level <= 3:
            broken = rng.choice(list(APP_PRODUCTS)) if "app_gap" in gaps else None
            for category, product in APP_PRODUCTS.items():
                if category is broken:
                    if rng.random() < 0.5:
                        entries.append((product, category, SoftwareStatus.expired))
                    continue
                entries.append((product, category, SoftwareStatus.active))
            if unit.level == 2:
                if "eis_gap" not in gaps:
                    entries.append((EIS_PRODUCT, SoftwareCategory.eis, SoftwareStatus.active))
                elif rng.random() < 0.5:
                    entries.append((EIS_PRODUCT, SoftwareCategory.eis, SoftwareStatus.expired))
            entries.append(
                (
                    rng.choice(ANTIVIRUS),
                    SoftwareCategory.antivirus,
                    SoftwareStatus.expired if rng.random() < 0.1 else SoftwareStatus.active,
                )
            )
            entries.append((rng.choice(OFFICE), SoftwareCategory.office, SoftwareStatus.active))
            entries.append((rng.choice(OS_PRODUCTS), SoftwareCategory.os, SoftwareStatus.active))
        elif rng.random() < 0.4:
            entries.append((rng.choice(OFFICE), SoftwareCategory.office, SoftwareStatus.active))
        for product, category, status in entries:
            expires = (
                date(2030 + rng.randint(0, 2), 12, 31)
                if status is SoftwareStatus.active
                else DEMO_TODAY - timedelta(days=rng.randint(20, 400))
            )
            self.out.add(
                "software",
                {
                    "id": self.ids.take("software"),
                    "unit_id": unit.id,
                    "product": product,
                    "category": category,
                    "seats": rng.randint(3, 60) if unit.level <= 2 else rng.randint(1, 6),
                    "status": status,
                    "licence_expires": expires,
                    **self.stamp,
                },
            )

    def headquarters(self, root: _Unit, officers: list[tuple[int, str, bool]]) -> None:
        """The HQ data-integration center: servers, storage, UPS, core network, services."""
        rng = self.rng
        dc = self._site(
            root,
            code="TLD-DC",
            name="Trung tâm tích hợp dữ liệu - Cơ quan Tổng Liên đoàn",
            kind=SiteKind.datacenter,
        )
        seq: dict[DeviceKind, int] = {}
        hosts = iter(ipaddress.IPv4Network("198.18.0.0/24").hosts())
        for _ in range(9):
            next(hosts)  # .1-.9 are gateways and VRRP addresses
        web, mail, eis, jitsi = (str(next(hosts)) for _ in range(4))
        for address in (web, mail, eis, jitsi):
            self._device(root, DeviceKind.server, seq, site_id=dc, mgmt_ip=address)
        for _ in range(12):
            self._device(root, DeviceKind.server, seq, site_id=dc, mgmt_ip=str(next(hosts)))
        # The monitoring host of the demo answers on loopback (snmpd/node exporter run locally).
        self._device(
            root,
            DeviceKind.server,
            seq,
            site_id=dc,
            mgmt_ip="127.0.0.1",
            model=CATALOGUE[DeviceKind.server][0],
        )
        for _ in range(3):
            self._device(root, DeviceKind.storage, seq, site_id=dc, mgmt_ip=str(next(hosts)))
        for _ in range(2):
            self._device(
                root, DeviceKind.switch, seq, site_id=dc, model=HQ_CORE, mgmt_ip=str(next(hosts))
            )
            self._device(
                root,
                DeviceKind.firewall,
                seq,
                site_id=dc,
                model=HQ_FIREWALL,
                mgmt_ip=str(next(hosts)),
            )
            self._device(
                root, DeviceKind.router, seq, site_id=dc, model=HQ_ROUTER, mgmt_ip=str(next(hosts))
            )
        for _ in range(8):
            self._device(root, DeviceKind.switch, seq, site_id=dc, mgmt_ip=str(next(hosts)))
        for _ in range(4):
            self._device(
                root, DeviceKind.ups, seq, site_id=dc, model=HQ_UPS, mgmt_ip=str(next(hosts))
            )
        for _ in range(10):
            self._device(root, DeviceKind.access_point, seq, site_id=dc, mgmt_ip=str(next(hosts)))
        for _ in range(6):
            self._device(root, DeviceKind.printer, seq, site_id=dc, mgmt_ip=str(next(hosts)))
        for oid, _code, _ft in officers:
            kind = DeviceKind.laptop if rng.random() < 0.5 else DeviceKind.pc
            did = self._device(root, kind, seq, site_id=dc, holder=oid)
            self._custody(did, oid, DEMO_TODAY - timedelta(days=rng.randint(30, 900)))
        self._link(root, "VNPT", "leased_line", 1000, LinkStatus.active)
        self._link(root, "Viettel", "leased_line", 1000, LinkStatus.active)
        self._link(root, "FPT", "ftth", 500, LinkStatus.active)
        for vid, name in ((10, "QUAN-LY"), (20, "CAN-BO"), (100, "MAY-CHU"), (200, "DMZ")):
            self.out.add(
                "vlans", {"id": self.ids.take("vlans"), "site_id": dc, "vid": vid, "name": name}
            )
        self.out.add(
            "prefixes",
            {
                "id": self.ids.take("prefixes"),
                "prefix": "198.18.0.0/24",
                "unit_id": root.id,
                "site_id": dc,
                "vlan_id": None,
                "description": "Trung tâm tích hợp dữ liệu - mạng máy chủ",
            },
        )
        self._software(root, set())
        self.out.add(
            "software",
            {
                "id": self.ids.take("software"),
                "unit_id": root.id,
                "product": EIS_PRODUCT,
                "category": SoftwareCategory.eis,
                "seats": 500,
                "status": SoftwareStatus.active,
                "licence_expires": date(2032, 12, 31),
                **self.stamp,
            },
        )
        services: list[tuple[str, ServiceKind, str, dict[str, Any]]] = [
            (
                "cong-thong-tin",
                ServiceKind.http,
                f"http://{web}/",
                {"expect_status": 200, "timeout": 5},
            ),
            ("thu-dien-tu-smtp", ServiceKind.smtp, f"{mail}:25", {"timeout": 5}),
            (
                "htttdh-eis",
                ServiceKind.http,
                f"http://{eis}/eis/",
                {"expect_status": 200, "timeout": 5},
            ),
            ("jitsi-hoi-nghi", ServiceKind.tls, f"{jitsi}:443", {"timeout": 5}),
            (
                "jitsi-web",
                ServiceKind.http,
                f"https://{jitsi}/",
                {"expect_status": 200, "timeout": 5, "verify": False},
            ),
            (
                "tldops-web",
                ServiceKind.http,
                "http://127.0.0.1:8080/healthz",
                {"expect_status": 200, "timeout": 3, "self": True},
            ),
            ("cong-ket-noi", ServiceKind.icmp, "198.18.0.1", {"timeout": 2}),
        ]
        for name, service_kind, target, params in services:
            self._service(root, name, service_kind, target, params, dc)

    def _service(
        self,
        unit: _Unit,
        name: str,
        kind: ServiceKind,
        target: str,
        params: dict[str, Any],
        site_id: int | None,
    ) -> None:
        self.out.add(
            "services",
            {
                "id": self.ids.take("services"),
                "name": name,
                "kind": kind,
                "target": target,
                "unit_id": unit.id,
                "site_id": site_id,
                "params": params,
                "enabled": True,
                **self.stamp,
            },
        )

    def run(self) -> dict[str, int]:
        units = self.build_tree()
        total = len(units)
        self._report("units", total, total)
        self.credentials()
        root = units[0]
        hq_officers = self._officers(root)
        self.headquarters(root, hq_officers)
        # Office site of HQ for the leadership floor; its gear is counted in the DC above.
        self._site(root, code="TLD-VP", name="Trụ sở Cơ quan Tổng Liên đoàn", kind=SiteKind.office)
        step = max(1, total // 200)
        for done, unit in enumerate(units[1:], start=2):
            officers = self._officers(unit)
            block = self.assets(unit, officers)
            if unit.level == 2 and block is not None:
                # The province's own portal, on the last address of its block.
                host = block.network_address + 62
                self._service(
                    unit,
                    f"web-{unit.code.lower()}",
                    ServiceKind.http,
                    f"http://{host}/",
                    {"expect_status": 200, "timeout": 5},
                    None,
                )
            self.out.maybe_flush()
            if done % step == 0 or done == total:
                self._report("assets", done, total)
        self.out.flush()
        return dict(self.out.counts)

    def _report(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)


def _reset_sequences(conn: Connection, tables: list[str]) -> None:
    """After explicit ids, move PostgreSQL's sequences past them (SQLite needs nothing)."""
    if conn.dialect.name != "postgresql":
        return
    for name in tables:
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
            )
        )


def seed_demo(
    engine: Engine,
    *,
    size: DemoSize = "demo",
    seed: int = DEFAULT_SEED,
    progress: ProgressFn | None = None,
) -> DemoSummary:
    """Fill an empty, migrated database with a demo federation; deterministic for a seed.

    Refuses with :class:`DemoDatabaseNotEmpty` (nothing written) if any unit exists, and with
    :class:`~inventory.errors.ConfigError` if ``TLDOPS_SECRET_KEY`` is unset (the credential
    profiles must be sealed). ``progress(stage, done, total)`` is called as work proceeds.

    >>> summary = seed_demo(engine, size="demo", seed=7)
    >>> summary.units > 800, summary.devices > 9000
    (True, True)
    """
    return seed_plan(engine, plan=PLANS[size], seed=seed, progress=progress)


def seed_plan(
    engine: Engine,
    *,
    plan: DemoPlan,
    seed: int = DEFAULT_SEED,
    progress: ProgressFn | None = None,
) -> DemoSummary:
    """:func:`seed_demo` with an explicit :class:`DemoPlan` (tests and benchmarks size it).

    >>> seed_plan(engine, plan=PLANS["small"]).units < 150
    True
    """
    box = SecretBox.from_settings(Settings.from_env())
    with engine.begin() as conn:
        existing = conn.execute(select(func.count(Unit.id))).scalar_one()
        if existing:
            raise DemoDatabaseNotEmpty(
                f"Cơ sở dữ liệu đã có {existing} đơn vị, không tạo dữ liệu mẫu / "
                f"the database already has {existing} units; the demo only seeds an empty one",
                hint="point TLDOPS_DATABASE_URL at a fresh database, e.g. "
                "`TLDOPS_DATABASE_URL=sqlite:///var/demo.db tldops inventory demo`",
            )
        gen = _Generator(conn=conn, plan=plan, seed=seed, box=box, progress=progress)
        counts = gen.run()
        _reset_sequences(conn, list(gen.out.ORDER))
        now = utcnow()
        audit_rows = [
            {
                "at": now,
                "actor": ACTOR,
                "action": "seed",
                "entity": table,
                "entity_key": f"demo:{plan.name}:{seed}",
                "unit_path": "/1/",
                "before": None,
                "after": {"rows": n, "size": plan.name, "seed": seed},
                "note": "dữ liệu mẫu / demo data (one summary record per table)",
            }
            for table, n in counts.items()
        ]
        conn.execute(Base.metadata.tables["audit_log"].insert(), audit_rows)
        if progress is not None:
            progress("audit", len(audit_rows), len(audit_rows))
    return DemoSummary(
        size=plan.name,
        seed=seed,
        units=counts["units"],
        sites=counts["sites"],
        officers=counts["officers"],
        unit_contacts=counts["unit_contacts"],
        credential_profiles=counts["credential_profiles"],
        devices=counts["devices"],
        custody=counts["custody"],
        internet_links=counts["internet_links"],
        vlans=counts["vlans"],
        prefixes=counts["prefixes"],
        software=counts["software"],
        services=counts["services"],
        audit_records=len(audit_rows),
    )
