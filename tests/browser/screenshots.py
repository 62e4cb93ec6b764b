"""The README's screenshots: each demo role's home page at 390 px (a phone) and 1366 px (a laptop), in
English, on the demo data. `make screenshots` runs this file (it is not part of the test suite: its
name does not start with test_) and writes docs/screenshots/<role>-<width>.png.

The PNGs are of the first screen only (not the whole page) and kept to a small palette-free size by
Chromium's own encoder; run it again after a visible change and commit the files that changed.
"""

from __future__ import annotations

import pytest

from config import BASE_DIR
from tests.browser.test_accessibility import sign_in, switch_language

OUT = BASE_DIR / "docs" / "screenshots"
ROLES = [
    ("public", None),
    ("admin", "admin@demo.example"),
    ("reviewer", "reviewer@demo.example"),
    ("finance", "finance@demo.example"),
    ("municipality", "kumanovo@demo.example"),
    ("provider", "provider@demo.example"),
    ("monitor", "monitor@demo.example"),
]
SIZES = [(390, 844), (1366, 768)]


@pytest.mark.parametrize(("role", "email"), ROLES, ids=[r[0] for r in ROLES])
def test_screenshot_home_page(browser, base_url, role, email):
    OUT.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=base_url, viewport={"width": SIZES[0][0], "height": SIZES[0][1]})
    page = context.new_page()
    original = None
    try:
        if email:
            sign_in(page, email)
            original = page.locator("html").get_attribute("lang")
        else:
            page.goto("/")
        if page.locator("html").get_attribute("lang") != "en":
            switch_language(page, "en")
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.goto("/")
            page.screenshot(path=str(OUT / f"{role}-{width}.png"), animations="disabled", caret="hide")
    finally:
        if original and original != "en":
            switch_language(page, original)
        context.close()
