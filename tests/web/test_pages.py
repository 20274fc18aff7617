"""The back office and the kiosk in a real headless Chromium (Playwright), with screenshots."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import sign_in

pytestmark = pytest.mark.e2e


def test_security_sees_the_visit_log_and_not_the_dashboard(page, screenshots):
    page.goto("/login")
    page.wait_for_selector("#email")
    page.screenshot(path=screenshots / "login.png")
    sign_in(page, "sec@example.com")
    assert page.url.endswith("/visits")
    page.wait_for_selector("table.data tbody tr")
    assert page.get_by_role("cell", name="Jane Doe").is_visible()
    nav = page.get_by_role("navigation", name="Main").inner_text()
    assert "Visit log" in nav and "Dashboard" not in nav
    page.screenshot(path=screenshots / "visits.png", full_page=True)
    response = page.goto("/dashboard")
    assert response.status == 403
    assert page.get_by_role("heading", name="Not for your role").is_visible()


def test_facilities_sees_the_dashboard_without_names(page, screenshots):
    sign_in(page, "fac@example.com")
    assert page.url.endswith("/dashboard")
    page.wait_for_selector(".tile[data-provider='database']")
    body = page.locator("main").inner_text()
    assert "Jane" not in body and "Acme" not in body
    assert "Visit log" not in page.get_by_role("navigation", name="Main").inner_text()
    assert page.goto("/visits").status == 403
    assert page.goto("/api/visits").status == 403


def test_admin_sees_everything(page):
    sign_in(page, "admin@example.com")
    nav = page.get_by_role("navigation", name="Main").inner_text()
    assert "Visit log" in nav and "Dashboard" in nav and "Audit" in nav


def test_wrong_password_is_refused(page):
    page.goto("/login")
    page.get_by_label("Email").fill("sec@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("[role=alert]")
    assert "Wrong email or password" in page.get_by_role("alert").inner_text()


def test_search_detail_export_building_and_audit(page, screenshots):
    sign_in(page, "sec@example.com")
    page.get_by_label("Visitor").fill("jane")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"visitor=jane"))
    assert page.locator("#count").inner_text().startswith("1 visit")
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    csv = open(info.value.path(), encoding="utf-8").read()
    assert "Jane Doe" in csv and "Bob Roe" not in csv
    page.get_by_role("link", name=re.compile(r"\d{4}-\d\d-\d\d")).first.click()
    page.wait_for_selector("ol.trail li")
    assert "lookup_employee" in page.locator("ol.trail").inner_text()
    assert "on my way" in page.locator("ol.trail").inner_text()
    page.screenshot(path=screenshots / "visit-detail.png", full_page=True)
    page.goto("/building")
    page.wait_for_selector("#headcount")
    assert page.locator("#headcount").inner_text() == "2"
    page.screenshot(path=screenshots / "building.png", full_page=True)
    page.goto("/audit")
    trail = page.locator("table.data").inner_text()
    assert "visits.export" in trail and "visitor: jane" in trail
    page.screenshot(path=screenshots / "audit.png", full_page=True)
    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet, portrait
    page.goto("/visits")
    page.wait_for_selector("table.data tbody tr")
    page.screenshot(path=screenshots / "visits-tablet.png", full_page=True)


def test_dashboard_shows_a_provider_going_down(page, served, screenshots):
    sign_in(page, "fac@example.com")
    page.goto("/dashboard?refresh=1")
    page.wait_for_selector(".tile[data-provider='printer'][data-status='ok']")
    assert page.locator("#k-p50").inner_text() in ("no data",) or "ms" in page.locator(
        "#k-p50").inner_text()
    page.screenshot(path=screenshots / "dashboard.png", full_page=True)
    served.runtime.printer_status.failed("printer-offline")
    try:
        page.wait_for_selector(".tile[data-provider='printer'][data-status='failing']")
        assert "printer-offline" in page.locator("#printer").inner_text()
        assert "needs attention" in page.locator("#overall").inner_text()
        page.screenshot(path=screenshots / "dashboard-printer-down.png", full_page=True)
        page.set_viewport_size({"width": 1024, "height": 768})
        page.screenshot(path=screenshots / "dashboard-tablet.png", full_page=True)
    finally:
        served.runtime.printer_status.succeeded()


def test_typed_check_in_on_the_kiosk(browser, served, screenshots):
    context = browser.new_context(viewport={"width": 1180, "height": 820}, base_url=served.url)
    context.set_default_timeout(10_000)
    kiosk = context.new_page()
    try:
        kiosk.goto("/kiosk?done=2")
        kiosk.wait_for_selector("#start")
        kiosk.screenshot(path=screenshots / "kiosk-welcome.png")
        kiosk.get_by_role("button", name="Check in").click()
        kiosk.wait_for_selector("#caption:not(:empty)")
        kiosk.get_by_role("combobox").fill("marg")
        kiosk.wait_for_selector("#suggestions li[data-name='Margaret Okafor']")
        assert "Executive" in kiosk.locator("#suggestions").inner_text()
        assert "@" not in kiosk.locator("#suggestions").inner_text()
        kiosk.screenshot(path=screenshots / "kiosk-suggestions.png")
        kiosk.locator("#suggestions li[data-name='Margaret Okafor']").click()
        kiosk.wait_for_selector("#yesno", state="visible")
        assert "Margaret Okafor" in kiosk.locator("#caption").inner_text()
        kiosk.screenshot(path=screenshots / "kiosk-confirm.png")
        kiosk.get_by_role("button", name="Yes").click()
        kiosk.wait_for_selector("#yesno", state="hidden")
        kiosk.get_by_role("combobox").fill("My name is Jane Visitor")
        kiosk.keyboard.press("Enter")
        kiosk.wait_for_function("document.querySelector('#caption').textContent.includes('Jane')")
        kiosk.get_by_role("combobox").fill("I am with Acme")
        kiosk.keyboard.press("Enter")
        kiosk.wait_for_selector("#done", state="visible")
        assert "Margaret" in kiosk.locator("#done-text").inner_text()
        kiosk.screenshot(path=screenshots / "kiosk-done.png")
        kiosk.wait_for_selector("#welcome", state="visible")  # back by itself after 2 s
        assert kiosk.locator("#caption").inner_text() == ""
        assert "Jane" not in kiosk.locator("body").inner_text()
        kiosk.get_by_role("button", name="Español").click()
        kiosk.wait_for_selector("html[lang='es']")
        assert kiosk.get_by_role("button", name="Registrarse").is_visible()
        kiosk.screenshot(path=screenshots / "kiosk-welcome-es.png")
    finally:
        context.close()


def test_a_kiosk_visit_the_server_no_longer_has_starts_over_with_a_clear_message(browser, served):
    # E.g. the replica that held the visit restarted: the tablet must not stay stuck on it.
    context = browser.new_context(viewport={"width": 1180, "height": 820}, base_url=served.url)
    context.set_default_timeout(10_000)
    kiosk = context.new_page()
    try:
        kiosk.goto("/kiosk")
        with kiosk.expect_response(lambda r: r.url.endswith("/api/kiosk/visits")) as started:
            kiosk.get_by_role("button", name="Check in").click()
        sid = started.value.json()["session_id"]
        kiosk.wait_for_selector("#caption:not(:empty)")
        assert context.request.post(f"/api/kiosk/visits/{sid}/end").ok
        kiosk.get_by_role("combobox").fill("Margaret Okafor")
        kiosk.keyboard.press("Enter")
        kiosk.wait_for_selector("#welcome", state="visible")
        assert "interrupted" in kiosk.locator("#error").inner_text()
        assert kiosk.locator("#error").is_visible()
    finally:
        context.close()
