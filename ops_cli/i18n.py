"""Dashboard language (Vietnamese by default, English on request) and Vietnamese date formats.

::

    t = translator("en"); t("scorecard")      # 'Scorecard'
    fmt_date(date(2026, 3, 9))                # '09/03/2026'
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from inventory.config import TIMEZONE

LANGS = ("vi", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("Vận hành CNTT Tổng Liên đoàn", "VGCL IT operations"),
    "scorecard": ("Chỉ tiêu kế hoạch", "Plan scorecard"),
    "inventory": ("Tổ chức & tài sản", "Organisation & assets"),
    "monitoring": ("Giám sát", "Monitoring"),
    "operations": ("Vận hành", "Operations"),
    "conferences": ("Hội nghị trực tuyến", "Online conferences"),
    "training": ("Đào tạo", "Training"),
    "account": ("Tài khoản", "Account"),
    "audit": ("Nhật ký thay đổi", "Audit log"),
    "login": ("Đăng nhập", "Log in"),
    "logout": ("Đăng xuất", "Log out"),
    "logout_all": ("Đăng xuất mọi nơi", "Log out everywhere"),
    "username": ("Tên đăng nhập", "Username"),
    "password": ("Mật khẩu", "Password"),
    "old_password": ("Mật khẩu hiện tại", "Current password"),
    "new_password": ("Mật khẩu mới", "New password"),
    "change_password": ("Đổi mật khẩu", "Change password"),
    "must_change": (
        "Bạn cần đổi mật khẩu một lần trước khi tiếp tục.",
        "Please replace your one-time password before continuing.",
    ),
    "password_changed": ("Đã đổi mật khẩu.", "Password changed."),
    "indicator": ("Chỉ tiêu", "Indicator"),
    "target": ("Mục tiêu", "Target"),
    "value": ("Đạt", "Value"),
    "met": ("Đạt chỉ tiêu", "Met"),
    "not_met": ("Chưa đạt", "Not met"),
    "no_data": ("Chưa có dữ liệu", "No data"),
    "not_available": (
        "Chưa có dữ liệu — phân hệ này chưa được cài đặt",
        "Not available — this module is not installed",
    ),
    "children": ("Đơn vị trực thuộc", "Child units"),
    "failing": ("Đơn vị / cán bộ chưa đạt", "Failing units / officers"),
    "reasons": ("Lý do", "Reasons"),
    "unit": ("Đơn vị", "Unit"),
    "officer": ("Cán bộ", "Officer"),
    "officers": ("Cán bộ", "Officers"),
    "devices": ("Thiết bị", "Devices"),
    "device": ("Thiết bị", "Device"),
    "search": ("Tìm kiếm", "Search"),
    "search_hint": ("Tìm đơn vị (không cần dấu)", "Find a unit (accents optional)"),
    "custody": ("Lịch sử bàn giao", "Custody history"),
    "assigned_on": ("Ngày giao", "Assigned on"),
    "returned_on": ("Ngày trả", "Returned on"),
    "code": ("Mã", "Code"),
    "name": ("Tên", "Name"),
    "kind": ("Loại", "Kind"),
    "status": ("Trạng thái", "Status"),
    "level": ("Cấp", "Level"),
    "as_of": ("Tính đến", "As of"),
    "details": ("Chi tiết", "Details"),
    "tokens": ("Mã truy cập API", "API tokens"),
    "new_token": ("Tạo mã truy cập", "Create token"),
    "token_once": (
        "Sao chép mã này ngay, nó chỉ hiển thị một lần:",
        "Copy this token now, it is shown only once:",
    ),
    "revoke": ("Thu hồi", "Revoke"),
    "submit": ("Gửi", "Submit"),
    "error": ("Lỗi", "Error"),
    "back": ("Quay lại", "Back"),
    "more": ("còn nữa", "more"),
    "total": ("Tổng", "Total"),
    "holder": ("Người giữ", "Holder"),
    "grants": ("Quyền", "Grants"),
    "no_grant": (
        "Tài khoản chưa được cấp quyền trên đơn vị nào.",
        "Your account has no grant on any unit.",
    ),
    "calendar": ("Lịch", "Calendar"),
    "forms": ("Thao tác", "Actions"),
    "saved": ("Đã lưu", "Saved"),
    "none": ("Không có", "None"),
    "open": ("Mở", "Open"),
    "more_fields": ("Tùy chọn khác", "More options"),
    "lang_switch": ("English", "Tiếng Việt"),
}


def translator(lang: str) -> Callable[[str], str]:
    """``t(key)`` for one language; an unknown key shows itself (visible, never a crash)."""
    idx = 1 if lang == "en" else 0

    def t(key: str) -> str:
        pair = MESSAGES.get(key)
        return pair[idx] if pair else key

    return t


def fmt_date(value: date | datetime | str | None) -> str:
    """dd/mm/yyyy (datetimes shown in Asia/Ho_Chi_Minh, with hh:mm)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        parsed = parse_iso(value)
        if parsed is None:
            return value
        value = parsed
    if isinstance(value, datetime):
        local = value.astimezone(TIMEZONE) if value.tzinfo else value
        return local.strftime("%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y")


def parse_iso(value: str) -> date | datetime | None:
    """A date or datetime from ISO 8601 text, or ``None`` if it is not one."""
    if len(value) < 10 or value[4] != "-" or value[7] != "-":
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def fmt_percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")
