"""Grievance redress in Albanian, in a real browser: someone without an account raises a concern about a day
centre in Tetovo, keeps the secret link, a reviewer answers and closes it, and the person reads the outcome and
writes back through the link."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_journeys import sign_in, switch_language

pytestmark = pytest.mark.browser


def test_a_concern_from_the_public_form_to_its_resolution_in_albanian(page: Page, browser, base_url):
    page.goto("/")
    switch_language(page, "sq")
    with page.expect_navigation():
        page.click("nav a:has-text('Paraqitni një ankesë')")
    expect(page.locator("h1")).to_have_text("Paraqitni një ankesë")
    page.select_option("#category", "access")
    page.select_option("#municipality_id", label="Tetovë")
    # Without a description the form comes back with the error, in Albanian, keeping what was chosen.
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    expect(page.locator(".error-summary a[href='#description']")).to_contain_text("Përshkruani")
    expect(page.locator("#municipality_id option:checked")).to_have_text("Tetovë")
    page.fill("#description", "Nëna ime u refuzua në qendrën ditore pa asnjë shpjegim. Kërkojmë një vendim me shkrim.")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Ankesa juaj u mor")
    code = page.locator("main .lead strong").inner_text()
    link = page.locator("main .notice a").get_attribute("href")
    assert code.startswith("GRM-") and "/concerns/follow/" in link

    handler = browser.new_context(locale="sq-AL", base_url=base_url)
    staff = handler.new_page()
    try:
        sign_in(staff, "reviewer@demo.example")
        switch_language(staff, "sq")
        staff.goto("/grievances")
        with staff.expect_navigation():
            staff.click(f"a:has-text('{code}')")
        expect(staff.locator("h1")).to_contain_text(code)
        staff.fill("#reply-body", "Faleminderit. Po e shqyrtojmë me qendrën ditore.")
        with staff.expect_navigation():
            staff.click("form[action$='/reply'] button")
        expect(staff.locator(".notice--success")).to_be_visible()
        staff.fill("#close-outcome", "Qendra ditore e pranoi nënën tuaj nga e hëna.")
        staff.check("#close-accepted-0")
        with staff.expect_navigation():
            staff.click("form[action$='/close'] button")
        expect(staff.locator(".tag--closed")).to_have_text("e mbyllur")
        switch_language(staff, "mk")  # the demo reviewer works in Macedonian: leave the account as it was
    finally:
        handler.close()

    page.goto(link)
    expect(page.locator("h1")).to_contain_text(code)
    expect(page.locator("main")).to_contain_text("Qendra ditore e pranoi nënën tuaj nga e hëna.")
    page.fill("#body", "Faleminderit, u zgjidh.")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    expect(page.locator("#history")).to_contain_text("Faleminderit, u zgjidh.")
