"""A provider's draft becomes an award: the provider applies, the municipality endorses, the ministry
screens and assigns two reviewers, each declares no conflict and scores blind, and an administrator
who did not score records the award from the ranking."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests import files
from tests.browser.test_journeys import sign_in

pytestmark = pytest.mark.browser


def as_user(browser, base_url, email):
    context = browser.new_context(base_url=base_url, locale="mk-MK")
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in(page, email)
    return context, page


def score(page: Page, values: list[int]) -> None:
    inputs = page.locator("input[id^='score-']")
    expect(inputs).to_have_count(len(values))
    for index, value in enumerate(values):
        field_id = inputs.nth(index).get_attribute("id")
        page.fill(f"#{field_id}", str(value))
        page.fill(f"#justification-{field_id.split('-', 1)[1]}", "Образложено според критериумот.")
    page.check("#confirm")
    with page.expect_navigation():
        page.click("main form button.button[type=submit]")


def test_from_draft_to_award(page: Page, base_url, browser, live_app, screenshot, artifacts_dir):
    # The provider starts from the open call and fills the application.
    sign_in(page, "provider@demo.example")
    page.goto("/applications")
    with page.expect_navigation():
        page.click("main a[href$='/apply']")
    call_id = int(re.search(r"/calls/(\d+)/apply", page.url).group(1))
    page.select_option("#municipality", label="Битола")
    with page.expect_navigation():
        page.click("main form button.button")
    application_url = page.url
    application_id = int(application_url.rstrip("/").rsplit("/", 1)[1])
    page.fill("#title", "Помош и нега во домот за стари лица во Битола")
    page.fill("#summary", "Дваесет негувателки за 90 корисници во градот и во 12 села.")
    page.check("#service_type_ids-0")
    page.fill("#beneficiaries_per_month", "90")
    page.fill("#start_month", "2027-03")
    page.fill("#duration_months", "24")
    page.fill("#positions-0-title", "Негувателка")
    page.fill("#positions-0-count", "10")
    page.fill("#certified_caregivers", "8")
    page.select_option("#lines-0-category", "staff")
    page.fill("#lines-0-description", "Плати на негувателките")
    page.fill("#lines-0-quantity", "10")
    page.fill("#lines-0-unit_cost_eur", "620.00")
    page.fill("#lines-0-months", "24")
    page.fill("#cofinancing_eur", "10000.00")
    with page.expect_navigation():
        page.click("button[name=save]")
    expect(page.locator(".notice--success, .flash--success, [role=status]").first).to_be_visible()

    # The work plan, then a submission with too little co-financing (6.72 % < 10 %): refused, nothing lost.
    page.select_option("#documents #purpose", "work_plan")
    page.set_input_files("#documents #file", files={"name": "Работен план.pdf", "mimeType": "application/pdf",
                                                    "buffer": files.PDF})
    with page.expect_navigation():
        page.click("#documents form[novalidate] button[type=submit]")
    expect(page.locator("#documents tbody tr")).to_have_count(1)
    with page.expect_navigation():
        page.click("button[name=submit]")
    expect(page.locator(".error-summary a[href='#cofinancing_eur']")).to_be_visible()
    expect(page.locator("#lines-0-unit_cost_eur")).to_have_value("620.00")
    expect(page.locator("#summary")).to_have_value("Дваесет негувателки за 90 корисници во градот и во 12 села.")
    page.fill("#cofinancing_eur", "20000.00")
    with page.expect_navigation():
        page.click("button[name=submit]")
    expect(page.locator(".notice--success h1")).to_be_visible()
    reference = page.locator(".summary dd strong").first.inner_text()
    assert re.fullmatch(r"GRANT-\d{4}-\d{2}-A\d{3}", reference), reference
    expect(page.locator(".summary")).to_contain_text("128800.00")  # 10 × 620 × 24 − 20,000, computed by the server
    screenshot("grant-receipt")

    # The municipality endorses.
    municipality, officer = as_user(browser, base_url, "bitola@demo.example")
    officer.goto("/applications")
    with officer.expect_navigation():
        officer.locator("tbody tr", has_text=reference).locator("a").first.click()
    with officer.expect_navigation():
        officer.click("main a[href$='/endorse']")
    officer.check("#decision-0")
    officer.fill("#reason", "Услугата одговара на нашата проценка на потребите.")
    with officer.expect_navigation():
        officer.click("main form button.button")
    expect(officer.locator(".tag--endorsed")).to_be_visible()
    municipality.close()

    # The administrator screens and assigns two reviewers.
    ministry, admin = as_user(browser, base_url, "admin@demo.example")
    admin.goto(f"/review/calls/{call_id}/applications")
    expect(admin.locator("tbody tr", has_text=reference)).to_be_visible()
    admin.goto(f"/applications/{application_id}/eligibility")
    for radio in admin.locator("input[type=radio][value=yes]").all():
        radio.check()
    with admin.expect_navigation():
        admin.click("main form button.button")
    expect(admin.locator(".tag--eligible")).to_be_visible()
    admin.goto(f"/applications/{application_id}/reviewers")
    for name in ("Александар Стојанов", "Ивана Коцевска"):
        option = admin.locator("#reviewer option", has_text=name).get_attribute("value")
        admin.select_option("#reviewer", option)
        with admin.expect_navigation():
            admin.click("main form button.button")
    expect(admin.locator("main table tbody tr")).to_have_count(2)

    # Each reviewer declares no conflict, sees nobody else's scores, and scores.
    first, reviewer = as_user(browser, base_url, "reviewer@demo.example")
    reviewer.goto(f"/applications/{application_id}/review")
    reviewer.check("#d-conflict-0")
    with reviewer.expect_navigation():
        reviewer.click("button[name=d-submit]")
    score(reviewer, [20, 25, 20, 15])  # 80
    expect(reviewer.locator("#reviews")).to_contain_text("80")
    second, reviewer2 = as_user(browser, base_url, "reviewer2@demo.example")
    reviewer2.goto(f"/applications/{application_id}")
    expect(reviewer2.locator("#reviews table")).to_have_count(0)  # blind until submitted
    expect(reviewer2.locator("#reviews")).not_to_contain_text("Александар Стојанов")
    reviewer2.goto(f"/applications/{application_id}/review")
    reviewer2.check("#d-conflict-0")
    with reviewer2.expect_navigation():
        reviewer2.click("button[name=d-submit]")
    score(reviewer2, [18, 24, 19, 16])  # 77
    expect(reviewer2.locator("#reviews table")).to_contain_text("Александар Стојанов")
    expect(reviewer2.locator("#reviews")).to_contain_text("78,5")
    second.close()

    # Time passes: the call closes (decisions are taken after the deadline).
    from portal.db import db
    from portal.models import Call

    with live_app.app_context():
        call = db.get(Call, call_id)
        original = call.closes_at
        call.closes_at = call.opens_at + timedelta(days=1)
        db.commit()
        db.close()
    try:
        # The reviewer who scored is not offered the decision.
        reviewer.goto(f"/applications/{application_id}")
        expect(reviewer.locator("a[href$='/decide']")).to_have_count(0)
        first.close()

        # The administrator (who did not score) awards from the ranking.
        admin.goto(f"/review/calls/{call_id}/ranking")
        row = admin.locator("tbody tr", has_text=reference)
        expect(row).to_contain_text("78,5")
        admin.goto(f"/applications/{application_id}/decide")
        admin.check("#outcome-0")
        admin.fill("#amount", "120000.00")
        admin.fill("#conditions", "Услугата почнува најдоцна 5 месеци по потпишувањето.")
        admin.fill("#reasons", "Единствена апликација за Битола, над прагот на квалитет.")
        with admin.expect_navigation():
            admin.click("main form button.button")
        expect(admin.locator(".error-summary a[href='#confirm']")).to_be_visible()  # confirmation first
        admin.check("#confirm")
        with admin.expect_navigation():
            admin.click("main form button.button")
        expect(admin.locator("tbody tr", has_text=reference).locator(".tag--awarded")).to_be_visible()
        admin.screenshot(path=str(artifacts_dir / "grant-ranking.png"), full_page=True)
    finally:
        with live_app.app_context():
            call = db.get(Call, call_id)
            call.closes_at = original
            db.commit()
            db.close()
        ministry.close()

    # The provider sees the award.
    page.goto(application_url)
    expect(page.locator(".notice--success", has_text="120.000,00")).to_be_visible()
