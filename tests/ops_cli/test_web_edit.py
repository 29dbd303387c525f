"""The web edit forms (``ops_cli.pages_edit``): each GET shows the stored values, a valid POST
saves through the inventory service (read back here through the service), a bad one answers 422
with the Vietnamese message beside its field and writes nothing (not even the audit log), a
POST without the CSRF token is refused, and a province user cannot reach another province."""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from inventory.db import session_scope
from inventory.enums import DeviceKind, DeviceStatus, LinkStatus
from inventory.models import AuditRecord, Device, Officer, Unit, subtree_filter
from inventory.service import InventoryService, row_snapshot
from tests.ops_cli.conftest import World
from tests.ops_cli.test_web_pages import login

HTML = {"accept": "text/html"}


def _audit_count(world: World) -> int:
    with session_scope(world.engine) as s:
        return int(s.scalar(select(func.count()).select_from(AuditRecord)) or 0)


def _device(world: World, tag: str) -> dict[str, Any]:
    with session_scope(world.engine) as s:
        return row_snapshot(InventoryService(s).device(tag))


def _hni_device(world: World, kind: DeviceKind, index: int = 0) -> str:
    """An active device of the given kind in Hà Nội without a holder (so custody is free)."""
    with session_scope(world.engine) as s:
        path = s.scalar(select(Unit.path).where(Unit.code == "HNI"))
        assert path is not None
        tags = s.scalars(
            select(Device.asset_tag)
            .join(Unit)
            .where(
                subtree_filter(Unit.path, path),
                Device.kind == kind,
                Device.status == DeviceStatus.active,
            )
            .order_by(Device.asset_tag)
        ).all()
    assert len(tags) > index, f"the demo plan has {kind} devices in Hà Nội"
    return str(tags[index])


def _field_errors(page: str, name: str) -> list[str]:
    """The messages shown beside one field of an edit form."""
    found = re.findall(rf'<div class="err fe" data-field="{name}">([^<]*)</div>', page)
    return [html.unescape(m) for m in found]


def _form(base: dict[str, str], csrf: str, **changes: str) -> dict[str, str]:
    out = {**base, **changes, "csrf_token": csrf}
    return {k: v for k, v in out.items() if v is not None}


def _device_form_values(page: str) -> dict[str, str]:
    """What a browser would post from the device edit form as it was served."""
    values: dict[str, str] = {}
    for name, value in re.findall(
        r'<input type="(?:text|date|number)" name="(\w+)"[^>]*?value="([^"]*)"', page
    ):
        values[name] = html.unescape(value)
    for name, body in re.findall(r'<select name="(\w+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        values[name] = html.unescape(chosen.group(1)) if chosen else ""
    if re.search(r'name="monitored" id="f-monitored" checked', page):
        values["monitored"] = "on"
    holder = re.search(r'name="officer" id="f-officer" value="([^"]*)"', page)
    values["officer"] = holder.group(1) if holder else ""
    return values


@pytest.fixture
def it_client(client: TestClient) -> Iterator[tuple[TestClient, str]]:
    csrf = login(client, "it_hni")
    yield client, csrf


# -- device ----------------------------------------------------------------------------------------
def test_device_form_is_filled_with_vietnamese_choices_and_profile_names(
    it_client: tuple[TestClient, str], world: World
) -> None:
    client, _csrf = it_client
    tag = _hni_device(world, DeviceKind.switch)
    page = client.get(f"/devices/{tag}/edit")
    assert page.status_code == 200
    text = page.text
    snmp = re.search(r'<select name="snmp_profile".*?</select>', text, re.S)
    ssh = re.search(r'<select name="ssh_profile".*?</select>', text, re.S)
    assert snmp is not None and ssh is not None
    assert "snmpv3-default" in snmp.group(0) and "ssh-network" not in snmp.group(0)
    assert "ssh-network" in ssh.group(0) and "snmpv3-default" not in ssh.group(0)
    assert "— không —" in snmp.group(0)
    # Status options: English values, Vietnamese labels; the kind shows in Vietnamese.
    assert '<option value="repair"' in text and "Đang sửa" in text
    assert "Bộ chuyển mạch" in text
    stored = _device(world, tag)
    assert _device_form_values(text)["mgmt_ip"] == (stored["mgmt_ip"] or "")
    # Never a secret: no sealed blob (Fernet tokens start "gAAAAA"), no seeded SNMP key.
    assert "gAAAAA" not in text and "auth-" not in text and "priv-" not in text


def test_device_edit_saves_through_the_service(
    it_client: tuple[TestClient, str], world: World
) -> None:
    client, csrf = it_client
    tag = _hni_device(world, DeviceKind.router)
    with session_scope(world.engine) as s:
        holder = s.scalar(
            select(Officer.code)
            .join(Unit)
            .where(Unit.code == "HNI", Officer.active.is_(True))
            .order_by(Officer.code)
        )
    assert holder is not None
    served = _device_form_values(client.get(f"/devices/{tag}/edit").text)
    data = _form(
        served,
        csrf,
        hostname="hni-rt-moi",
        mgmt_ip="10.20.30.40",
        status="repair",
        warranty_end="2031-06-30",
        platform="cisco_ios",
        snmp_profile="snmpv3-default",
        ssh_profile="ssh-network",
        snmp_port="1161",
        officer=holder,
    )
    data.pop("monitored", None)  # an unticked box is not posted
    resp = client.post(f"/devices/{tag}/edit", data=data, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == f"/devices/{tag}?saved=1"
    with session_scope(world.engine) as s:
        svc = InventoryService(s)
        dev = svc.device(tag)
        assert (dev.hostname, dev.mgmt_ip, dev.status) == ("hni-rt-moi", "10.20.30.40", "repair")
        assert dev.warranty_end == date(2031, 6, 30)
        assert (dev.platform, dev.snmp_port, dev.monitored) == ("cisco_ios", 1161, False)
        assert dev.snmp_profile_id == svc.credential("snmpv3-default").id
        assert dev.ssh_profile_id == svc.credential("ssh-network").id
        assert dev.assigned_officer is not None and dev.assigned_officer.code == holder
        actors = set(
            s.scalars(
                select(AuditRecord.actor).where(
                    AuditRecord.entity == "device", AuditRecord.entity_key == tag
                )
            )
        )
    assert "web:it_hni" in actors
    page = client.get(resp.headers["location"])
    assert "Đã lưu" in page.text
    for shown in ("hni-rt-moi", "cisco_ios", "snmpv3-default", "ssh-network", "1161", "30/06/2031"):
        assert shown in page.text
    assert re.search(r'id="dev-monitored">Không<', page.text)
    assert re.search(r'id="dev-status">Đang sửa<', page.text)
    # Emptying the selects clears the connection settings again.
    again = _device_form_values(client.get(f"/devices/{tag}/edit").text)
    data = _form(again, csrf, platform="", snmp_profile="", ssh_profile="", snmp_port="")
    assert client.post(f"/devices/{tag}/edit", data=data, follow_redirects=False).status_code == 303
    stored = _device(world, tag)
    assert (stored["platform"], stored["snmp_profile_id"], stored["snmp_port"]) == (
        None,
        None,
        None,
    )


OUTSIDE = "<an officer of Hồ Chí Minh>"
_CASES = itertools.count()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"mgmt_ip": "999.1.2.3"}, "mgmt_ip", "không phải địa chỉ IP"),
        ({"snmp_port": "70000"}, "snmp_port", "cổng phải từ 1 đến 65535"),
        ({"snmp_port": "mười"}, "snmp_port", "phải là số nguyên"),
        ({"snmp_profile": "khong-co-ho-so"}, "snmp_profile", "không có hồ sơ xác thực"),
        ({"snmp_profile": "ssh-network"}, "snmp_profile", "cần hồ sơ SNMP"),
        ({"platform": "windows-xp"}, "platform", "nền tảng không có trong danh sách"),
        ({"officer": OUTSIDE}, "officer", "Không có cán bộ mã"),
        ({"warranty_end": "31/02/2030"}, "warranty_end", "ngày không hợp lệ"),
        ({"status": "broken"}, "status", "không phải một lựa chọn"),
    ],
)
def test_device_edit_problems_write_nothing(
    it_client: tuple[TestClient, str],
    world: World,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    client, csrf = it_client
    tag = world.hni_device
    if changes.get("officer") == OUTSIDE:
        changes = {"officer": world.hcm_officer}  # exists, but outside Hà Nội
    served = _device_form_values(client.get(f"/devices/{tag}/edit").text)
    before, audits = _device(world, tag), _audit_count(world)
    # A valid change rides along (new in every case): it must not be written either.
    riding = f"khong-duoc-ghi-{next(_CASES)}"
    data = _form(served, csrf, hostname=riding, **changes)
    resp = client.post(f"/devices/{tag}/edit", data=data, follow_redirects=False)
    assert resp.status_code == 422, resp.text
    errors = _field_errors(resp.text, field)
    assert any(message in e for e in errors), (errors, resp.text[-3000:])
    assert "Chưa lưu" in resp.text
    # The form comes back with what was posted.
    assert f'value="{riding}"' in resp.text
    assert _device(world, tag) == before
    assert _audit_count(world) == audits


def test_several_device_problems_show_at_once(
    it_client: tuple[TestClient, str], world: World
) -> None:
    client, csrf = it_client
    tag = world.hni_device
    served = _device_form_values(client.get(f"/devices/{tag}/edit").text)
    data = _form(served, csrf, mgmt_ip="abc", snmp_port="0", platform="nope")
    resp = client.post(f"/devices/{tag}/edit", data=data)
    assert resp.status_code == 422
    for name in ("mgmt_ip", "snmp_port", "platform"):
        assert _field_errors(resp.text, name), name


def test_device_value_the_service_cannot_clear_is_reported(
    it_client: tuple[TestClient, str], world: World
) -> None:
    client, csrf = it_client
    tag = _hni_device(world, DeviceKind.switch, 1)
    served = _device_form_values(client.get(f"/devices/{tag}/edit").text)
    assert served["mgmt_ip"], "demo switches have a management address"
    before = _device(world, tag)
    resp = client.post(f"/devices/{tag}/edit", data=_form(served, csrf, mgmt_ip=""))
    assert resp.status_code == 422
    assert any("chưa xoá trống được" in e for e in _field_errors(resp.text, "mgmt_ip"))
    assert _device(world, tag) == before


def test_post_without_csrf_token_is_refused(
    it_client: tuple[TestClient, str], world: World
) -> None:
    client, csrf = it_client
    tag = world.hni_device
    served = _device_form_values(client.get(f"/devices/{tag}/edit").text)
    before = _device(world, tag)
    data = {**served, "hostname": "khong-co-csrf"}
    refused = client.post(f"/devices/{tag}/edit", data=data, headers=HTML)
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    wrong = client.post(f"/devices/{tag}/edit", data={**data, "csrf_token": csrf[::-1]})
    assert wrong.status_code == 403
    assert _device(world, tag) == before


def test_province_user_cannot_edit_another_province(
    it_client: tuple[TestClient, str], world: World
) -> None:
    client, csrf = it_client
    tag = world.hcm_device
    before = _device(world, tag)
    assert client.get(f"/devices/{tag}/edit", headers=HTML).status_code == 404
    resp = client.post(
        f"/devices/{tag}/edit", data={"csrf_token": csrf, "hostname": "x"}, headers=HTML
    )
    assert resp.status_code == 404
    assert client.get(f"/units/{world.hcm_unit}/edit").status_code == 404
    assert client.get(f"/officers/{world.hcm_officer}/edit").status_code == 404
    assert _device(world, tag) == before


def test_viewer_sees_no_edit_link_and_may_not_edit(client: TestClient, world: World) -> None:
    csrf = login(client, "viewer_hni")
    tag = world.hni_device
    page = client.get(f"/devices/{tag}")
    assert page.status_code == 200 and 'id="edit-device"' not in page.text
    assert client.get(f"/devices/{tag}/edit").status_code == 403
    before = _device(world, tag)
    resp = client.post(f"/devices/{tag}/edit", data={"csrf_token": csrf, "hostname": "x"})
    assert resp.status_code == 403
    assert _device(world, tag) == before
    unit = client.get(f"/units/{world.hni_unit}")
    assert 'id="edit-unit"' not in unit.text and 'id="add-contact"' not in unit.text


def test_device_page_shows_relations_in_vietnamese(
    it_client: tuple[TestClient, str], world: World
) -> None:
    client, _csrf = it_client
    tag = _hni_device(world, DeviceKind.switch)
    stored = _device(world, tag)
    page = client.get(f"/devices/{tag}").text
    assert 'id="edit-device"' in page
    assert stored["cost_vnd"], "demo devices have a cost"
    assert f"{stored['cost_vnd']:,}".replace(",", ".") + " VND" in page
    for table in ("unit-links", "unit-software", "custody", "device-reach"):
        assert f'id="{table}"' in page
    # Enum values are labelled, never shown raw.
    for raw in ("access_point", "province_federation", "leased_line", "document_management"):
        assert raw not in page
    assert "Đường truyền Internet" in page


# -- unit ------------------------------------------------------------------------------------------
def test_unit_rename_and_blank_name(it_client: tuple[TestClient, str], world: World) -> None:
    client, csrf = it_client
    code = world.hni_unit
    form = client.get(f"/units/{code}/edit")
    assert form.status_code == 200 and 'name="name"' in form.text
    with session_scope(world.engine) as s:
        old = InventoryService(s).unit(code).name
    resp = client.post(
        f"/units/{code}/edit",
        data={"csrf_token": csrf, "name": f"{old} (mới)"},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"] == f"/units/{code}?saved=1"
    with session_scope(world.engine) as s:
        assert InventoryService(s).unit(code).name == f"{old} (mới)"
    bad = client.post(f"/units/{code}/edit", data={"csrf_token": csrf, "name": "  "})
    assert bad.status_code == 422
    assert any("không được để trống" in e for e in _field_errors(bad.text, "name"))
    with session_scope(world.engine) as s:
        assert InventoryService(s).unit(code).name == f"{old} (mới)"
    page = client.get(f"/units/{code}?saved=1").text
    assert "Đã lưu" in page
    for raw in ("province_federation", "grassroots", "district", "leased_line", "ftth"):
        assert f">{raw}<" not in page


# -- officers --------------------------------------------------------------------------------------
def test_officer_create_edit_and_move(it_client: tuple[TestClient, str], world: World) -> None:
    client, csrf = it_client
    unit = world.hni_unit
    assert 'id="new-officer"' in client.get(f"/units/{unit}").text
    assert client.get(f"/units/{unit}/officers/new").status_code == 200
    data = {
        "csrf_token": csrf,
        "code": "hni-web-001",
        "full_name": "Trần Thị Bích Ngọc",
        "position": "Chuyên viên CNTT",
        "full_time": "on",
        "email": "ngoc@congdoan.vn",
        "phone": "0912 345 678",
    }
    resp = client.post(f"/units/{unit}/officers/new", data=data, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == "/officers/HNI-WEB-001?saved=1"
    with session_scope(world.engine) as s:
        off = InventoryService(s).officer("HNI-WEB-001")
        assert (off.full_name, off.unit.code, off.full_time) == (data["full_name"], unit, True)
        child = s.scalar(select(Unit.code).where(Unit.parent_id == off.unit_id).limit(1))
    assert child is not None
    again = client.post(f"/units/{unit}/officers/new", data=data)
    assert again.status_code == 422 and "đã tồn tại" in again.text
    bad = client.post(f"/units/{unit}/officers/new", data={**data, "code": "mã sai"})
    assert bad.status_code == 422
    assert any("mã chỉ gồm chữ" in e for e in _field_errors(bad.text, "code"))

    edit = client.get("/officers/HNI-WEB-001/edit")
    assert edit.status_code == 200 and "Chuyên viên CNTT" in edit.text
    changed = {**data, "position": "Trưởng phòng", "unit": child}
    changed.pop("full_time")
    resp = client.post("/officers/HNI-WEB-001/edit", data=changed, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    with session_scope(world.engine) as s:
        off = InventoryService(s).officer("HNI-WEB-001")
        assert (off.position, off.full_time, off.unit.code) == ("Trưởng phòng", False, child)
        snap = row_snapshot(off)
    outside = client.post(
        "/officers/HNI-WEB-001/edit",
        data={**changed, "unit": world.hcm_unit, "full_name": "Tên mới"},
    )
    assert outside.status_code == 422
    assert any("Không có đơn vị" in e for e in _field_errors(outside.text, "unit"))
    with session_scope(world.engine) as s:
        assert row_snapshot(InventoryService(s).officer("HNI-WEB-001")) == snap


# -- links, software -------------------------------------------------------------------------------
def test_links_and_software_of_a_unit(it_client: tuple[TestClient, str], world: World) -> None:
    client, csrf = it_client
    unit = world.hni_unit
    assert client.get(f"/units/{unit}/links/edit").status_code == 200
    link = {
        "csrf_token": csrf,
        "isp": "CMC",
        "kind": "ftth",
        "bandwidth_mbps": "300",
        "status": "active",
    }
    resp = client.post(f"/units/{unit}/links/edit", data=link, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"/units/{unit}?saved=1#links"
    resp = client.post(
        f"/units/{unit}/links/edit",
        data={**link, "bandwidth_mbps": "500", "status": "terminated"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    with session_scope(world.engine) as s:
        from inventory.models import InternetLink

        rows = s.scalars(
            select(InternetLink).join(Unit).where(Unit.code == unit, InternetLink.isp == "CMC")
        ).all()
        assert [(r.bandwidth_mbps, r.status) for r in rows] == [(500, LinkStatus.terminated)]
    filled = client.get(f"/units/{unit}/links/edit", params={"isp": "CMC", "kind": "ftth"})
    assert 'value="500"' in filled.text and "readonly" in filled.text
    bad = client.post(f"/units/{unit}/links/edit", data={**link, "bandwidth_mbps": "nhanh"})
    assert bad.status_code == 422
    assert _field_errors(bad.text, "bandwidth_mbps") == [
        "phải là số nguyên / must be a whole number"
    ]
    page = client.get(f"/units/{unit}").text
    assert "Cáp quang FTTH" in page and "Đã cắt" in page

    sw = {
        "csrf_token": csrf,
        "product": "Phần mềm kế toán HCSN",
        "category": "finance_assets",
        "seats": "12",
        "status": "active",
        "licence_expires": "2030-12-31",
    }
    resp = client.post(f"/units/{unit}/software/edit", data=sw, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    bad = client.post(f"/units/{unit}/software/edit", data={**sw, "category": "games"})
    assert bad.status_code == 422 and _field_errors(bad.text, "category")
    with session_scope(world.engine) as s:
        from inventory.models import Software

        row = s.scalar(select(Software).where(Software.product == sw["product"]))
        assert row is not None and (row.seats, row.category) == (12, "finance_assets")
        assert row.licence_expires == date(2030, 12, 31)
    page = client.get(f"/units/{unit}").text
    assert "Tài chính, tài sản" in page and "31/12/2030" in page


# -- contacts --------------------------------------------------------------------------------------
def test_contacts_add_and_remove(it_client: tuple[TestClient, str], world: World) -> None:
    client, csrf = it_client
    unit = world.hni_unit
    with session_scope(world.engine) as s:
        officer = s.scalar(
            select(Officer.code)
            .join(Unit)
            .where(Unit.code == unit, Officer.active.is_(True))
            .order_by(Officer.code.desc())
        )
        assert officer is not None
        had = {(c.role, c.officer.code) for c in InventoryService(s).unit_contacts(unit)}
    assert ("training", officer) not in had
    data = {"csrf_token": csrf, "role": "training", "officer_code": officer}
    resp = client.post(f"/units/{unit}/contacts", data=data, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    with session_scope(world.engine) as s:
        now = {(c.role, c.officer.code) for c in InventoryService(s).unit_contacts(unit)}
    assert now == had | {("training", officer)}
    page = client.get(f"/units/{unit}").text
    contacts = page.split('id="contacts-table"')[1].split("</table>")[0]
    assert "Đào tạo" in contacts and officer in contacts and ">training<" not in contacts

    outside = client.post(
        f"/units/{unit}/contacts", data={**data, "officer_code": world.hcm_officer}
    )
    assert outside.status_code == 422
    assert any("Không có cán bộ mã" in e for e in _field_errors(outside.text, "officer_code"))

    resp = client.post(f"/units/{unit}/contacts/remove", data=data, follow_redirects=False)
    assert resp.status_code == 303
    with session_scope(world.engine) as s:
        assert {(c.role, c.officer.code) for c in InventoryService(s).unit_contacts(unit)} == had


# -- services --------------------------------------------------------------------------------------
def test_services_add_edit_remove(it_client: tuple[TestClient, str], world: World) -> None:
    client, csrf = it_client
    unit = world.hni_unit
    new = {
        "csrf_token": csrf,
        "name": "web-hni-thu-nghiem",
        "kind": "http",
        "target": "https://hni.congdoan.vn/",
        "port": "",
        "expect": "200",
        "enabled": "on",
    }
    resp = client.post(f"/units/{unit}/services/new", data=new, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    with session_scope(world.engine) as s:
        row = InventoryService(s).service("web-hni-thu-nghiem")
        assert (row.kind, row.target, row.params.get("expect_status")) == (
            "http",
            new["target"],
            200,
        )
    page = client.get(f"/units/{unit}").text
    assert "web-hni-thu-nghiem" in page and "Web (HTTP)" in page

    edit_url = f"/units/{unit}/services/edit?name=web-hni-thu-nghiem"
    assert 'value="https://hni.congdoan.vn/"' in client.get(edit_url).text
    changed = {**new, "kind": "tcp", "target": "hni.congdoan.vn:443", "port": "443", "expect": ""}
    changed.pop("enabled")
    resp = client.post(edit_url, data=changed, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    with session_scope(world.engine) as s:
        row = InventoryService(s).service("web-hni-thu-nghiem")
        assert (row.kind, row.params.get("port"), row.enabled) == ("tcp", 443, False)
        assert "expect_status" not in row.params
        snap = row_snapshot(row)
    bad = client.post(edit_url, data={**changed, "port": "99999", "enabled": "on"})
    assert bad.status_code == 422
    assert any("cổng phải từ 1 đến 65535" in e for e in _field_errors(bad.text, "port"))
    bad = client.post(edit_url, data={**changed, "kind": "http", "port": ""})
    assert bad.status_code == 422
    assert any("HTTP cần URL" in e for e in _field_errors(bad.text, "target"))
    with session_scope(world.engine) as s:
        assert row_snapshot(InventoryService(s).service("web-hni-thu-nghiem")) == snap

    resp = client.post(
        f"/units/{unit}/services/remove",
        data={"csrf_token": csrf, "name": "web-hni-thu-nghiem"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    with session_scope(world.engine) as s:
        assert "web-hni-thu-nghiem" not in {r.name for r in InventoryService(s).services(unit)}
