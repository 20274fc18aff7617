"""The admin role's users, tokens and settings pages in Chromium: CSRF-protected, audited, and
closed to the security and facilities roles."""

from __future__ import annotations

import httpx
import pytest

from tests.web.conftest import sign_in

pytestmark = pytest.mark.e2e


def test_security_and_facilities_get_403(page):
    for email in ("sec@example.com", "fac@example.com"):
        sign_in(page, email)
        assert "Users" not in page.get_by_role("navigation", name="Main").inner_text()
        for path in ("/admin/users", "/admin/settings"):
            response = page.goto(path)
            assert response.status == 403, (email, path)
            assert page.get_by_role("heading", name="Not for your role").is_visible()
        page.context.clear_cookies()


def test_admin_adds_a_user_creates_and_revokes_a_token_and_disables(page, served,
                                                                      screenshots):
    sign_in(page, "admin@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    page.wait_for_selector("table#users tbody tr[data-email='sec@example.com']")
    page.get_by_label("Email").fill("new.guard@example.com")
    page.get_by_label("Role").select_option("security")
    page.get_by_label("Password").fill("a-long-password-1")
    page.get_by_role("button", name="Add user").click()
    page.wait_for_selector("tr[data-email='new.guard@example.com']")
    assert "Added new.guard@example.com" in page.get_by_role("status").inner_text()

    page.get_by_label("For").select_option(label="new.guard@example.com (security)")
    page.get_by_label("Name").fill("evacuation printer")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("New API token").input_value()
    assert token.startswith("ck_")
    page.screenshot(path=screenshots / "admin-users.png", full_page=True)
    assert httpx.get(served.url + "/api/building",
                     headers={"Authorization": f"Bearer {token}"}).status_code == 200
    page.goto("/admin/users")  # shown once: the page itself never shows it again
    assert page.locator("#new-token").count() == 0

    page.get_by_role("button", name="Revoke token evacuation printer").click()
    page.wait_for_selector("tr[data-token='evacuation printer'] .status-failed")
    assert httpx.get(served.url + "/api/building",
                     headers={"Authorization": f"Bearer {token}"}).status_code == 401

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Disable new.guard@example.com").click()
    page.wait_for_selector("tr[data-email='new.guard@example.com'] .status-failed")

    page.goto("/audit")
    trail = page.locator("table.data").inner_text()
    for action in ("staff.user_added", "staff.token_created", "staff.token_revoked",
                   "staff.user_disabled"):
        assert action in trail
    assert token not in page.content()


def test_forms_without_the_csrf_token_are_refused(page, served):
    sign_in(page, "admin@example.com")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    response = httpx.post(served.url + "/admin/users", cookies=cookies,
                          data={"email": "x@example.com", "role": "admin", "password": "x" * 12})
    assert response.status_code == 403
    page.goto("/admin/users")
    assert page.locator("tr[data-email='x@example.com']").count() == 0


def test_settings_show_secrets_as_set_or_unset_only(page, screenshots):
    sign_in(page, "admin@example.com")
    page.goto("/admin/settings")
    secrets = page.locator("table[data-section='secrets (environment)']").inner_text()
    assert "anthropic_api_key" in secrets and "unset" in secrets
    general = page.locator("table[data-section='general']").inner_text()
    assert "database_url" in general
    assert "Northwind Labs" in page.locator("table[data-section='site']").inner_text()
    page.screenshot(path=screenshots / "admin-settings.png", full_page=True)
