"""Dashboard language (Vietnamese by default, English on request) and Vietnamese date formats.

::

    t = translator("en"); t("scorecard")      # 'Scorecard'
    fmt_date(date(2026, 3, 9))                # '09/03/2026'
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from inventory.config import TIMEZONE
from inventory.vocabulary import LABELS as VOCABULARY

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
    "import_title": ("Nhập dữ liệu từ tệp", "Import a file"),
    "import_upload": ("Tải tệp lên", "Upload a file"),
    "import_file": ("Tệp", "File"),
    "import_sheet": ("Trang tính", "Sheet"),
    "import_row": ("Dòng", "Row"),
    "import_column": ("Cột", "Column"),
    "import_value": ("Giá trị", "Value"),
    "import_why": ("Lý do", "Why"),
    "import_kind": ("Loại dữ liệu", "Kind"),
    "import_all": ("Cả bảng tính (mọi trang)", "Whole workbook (every sheet)"),
    "import_created": ("Tạo mới", "Created"),
    "import_updated": ("Cập nhật", "Updated"),
    "import_unchanged": ("Không đổi", "Unchanged"),
    "import_note": ("Lưu ý", "Note"),
    "import_check": ("Kiểm tra (chưa ghi)", "Check (nothing written)"),
    "import_check_effect": (
        "Mọi dòng được kiểm tra; chưa có gì được ghi cho đến khi bạn xác nhận.",
        "Every row is checked; nothing is written until you confirm.",
    ),
    "import_dry_run": ("Kết quả kiểm tra — chưa ghi gì", "Check result — nothing written yet"),
    "import_confirm": ("Xác nhận nhập", "Confirm the import"),
    "import_confirm_effect": (
        "Ghi đúng tệp vừa kiểm tra, trong một giao dịch.",
        "Writes exactly the file just checked, in one transaction.",
    ),
    "import_done": ("Đã nhập xong tệp", "Imported"),
    "import_done_summary": ("Đã nhập", "Imported"),
    "import_failed": (
        "Tệp có lỗi, không có gì được ghi. Sửa các ô dưới đây rồi tải lại",
        "The file has problems; nothing was written. Fix the cells below and upload it again",
    ),
    "import_refused": (
        "Chỉ nhận tệp .xlsx hoặc .csv",
        "Only .xlsx and .csv files can be imported",
    ),
    "import_help": (
        "Tiêu đề cột tiếng Việt hoặc tiếng Anh; bỏ qua cột STT và dòng tên bảng; tên trang tính "
        "Đơn vị, Cán bộ, Thiết bị, Đường truyền, Phần mềm. Mẫu: tldops inventory template.",
        "Headings in Vietnamese or English; STT columns and title rows are skipped; sheets "
        "named Đơn vị, Cán bộ, Thiết bị, Đường truyền, Phần mềm. Template: tldops inventory "
        "template.",
    ),
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
    "other_sessions_ended": (
        "Mọi phiên đăng nhập khác của bạn đã kết thúc.",
        "Every other session of yours has ended.",
    ),
    "password_rules": (
        "Ít nhất 12 ký tự; không chứa tên đăng nhập; không phải mật khẩu phổ biến "
        "(như matkhau123). Nên dùng một cụm vài từ.",
        "At least 12 characters; not containing the username; not a common password "
        "(like password123). A phrase of several words works well.",
    ),
    "revoke_tokens_box": (
        "Thu hồi luôn mọi mã truy cập API của tôi",
        "Also revoke all my API tokens",
    ),
    "password_change_effect": (
        "Đổi mật khẩu sẽ kết thúc mọi phiên đăng nhập khác của bạn. Mã truy cập API vẫn hoạt "
        "động, trừ khi bạn đánh dấu ô trên.",
        "Changing the password ends every other session of yours. API tokens keep working "
        "unless you tick the box above.",
    ),
    "logout_all_effect": (
        "Kết thúc mọi phiên đăng nhập trên mọi máy; mã truy cập API vẫn hoạt động (thu hồi ở "
        "bảng dưới).",
        "Ends every session on every device; API tokens keep working (revoke them below).",
    ),
    "token_prefix": ("Phần đầu", "Prefix"),
    "token_active": ("đang dùng", "active"),
    "token_revoked": ("đã thu hồi", "revoked"),
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
    # -- edit forms (ops_cli.pages_edit) and the fuller unit / device pages
    "edit": ("Sửa", "Edit"),
    "save": ("Lưu", "Save"),
    "cancel": ("Huỷ", "Cancel"),
    "remove": ("Xoá", "Remove"),
    "yes": ("Có", "Yes"),
    "no": ("Không", "No"),
    "note": ("Ghi chú", "Note"),
    "none_choice": ("— không —", "— none —"),
    "not_saved": (
        "Chưa lưu: sửa các ô được đánh dấu rồi lưu lại. Không có gì được ghi.",
        "Not saved: fix the marked fields and save again. Nothing was written.",
    ),
    "not_editable": (
        "Những thông tin này chưa sửa được trên web.",
        "These facts cannot be edited on the web yet.",
    ),
    "asset": ("Thông tin tài sản", "Asset record"),
    "profile_default": ("mặc định của hồ sơ", "the profile's default"),
    "general": ("Thông tin chung", "General"),
    "reach": ("Kết nối & giám sát", "Access & monitoring"),
    "edit_unit": ("Sửa đơn vị", "Edit unit"),
    "edit_officer": ("Sửa cán bộ", "Edit officer"),
    "new_officer": ("Thêm cán bộ", "New officer"),
    "edit_device": ("Sửa thiết bị", "Edit device"),
    "code_hint": (
        "Chữ A-Z, số 0-9 và dấu '-', không dấu, không khoảng trắng (vd HNI-0123)",
        "Letters A-Z, digits 0-9 and '-', no diacritics or spaces (e.g. HNI-0123)",
    ),
    "full_name": ("Họ và tên", "Full name"),
    "position": ("Chức vụ", "Position"),
    "full_time": ("Chuyên trách", "Full-time"),
    "email": ("Thư điện tử", "E-mail"),
    "phone": ("Điện thoại", "Phone"),
    "unit_code": ("Mã đơn vị", "Unit code"),
    "move_hint": (
        "Đổi mã đơn vị để chuyển cán bộ sang đơn vị khác (bạn cần quyền CNTT ở cả hai nơi)",
        "Change the unit code to move the officer (you need IT rights on both units)",
    ),
    "hostname": ("Tên máy (hostname)", "Hostname"),
    "vendor": ("Hãng", "Vendor"),
    "model": ("Model", "Model"),
    "serial": ("Số sê-ri", "Serial number"),
    "mgmt_ip": ("Địa chỉ IP quản trị", "Management IP"),
    "purchase_date": ("Ngày mua", "Purchase date"),
    "cost_vnd": ("Nguyên giá", "Cost"),
    "warranty_end": ("Hết bảo hành", "Warranty ends"),
    "platform": ("Nền tảng", "Platform"),
    "snmp_profile": ("Hồ sơ SNMP", "SNMP profile"),
    "ssh_profile": ("Hồ sơ SSH", "SSH profile"),
    "snmp_port": ("Cổng SNMP", "SNMP port"),
    "snmp_port_hint": (
        "Để trống: dùng cổng của hồ sơ SNMP (thường 161)",
        "Empty: the SNMP profile's port (usually 161)",
    ),
    "monitored": ("Đưa vào giám sát", "Monitored"),
    "site": ("Địa điểm", "Site"),
    "holder_code": ("Mã cán bộ giữ thiết bị", "Holder's officer code"),
    "custody_hint": (
        "Nhập mã cán bộ khác để bàn giao hôm nay; để trống để thu hồi thiết bị",
        "Another officer code hands the device over today; empty takes it back",
    ),
    "links": ("Đường truyền Internet", "Internet links"),
    "link": ("Đường truyền", "Link"),
    "isp": ("Nhà cung cấp", "Provider"),
    "link_kind": ("Loại đường truyền", "Link type"),
    "link_kind_hint": (
        "Chọn trong danh sách gợi ý hoặc gõ loại khác",
        "Pick a suggestion or type another type",
    ),
    "bandwidth": ("Băng thông (Mbps)", "Bandwidth (Mbps)"),
    "add_link": ("Thêm đường truyền", "Add a link"),
    "edit_link": ("Sửa đường truyền", "Edit link"),
    "software": ("Phần mềm", "Software"),
    "product": ("Sản phẩm", "Product"),
    "category": ("Nhóm", "Category"),
    "seats": ("Số bản quyền", "Seats"),
    "licence_expires": ("Hết hạn bản quyền", "Licence expires"),
    "add_software": ("Thêm phần mềm", "Add software"),
    "edit_software": ("Sửa phần mềm", "Edit software"),
    "contacts": ("Đầu mối liên hệ", "Contacts"),
    "contact": ("Đầu mối", "Contact"),
    "role": ("Vai trò", "Role"),
    "officer_code": ("Mã cán bộ", "Officer code"),
    "add_contact": ("Thêm đầu mối", "Add a contact"),
    "services": ("Dịch vụ giám sát", "Monitored services"),
    "service": ("Dịch vụ", "Service"),
    "service_name_hint": (
        "Tên ngắn, duy nhất trong toàn hệ thống (vd web-hni)",
        "A short name, unique in the whole system (e.g. web-hni)",
    ),
    "service_target": ("Địa chỉ kiểm tra", "Target"),
    "service_target_hint": (
        "Web: URL http(s)://…; TCP, TLS, SMTP: máy:cổng; DNS: tên miền; Ping: địa chỉ",
        "Web: an http(s):// URL; TCP, TLS, SMTP: host:port; DNS: a name; Ping: an address",
    ),
    "port": ("Cổng", "Port"),
    "expect": ("Kết quả mong đợi", "Expected answer"),
    "expect_hint": (
        "Web: mã trạng thái (vd 200); DNS: địa chỉ trả về; để trống nếu không cần",
        "Web: the status code (e.g. 200); DNS: the answer; empty when not needed",
    ),
    "enabled": ("Đang bật", "Enabled"),
    "add_service": ("Thêm dịch vụ", "Add a service"),
    "edit_service": ("Sửa dịch vụ", "Edit service"),
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


# -- enum values -------------------------------------------------------------------------------
# One table per vocabulary: stored value -> (Vietnamese, English). Pages never show the stored
# value itself (``province_federation``, ``access_point``); the ``label`` Jinja filter reads these.
ENUM_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    # The inventory's vocabularies live with the inventory (imports read them too).
    **{enum.__name__: labels for enum, labels in VOCABULARY.items()},
    "Role": {
        "admin": ("Quản trị", "Administrator"),
        "it_staff": ("Cán bộ CNTT", "IT staff"),
        "training_coordinator": ("Điều phối đào tạo", "Training coordinator"),
        "meeting_host": ("Chủ trì hội nghị", "Meeting host"),
        "viewer": ("Xem", "Viewer"),
    },
    "PollStatus": {
        "up": ("Hoạt động", "Up"),
        "down": ("Mất kết nối", "Down"),
        "error": ("Lỗi", "Error"),
        "skipped": ("Bỏ qua", "Skipped"),
    },
    "AlertState": {
        "pending": ("Chờ xác nhận", "Pending"),
        "firing": ("Đang cảnh báo", "Firing"),
        "resolved": ("Đã hết", "Resolved"),
    },
    "TransferKind": {
        "units": ("Đơn vị", "Units"),
        "officers": ("Cán bộ", "Officers"),
        "devices": ("Thiết bị", "Devices"),
        "links": ("Đường truyền Internet", "Internet links"),
        "software": ("Phần mềm", "Software"),
        "contacts": ("Đầu mối liên hệ", "Unit contacts"),
        "services": ("Dịch vụ giám sát", "Monitored services"),
        "sites": ("Địa điểm", "Sites"),
    },
}


def enum_label(value: object, lang: str = "vi", enum: str | None = None) -> str:
    """The display name of an enum value: ``enum_label(DeviceKind.access_point)`` →
    ``'Điểm phát Wi-Fi'``; a plain string needs the vocabulary, ``enum_label("active", "en",
    "DeviceStatus")`` → ``'In use'``. An unknown value shows as itself; ``None`` as ``''``."""
    if value is None:
        return ""
    table = ENUM_LABELS.get(enum or type(value).__name__, {})
    raw = getattr(value, "value", value)
    pair = table.get(str(raw))
    if pair is None:
        return str(raw)
    return pair[1] if lang == "en" else pair[0]


def enum_options(enum: str, lang: str = "vi") -> list[tuple[str, str]]:
    """``(value, label)`` of every value of one vocabulary, for ``<select>`` lists."""
    idx = 1 if lang == "en" else 0
    return [(v, pair[idx]) for v, pair in ENUM_LABELS.get(enum, {}).items()]
