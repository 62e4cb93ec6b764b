"""From an award to a signed agreement and a paid tranche, in Chromium: the administrator awards the
pilot round's reserve application with the money left in the call, the finance officer records the
signed agreement (a schedule that does not add up is refused first), requests the advance, a second
ministry user approves it, and the finance officer marks it paid; the envelope shows the payment."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_journeys import sign_in

pytestmark = pytest.mark.browser


def as_user(browser, base_url, email):
    context = browser.new_context(base_url=base_url, locale="mk-MK")
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in(page, email)
    return context, page


def test_from_award_to_a_paid_tranche(browser, base_url, artifacts_dir):
    # The administrator (who did not score) awards the reserve application with what is left in the call.
    ministry, admin = as_user(browser, base_url, "admin@demo.example")
    admin.goto("/calls/")
    with admin.expect_navigation():
        admin.locator(".call-list a", has_text="Пилот круг: грантови").first.click()
    with admin.expect_navigation():
        admin.click("main a[href$='/ranking']")
    row = admin.locator("tbody tr", has_text="Мост")
    expect(row.locator(".tag--reserve")).to_be_visible()
    with admin.expect_navigation():
        row.locator("a[href^='/applications/']").first.click()
    application_url = admin.url
    with admin.expect_navigation():
        admin.click("main a[href$='/decide']")
    admin.check("#outcome-0")
    admin.fill("#amount", "48000.00")
    admin.fill("#conditions", "Услугата се намалува на 20 корисници.")
    admin.fill("#reasons", "Ослободени средства во повикот по намалувањето на трошоците за опрема.")
    admin.check("#confirm")
    with admin.expect_navigation():
        admin.click("main form button.button")
    expect(admin.locator("tbody tr", has_text="Мост").locator(".tag--awarded")).to_be_visible()

    # Finance records the signed agreement: first a schedule that does not add up, then the right one.
    accounts, finance = as_user(browser, base_url, "finance@demo.example")
    finance.goto(application_url)
    with finance.expect_navigation():
        finance.click("main a[href$='/agreement']")
    expect(finance.locator("#committed_eur")).to_have_value("48000.00")
    finance.fill("#number", "SSIP-GA-2026-003")
    finance.fill("#signature_date", "2026-11-16")
    finance.fill("#start_date", "2027-01-01")
    finance.fill("#end_date", "2028-12-31")
    # The call's template proposes four tranches adding up to the award; this agreement has two.
    expect(finance.locator("#tranches-0-amount_eur")).to_have_value("14400.00")  # 30 % of 48,000
    for index in (2, 3):
        finance.fill(f"#tranches-{index}-planned_date", "")
        finance.fill(f"#tranches-{index}-amount_eur", "")
    for index, (day, amount, month) in enumerate((("2027-01-01", "14400.00", "0"), ("2027-07-01", "30000.00", "6"))):
        finance.fill(f"#tranches-{index}-planned_date", day)
        finance.fill(f"#tranches-{index}-amount_eur", amount)
        finance.fill(f"#tranches-{index}-reports_required_through", month)
    with finance.expect_navigation():
        finance.click("button[name=submit]")
    expect(finance.locator(".error-summary")).to_be_visible()  # 14,400 + 30,000 ≠ 48,000
    expect(finance.locator("#number")).to_have_value("SSIP-GA-2026-003")
    finance.fill("#tranches-1-amount_eur", "33600.00")
    with finance.expect_navigation():
        finance.click("button[name=submit]")
    expect(finance.locator("h1")).to_contain_text("SSIP-GA-2026-003")
    agreement_url = finance.url
    expect(finance.locator("#ledger")).to_contain_text("48.000,00")
    # The second tranche waits for six accepted monthly reports: no release button for it.
    expect(finance.locator("#tranches form[action$='/request']")).to_have_count(1)
    with finance.expect_navigation():
        finance.click("#tranches form[action$='/request'] button")
    expect(finance.locator("#tranches .tag--requested")).to_have_count(1)
    expect(finance.locator("#tranches form[action$='/approve']")).to_have_count(0)  # never by the requester

    # A second ministry user finds it on their home page, checks the confirmation page, then approves.
    admin.goto("/")
    expect(admin.locator("#tranche-work")).to_contain_text("SSIP-GA-2026-003")
    admin.goto(agreement_url)
    with admin.expect_navigation():
        admin.click("#tranches form[action$='/approve'] button")
    expect(admin.locator("main dl").first).to_contain_text("14.400,00")
    expect(admin.locator("main dl").first).to_contain_text("Мост")
    with admin.expect_navigation():
        admin.click("main form:has(input[name=confirmed]) button[type=submit]")
    expect(admin.locator("#tranches .tag--approved")).to_have_count(1)
    ministry.close()

    # Finance marks it paid; the disbursement is in the ledger and on the envelope.
    finance.goto(agreement_url)
    finance.fill("#tranches input[name=bank_reference]", "MK07 2100 0000 9999")
    with finance.expect_navigation():
        finance.click("#tranches form[action$='/pay'] button")
    expect(finance.locator("main dl")).to_contain_text("MK07 2100 0000 9999")  # nothing paid before this is confirmed
    with finance.expect_navigation():
        finance.click("main form:has(input[name=confirmed]) button[type=submit]")
    expect(finance.locator("#tranches .tag--paid")).to_have_count(1)
    expect(finance.locator(".stats")).to_contain_text("14.400,00")
    finance.goto("/envelope")
    expect(finance.locator("main")).to_contain_text("Гостивар")
    finance.screenshot(path=str(artifacts_dir / "envelope.png"), full_page=True)

    # The provider sees its agreement and the payment; the monitor sees the totals but not the agreement.
    provider_context, provider = as_user(browser, base_url, "most@demo.example")
    provider.goto("/grants")
    with provider.expect_navigation():
        provider.click("main a[href^='/grants/']")
    expect(provider.locator("#tranches .tag--paid")).to_have_count(1)
    expect(provider.locator("#ledger")).to_have_count(0)
    provider_context.close()
    monitor_context, monitor = as_user(browser, base_url, "monitor@demo.example")
    assert monitor.goto(agreement_url).status == 403
    assert monitor.goto("/envelope").status == 200
    monitor_context.close()
    accounts.close()
