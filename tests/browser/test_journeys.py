"""Journeys through the portal in a real browser (headless Chromium), with CSRF on.

Each test gets a fresh browser context (no cookies carried over). The demo accounts are shared
by the whole session, so every test signs in with its own account or leaves state that no other
test depends on (language choices are only ever read after being set in the same test).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

# (id, email, full name, preferred language stored for the account, role label in English)
ROLES = [
    ("admin", "admin@demo.example", "Марија Николовска", "mk", "Ministry administrator"),
    ("reviewer", "reviewer@demo.example", "Александар Стојанов", "mk", "Ministry reviewer"),
    ("finance", "finance@demo.example", "Елена Трајковска", "mk", "Ministry finance officer"),
    ("municipality", "kumanovo@demo.example", "Драган Ристовски", "mk", "Municipality officer"),
    ("provider", "provider@demo.example", "Билјана Јованова", "mk", "Service provider staff"),
    ("monitor", "monitor@demo.example", "Sarah Collins", "en", "World Bank monitor"),
]
LANGUAGES = ("mk", "sq", "en")
HEX_ID = re.compile(r"^[0-9a-f]{8,64}$")


def sign_in(page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("main form button.button[type=submit]")


def switch_language(page: Page, code: str) -> None:
    with page.expect_navigation():
        page.click(f"form.lang-switch button[name=language][value={code}]")
    expect(page.locator("html")).to_have_attribute("lang", code)
    expect(page.locator(f"form.lang-switch button[value={code}]")).to_have_attribute("aria-current", "true")


@pytest.mark.parametrize(("role", "email", "name", "first_lang", "role_label_en"), ROLES, ids=[r[0] for r in ROLES])
def test_sign_in_switch_languages_and_sign_out(page: Page, base_url, screenshot, role, email, name, first_lang,
                                              role_label_en):
    sign_in(page, email)

    expect(page).to_have_url(f"{base_url}/")
    expect(page.locator("main h1").first).to_be_visible()
    expect(page.locator("main h1").first).not_to_be_empty()
    expect(page.locator(".user-box")).to_contain_text(name)
    expect(page.locator(".user-box .role-tag")).not_to_be_empty()
    # The account's stored language is used as soon as the user signs in.
    expect(page.locator("html")).to_have_attribute("lang", first_lang)

    sign_out = page.locator(".user-box form button[type=submit]")
    texts = {}
    for code in LANGUAGES:
        switch_language(page, code)
        expect(page).to_have_url(f"{base_url}/")
        expect(page.locator(".user-box")).to_contain_text(name)
        expect(sign_out).to_be_visible()
        texts[code] = sign_out.inner_text().strip()
        assert texts[code], f"empty Sign-out button in {code}"
        screenshot(f"{role}-{code}")

    # English is the source language: the labels there are known exactly.
    assert texts["en"] == "Sign out"
    expect(page.locator(".user-box .role-tag")).to_have_text(role_label_en)
    assert len(set(texts.values())) == 3, f"the Sign-out button is not translated: {texts}"

    with page.expect_navigation():
        sign_out.click()
    expect(page).to_have_url(f"{base_url}/login")
    expect(page.locator("#email")).to_be_visible()
    expect(page.locator(".notice[role=status]")).to_be_visible()  # "You have signed out."
    expect(page.locator(".user-box")).to_have_count(0)

    page.goto("/")
    expect(page).to_have_url(f"{base_url}/")
    expect(page.locator(".hero h1")).to_be_visible()
    expect(page.locator("main a[href='/login']")).to_be_visible()
    expect(page.locator(".user-box")).to_have_count(0)


def test_wrong_password_shows_error_and_keeps_email(page: Page, base_url, screenshot):
    email = "bitola@demo.example"  # an account no other browser test signs in with
    sign_in(page, email, password="not-the-password-2026")

    expect(page).to_have_url(f"{base_url}/login")
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_have_attribute("role", "alert")
    expect(page.get_by_role("alert")).to_have_count(1)
    expect(summary.locator("li").first).to_have_text(re.compile(r"\S"))
    expect(summary).to_be_focused()  # portal.js moves focus to the summary
    expect(page.locator("#email")).to_have_value(email)
    expect(page.locator("#password")).to_have_value("")
    expect(page.locator(".user-box")).to_have_count(0)
    screenshot("login-wrong-password")


def test_first_tab_reaches_skip_link_which_moves_to_main(page: Page, base_url):
    page.goto("/login")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()  # visually hidden links must appear when focused
    expect(skip).to_have_attribute("href", "#main")

    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base_url}/login#main")
    expect(page.locator("#main")).to_be_focused()
    # The next Tab continues inside the main content (the first field), not back in the header.
    page.keyboard.press("Tab")
    expect(page.locator("#email")).to_be_focused()


def test_municipality_officer_gets_403_with_request_id(page: Page, base_url, screenshot):
    sign_in(page, "kumanovo@demo.example")
    expect(page).to_have_url(f"{base_url}/")

    response = page.goto("/admin/users")
    assert response is not None and response.status == 403
    expect(page.locator("main h1")).to_be_visible()
    code = page.locator("main code")
    expect(code).to_have_text(HEX_ID)
    assert code.inner_text().strip() == response.headers["x-request-id"]
    expect(page.locator("main table")).to_have_count(0)
    screenshot("municipality-403")


def test_admin_filters_users_by_role(page: Page, base_url, screenshot):
    sign_in(page, "admin@demo.example")
    expect(page).to_have_url(f"{base_url}/")

    page.goto("/admin/users")
    rows = page.locator("main table tbody")
    # Unfiltered, both accounts are listed: the filter below is what removes one.
    expect(rows).to_contain_text("provider@demo.example")
    expect(rows).to_contain_text("monitor@demo.example")

    filters = page.locator("form.filters")
    filters.locator("select#role").select_option("monitor")
    with page.expect_navigation():
        filters.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/admin/users\?.*\brole=monitor\b"))
    expect(page.locator("select#role")).to_have_value("monitor")
    expect(rows).to_contain_text("monitor@demo.example")
    expect(rows).not_to_contain_text("provider@demo.example")
    expect(rows.locator("tr")).to_have_count(1)
    screenshot("admin-users-monitor")


def test_provider_uploads_a_statute_and_downloads_it(page: Page, base_url, screenshot, tmp_path):
    from tests import files

    sign_in(page, "soncev.zrak@demo.example")
    switch_language(page, "en")
    page.goto("/organisations/mine")
    documents = page.locator("#documents")
    # The demo data already holds this provider's licence and statute.
    expect(documents.locator("tbody tr")).to_have_count(2)
    page.select_option("#purpose", "registration_certificate")
    page.set_input_files("#file", files={"name": "Тековна состојба.pdf", "mimeType": "application/pdf",
                                         "buffer": files.PDF})
    with page.expect_navigation():
        page.click("#documents form[novalidate] button[type=submit]")
    expect(page.locator(".notice--success")).to_contain_text("Тековна состојба.pdf")
    expect(documents.locator("tbody tr")).to_have_count(3)
    screenshot("provider-documents")
    with page.expect_download() as info:
        documents.get_by_role("link", name="Тековна состојба.pdf").click()
    target = tmp_path / "downloaded.pdf"
    info.value.save_as(target)
    assert target.read_bytes() == files.PDF
    # A file whose content contradicts its name is refused with a message next to the field.
    page.set_input_files("#file", files={"name": "scan.pdf", "mimeType": "application/pdf", "buffer": files.PNG})
    with page.expect_navigation():
        page.click("#documents form[novalidate] button[type=submit]")
    expect(page.locator(".error-summary")).to_contain_text("PNG")
    expect(documents.locator("tbody tr")).to_have_count(3)
