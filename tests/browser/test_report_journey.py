"""A monthly report from the provider's draft to its acceptance, in Chromium: the provider opens this month's
draft, submits figures that do not add up (refused, with the field named and the figures kept), corrects
them, submits, and uploads a timesheet; a ministry reviewer finds the report in the queue and accepts it;
the provider sees it accepted and locked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from portal import clock
from tests import files
from tests.browser.test_agreement_journey import as_user

pytestmark = pytest.mark.browser


def test_from_a_providers_report_to_its_acceptance(browser, base_url, artifacts_dir, tmp_path):
    month = clock.utc_to_skopje(datetime.now(UTC)).strftime("%m/%Y")
    provider_context, provider = as_user(browser, base_url, "provider@demo.example")
    with provider.expect_navigation():
        provider.click("nav a[href='/reports']")
    grant = provider.locator("section.report-grant", has_text="SSIP-GA-2026-001")
    row = grant.locator("tbody tr", has_text=month)
    with provider.expect_navigation():
        row.locator("a[href$='/edit']").click()
    expect(provider.locator("h1")).to_contain_text(month)

    total = provider.locator("input[id^='service-'][id$='-total']")
    women = provider.locator("input[id^='service-'][id$='-female']")
    men = provider.locator("input[id^='service-'][id$='-male']")
    served = int(total.input_value())
    women.fill(str(served))  # women + men no longer add up to those served
    provider.check("#confirm")
    with provider.expect_navigation():
        provider.click("#submit_report")
    summary = provider.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary.locator("a[href^='#service-'][href$='-female']")).to_be_visible()
    expect(summary).to_contain_text(str(served))
    expect(women).to_have_value(str(served))  # what was typed is kept
    provider.screenshot(path=str(artifacts_dir / "report-refused.png"), full_page=True)

    women.fill(str(served - int(men.input_value())))
    provider.check("#confirm")
    with provider.expect_navigation():
        provider.click("#submit_report")
    expect(provider.locator(".notice--success")).to_be_visible()
    expect(provider.locator(".summary .tag--submitted")).to_be_visible()
    report_url = provider.url

    timesheet = tmp_path / "листи-за-присуство.pdf"
    timesheet.write_bytes(files.PDF)
    provider.select_option("#purpose", "timesheet")
    provider.set_input_files("#file", str(timesheet))
    with provider.expect_navigation():
        provider.click("#documents form[enctype] button[type=submit] >> nth=-1")
    expect(provider.locator("#documents")).to_contain_text("листи-за-присуство.pdf")

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
