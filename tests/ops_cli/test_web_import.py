"""``/import``: upload a workbook, see the per-row problems, fix them, dry run, confirm."""

from __future__ import annotations

import io
import re
import stat
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from inventory.db import session_scope
from inventory.models import Device, Officer
from tests.ops_cli.conftest import World
from tests.ops_cli.test_web_pages import login

SHA_FIELD = re.compile(r'name="sha" value="([0-9a-f]{64})"')


def _workbook(device_unit: str) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    officers = wb.create_sheet("Cán bộ")
    officers.append(["DANH SÁCH CÁN BỘ MỚI"])
    officers.append(
        [
            "STT",
            "Mã cán bộ",
            "Họ và tên",
            "Đơn vị",
            "Chức vụ",
            "Chuyên trách",
            "Email",
            "Số điện thoại",
        ]
    )
    officers.append([1, "HNI-WEB-1", "Đỗ Thị Mai", "HNI", "Cán bộ CNTT", "Có", None, "0987654321"])
    devices = wb.create_sheet("Thiết bị")
    devices.append(
        [
            "Mã tài sản",
            "Loại thiết bị",
            "Đơn vị",
            "Tên máy",
            "Hãng sản xuất",
            "Model",
            "Số sê-ri",
            "Địa chỉ IP quản lý",
            "Tình trạng",
            "Cán bộ sử dụng",
            "Ngày mua",
            "Nguyên giá (VNĐ)",
        ]
    )
    devices.append(
        [
            "HNI-WEB-PC",
            "Máy tính xách tay",
            device_unit,
            None,
            "Lenovo",
            "T14",
            None,
            None,
            "Đang dùng",
            "HNI-WEB-1",
            "01/02/2025",
            21000000,
        ]
    )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _upload(client: TestClient, csrf: str, data: bytes):
    return client.post(
        "/import",
        data={"csrf_token": csrf, "kind": "all"},
        files={"upload": ("thiet_bi_hn.xlsx", data, "application/octet-stream")},
    )


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TLDOPS_VAR_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


def test_upload_fix_and_confirm(client: TestClient, world: World, var_dir: Path) -> None:
    csrf = login(client, "admin")
    assert "Nhập dữ liệu từ tệp" in client.get("/import").text

    bad = _upload(client, csrf, _workbook("HNII"))
    assert bad.status_code == 422
    table = bad.text[bad.text.index('id="import-problems"') :]
    row = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", table.split("</tr>")[1]))
    assert "thiet_bi_hn.xlsx" in row and "Thiết bị" in row and " 2 " in row
    assert "unit_code" in row and "HNII" in row and "không có đơn vị mã này" in row
    with session_scope(world.engine) as s:
        assert s.scalar(select(Officer).where(Officer.code == "HNI-WEB-1")) is None
    assert not any(var_dir.glob("uploads/*/*"))  # a refused file is not kept

    good = _upload(client, csrf, _workbook("HNI"))
    assert good.status_code == 200, good.text
    assert "chưa ghi gì" in good.text and 'id="import-confirm"' in good.text
    sha = SHA_FIELD.search(good.text)
    assert sha is not None
    stored = next(var_dir.glob(f"uploads/{sha.group(1)}/*"))
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    with session_scope(world.engine) as s:  # the dry run wrote nothing
        assert s.scalar(select(Officer).where(Officer.code == "HNI-WEB-1")) is None

    done = client.post(
        "/import/confirm", data={"csrf_token": csrf, "sha": sha.group(1), "kind": "all"}
    )
    assert done.status_code == 200, done.text
    assert 'id="import-done"' in done.text
    with session_scope(world.engine) as s:
        off = s.scalar(select(Officer).where(Officer.code == "HNI-WEB-1"))
        dev = s.scalar(select(Device).where(Device.asset_tag == "HNI-WEB-PC"))
        assert off is not None and off.phone == "0987 654 321"
        assert dev is not None and dev.assigned_officer_id == off.id
    assert not stored.exists()
    again = client.post(
        "/import/confirm", data={"csrf_token": csrf, "sha": sha.group(1), "kind": "all"}
    )
    assert again.status_code == 404


def test_province_staff_and_missing_csrf_are_refused(
    client: TestClient, world: World, var_dir: Path
) -> None:
    csrf = login(client, "it_hni")
    page = client.get("/import")
    assert page.status_code == 403 and "đơn vị gốc" in page.text
    assert _upload(client, csrf, _workbook("HNI")).status_code == 403
    client.cookies.clear()
    admin_csrf = login(client, "admin")
    assert admin_csrf
    no_csrf = client.post(
        "/import",
        data={"kind": "all"},
        files={"upload": ("a.xlsx", _workbook("HNI"), "application/octet-stream")},
    )
    assert no_csrf.status_code == 403
    assert not any(var_dir.glob("uploads/*/*"))
