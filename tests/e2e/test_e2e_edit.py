"""End-to-end edit forms in a real browser (headless Debian Chromium through Playwright, against
uvicorn on an ephemeral loopback port): a province IT officer opens a device, edits it (platform,
SNMP profile, hostname), sees the saved values on the device page, then types a bad IP and sees
the Vietnamese message beside the field with nothing saved. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine, select

from inventory.db import make_engine, session_scope
from inventory.demo import PLANS, seed_plan
from inventory.enums import DeviceKind
from inventory.models import Device, Unit
from inventory.security import Role
from inventory.service import InventoryService
from ops_cli.accounts import AccountService
from ops_cli.web import create_app
from tests.e2e.test_e2e_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _login, _Server
from tests.ops_cli.conftest import password_of


@dataclass(frozen=True)
class Served:
    engine: Engine
    base: str


@pytest.fixture(scope="module")
def served(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    target = tmp_path_factory.mktemp("e2e-edit") / "tldops.db"
    shutil.copyfile(sqlite_template, target)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLDOPS_SECRET_KEY", Fernet.generate_key().decode())
        engine = make_engine(f"sqlite:///{target}")
        seed_plan(engine, plan=PLANS["small"])
        with session_scope(engine) as s:
            svc = AccountService(s, actor="test")
            svc.create_user(username="it_hni", password=password_of("it_hni"))
            svc.grant(username="it_hni", role=Role.it_staff, unit_code="HNI")
        app = create_app(engine, secure_cookies=False)
        server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Served(engine=engine, base=f"http://127.0.0.1:{port}")
        server.should_exit = True
        thread.join(10)
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (Debian package chromium; `make system-deps`)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="vi-VN")
    ctx.set_default_timeout(15_000)
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _switch_of_hni(engine: Engine) -> str:
    with session_scope(engine) as s:
        tag = s.scalar(
            select(Device.asset_tag)
            .join(Unit)
            .where(Unit.code == "HNI", Device.kind == DeviceKind.switch)
            .order_by(Device.asset_tag)
        )
    assert tag is not None, "the demo plan gives Hà Nội a switch"
    return str(tag)


def _stored(engine: Engine, tag: str) -> tuple[str | None, str | None, str | None]:
    with session_scope(engine) as s:
        svc = InventoryService(s)
        dev = svc.device(tag)
        profile = None
        if dev.snmp_profile_id is not None:
            profile = next(p.name for p in svc.credentials() if p.id == dev.snmp_profile_id)
        return dev.hostname, dev.platform, profile


def test_edit_device_in_the_browser(served: Served, page: Page) -> None:
    tag = _switch_of_hni(served.engine)
    _login(page, served.base, "it_hni", password_of("it_hni"))
    page.wait_for_url("**/scorecard")
    page.goto(f"{served.base}/units/HNI")
    page.click(f"a[href='/devices/{tag}']")
    page.wait_for_url(f"**/devices/{tag}")
    page.click("#edit-device")
    page.wait_for_url(f"**/devices/{tag}/edit")
    expect(page.locator("#form-title")).to_contain_text(tag)
    # Vietnamese labels in the selects, English values behind them.
    expect(page.locator("#f-status option[value=repair]")).to_have_text("Đang sửa")
    page.fill("#f-hostname", "hni-sw-tang3")
    page.select_option("#f-platform", "cisco_ios")
    page.select_option("#f-snmp_profile", "snmpv3-default")
    page.screenshot(path=str(ARTIFACTS / "edit-01-device-form.png"), full_page=True)
    page.click("#save")
    page.wait_for_url(f"**/devices/{tag}?saved=1")
    expect(page.locator("#notice")).to_contain_text("Đã lưu")
    expect(page.locator("#dev-hostname")).to_have_text("hni-sw-tang3")
    expect(page.locator("#dev-platform")).to_have_text("cisco_ios")
    expect(page.locator("#dev-snmp-profile")).to_have_text("snmpv3-default")
    expect(page.locator("#dev-status")).to_have_text("Đang dùng")
    page.screenshot(path=str(ARTIFACTS / "edit-02-device-saved.png"), full_page=True)
    assert _stored(served.engine, tag) == ("hni-sw-tang3", "cisco_ios", "snmpv3-default")

    # A bad address: the same form again, the message beside the field, nothing saved.
    page.click("#edit-device")
    page.fill("#f-mgmt_ip", "300.1.2.3")
    page.fill("#f-hostname", "khong-duoc-luu")
    page.click("#save")
    error = page.locator("#fld-mgmt_ip .fe")
    expect(error).to_contain_text("không phải địa chỉ IP")
    expect(page.locator("#form-errors")).to_contain_text("Chưa lưu")
    expect(page.locator("#f-mgmt_ip")).to_have_value("300.1.2.3")
    page.screenshot(path=str(ARTIFACTS / "edit-03-device-bad-ip.png"), full_page=True)
    assert _stored(served.engine, tag) == ("hni-sw-tang3", "cisco_ios", "snmpv3-default")


def test_unit_page_sections_and_contact_form(served: Served, page: Page) -> None:
    _login(page, served.base, "it_hni", password_of("it_hni"))
    page.wait_for_url("**/scorecard")
    page.goto(f"{served.base}/units/HNI")
    expect(page.locator("#links-table")).to_be_visible()
    expect(page.locator("#services-table")).to_contain_text("Web (HTTP)")
    page.screenshot(path=str(ARTIFACTS / "edit-04-unit-page.png"), full_page=True)
    # An unknown officer code: the contact form comes back with the message beside the field.
    page.select_option("#contact-role", "meeting")
    page.fill("#contact-officer", "KHONG-CO-AI")
    page.click("#add-contact button[type=submit]")
    expect(page.locator("#fld-officer_code .fe")).to_contain_text("Không có cán bộ mã")
    expect(page.locator("#f-role")).to_have_value("meeting")
    page.screenshot(path=str(ARTIFACTS / "edit-05-contact-error.png"), full_page=True)


@pytest.mark.parametrize(
    ("path", "title", "shot"),
    [
        ("/units/HNI/edit", "Sửa đơn vị", "edit-06-unit"),
        ("/units/HNI/officers/new", "Thêm cán bộ", "edit-07-officer-new"),
        ("/units/HNI/links/edit?isp=FPT&kind=ftth", "Sửa đường truyền", "edit-08-link"),
        ("/units/HNI/software/edit", "Thêm phần mềm", "edit-09-software-new"),
        ("/units/HNI/services/edit?name=web-hni", "Sửa dịch vụ", "edit-10-service"),
    ],
)
def test_other_forms_render(served: Served, page: Page, path: str, title: str, shot: str) -> None:
    _login(page, served.base, "it_hni", password_of("it_hni"))
    page.wait_for_url("**/scorecard")
    page.goto(f"{served.base}{path}")
    expect(page.locator("#form-title")).to_contain_text(title)
    expect(page.locator("#edit-form button#save")).to_have_text("Lưu")
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    # The header's language link drops the query string (base.html), so ask for English here.
    page.goto(f"{served.base}{path}{'&' if '?' in path else '?'}lang=en")
    expect(page.locator("#edit-form button#save")).to_have_text("Save")
    page.screenshot(path=str(ARTIFACTS / f"{shot}-en.png"), full_page=True)
