"""Names of import columns and sheets as offices write them, in Vietnamese or English.

A header cell names a contract column when, ignoring case, diacritics, spacing and
punctuation, it equals the column's name, its Vietnamese heading, or one of its aliases::

    canonical_column("devices", "Nguyên giá (VNĐ)")   # 'cost_vnd'
    canonical_column("devices", "Mã tài sản")          # 'asset_tag'
    canonical_column("devices", "STT")                 # 'stt' (ignored by the importer)
    kind_of_sheet("Thiết bị")                           # 'devices'

The same heading can mean different columns in different sheets ("Mã đơn vị" is the unit's own
code in the units sheet, the owner's code elsewhere), so the tables are per kind.
"""

from __future__ import annotations

from inventory.vocabulary import key

# kind -> column -> (Vietnamese heading written in templates, further aliases...)
HEADINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "units": {
        "code": ("Mã đơn vị", "mã", "mã đv", "ma_don_vi"),
        "name": ("Tên đơn vị", "tên", "tên đv"),
        "parent_code": (
            "Mã đơn vị cấp trên",
            "đơn vị cấp trên",
            "cấp trên",
            "mã cấp trên",
            "trực thuộc",
        ),
        "level": ("Cấp", "cấp đơn vị"),
        "kind": ("Loại đơn vị", "loại"),
    },
    "officers": {
        "code": ("Mã cán bộ", "mã", "mã cb", "mã nhân viên"),
        "full_name": ("Họ và tên", "họ tên", "tên cán bộ", "tên"),
        "unit_code": ("Mã đơn vị", "đơn vị", "mã đv"),
        "position": ("Chức vụ", "chức danh"),
        "full_time": ("Chuyên trách", "cán bộ chuyên trách", "chuyên trách (có/không)"),
        "email": ("Thư điện tử", "email", "e-mail", "địa chỉ thư"),
        "phone": ("Số điện thoại", "điện thoại", "sđt", "đt", "di động"),
    },
    "devices": {
        "asset_tag": ("Mã tài sản", "mã ts", "số hiệu tài sản", "mã thiết bị"),
        "kind": ("Loại thiết bị", "loại", "chủng loại"),
        "unit_code": ("Đơn vị", "mã đơn vị", "đơn vị quản lý", "đơn vị sử dụng"),
        "hostname": ("Tên máy", "tên thiết bị", "tên máy tính"),
        "vendor": ("Hãng sản xuất", "hãng", "nhà sản xuất", "hãng sx"),
        "model": ("Model", "kiểu máy", "mẫu mã", "model máy"),
        "serial": ("Số sê-ri", "số serial", "serial", "số seri", "s/n", "sn"),
        "mgmt_ip": ("Địa chỉ IP quản lý", "địa chỉ ip", "ip", "ip quản lý"),
        "status": ("Tình trạng", "trạng thái", "tình trạng sử dụng"),
        "assigned_officer_code": (
            "Mã cán bộ sử dụng",
            "cán bộ sử dụng",
            "người sử dụng",
            "người giữ",
            "mã cán bộ",
        ),
        "purchase_date": ("Ngày mua", "ngày mua sắm", "ngày trang bị"),
        "cost_vnd": ("Nguyên giá (VNĐ)", "nguyên giá", "giá trị", "giá mua", "thành tiền"),
        "platform": ("Nền tảng", "nền tảng quản trị", "hệ điều hành thiết bị"),
        "snmp_profile": ("Hồ sơ SNMP", "snmp"),
        "ssh_profile": ("Hồ sơ SSH", "ssh"),
        "snmp_port": ("Cổng SNMP",),
        "monitored": ("Giám sát", "theo dõi", "có giám sát"),
        "site": ("Địa điểm", "mã địa điểm", "nơi đặt"),
    },
    "links": {
        "unit_code": ("Đơn vị", "mã đơn vị"),
        "isp": ("Nhà cung cấp", "nhà mạng", "nhà cung cấp dịch vụ"),
        "bandwidth_mbps": ("Băng thông (Mbps)", "băng thông", "tốc độ", "tốc độ (mbps)"),
        "kind": ("Loại đường truyền", "loại", "hình thức kết nối", "công nghệ"),
        "status": ("Tình trạng", "trạng thái"),
    },
    "software": {
        "unit_code": ("Đơn vị", "mã đơn vị"),
        "product": ("Tên phần mềm", "phần mềm", "sản phẩm"),
        "category": ("Nhóm phần mềm", "nhóm", "loại", "phân loại", "loại phần mềm"),
        "seats": ("Số bản quyền", "số lượng", "số giấy phép", "số license"),
        "status": ("Tình trạng", "trạng thái", "hiệu lực"),
    },
    "contacts": {
        "unit_code": ("Đơn vị", "mã đơn vị"),
        "role": ("Vai trò", "nhiệm vụ", "đầu mối"),
        "officer_code": ("Mã cán bộ", "cán bộ", "người phụ trách"),
    },
    "services": {
        "unit_code": ("Đơn vị", "mã đơn vị"),
        "name": ("Tên dịch vụ", "tên", "dịch vụ"),
        "kind": ("Loại kiểm tra", "loại", "loại dịch vụ"),
        "target": ("Địa chỉ", "đích", "url", "máy chủ"),
        "port": ("Cổng", "port"),
        "expect": ("Kết quả mong đợi", "mong đợi", "chuỗi mong đợi"),
    },
}

# Sheet names accepted for each kind (the kind's own name is always accepted).
SHEETS: dict[str, tuple[str, ...]] = {
    "units": ("Đơn vị", "Danh sách đơn vị", "DS đơn vị"),
    "officers": ("Cán bộ", "Danh sách cán bộ", "DS cán bộ", "Nhân sự"),
    "devices": ("Thiết bị", "Danh sách thiết bị", "Tài sản", "Thiết bị CNTT"),
    "links": ("Đường truyền", "Đường truyền Internet", "Internet"),
    "software": ("Phần mềm", "Danh sách phần mềm", "Bản quyền phần mềm"),
    "contacts": ("Đầu mối liên hệ", "Đầu mối", "Liên hệ"),
    "services": ("Dịch vụ", "Dịch vụ giám sát"),
}

# Row-number columns offices add; the importer ignores them.
IGNORED = "stt"
_IGNORED_KEYS = frozenset({"stt", "tt", "so tt", "so thu tu", "no", "#"})


def _column_table(kind: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for column in HEADINGS.get(kind, {}):
        table[key(column)] = column
    for column, names in HEADINGS.get(kind, {}).items():
        for name in names:
            table.setdefault(key(name), column)
    return table


_COLUMNS: dict[str, dict[str, str]] = {kind: _column_table(kind) for kind in HEADINGS}
_SHEETS: dict[str, str] = {
    **{key(name): kind for kind, names in SHEETS.items() for name in names},
    **{key(kind): kind for kind in SHEETS},
}


def heading(kind: str, column: str) -> str:
    """The Vietnamese heading of a column (the template writes it)."""
    names = HEADINGS.get(kind, {}).get(column)
    return names[0] if names else column


def canonical_column(kind: str, text: str) -> str:
    """The contract column a header cell names; :data:`IGNORED` for a row-number column; the
    cell lower-cased when it names nothing known."""
    k = key(text)
    if k in _IGNORED_KEYS:
        return IGNORED
    return _COLUMNS.get(kind, {}).get(k, text.strip().lower())


def known_columns(kind: str, cells: list[str]) -> int:
    """How many cells of a row name a column of ``kind`` (finds the header row)."""
    table = _COLUMNS.get(kind, {})
    return sum(1 for c in cells if c and key(c) in table)


def kind_of_sheet(name: str) -> str | None:
    """The kind a sheet name stands for, or ``None``."""
    return _SHEETS.get(key(name))
