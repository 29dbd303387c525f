"""End-to-end in a real browser: headless Debian Chromium driven by Playwright against the web app
served by uvicorn on a loopback port (ephemeral). Screenshots go to ``test-artifacts/``.

Covers: first login with the one-time password and the forced password change, the scorecard
with its plotly charts, drill-down to failing units, search "ha noi" → "Hà Nội", booking a
conference and seeing a conflicting booking refused, and a province user kept out of another
province's pages and API objects.
"""

from __future__ import annotations

import importlib.util
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine, select

from inventory.config import TIMEZONE
from inventory.db import make_engine, session_scope
from inventory.demo import PLANS, seed_plan
from inventory.models import Officer, Unit
from inventory.security import Role
from ops_cli.accounts import AccountService
from ops_cli.up import ensure_first_admin, seed_demo_extras
from ops_cli.web import create_app
from tests.ops_cli.conftest import password_of

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class Site:
    engine: Engine
    base: str
    admin_otp: str


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the server runs in a worker thread
        pass


@pytest.fixture(scope="module")
def site(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    target = tmp_path_factory.mktemp("e2e") / "tldops.db"
    shutil.copyfile(sqlite_template, target)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLDOPS_SECRET_KEY", Fernet.generate_key().decode())
        engine = make_engine(f"sqlite:///{target}")
        seed_plan(engine, plan=PLANS["small"])
        first = ensure_first_admin(engine)  # what `tldops up` does on an empty account table
        assert first is not None
        with session_scope(engine) as s:
            svc = AccountService(s, actor="test")
            svc.create_user(username="it_hni", password=password_of("it_hni"))
            svc.grant(username="it_hni", role=Role.it_staff, unit_code="HNI")
        seed_demo_extras(engine)
        app = create_app(engine, secure_cookies=False)
        server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Site(engine=engine, base=f"http://127.0.0.1:{port}", admin_otp=first[1])
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


NEW_ADMIN_PASSWORD = "mật khẩu quản trị mới"


def _login(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.fixture(scope="module")
def admin_password(site: Site, browser: Browser) -> str:
    """First login with the one-time password printed by `tldops up`, forced to change it."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    _login(page, site.base, "admin", site.admin_otp)
    page.wait_for_url("**/account/password")
    expect(page.locator("main")).to_contain_text("đổi mật khẩu")
    page.screenshot(path=str(ARTIFACTS / "01-change-password.png"))
    page.fill("input[name=old]", site.admin_otp)
    page.fill("input[name=new]", NEW_ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/scorecard")
    ctx.close()
    return NEW_ADMIN_PASSWORD


def test_scorecard_charts_and_drilldown(site: Site, page: Page, admin_password: str) -> None:
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    _login(page, site.base, "admin", admin_password)
    page.wait_for_url("**/scorecard")
    expect(page.locator("#scorecard-title")).to_contain_text("Tổng Liên đoàn Lao động Việt Nam")
    rows = page.locator("#scorecard-table tr[data-indicator]")
    expect(rows).to_have_count(
        len(page.request.get(f"{site.base}/api/targets").json()["indicators"])
    )
    # plotly drew one chart per indicator (its SVG root is .main-svg).
    page.wait_for_selector("#chart-equipped_offices .main-svg")
    bars = page.locator("#chart-equipped_offices .bars .point")
    assert bars.count() >= 30, "one bar per child unit (≈60 level-2 units)"
    api = page.request.get(f"{site.base}/api/targets").json()
    eq = next(i for i in api["indicators"] if i["id"] == "equipped_offices")
    expect(rows.filter(has_text="%").first).to_be_visible()
    expect(page.locator("tr[data-indicator=equipped_offices]")).to_contain_text(
        f"({eq['numerator']}/{eq['denominator']})"
    )
    page.screenshot(path=str(ARTIFACTS / "02-scorecard-root.png"), full_page=True)
    # The page runs under a strict Content-Security-Policy: its own scripts carry the nonce.
    assert refused == [], refused

    # Clicking a bar of a chart drills into that child unit.
    bar = page.locator("#chart-equipped_offices .bars .point path").first
    box = bar.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 2)
    page.wait_for_url(lambda url: "/scorecard?unit=" in url)
    first_child = eq["children"][0]
    expect(page.locator("#scorecard-title")).to_contain_text(first_child["unit_name"])
    page.go_back()
    page.wait_for_selector("#children-table")

    # Drill down: into Hà Nội, then to the failing units of one indicator.
    page.click("#children-table a.child:has-text('Hà Nội')")
    page.wait_for_url("**/scorecard?unit=HNI")
    expect(page.locator("#scorecard-title")).to_contain_text("Hà Nội")
    hni = page.request.get(f"{site.base}/api/targets?unit=HNI").json()
    ind = next((i for i in hni["indicators"] if i["failing"]), None)
    assert ind is not None, "the demo plan leaves Hà Nội short on some indicator"
    failing = ind["failing"]
    page.click(f"tr[data-indicator={ind['id']}] a.drill")
    page.wait_for_url(f"**/scorecard/{ind['id']}?unit=HNI")
    expect(page.locator("#failing-table tr.failing-row")).to_have_count(min(len(failing), 200))
    expect(page.locator("#failing-table")).to_contain_text(failing[0]["code"])
    expect(page.locator("#failing-table")).to_contain_text(failing[0]["reasons"][0]["vi"])
    page.screenshot(path=str(ARTIFACTS / "03-drilldown-failing.png"), full_page=True)
    # English switch keeps working and is remembered.
    page.click("#lang-switch")
    expect(page.locator("h2").first).to_contain_text("Child units")


def test_search_ha_noi_without_diacritics(site: Site, page: Page, admin_password: str) -> None:
    _login(page, site.base, "admin", admin_password)
    page.goto(f"{site.base}/units")
    page.fill("#unit-search", "ha noi")
    page.press("#unit-search", "Enter")
    page.wait_for_selector("#search-results")
    link = page.locator("#search-results a", has_text="Liên đoàn Lao động thành phố Hà Nội")
    expect(link).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "04-search-ha-noi.png"), full_page=True)
    link.click()
    expect(page.locator("#unit-name")).to_have_text("Liên đoàn Lao động thành phố Hà Nội")


def test_province_user_kept_in_province(site: Site, page: Page) -> None:
    _login(page, site.base, "it_hni", password_of("it_hni"))
    page.wait_for_url("**/scorecard")
    expect(page.locator("#scorecard-title")).to_contain_text("Hà Nội")
    resp = page.goto(f"{site.base}/scorecard?unit=HCM")
    assert resp is not None and resp.status == 404
    expect(page.locator("#error-message")).to_contain_text("HCM")
    page.screenshot(path=str(ARTIFACTS / "05-province-user-refused.png"))
    with session_scope(site.engine) as s:
        hcm_officer = s.scalar(
            select(Officer.code).join(Unit).where(Unit.path.like("/1/3/%")).limit(1)
        )
    api = page.request.get(f"{site.base}/api/officers/{hcm_officer}")
    assert api.status == 404
    assert page.request.get(f"{site.base}/api/units?unit=HCM").status == 404


@pytest.mark.skipif(
    importlib.util.find_spec("videoconf.api") is None, reason="videoconf has not landed"
)
def test_book_conference_and_conflict_refused(site: Site, page: Page, admin_password: str) -> None:
    with session_scope(site.engine) as s:
        host = s.scalar(
            select(Officer.code).join(Unit).where(Unit.code == "HNI", Officer.active.is_(True))
        )
    assert host is not None
    start = (datetime.now(TIMEZONE) + timedelta(days=2)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    _login(page, site.base, "admin", admin_password)
    page.goto(f"{site.base}/conferences")
    form = page.locator("form[data-form='/api/conferences']")
    expect(form).to_be_visible()

    def book(title: str) -> None:
        form.locator("input[name=title]").fill(title)
        form.locator("input[name=host]").fill(host)
        form.locator("input[name=start]").fill(start.strftime("%Y-%m-%dT%H:%M"))
        form.locator("input[name=end]").fill(
            (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        )
        form.locator("details.more").first.evaluate("d => { d.open = true; }")
        form.locator("input[name=units]").fill("HNI")
        form.locator("button[type=submit]").click()

    book("Giao ban CNTT tháng")
    expect(form.locator(".result")).to_have_class("result ok")
    page.wait_for_load_state("load")
    page.wait_for_timeout(1800)  # the page reloads after a successful booking
    page.goto(f"{site.base}/conferences")
    expect(page.locator("section[data-list='/api/conferences']")).to_contain_text(
        "Giao ban CNTT tháng"
    )
    form = page.locator("form[data-form='/api/conferences']")
    book("Họp trùng giờ")
    result = form.locator(".result")
    expect(result).to_have_class("result err")
    expect(result).to_contain_text("xung đột")
    expect(result).to_contain_text("Giao ban CNTT tháng")
    page.screenshot(path=str(ARTIFACTS / "06-conference-conflict.png"), full_page=True)
    # Each conference row links to its attendance report.
    page.locator("section[data-list='/api/conferences'] a", has_text="Attendance").first.click()
    page.wait_for_url(lambda url: "/view" in url and "attendance" in url)
    expect(page.locator("main table").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "06b-attendance.png"), full_page=True)


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/monitoring", "Giám sát"),
        ("/operations", "Vận hành"),
        ("/conferences", "Hội nghị trực tuyến"),
        ("/training", "Đào tạo"),
    ],
)
def test_domain_pages(site: Site, page: Page, admin_password: str, path: str, title: str) -> None:
    """Each domain page shows what its domain provides, or says it is not available."""
    _login(page, site.base, "admin", admin_password)
    page.goto(f"{site.base}{path}")
    expect(page.locator("main h1")).to_have_text(title)
    sections = page.locator("main section")
    if page.locator("#not-available").count() == 0:
        assert sections.count() >= 1
        expect(page.locator("main .err")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / f"07-domain{path.replace('/', '-')}.png"), full_page=True)


def test_upload_workbook_fix_error_and_import(
    site: Site,
    page: Page,
    admin_password: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An officer uploads the office's workbook, sees the bad cell, fixes it and imports."""
    from tests.ops_cli.test_web_import import _workbook

    monkeypatch.setenv("TLDOPS_VAR_DIR", str(tmp_path / "var"))
    bad, good = tmp_path / "thiet_bi_hn.xlsx", tmp_path / "thiet_bi_hn_da_sua.xlsx"
    bad.write_bytes(_workbook("HNII"))
    good.write_bytes(_workbook("HNI"))
    _login(page, site.base, "admin", admin_password)
    page.wait_for_url("**/scorecard")
    page.click("header >> text=Nhập dữ liệu từ tệp")
    page.set_input_files("input[name=upload]", str(bad))
    page.click("#import-check")
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("Thiết bị")
    expect(problems).to_contain_text("HNII")
    expect(problems).to_contain_text("không có đơn vị mã này")
    page.screenshot(path=str(ARTIFACTS / "20-import-problems.png"), full_page=True)

    page.set_input_files("input[name=upload]", str(good))
    page.click("#import-check")
    expect(page.locator("#import-summary")).to_contain_text("Thiết bị")
    page.screenshot(path=str(ARTIFACTS / "21-import-dry-run.png"), full_page=True)
    page.click("#import-confirm")
    expect(page.locator("#import-done")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "22-import-done.png"), full_page=True)
    with session_scope(site.engine) as s:
        officer = s.scalar(select(Officer).where(Officer.code == "HNI-WEB-1"))
        assert officer is not None and officer.full_name == "Đỗ Thị Mai"
