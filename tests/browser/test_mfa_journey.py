"""Multi-factor sign-in in a real browser: a finance officer of the demo enrols in TOTP (the test reads
the key from the page, as a person would type it into an app), signs out, and signs in again with a code
the test computes with pyotp; then an administrator resets the second factor through the portal.

The account used, finance2@demo.example, is signed in by no other browser test; the reset at the end
(and a database clean-up if the journey fails half-way) leaves it as the demo seeded it."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from tests.browser.test_journeys import sign_in

pytestmark = pytest.mark.browser

EMAIL = "finance2@demo.example"
ADMIN = "admin@demo.example"
CODE_RE = re.compile(r"^[a-z2-7]{4}(-[a-z2-7]{4}){3}$")


def _user_id(live_app) -> int:
    from portal.db import db
    from portal.models import User

    with live_app.app_context():
        user_id = db.scalar(sa.select(User.id).where(User.email == EMAIL))
        db.close()
    return user_id


def _clear_second_factor(live_app, user_id: int) -> None:
    """Only if the journey failed before the administrator's reset: leave the demo account as seeded."""
    from portal.db import db
    from portal.models import MfaRecoveryCode, User, UserMfa

    with live_app.app_context():
        db.execute(sa.delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user_id))
        db.execute(sa.delete(UserMfa).where(UserMfa.user_id == user_id))
        db.execute(sa.update(User).where(User.id == user_id).values(mfa_enrolled_at=None))
        db.commit()
        db.close()


def _submit(page: Page, form_selector: str) -> None:
    with page.expect_navigation():
        page.click(f"{form_selector} button[type=submit]")


def test_finance_officer_enrols_in_totp_and_signs_in_with_a_code(browser, base_url, live_app, artifacts_dir):
    user_id = _user_id(live_app)

    def screenshot(name: str) -> None:  # evidence, never an assertion (this test drives its own contexts)
        page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=True)

    context = browser.new_context(base_url=base_url, locale="mk-MK")
    admin_context = browser.new_context(base_url=base_url, locale="mk-MK")
    reset_done = False
    try:
        page = context.new_page()
        sign_in(page, EMAIL)
        expect(page).to_have_url(f"{base_url}/")

        # Enrolment, from the account page.
        page.goto("/account")
        with page.expect_navigation():
            page.click("main a[href='/account/two-factor']")
        with page.expect_navigation():
            page.click("main a[href='/account/two-factor/setup']")
        qr = page.locator("figure.qr svg")
        expect(qr).to_be_visible()
        box = qr.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100
        secret = page.locator("#mfa-secret").inner_text().replace(" ", "")
        assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
        totp = pyotp.TOTP(secret)
        screenshot("mfa-enrol")
        page.fill("#code", totp.now())
        _submit(page, "main form[action='/account/two-factor/setup']")
        codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
        assert len(codes) == 10 and all(CODE_RE.match(c) for c in codes), codes
        screenshot("mfa-recovery-codes")
        with page.expect_navigation():
            page.click("main a.button")
        expect(page.locator(".user-box")).to_be_visible()

        # Sign out, then the password alone no longer signs in.
        with page.expect_navigation():
            page.click(".user-box form button[type=submit]")
        sign_in(page, EMAIL)
        expect(page).to_have_url(f"{base_url}/login/code")
        expect(page.locator(".user-box")).to_have_count(0)
        page.goto("/account")
        expect(page).to_have_url(re.compile(r"/login"))
        page.goto("/login/code")

        # A wrong code is refused with the field named; the code computed by the test signs in.
        valid = {totp.at(time.time() + 30 * k) for k in (-1, 0, 1, 2)}
        page.fill("#code", next(c for c in ("000000", "111111", "222222") if c not in valid))
        _submit(page, "main form[action='/login/code']")
        expect(page.locator(".error-summary")).to_be_visible()
        expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
        screenshot("mfa-wrong-code")
        page.fill("#code", totp.at(time.time() + 30))  # the next step: the enrolment code is spent
        _submit(page, "main form[action='/login/code']")
        expect(page).to_have_url(f"{base_url}/")
        expect(page.locator(".user-box")).to_contain_text("Никола Андоновски")
        page.goto("/account")
        expect(page.locator("main")).to_contain_text("@demo.example")

        # An administrator resets the second factor: the officer's session ends at once.
        admin = admin_context.new_page()
        sign_in(admin, ADMIN)
        admin.goto(f"/admin/users/{user_id}")
        with admin.expect_navigation():
            admin.click(f"main a[href='/admin/users/{user_id}/two-factor-reset']")
        admin.fill("#reason", "Browser test: phone replaced, identity confirmed by a call back.")
        _submit(admin, "main form")
        expect(admin).to_have_url(f"{base_url}/admin/users/{user_id}")
        expect(admin.locator(".notice").first).to_be_visible()
        reset_done = True
        page.goto("/account")
        expect(page).to_have_url(re.compile(r"/login"))
    finally:
        context.close()
        admin_context.close()
        if not reset_done:
            _clear_second_factor(live_app, user_id)
