"""A monthly report from the provider's correction to its acceptance, in Chromium: the provider opens this
month's draft and cannot submit it before the month ends (the rule is named, with the date it opens); the
provider starts a correction of an accepted month, submits figures that do not add up (refused, with the field
named and the figures kept), corrects them, submits (its timesheet is already there, as the call requires);
a ministry reviewer finds the report in the queue and accepts it; the provider sees it accepted and locked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from portal import clock
from tests.browser.test_agreement_journey import as_user

pytestmark = pytest.mark.browser


def _months_back(n: int) -> datetime:
    today = clock.utc_to_skopje(datetime.now(UTC)).date().replace(day=1)
    for _ in range(n):
        today = today.replace(year=today.year - (today.month == 1), month=(today.month - 2) % 12 + 1)
    return today


def test_from_a_providers_report_to_its_acceptance(browser, base_url, artifacts_dir, tmp_path):
    this_month = _months_back(0)
    month = _months_back(2).strftime("%m/%Y")
    provider_context, provider = as_user(browser, base_url, "provider@demo.example")
    with provider.expect_navigation():
        provider.click("nav a[href='/reports']")
    grant = provider.locator("section.report-grant", has_text="SSIP-GA-2026-001")
    with provider.expect_navigation():
        grant.locator("tbody tr", has_text=this_month.strftime("%m/%Y")).locator("a[href$='/edit']").click()
    expect(provider.locator("#before-submitting")).to_be_visible()
    provider.check("#confirm")
    with provider.expect_navigation():
        provider.click("#submit_report")
    summary = provider.locator(".error-summary")
    expect(summary).to_be_visible()
    opens = this_month.replace(year=this_month.year + (this_month.month == 12), month=this_month.month % 12 + 1)
    expect(summary).to_contain_text(opens.strftime("%d.%m.%Y"))  # not before the month has ended

    with provider.expect_navigation():
        provider.click("nav a[href='/reports']")
    with provider.expect_navigation():
        grant.locator("tbody tr", has_text=month).locator("a[href^='/reports/']").click()
    provider.fill("#reason", "Часовите на услугата се пресметани погрешно.")
    with provider.expect_navigation():
        provider.click("#correction button[type=submit]")
    expect(provider.locator("h1")).to_contain_text(month)

    # The grant's first service (home help); the demo grant also offers personal assistance.
    total = provider.locator("input[id^='service-'][id$='-total']").first
    women = provider.locator("input[id^='service-'][id$='-female']:not([id$='-new_female'])").first
    men = provider.locator("input[id^='service-'][id$='-male']:not([id$='-new_male'])").first
    served = int(total.input_value())
    women.fill(str(served))  # women + men no longer add up to those served
    provider.check("#confirm")
    with provider.expect_navigation():
        provider.click("#submit_report")
    summary = provider.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary.locator("a[href^='#service-'][href$='-female']:not([href$='-new_female'])")).to_be_visible()
    expect(summary).to_contain_text(str(served))
    expect(women).to_have_value(str(served))  # what was typed is kept
    provider.screenshot(path=str(artifacts_dir / "report-refused.png"), full_page=True)

    women.fill(str(served - int(men.input_value())))
    provider.check("#confirm")
    with provider.expect_navigation():
        provider.click("#submit_report")
    expect(provider.locator(".notice--success")).to_be_visible()
    expect(provider.locator(".summary .tag--submitted")).to_be_visible()
    expect(provider.locator("#documents")).to_contain_text(".pdf")  # the timesheet the call requires
    report_url = provider.url

    ministry_context, reviewer = as_user(browser, base_url, "reviewer@demo.example")
    with reviewer.expect_navigation():
        reviewer.click("nav a[href='/reports']")
    with reviewer.expect_navigation():
        reviewer.locator("tbody a", has_text=f"SSIP-GA-2026-001 · {month}").click()
    expect(reviewer.locator("#review")).to_be_visible()
    with reviewer.expect_navigation():
        reviewer.click("#accept")  # not confirmed yet
    expect(reviewer.locator(".error-summary")).to_be_visible()
    reviewer.check("#confirm")
    reviewer.fill("#comment", "Бројките се совпаѓаат со листите за присуство.")
    with reviewer.expect_navigation():
        reviewer.click("#accept")
    expect(reviewer.locator(".tag--accepted").first).to_be_visible()
    expect(reviewer.locator("#review")).to_have_count(0)
    reviewer.screenshot(path=str(artifacts_dir / "report-accepted.png"), full_page=True)

    provider.goto(report_url)
    expect(provider.locator(".tag--accepted").first).to_be_visible()
    expect(provider.locator("#correction")).to_be_visible()  # locked: a change is a correction, a new version
    expect(provider.locator("a[href$='/edit']")).to_have_count(0)
    provider_context.close()
    ministry_context.close()
