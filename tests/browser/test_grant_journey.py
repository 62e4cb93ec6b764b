"""A provider's draft becomes an award: the provider applies, the municipality endorses, the ministry
screens and assigns two reviewers, each declares no conflict and scores blind, and an administrator
who did not score records the award from the ranking once the call has closed.

Everything goes through the UI in Chromium except one step: the call's deadline is moved into the past
directly in the database (and restored afterwards), because decisions are only taken after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests import files
from tests.browser.test_journeys import sign_in, switch_language

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000
CALL_TITLE = "Повик за даватели на услуги"  # the open grant call of the demo data
SUMMARY = "Дваесет негувателки за 90 корисници во градот и во 12 села."
# 10 caregivers × 620.00 EUR × 24 months = 148,800.00 EUR; the call requires at least 10 % co-financing.
TOO_LITTLE, ENOUGH = "10000.00", "20000.00"  # 6.72 % and 13.44 %
REQUESTED = "128.800,00"  # 148,800.00 − 20,000.00, in Macedonian notation
AWARD = "120.000,00"
# Four criteria, maximum 25/30/25/20, weight 1: totals 85 and 82 differ by 3, under the 20 % threshold (20 points).
FIRST_SCORES, SECOND_SCORES = [22, 27, 20, 16], [21, 25, 20, 16]
FIRST_NOTE, SECOND_NOTE = "Прва оценка: потребата е добро докажана.", "Втора оценка: реален буџет и план."
FINAL_SCORE = "83,5"  # (85 + 82) / 2
FIRST_REVIEWER = "Александар Стојанов"  # reviewer@demo.example


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.fixture
def open_as(browser, base_url) -> Iterator:
    """`open_as(email)`: a page in a fresh browser context, signed in, in Macedonian. All closed at the end."""
    contexts = []

    def _open(email: str) -> Page:
        context = browser.new_context(base_url=base_url, locale="mk-MK")
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        pg = context.new_page()
        sign_in(pg, email)
        ensure_macedonian(pg)
        return pg

    yield _open
    for context in contexts:
        context.close()


def ensure_macedonian(pg: Page) -> None:
    """The assertions on numbers use Macedonian notation. The account's stored language is Macedonian in the
    demo data, but another test may have switched it: switch back (to the seeded value) if so."""
    expect(pg.locator(".user-box")).to_be_visible()
    if pg.locator("html").get_attribute("lang") != "mk":
        switch_language(pg, "mk")


@contextmanager
def call_closed(live_app, call_id: int) -> Iterator[None]:
    """Time passes: the call's deadline moves an hour into the past, and is restored whatever happens."""
    from portal import clock
    from portal.db import db
    from portal.models import Call

    with live_app.app_context():
        call = db.get(Call, call_id)
        original = call.closes_at
        assert original > clock.now(), "the demo grant call should still be open"
        call.closes_at = clock.now() - timedelta(hours=1)
        db.commit()
        db.close()
    try:
        yield
    finally:
        with live_app.app_context():
            call = db.get(Call, call_id)
            call.closes_at = original
            db.commit()
            db.close()


def submit_scores(pg: Page, values: list[int], note: str) -> None:
    """Score every criterion with a justification; the first try without the confirmation is refused."""
    scores = pg.locator("main form input[id^='score-']")
    expect(scores).to_have_count(len(values))
    criteria = [scores.nth(i).get_attribute("id").split("-", 1)[1] for i in range(len(values))]
    for criterion, value in zip(criteria, values, strict=True):
        pg.fill(f"#score-{criterion}", str(value))
        pg.fill(f"#justification-{criterion}", note)
    with pg.expect_navigation():
        pg.click("main form button.button[type=submit]")
    expect(pg.locator(".error-summary a[href='#confirm']")).to_be_visible()
    expect(pg.locator(f"#score-{criteria[0]}")).to_have_value(str(values[0]))  # what was typed stays
    expect(pg.locator(f"#justification-{criteria[-1]}")).to_have_value(note)
    pg.check("#confirm")
    with pg.expect_navigation():
        pg.click("main form button.button[type=submit]")
    expect(pg).to_have_url(re.compile(r"/applications/\d+#reviews$"))


def declare_no_conflict(pg: Page) -> None:
    expect(pg.locator("main form input[id^='score-']")).to_have_count(0)  # no scoring form before the declaration
    expect(pg.locator("#d-conflict-0")).to_have_attribute("value", "none")
    pg.check("#d-conflict-0")
    with pg.expect_navigation():
        pg.click("button[name=d-submit]")
    expect(pg.locator(".notice--success")).to_be_visible()


def test_from_draft_to_award(page: Page, base_url, live_app, open_as, screenshot, artifacts_dir):
    # 1. The provider opens the call from the public list, applies for Bitola and fills the application.
    sign_in(page, "provider@demo.example")
    ensure_macedonian(page)
    page.goto("/calls/")
    with page.expect_navigation():
        page.locator(".call-list a", has_text=CALL_TITLE).first.click()
    with page.expect_navigation():
        page.click("main a[href$='/apply']")
    call_id = int(re.search(r"/calls/(\d+)/apply$", page.url).group(1))
    page.select_option("#municipality", label="Битола")
    with page.expect_navigation():
        page.click("main form button.button")
    expect(page).to_have_url(re.compile(r"/applications/\d+$"))
    application_url = page.url.replace(base_url, "")
    application_id = int(application_url.rsplit("/", 1)[1])
    expect(page.locator(".tag--draft")).to_be_visible()

    page.fill("#title", "Помош и нега во домот за стари лица во Битола")
    page.fill("#summary", SUMMARY)
    page.check("#service_type_ids-0")
    page.fill("#beneficiaries_per_month", "90")
    page.fill("#start_month", "2027-03")
    page.fill("#duration_months", "24")
    page.fill("#positions-0-title", "Негувателка")
    page.fill("#positions-0-count", "10")
    page.fill("#certified_caregivers", "8")
    page.fill("#hires-0-count", "3")
    page.select_option("#lines-0-category", "staff")
    page.fill("#lines-0-description", "Плати на негувателките")
    page.fill("#lines-0-quantity", "10")
    page.fill("#lines-0-unit_cost_eur", "620.00")
    page.fill("#lines-0-months", "24")
    page.fill("#cofinancing_eur", TOO_LITTLE)

    # Submitting with too little co-financing is refused with a specific message; everything typed stays.
    with page.expect_navigation() as refused:
        page.click("button[name=submit]")
    assert refused.value.status == 422
    expect(page.locator(".error-summary a[href='#cofinancing_eur']")).to_be_visible()
    expect(page.locator("#cofinancing_eur-error")).to_contain_text("6,72")  # the share computed by the server
    expect(page.locator("#cofinancing_eur-error")).to_contain_text("10,00")  # the call's minimum
    expect(page.locator("#cofinancing_eur")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".tag--draft")).to_be_visible()
    expect(page.locator("#summary")).to_have_value(SUMMARY)
    expect(page.locator("#service_type_ids-0")).to_be_checked()
    expect(page.locator("#start_month")).to_have_value("2027-03")
    expect(page.locator("#hires-0-count")).to_have_value("3")
    expect(page.locator("#lines-0-category")).to_have_value("staff")
    expect(page.locator("#lines-0-unit_cost_eur")).to_have_value("620.00")
    expect(page.locator("#cofinancing_eur")).to_have_value(TOO_LITTLE)

    # Fixed and saved (the refused submission already saved the draft, planned hires included: saving them
    # again must update them, not collide with them): the server recomputes the totals.
    page.fill("#cofinancing_eur", ENOUGH)
    with page.expect_navigation():
        page.click("button[name=save]")
    expect(page.locator(".error-summary")).to_have_count(0)
    expect(page.locator("#hires-0-count")).to_have_value("3")
    expect(page.locator("#lines .summary")).to_contain_text("148.800,00")
    expect(page.locator("#lines .summary strong")).to_contain_text(REQUESTED)
    expect(page.locator("#lines .summary")).to_contain_text("13,44")

    # The work plan, then the submission and its receipt.
    page.select_option("#documents #purpose", "work_plan")
    page.set_input_files("#documents #file", files={"name": "Работен план.pdf", "mimeType": "application/pdf",
                                                    "buffer": files.PDF})
    with page.expect_navigation():
        page.click("#documents form[novalidate] button[type=submit]")
    expect(page.locator("#documents tbody tr")).to_have_count(1)
    expect(page.locator("#cofinancing_eur")).to_have_value(ENOUGH)
    with page.expect_navigation():
        page.click("button[name=submit]")
    expect(page).to_have_url(re.compile(rf"/applications/{application_id}/receipt/1$"))
    expect(page.locator(".notice--success h1")).to_be_visible()
    reference = page.locator(".summary dd strong").first.inner_text().strip()
    assert re.fullmatch(r"GRANT-\d{4}-\d{2}-A\d{3}", reference), reference
    receipt = [digits(text) for text in page.locator(".summary dd").all_inner_texts()]
    assert digits(REQUESTED) in receipt, receipt  # the requested amount as the server computed it
    screenshot("grant-receipt")

    # 2. The municipality finds the application in its list and endorses it.
    officer = open_as("bitola@demo.example")
    with officer.expect_navigation():
        officer.click(".nav-links a[href='/applications']")
    row = officer.locator("main tbody tr", has_text=reference)
    expect(row.locator(".tag--pending")).to_be_visible()
    with officer.expect_navigation():
        row.locator("a").first.click()
    with officer.expect_navigation():
        officer.click("main a[href$='/endorse']")
    expect(officer.locator("#decision-0")).to_have_attribute("value", "endorse")
    officer.check("#decision-0")
    officer.fill("#reason", "Услугата одговара на нашата проценка на потребите.")
    with officer.expect_navigation():
        officer.click("main form button.button")
    expect(officer).to_have_url(f"{base_url}{application_url}")
    expect(officer.locator(".tag--endorsed")).to_be_visible()
    expect(officer.locator("main a[href$='/endorse']")).to_have_count(0)

    # 3. The administrator screens the application (every item yes) and assigns the two reviewers.
    admin = open_as("admin@demo.example")
    admin.goto(f"/review/calls/{call_id}/applications")
    with admin.expect_navigation():
        admin.locator("main tbody tr", has_text=reference).locator(f"a[href='{application_url}']").click()
    with admin.expect_navigation():
        admin.click("main a[href$='/eligibility']")
    answers = admin.locator("main form input[type=radio][value=yes]")
    expect(answers.first).to_be_visible()
    for radio in answers.all():
        radio.check()
    with admin.expect_navigation():
        admin.click("main form button.button")
    expect(admin.locator(".tag--eligible")).to_be_visible()
    with admin.expect_navigation():
        admin.click("main a[href$='/reviewers']")
    for email in ("reviewer@demo.example", "reviewer2@demo.example"):
        value = admin.locator("#reviewer option", has_text=f"({email})").get_attribute("value")
        admin.select_option("#reviewer", value)
        with admin.expect_navigation():
            admin.click("main form button.button")
        expect(admin.locator(".notice--success")).to_be_visible()
    expect(admin.locator("main table tbody tr")).to_have_count(2)
    expect(admin.locator("main .notice--warning")).to_have_count(0)  # no more reviewers needed

    # 4. Each reviewer declares no conflict and scores blind; the scores become visible once submitted.
    reviewer = open_as("reviewer@demo.example")
    reviewer.goto(application_url)
    expect(reviewer.locator("#reviews")).to_be_visible()
    expect(reviewer.locator("#reviews table")).to_have_count(0)
    with reviewer.expect_navigation():
        reviewer.click("main a[href$='/review']")
    declare_no_conflict(reviewer)
    submit_scores(reviewer, FIRST_SCORES, FIRST_NOTE)
    expect(reviewer.locator("#reviews table")).to_contain_text(FIRST_NOTE)
    expect(reviewer.locator("#reviews table tbody tr", has_text=FIRST_REVIEWER)).to_contain_text("85")

    reviewer2 = open_as("reviewer2@demo.example")
    reviewer2.goto(application_url)
    expect(reviewer2.locator("#reviews")).to_be_visible()
    expect(reviewer2.locator("#reviews table")).to_have_count(0)  # blind: the first reviewer's scores are hidden
    expect(reviewer2.locator("main")).not_to_contain_text(FIRST_NOTE)
    with reviewer2.expect_navigation():
        reviewer2.click("main a[href$='/review']")
    declare_no_conflict(reviewer2)
    expect(reviewer2.locator("main")).not_to_contain_text(FIRST_NOTE)
    submit_scores(reviewer2, SECOND_SCORES, SECOND_NOTE)
    reviews = reviewer2.locator("#reviews")
    expect(reviews.locator("table tbody tr")).to_have_count(2)
    expect(reviews.locator("table tbody tr", has_text=FIRST_REVIEWER)).to_contain_text(FIRST_NOTE)
    expect(reviews.locator("table tbody tr", has_text=FIRST_REVIEWER)).to_contain_text("85")
    expect(reviews.locator("table tbody tr", has_text=SECOND_NOTE)).to_contain_text("82")
    expect(reviews.locator("p strong").first).to_have_text(FINAL_SCORE)
    expect(reviews.locator(".notice--warning")).to_have_count(0)  # no discrepancy to moderate
    reviewer2.screenshot(path=str(artifacts_dir / "grant-reviews.png"), full_page=True)

    # Before the deadline no decision can be recorded, even by someone who did not score.
    admin.goto(application_url)
    with admin.expect_navigation():
        admin.click("main a[href$='/decide']")
    admin.check("#outcome-0")
    admin.fill("#reasons", "Прерано.")
    admin.check("#confirm")
    with admin.expect_navigation() as too_early:
        admin.click("main form button.button")
    assert too_early.value.status == 409

    # 5-6. Time passes: the call closes and the decisions are taken.
    with call_closed(live_app, call_id):
        # The reviewer who scored is not offered the decision, and the service refuses it anyway.
        reviewer.goto(application_url)
        expect(reviewer.locator("#reviews p strong").first).to_have_text(FINAL_SCORE)
        expect(reviewer.locator("main a[href$='/decide']")).to_have_count(0)
        reviewer.goto(f"{application_url}/decide")
        reviewer.check("#outcome-0")
        reviewer.fill("#reasons", "Добра апликација.")
        reviewer.check("#confirm")
        with reviewer.expect_navigation() as refused:
            reviewer.click("main form button.button")
        assert refused.value.status == 403
        expect(reviewer.locator("main form #outcome-0")).to_have_count(0)

        # The administrator (who did not score) awards from the ranking.
        admin.goto(f"/review/calls/{call_id}/ranking")
        row = admin.locator("main tbody tr", has_text=reference)
        expect(row.locator("td").nth(2)).to_contain_text(f"{FINAL_SCORE} / 100")
        expect(row.locator(".tag--submitted")).to_be_visible()
        expect(row).to_contain_text(REQUESTED)
        with admin.expect_navigation():
            row.locator(f"a[href='{application_url}']").click()
        with admin.expect_navigation():
            admin.click("main a[href$='/decide']")
        expect(admin.locator("main .lead")).to_contain_text(FINAL_SCORE)
        expect(admin.locator("#amount")).to_have_value("128800.00")  # the requested amount, to lower if needed
        admin.check("#outcome-0")
        admin.fill("#amount", "120000.00")
        admin.fill("#conditions", "Услугата почнува најдоцна 5 месеци по потпишувањето.")
        admin.fill("#reasons", "Единствена апликација за Битола, над прагот на квалитет.")
        with admin.expect_navigation():
            admin.click("main form button.button")
        expect(admin.locator(".error-summary a[href='#confirm']")).to_be_visible()  # the confirmation is required
        expect(admin.locator("#amount")).to_have_value("120000.00")
        admin.check("#confirm")
        with admin.expect_navigation():
            admin.click("main form button.button")
        expect(admin).to_have_url(f"{base_url}/review/calls/{call_id}/ranking")
        row = admin.locator("main tbody tr", has_text=reference)
        expect(row.locator(".tag--awarded")).to_be_visible()
        expect(row).to_contain_text(AWARD)
        admin.screenshot(path=str(artifacts_dir / "grant-ranking.png"), full_page=True)

    # The provider sees the award on the application.
    page.goto(application_url)
    expect(page.locator(".tag--awarded")).to_be_visible()
    expect(page.locator(".notice--success", has_text=AWARD)).to_be_visible()
