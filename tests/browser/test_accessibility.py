"""Every page type each demo role can reach, in Macedonian, Albanian and English: axe-core finds no
WCAG 2.1 A/AA violation, and no page is wider than a 390 px phone screen (nor at 320 px or on a 1366 px laptop).

Nothing is listed by hand: starting from the role's home page the test follows every same-origin link
(GET only, so nothing changes state), and keeps the first URL of each *page type* (the path with its
numbers replaced by a placeholder). Downloads (CSV, XLSX, JSON, XML, documents) and anything that is
not an HTML page are skipped. A page type added tomorrow is covered as soon as a link leads to it.

One browser context per role: the pages are found once (in Macedonian, the default) and then checked
in each language, switched through the portal's own language form. The account's own language is
restored at the end, so the other browser tests see the demo accounts as seeded.
"""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urldefrag, urlsplit

import pytest

from portal.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")

ROLES = [
    ("anonymous", None),
    ("admin", "admin@demo.example"),
    ("reviewer", "reviewer@demo.example"),
    ("finance", "finance@demo.example"),
    ("municipality", "kumanovo@demo.example"),
    ("provider", "provider@demo.example"),
    ("monitor", "monitor@demo.example"),
]
LANGUAGES = ("mk", "sq", "en")
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
SMALLEST = {"width": 320, "height": 640}
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
# Not pages: files, machine-readable feeds, the API, and the sign-out (a POST form anyway).
SKIP_PATH = re.compile(
    r"\.(csv|xlsx|xls|json|xml|pdf|zip|docx?|odt|png|jpe?g|svg|ico|js|css)$"
    r"|^/(static|api)/|^/documents/\d+|^/logout|/download",
    re.IGNORECASE,
)
MAX_PAGE_TYPES = 120  # a guard against a crawl that never ends (e.g. a link that grows the URL)


def page_type(path: str) -> str:
    return re.sub(r"/\d+(?=/|$|\.)", "/<n>", path.rstrip("/") or "/")


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", DEMO_PASSWORD)
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert urlsplit(page.url).path == "/", f"{email} did not reach the home page after signing in: {page.url}"


def switch_language(page, code: str) -> None:
    """Submit the header's language form with the button for `code` (it may sit in a closed menu)."""
    with page.expect_navigation():
        page.evaluate(
            """code => {
                const button = document.querySelector(`form.lang-switch button[name=language][value="${code}"]`);
                button.form.requestSubmit(button);
            }""",
            code,
        )
    assert page.locator("html").get_attribute("lang") == code


def same_origin_links(page, origin: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    found = []
    for href in hrefs:
        href, _fragment = urldefrag(href)
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != origin or SKIP_PATH.search(parts.path):
            continue
        found.append(href)
    return found


def open_html(page, url: str):
    """Go to `url`; None when it is not an HTML page (a download, a redirect to one, an error)."""
    try:
        response = page.goto(url)
    except Exception as exc:  # noqa: BLE001 - Playwright raises a plain Error when a download starts
        if "Download is starting" in str(exc):
            return None
        raise
    if response is None:
        return None
    assert response.status < 500, f"{url}: HTTP {response.status} (request id {response.headers.get('x-request-id')})"
    if not response.ok:
        return None
    if "text/html" not in response.headers.get("content-type", ""):
        return None
    return response


def crawl(page, base_url: str, audit) -> dict[str, str]:
    """page type -> the first URL found for it, breadth first from the home page. A link that leads to a
    server error fails the test; one that is forbidden or gone (403, 404) is not a page to check."""
    kinds: dict[str, str] = {}
    queue = deque([f"{base_url}/"])
    seen_kinds = {page_type("/")}
    while queue and len(kinds) < MAX_PAGE_TYPES:
        url = queue.popleft()
        if open_html(page, url) is None:
            continue
        landed = urlsplit(page.url)
        if f"{landed.scheme}://{landed.netloc}" != base_url:
            continue
        kind = page_type(urlsplit(url).path)
        if kind not in kinds:
            kinds[kind] = url
            audit(url)  # checked while it is open: the first language needs no second visit
        for link in same_origin_links(page, base_url):
            kind = page_type(urlsplit(link).path)
            if kind not in seen_kinds:
                seen_kinds.add(kind)
                queue.append(link)
    return kinds


def check_page(page, axe, url: str, lang: str) -> list[str]:
    if open_html(page, url) is None:
        return [f"{lang} {url}: no longer an HTML page"]
    return check_open_page(page, axe, url, lang)


def check_open_page(page, axe, url: str, lang: str) -> list[str]:
    problems = []
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        wide = page.evaluate(
            """limit => [...document.querySelectorAll('main *')]
                .filter(e => e.getBoundingClientRect().right > limit + 1
                             && !e.closest('[role=region][tabindex]'))
                .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))""",
            PHONE["width"],
        )
        problems.append(f"{lang} {url}: {width} px wide at {PHONE['width']} px (widest: {wide})")
    for size in (SMALLEST, LAPTOP):  # the layout holds from 320 px up (no sideways scrolling there either)
        page.set_viewport_size(size)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > size["width"]:
            problems.append(f"{lang} {url}: {width} px wide at {size['width']} px")
    page.set_viewport_size(PHONE)
    results = axe.run(page, options=AXE_OPTIONS)
    for violation in results.response["violations"]:
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"][:3]]
        problems.append(f"{lang} {url}: {violation['id']} on {len(violation['nodes'])} element(s), e.g. {targets}")
    return problems


@pytest.mark.parametrize(("role", "email"), ROLES, ids=[r[0] for r in ROLES])
def test_every_reachable_page_is_accessible_and_fits_a_phone(browser, base_url, role, email):
    context = browser.new_context(locale="mk-MK", base_url=base_url, viewport=PHONE)
    context.set_default_timeout(30_000)
    context.set_default_navigation_timeout(30_000)
    page = context.new_page()
    axe = axe_playwright.Axe()
    original_language = None
    try:
        if email:
            sign_in(page, email)
            original_language = page.locator("html").get_attribute("lang")
        else:
            page.goto("/")
        if page.locator("html").get_attribute("lang") != "mk":
            switch_language(page, "mk")
        problems: list[str] = []
        kinds = crawl(page, base_url, lambda url: problems.extend(check_open_page(page, axe, url, "mk")))
        assert "/" in kinds and len(kinds) >= 3, f"the crawl from {role}'s home page found too little: {kinds}"
        for lang in LANGUAGES[1:]:
            page.goto("/")
            switch_language(page, lang)
            for url in kinds.values():
                problems += check_page(page, axe, url, lang)
        report = "\n".join(problems)
        assert not problems, f"{role}: {len(problems)} problem(s) on {len(kinds)} page types:\n{report}"
    finally:
        if original_language and page.locator("html").get_attribute("lang") != original_language:
            page.goto("/")
            switch_language(page, original_language)
        context.close()


def test_the_menu_opens_without_javascript_on_a_phone(browser, base_url):
    context = browser.new_context(base_url=base_url, viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, "reviewer@demo.example")
        menu = page.locator("details.menu")
        links = menu.locator("nav .nav-links a")
        assert not links.first.is_visible(), "on a phone the navigation starts folded"
        header = page.locator("header.site-header").bounding_box()
        assert header["height"] <= 160, f"the header takes {header['height']} px of an 844 px screen"
        menu.locator("summary").click()
        assert links.first.is_visible() and links.count() >= 5
        assert page.locator(".user-box button[type=submit]").is_visible()  # sign out is in the menu
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # On a wide screen the navigation is simply there, without the button and without JavaScript.
        page.set_viewport_size(LAPTOP)
        page.goto("/")
        assert links.first.is_visible() and not menu.locator("summary").is_visible()
    finally:
        context.close()


def test_a_wide_table_scrolls_in_its_own_region_with_its_first_column_in_view(browser, base_url):
    context = browser.new_context(base_url=base_url, viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, "monitor@demo.example")
        page.goto("/reports/completeness")
        region = page.locator(".table-region", has=page.locator("table.completeness"))
        assert region.get_attribute("role") == "region" and region.get_attribute("aria-label")
        assert region.evaluate("r => r.scrollWidth > r.clientWidth"), "the table is wider than a phone"
        first = region.locator("tbody tr th").first
        before = first.bounding_box()["x"]
        region.focus()  # reachable with the keyboard: the arrow keys scroll it
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        region.evaluate("r => { r.scrollLeft = r.scrollWidth; }")
        assert region.evaluate("r => r.scrollLeft") > 0
        assert abs(first.bounding_box()["x"] - before) < 1, "the first column scrolled away"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()


CHART_PAGES = [("monitor@demo.example", "/envelope"), ("monitor@demo.example", "/indicators"),
               ("monitor@demo.example", "/reports/completeness"), ("reviewer@demo.example", "/review/calls/1/summary"),
               ("monitor@demo.example", "/financial-reports/overview")]


@pytest.mark.parametrize(("email", "path"), CHART_PAGES, ids=[p for _e, p in CHART_PAGES])
def test_charts_are_readable_on_a_phone(browser, base_url, email, path):
    context = browser.new_context(base_url=base_url, viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, email)
        page.goto(path)
        charts = page.locator("figure.chart--svg svg")
        assert charts.count() >= 1, f"{path}: no chart"
        assert page.locator("main table").count() >= charts.count(), f"{path}: a chart without its table"
        for svg in charts.all():
            report = svg.evaluate(
                """svg => {
                    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
                    const texts = [...svg.querySelectorAll('text')];
                    const px = texts.map(t => parseFloat(getComputedStyle(t).fontSize) * scale);
                    const box = e => e.getBoundingClientRect();
                    const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
                    const data = [...svg.querySelectorAll('polyline, rect.bar, rect:has(title)')].map(box);
                    const legend = [...svg.querySelectorAll('.chart-legend')].map(box);
                    return {
                        smallest: Math.min(...px),
                        axisTitles: svg.querySelectorAll('.chart-axis-title').length,
                        valueTicks: [...svg.querySelectorAll('.chart-tick')].filter(t => /\\d/.test(t.textContent)).length,
                        overlaps: legend.filter(l => data.some(d => hit(l, d))).length,
                        legend: legend.length,
                    };
                }"""
            )
            assert report["smallest"] >= 12, f"{path}: text of {report['smallest']:.1f} px"
            assert report["axisTitles"] >= 1, f"{path}: axes without titles"
            assert report["valueTicks"] >= 3, f"{path}: fewer than three ticks with values"
            assert report["legend"] >= 1 and report["overlaps"] == 0, f"{path}: the legend covers the data"
    finally:
        context.close()
