"""From a quarterly financial report to a tranche released on it, in Chromium (issue 18): the finance officer ties
Достоинство's second tranche to the financial reports accepted up to the second quarter (an amendment of the
agreement); the agreement page shows the condition not met and offers no release. The second quarter's report is
returned with comments; the provider corrects it, fills in its comments and submits it; the finance officer accepts
it. Now both money conditions are met: the finance officer requests the release and a second ministry user (the
administrator) sees both conditions met on the confirmation page and approves."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_agreement_journey import as_user

pytestmark = pytest.mark.browser

NUMBER = "SSIP-GA-2026-001"


def test_from_a_quarterly_report_to_a_tranche_released_on_it(browser, base_url, artifacts_dir):
    accounts, finance = as_user(browser, base_url, "finance@demo.example")
    finance.goto("/grants")
    with finance.expect_navigation():
        finance.locator("main a", has_text=NUMBER).first.click()
    agreement_url = finance.url
    second = finance.locator("#tranches tbody tr").nth(1)
    expect(second).to_contain_text("60")  # the demo's condition: 60 % of the advance spent, period 1 accepted
    expect(second.locator(".tag--accepted")).to_have_count(2)

    # The amendment ties the tranche to the second quarter's financial report as well.
    with finance.expect_navigation():
        finance.click("main a[href$='/amend']")
    expect(finance.locator("#tranches-1-min_spent_pct")).to_have_value("60.00")
    finance.fill("#tranches-1-requires_finance_period", "2")
    finance.fill("#reason", "Втората транша се исплаќа по прифаќањето на финансискиот извештај за второто тримесечје.")
    with finance.expect_navigation():
        finance.click("button[name=submit]")
    expect(finance.locator("h1")).to_contain_text(NUMBER)
    second = finance.locator("#tranches tbody tr").nth(1)
    expect(second.locator(".tag--missing")).to_have_count(1)  # period 2 is not accepted yet
    expect(second).to_contain_text("се чекаат финансиските извештаи")
    expect(second.locator("form[action$='/request']")).to_have_count(0)

    # The second quarter, submitted by the demo, is returned with comments.
    finance.goto("/financial-reports")
    with finance.expect_navigation():
        finance.locator("main a", has_text=f"{NUMBER}/F2").click()
    report_url = finance.url
    finance.fill("#comment", "Приложете го изводот од банка за тримесечјето и опишете ги трошоците.")
    with finance.expect_navigation():
        finance.click("[name=send_back]")
    expect(finance.locator(".tag--returned").first).to_be_visible()

    # The provider corrects it: a new version, its comments filled in, submitted with the confirmation.
    provider_context, provider = as_user(browser, base_url, "provider@demo.example")
    provider.goto(report_url)
    with provider.expect_navigation():
        provider.click("form[action$='/revise'] button")
    provider.fill("#narrative", "Трошоците се според работниот план; изводот од банка е приложен.")
    provider.check("#confirm")
    with provider.expect_navigation():
        provider.click("#submit_report")
    expect(provider.locator(".tag--submitted").first).to_be_visible()
    provider_context.close()

    # Still not met before the acceptance.
    finance.goto(agreement_url)
    expect(finance.locator("#tranches tbody tr").nth(1).locator(".tag--missing")).to_have_count(1)

    # The finance officer accepts it; both money conditions are now met and the release can be requested.
    finance.goto(report_url)
    with finance.expect_navigation():
        finance.click("[name=accept]")
    expect(finance.locator(".tag--accepted").first).to_be_visible()
    finance.goto(agreement_url)
    second = finance.locator("#tranches tbody tr").nth(1)
    expect(second.locator(".tag--accepted")).to_have_count(2)
    expect(second.locator(".tag--missing")).to_have_count(0)
    with finance.expect_navigation():
        second.locator("form[action$='/request'] button").click()
    expect(finance.locator("#tranches tbody tr").nth(1).locator(".tag--requested")).to_have_count(1)

    # Four eyes: the administrator checks the conditions on the confirmation page, then approves.
    admin_context, admin = as_user(browser, base_url, "admin@demo.example")
    admin.goto(agreement_url)
    with admin.expect_navigation():
        admin.locator("#tranches tbody tr").nth(1).locator("form[action$='/approve'] button").click()
    conditions = admin.locator("ul.conditions")
    expect(conditions.locator(".tag--accepted")).to_have_count(2)
    expect(conditions).to_contain_text("период 2")
    admin.screenshot(path=str(artifacts_dir / "tranche-money-conditions.png"), full_page=True)
    with admin.expect_navigation():
        admin.click("main form:has(input[name=confirmed]) button[type=submit]")
    expect(admin.locator("#tranches tbody tr").nth(1).locator(".tag--approved")).to_have_count(1)
    admin_context.close()
    accounts.close()
