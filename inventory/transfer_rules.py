"""Row rules of the CSV contract: one parser per kind turning text into a typed record.

A *record* is a tuple in the column order of the CSV contract, with typed values (``int``,
``bool``, ``None`` for empty; days stay ISO text ``YYYY-MM-DD``). The importer compares
records with the same tuples read from the database, and the exporter prints them back, so one
shape serves all three.

Every problem is collected (never raised one at a time) so the user sees them all at once::

    log = ProblemLog("devices.csv")
    order = column_order(TransferKind.devices, header, log)
    records = parse_rows(TransferKind.devices, rows, order=order, log=log, refs=refs)
    log.raise_if_any()
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from inventory.enums import (
    DeviceKind,
    DeviceStatus,
    LinkStatus,
    SoftwareCategory,
    SoftwareStatus,
    UnitKind,
)
from inventory.errors import Problem, ValidationFailed
from inventory.text import BAD_CHARS, code_problem, control_problem, escape, normalise_phone
from inventory.transfer_names import IGNORED, heading
from inventory.vocabulary import accepted, key, parse_choice, suggest


class TransferKind(StrEnum):
    """What a file holds (``--kind``)."""

    units = "units"
    officers = "officers"
    devices = "devices"
    links = "links"
    software = "software"


# The order kinds are imported in when a workbook holds several: each may refer to the ones
# before it (officers to units, devices to officers, contacts to both).
KIND_ORDER: tuple[TransferKind, ...] = tuple(TransferKind)

COLUMNS: dict[TransferKind, tuple[str, ...]] = {
    TransferKind.units: ("code", "name", "parent_code", "level", "kind"),
    TransferKind.officers: (
        "code",
        "full_name",
        "unit_code",
        "position",
        "full_time",
        "email",
        "phone",
    ),
    TransferKind.devices: (
        "asset_tag",
        "kind",
        "unit_code",
        "hostname",
        "vendor",
        "model",
        "serial",
        "mgmt_ip",
        "status",
        "assigned_officer_code",
        "purchase_date",
        "cost_vnd",
    ),
    TransferKind.links: ("unit_code", "isp", "bandwidth_mbps", "kind", "status"),
    TransferKind.software: ("unit_code", "product", "category", "seats", "status"),
}

# Columns a file may leave out (none yet: every column of the contract is required).
OPTIONAL: dict[TransferKind, frozenset[str]] = {}

# Columns whose values come from a vocabulary (the template offers them as drop-down lists);
# ``bool`` means yes/no (có/không).
VOCABULARY_COLUMNS: dict[TransferKind, dict[str, type[StrEnum] | type[bool]]] = {
    TransferKind.units: {"kind": UnitKind},
    TransferKind.officers: {"full_time": bool},
    TransferKind.devices: {"kind": DeviceKind, "status": DeviceStatus},
    TransferKind.links: {"status": LinkStatus},
    TransferKind.software: {"category": SoftwareCategory, "status": SoftwareStatus},
}

# Positions of the natural key inside a record.
KEY_INDEXES: dict[TransferKind, tuple[int, ...]] = {
    TransferKind.units: (0,),
    TransferKind.officers: (0,),
    TransferKind.devices: (0,),
    TransferKind.links: (0, 1, 3),
    TransferKind.software: (0, 1),
}

# Level each unit kind must have (DESIGN.md glossary).
KIND_LEVEL: dict[str, int] = {
    UnitKind.central.value: 1,
    UnitKind.province_federation.value: 2,
    UnitKind.central_sector_union.value: 2,
    UnitKind.corporation_union.value: 2,
    UnitKind.district.value: 3,
    UnitKind.industrial_zone.value: 3,
    UnitKind.grassroots.value: 4,
}

# Longest text each column may hold (the database column sizes).
MAX_LEN: dict[str, int] = {
    "code": 64,
    "name": 255,
    "full_name": 255,
    "position": 255,
    "email": 255,
    "phone": 64,
    "asset_tag": 64,
    "hostname": 255,
    "vendor": 128,
    "model": 128,
    "serial": 128,
    "isp": 128,
    "link_kind": 64,
    "product": 255,
}

# Positions of the code columns in a record: codes are [A-Z0-9-], stored upper case.
CODE_INDEXES: dict[TransferKind, tuple[int, ...]] = {
    TransferKind.units: (0, 2),
    TransferKind.officers: (0, 2),
    TransferKind.devices: (0, 2, 9),
    TransferKind.links: (0,),
    TransferKind.software: (0,),
}

# Largest whole number each integer column holds (INTEGER is 32-bit on PostgreSQL, BIGINT
# 64-bit); a bigger value would otherwise fail in the driver, after validation.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

Record = tuple[Any, ...]

_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)
_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_GROUPED_INT = re.compile(r"\d{1,3}(?:([.,  ])\d{3})(?:\1\d{3})*")
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
# Compared after vocabulary.key (no case, no diacritics): "Có", "co", "CÓ" are all yes.
# Already in the national format normalise_phone writes: most rows skip the parser.
_NATIONAL_PHONE = re.compile(r"0\d{3} \d{3} \d{3}|0\d{2} \d{4} \d{4}")
_YES = frozenset({"yes", "y", "true", "1", "co", "x", "chuyen trach"})
_NO = frozenset({"no", "n", "false", "0", "khong", "kiem nhiem"})


def key_text(key: tuple[Any, ...]) -> str:
    """How a natural key is written in messages and audit records (``HN/VNPT/ftth``)."""
    return "/".join(str(k) for k in key)


@dataclass
class ProblemLog:
    """Problems found in one file; keeps the first ``limit`` and counts the rest."""

    file: str
    limit: int = 1000
    problems: list[Problem] = field(default_factory=list)
    dropped: int = 0
    sheet: str | None = None
    # Things kept as written but worth a look (they do not stop the import).
    warnings: list[Problem] = field(default_factory=list)

    def warn(self, row: int, column: str, value: str, why_vi: str, why_en: str) -> None:
        if len(self.warnings) < self.limit:
            self.warnings.append(
                Problem(self.file, row, column, value, why_vi, why_en, sheet=self.sheet)
            )

    def add(
        self, row: int | None, column: str | None, value: str | None, why_vi: str, why_en: str
    ) -> None:
        if len(self.problems) < self.limit:
            self.problems.append(
                Problem(
                    file=self.file,
                    row=row,
                    column=column,
                    value=value,
                    why_vi=why_vi,
                    why_en=why_en,
                    sheet=self.sheet,
                )
            )
        else:
            self.dropped += 1

    def __len__(self) -> int:
        return len(self.problems) + self.dropped

    def raise_if_any(self) -> None:
        """Raise :class:`ValidationFailed` carrying every problem, if there is any."""
        if not self:
            return
        problems = list(self.problems)
        if self.dropped:
            problems.append(
                Problem(
                    file=self.file,
                    row=None,
                    column=None,
                    value=None,
                    why_vi=f"còn {self.dropped} lỗi nữa không liệt kê",
                    why_en=f"{self.dropped} more problem(s) not listed",
                )
            )
        raise ValidationFailed(problems)


class _Bad(ValueError):
    def __init__(self, why_vi: str, why_en: str) -> None:
        super().__init__(why_en)
        self.why_vi = why_vi
        self.why_en = why_en


# -- value parsers (raise _Bad) --------------------------------------------------------------
def parse_day(value: str) -> str:
    """A day as ISO text; accepts ISO ``YYYY-MM-DD`` and Vietnamese ``dd/mm/yyyy``.

    Records keep days as ISO text: that is what files carry, what SQLite stores and what the
    export prints, so a million rows need no conversion.

    >>> parse_day("05/09/2024"), parse_day("2024-09-05")
    ('2024-09-05', '2024-09-05')
    """
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    m = _DMY.fullmatch(value)
    if m is not None:
        try:
            return date(int(m[3]), int(m[2]), int(m[1])).isoformat()
        except ValueError:
            pass
    raise _Bad(
        "ngày không hợp lệ, ghi YYYY-MM-DD hoặc dd/mm/yyyy",
        "not a valid date; write YYYY-MM-DD or dd/mm/yyyy",
    )


def parse_int(value: str, *, minimum: int, maximum: int = INT32_MAX) -> int:
    """A whole number, thousands separators allowed (``12.000.000``), ``minimum``..``maximum``.

    >>> parse_int("12.000.000", minimum=0)
    12000000
    """
    if len(value) > 40:
        raise _Bad(f"quá lớn, tối đa {maximum}", f"too large; at most {maximum}")
    if value.isascii() and value.isdigit():
        number = int(value)
    elif _GROUPED_INT.fullmatch(value):
        number = int(re.sub(r"\D", "", value))
    elif value[:1] == "-" and value[1:].isascii() and value[1:].isdigit():
        number = -int(value[1:])
    else:
        raise _Bad("phải là số nguyên", "must be a whole number")
    if number < minimum:
        if minimum == 0:
            raise _Bad("không được âm", "must not be negative")
        raise _Bad(f"phải lớn hơn hoặc bằng {minimum}", f"must be at least {minimum}")
    if number > maximum:
        raise _Bad(f"quá lớn, tối đa {maximum}", f"too large; at most {maximum}")
    return number


def parse_ip(value: str) -> str:
    """The canonical text of an IPv4/IPv6 address (``2001:DB8::1`` → ``2001:db8::1``)."""
    if _IPV4.fullmatch(value):
        return value
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise _Bad(
            "địa chỉ IP không hợp lệ (IPv4 hoặc IPv6)", "not a valid IPv4 or IPv6 address"
        ) from None


def parse_email(value: str) -> str:
    if len(value) > MAX_LEN["email"] or not _EMAIL.fullmatch(value):
        raise _Bad("địa chỉ e-mail không hợp lệ", "not a valid e-mail address")
    return value


def parse_yes_no(value: str) -> bool:
    low = key(value)
    if low in _YES:
        return True
    if low in _NO:
        return False
    raise _Bad("ghi có hoặc không (yes/no)", "write yes or no (có/không)")


def _choices(enum: type[StrEnum]) -> dict[str, str]:
    # The exact stored values: the fast path of device rows; anything else goes through
    # _RowCheck.choice, which also reads Vietnamese.
    return {m.value: m.value for m in enum}


DEVICE_KINDS = _choices(DeviceKind)
DEVICE_STATUSES = _choices(DeviceStatus)


@dataclass(frozen=True)
class Refs:
    """Codes that already exist in the database (preloaded once per import)."""

    unit_ids: dict[str, int]
    officer_ids: dict[str, int]


class _RowCheck:
    """Collects the problems of one row; parsers return ``None`` for a bad value."""

    __slots__ = ("line", "log", "ok")

    def __init__(self, log: ProblemLog, line: int) -> None:
        self.log, self.line, self.ok = log, line, True

    def bad(self, column: str, value: str, why_vi: str, why_en: str) -> None:
        self.ok = False
        self.log.add(self.line, column, value, why_vi, why_en)

    def text(self, column: str, value: str, *, required: bool, max_len: int) -> str | None:
        if not value:
            if required:
                self.bad(
                    column, value, "bắt buộc, không được để trống", "required, cannot be empty"
                )
            return None
        if len(value) > max_len:
            self.bad(
                column,
                value,
                f"dài quá {max_len} ký tự",
                f"longer than {max_len} characters",
            )
        return value

    def choice(self, column: str, value: str, enum: type[StrEnum]) -> str | None:
        """A vocabulary value, written in English or Vietnamese (``máy in``, ``hỏng``)."""
        found = parse_choice(enum, value)
        if found is None:
            near = suggest(enum, value)
            hint_vi = f"; có phải: {', '.join(near)}?" if near else ""
            hint_en = f"; did you mean: {', '.join(near)}?" if near else ""
            self.bad(
                column,
                value,
                f"giá trị không hợp lệ{hint_vi} Chọn một trong: {accepted(enum)}",
                f"unknown value{hint_en} Use one of: {accepted(enum)}",
            )
        return found

    def phone(self, column: str, value: str) -> str | None:
        """One Vietnamese format (``0912 345 678``); a number that cannot be read is kept as
        written, with a warning (offices write "0912 345 678 (anh Nam)" or an extension)."""
        text = self.text(column, value, required=False, max_len=MAX_LEN[column])
        if not text or _NATIONAL_PHONE.fullmatch(text):
            return text
        number = normalise_phone(text)
        if number is None:
            self.log.warn(
                self.line,
                column,
                text,
                "không đọc được số điện thoại, giữ nguyên như đã ghi",
                "not a phone number that could be read; kept as written",
            )
            return text
        return number

    def parsed(self, column: str, value: str, parser: Callable[[str], Any]) -> Any:
        if not value:
            return None
        try:
            return parser(value)
        except _Bad as bad:
            self.bad(column, value, bad.why_vi, bad.why_en)
            return None

    def required(self, column: str, value: str, parser: Callable[[str], Any]) -> Any:
        if not value:
            self.bad(column, value, "bắt buộc, không được để trống", "required, cannot be empty")
            return None
        return self.parsed(column, value, parser)

    def unit(self, column: str, value: str, refs: Refs) -> str | None:
        if not value:
            self.bad(column, value, "bắt buộc, không được để trống", "required, cannot be empty")
            return None
        if value not in refs.unit_ids:
            self.bad(
                column,
                value,
                "không có đơn vị mã này; nhập đơn vị trước (--kind units)",
                "no unit with this code; import units first (--kind units)",
            )
        return value


def _nonneg(value: str) -> int:
    return parse_int(value, minimum=0)


def _money(value: str) -> int:
    return parse_int(value, minimum=0, maximum=INT64_MAX)


def _positive(value: str) -> int:
    return parse_int(value, minimum=1)


def _level(value: str) -> int:
    level = parse_int(value, minimum=1)
    if level > 4:
        raise _Bad("cấp phải từ 1 đến 4", "level must be 1 to 4")
    return level


# -- per-kind row parsers --------------------------------------------------------------------
def _unit_row(c: _RowCheck, v: list[str], refs: Refs) -> Record:
    code = c.text("code", v[0], required=True, max_len=MAX_LEN["code"])
    name = c.text("name", v[1], required=True, max_len=MAX_LEN["name"])
    parent = c.text("parent_code", v[2], required=False, max_len=MAX_LEN["code"])
    level = c.required("level", v[3], _level)
    kind = c.required("kind", v[4], lambda s: c.choice("kind", s, UnitKind))
    if level is not None and kind is not None and KIND_LEVEL[kind] != level:
        c.bad(
            "level",
            v[3],
            f"đơn vị loại {kind} phải ở cấp {KIND_LEVEL[kind]}",
            f"a unit of kind {kind} must be at level {KIND_LEVEL[kind]}",
        )
    return (code, name, parent, level, kind)


def _officer_row(c: _RowCheck, v: list[str], refs: Refs) -> Record:
    return (
        c.text("code", v[0], required=True, max_len=MAX_LEN["code"]),
        c.text("full_name", v[1], required=True, max_len=MAX_LEN["full_name"]),
        c.unit("unit_code", v[2], refs),
        c.text("position", v[3], required=False, max_len=MAX_LEN["position"]),
        c.required("full_time", v[4], parse_yes_no),
        c.parsed("email", v[5], parse_email),
        c.phone("phone", v[6]),
    )


def _device_row(c: _RowCheck, v: list[str], refs: Refs) -> Record:
    tag, kind, unit, host, vendor, model, serial, ip, status, holder, bought, cost = v
    if not tag or len(tag) > 64:
        c.text("asset_tag", tag, required=True, max_len=MAX_LEN["asset_tag"])
    k = DEVICE_KINDS.get(kind)
    if k is None:
        k = c.required("kind", kind, lambda s: c.choice("kind", s, DeviceKind))
    if unit not in refs.unit_ids:
        c.unit("unit_code", unit, refs)
    if host and len(host) > 255:
        c.text("hostname", host, required=False, max_len=MAX_LEN["hostname"])
    if len(vendor) > 128 or len(model) > 128 or len(serial) > 128:
        c.text("vendor", vendor, required=False, max_len=MAX_LEN["vendor"])
        c.text("model", model, required=False, max_len=MAX_LEN["model"])
        c.text("serial", serial, required=False, max_len=MAX_LEN["serial"])
    if ip and not _IPV4.fullmatch(ip):
        ip = c.parsed("mgmt_ip", ip, parse_ip)
    s = DEVICE_STATUSES.get(status)
    if s is None:
        s = c.required("status", status, lambda x: c.choice("status", x, DeviceStatus))
    if holder and holder not in refs.officer_ids:
        c.bad(
            "assigned_officer_code",
            holder,
            "không có cán bộ mã này; nhập cán bộ trước (--kind officers)",
            "no officer with this code; import officers first (--kind officers)",
        )
    day = c.parsed("purchase_date", bought, parse_day) if bought else None
    money = c.parsed("cost_vnd", cost, _money) if cost else None
    return (
        tag,
        k,
        unit,
        host or None,
        vendor or None,
        model or None,
        serial or None,
        ip or None,
        s,
        holder or None,
        day,
        money,
    )


def _link_row(c: _RowCheck, v: list[str], refs: Refs) -> Record:
    return (
        c.unit("unit_code", v[0], refs),
        c.text("isp", v[1], required=True, max_len=MAX_LEN["isp"]),
        c.required("bandwidth_mbps", v[2], _positive),
        c.text("kind", v[3], required=True, max_len=MAX_LEN["link_kind"]),
        c.required("status", v[4], lambda s: c.choice("status", s, LinkStatus)),
    )


def _software_row(c: _RowCheck, v: list[str], refs: Refs) -> Record:
    return (
        c.unit("unit_code", v[0], refs),
        c.text("product", v[1], required=True, max_len=MAX_LEN["product"]),
        c.required("category", v[2], lambda s: c.choice("category", s, SoftwareCategory)),
        c.parsed("seats", v[3], _nonneg),
        c.required("status", v[4], lambda s: c.choice("status", s, SoftwareStatus)),
    )


_ROW_PARSERS: dict[TransferKind, Callable[[_RowCheck, list[str], Refs], Record]] = {
    TransferKind.units: _unit_row,
    TransferKind.officers: _officer_row,
    TransferKind.devices: _device_row,
    TransferKind.links: _link_row,
    TransferKind.software: _software_row,
}


def column_order(
    kind: TransferKind, header: list[str], log: ProblemLog, *, line: int = 1
) -> list[int] | None:
    """Where each contract column sits in ``header``; records problems for a bad header.

    Columns may come in any order, but every one must be there exactly once and nothing else
    (a row-number column such as ``STT`` is ignored). ``line`` is the header's line in the file.
    """
    wanted = COLUMNS[kind]
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name == IGNORED:
            continue
        if name in seen:
            log.add(
                line, name, name, "cột bị lặp lại", "duplicated column (it appears more than once)"
            )
        elif name not in wanted:
            near = difflib.get_close_matches(name, wanted, n=1, cutoff=0.6)
            hint_vi = f"; có phải {near[0]}?" if near else ""
            hint_en = f"; did you mean {near[0]}?" if near else ""
            log.add(
                line,
                name or f"#{i + 1}",
                name,
                f"cột thừa, không thuộc mẫu {kind.value}: {', '.join(wanted)}{hint_vi}",
                f"extra column, not in the {kind.value} contract: {', '.join(wanted)}{hint_en}",
            )
        seen.setdefault(name, i)
    for name in wanted:
        if name not in seen:
            log.add(
                line,
                name,
                None,
                f"thiếu cột {name} ({heading(kind.value, name)}; cần đủ: {', '.join(wanted)})",
                f"missing column {name} (required: {', '.join(wanted)})",
            )
    if len(log):
        return None
    return [seen[name] for name in wanted]


def _device_fast(refs: Refs) -> Callable[[list[str]], Record | None]:
    """The common case of a device row, checked in one expression; anything unusual (an IPv6
    address, a dd/mm/yyyy date, a problem) returns ``None`` and goes through
    :func:`_device_row`, which gives the same record or the problems."""
    units, officers = refs.unit_ids, refs.officer_ids
    kinds, statuses = DEVICE_KINDS, DEVICE_STATUSES
    ipv4, fromiso = _IPV4.fullmatch, date.fromisoformat

    def fast(v: list[str]) -> Record | None:
        tag, kind, unit, host, vendor, model, serial, ip, status, holder, bought, cost = v
        k, s = kinds.get(kind), statuses.get(status)
        if (
            k is None
            or s is None
            or not tag
            or len(tag) > 64
            or unit not in units
            or len(host) > 255
            or len(vendor) > 128
            or len(model) > 128
            or len(serial) > 128
            or (holder and holder not in officers)
            or (ip and ipv4(ip) is None)
            or (cost and not (len(cost) <= 18 and cost.isdigit() and cost.isascii()))
        ):
            return None
        if bought:
            if len(bought) != 10 or bought[4] != "-" or bought[7] != "-":
                return None
            try:
                fromiso(bought)
            except ValueError:
                return None
        return (
            tag,
            k,
            unit,
            host or None,
            vendor or None,
            model or None,
            serial or None,
            ip or None,
            s,
            holder or None,
            bought or None,
            int(cost) if cost else None,
        )

    return fast


_FAST_PARSERS: dict[TransferKind, Callable[[Refs], Callable[[list[str]], Record | None]]] = {
    TransferKind.devices: _device_fast,
}


def parse_rows(
    kind: TransferKind,
    rows: Iterable[tuple[int, list[str]]],
    *,
    order: list[int],
    log: ProblemLog,
    refs: Refs,
    on_row: Callable[[int], None] | None = None,
    width: int | None = None,
) -> list[tuple[int, Record]]:
    """Typed records of every good row, with their line numbers; problems go to ``log``.

    ``width`` is the number of header cells (more than the contract's columns when the file
    has an ignored ``STT`` column).

    Also reports duplicated natural keys (naming the line of the first occurrence).
    """
    parser = _ROW_PARSERS[kind]
    fast = _FAST_PARSERS[kind](refs) if kind in _FAST_PARSERS else None
    width = len(order) if width is None else width
    identity = order == list(range(width))
    key_idx = KEY_INDEXES[kind]
    single_key = key_idx == (0,)
    key_column = "+".join(COLUMNS[kind][i] for i in key_idx)
    columns = COLUMNS[kind]
    code_idx = CODE_INDEXES[kind]
    bad_chars = BAD_CHARS.search
    first_seen: dict[Any, int] = {}
    seen = first_seen.setdefault
    out: list[tuple[int, Record]] = []
    append = out.append
    count = 0
    for line, raw in rows:
        count += 1
        if on_row is not None and not count & 8191:
            on_row(8192)
        if len(raw) != width:
            log.add(
                line,
                None,
                None,
                f"dòng có {len(raw)} giá trị, tiêu đề có {width} cột",
                f"the row has {len(raw)} values but the header has {width} columns",
            )
            continue
        values = raw if identity else [raw[i] for i in order]
        check: _RowCheck | None = None
        if bad_chars("".join(values)) is not None:
            # Nothing else is checked on such a row: the value is not what the user sees.
            check = _RowCheck(log, line)
            for column, value in zip(columns, values, strict=True):
                why = control_problem(value)
                if why is not None:
                    check.bad(column, escape(value), *why)
            continue
        for i in code_idx:
            value = values[i]
            if value:
                code = value.upper()
                if code != value:
                    values[i] = code
                # "ß".upper() is "SS": judge the code as written when it is not ASCII.
                why = code_problem(code if value.isascii() else value)
                if why is not None:
                    check = check or _RowCheck(log, line)
                    check.bad(columns[i], value, *why)
        record = fast(values) if fast is not None and check is None else None
        if record is None:
            check = check or _RowCheck(log, line)
            record = parser(check, values, refs)
        key = record[0] if single_key else tuple(record[i] for i in key_idx)
        if key is not None and (single_key or None not in key):
            first = seen(key, line)
            if first != line:
                check = check or _RowCheck(log, line)
                check.bad(
                    key_column,
                    key_text(key if isinstance(key, tuple) else (key,)),
                    f"trùng khóa với dòng {first}",
                    f"duplicate key, already on row {first}",
                )
        if check is None or check.ok:
            append((line, record))
    if on_row is not None:
        on_row(count & 8191)
    return out
