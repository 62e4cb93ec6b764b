"""The markup that assistive technology reads, checked without a browser (the axe-core crawl in
tests/browser/test_accessibility.py checks the rendered pages in Chromium).

- No attribute carries a Python `None` as text (`aria-invalid="None"` once told screen readers that
  every field was invalid).
- aria-invalid only on fields with an error; aria-required only on required fields; every id named by
  aria-describedby / aria-labelledby / label[for] exists, and ids are unique.
- Wide tables sit in a named, focusable scrolling region.
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

import lxml.html
import pytest

from portal.models import Role

NONE_ATTRIBUTE = re.compile(r'\s[\w:-]+="None"')
SKIP = re.compile(r"\.(csv|xlsx|json|xml|pdf)$|^/(static|api|documents)/|^/logout")


def check_markup(body: str, where: str) -> None:
    assert not NONE_ATTRIBUTE.search(body), f"{where}: {NONE_ATTRIBUTE.search(body).group(0)}"
    tree = lxml.html.fromstring(body)
    ids = Counter(tree.xpath("//@id"))
    duplicated = [i for i, n in ids.items() if n > 1]
    assert not duplicated, f"{where}: duplicate ids {duplicated}"
    for attribute in ("aria-describedby", "aria-labelledby"):
        for element in tree.xpath(f"//*[@{attribute}]"):
            for ref in element.get(attribute).split():
                assert ref in ids, f"{where}: {attribute}={ref!r} names no element"
    for label in tree.xpath("//label[@for]"):
        assert label.get("for") in ids, f"{where}: <label for={label.get('for')!r}> labels nothing"
    for element in tree.xpath("//*[@aria-invalid]"):
        assert element.get("aria-invalid") == "true", f"{where}: aria-invalid={element.get('aria-invalid')!r}"
    for element in tree.xpath("//*[@aria-required]"):
        assert element.get("aria-required") == "true", f"{where}: aria-required={element.get('aria-required')!r}"
        assert element.tag in ("input", "select", "textarea"), f"{where}: aria-required on <{element.tag}>"
    for region in tree.xpath("//*[contains(concat(' ', @class, ' '), ' table-region ')]"):
        assert region.get("role") == "region" and region.get("tabindex") == "0", where
        assert (region.get("aria-label") or "").strip(), f"{where}: a table region without a name"


def test_a_form_without_errors_marks_no_field_invalid(client):
    for path in ("/login", "/register", "/password/forgot"):
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        check_markup(body, path)
        assert "aria-invalid" not in body, path


def test_a_form_with_errors_marks_exactly_the_wrong_fields_and_points_at_their_messages(client):
    response = client.post("/login", data={"email": "not an address", "password": ""})
    body = response.get_data(as_text=True)
    check_markup(body, "/login with errors")
    tree = lxml.html.fromstring(body)
    invalid = tree.xpath("//*[@aria-invalid='true']")
    assert invalid, "no field is marked invalid"
    for field in invalid:
        described = field.get("aria-describedby", "").split()
        assert f"{field.get('id')}-error" in described
        message = tree.get_element_by_id(f"{field.get('id')}-error")
        assert message.text_content().strip()
    wrong = {f.get("id") for f in invalid}
    for field in tree.xpath("//main//input[@id][not(@type='hidden')]"):
        if field.get("id") not in wrong:
            assert field.get("aria-invalid") is None


def test_optional_fields_are_not_announced_as_required(client):
    tree = lxml.html.fromstring(client.get("/register").get_data(as_text=True))
    required = {e.get("id") for e in tree.xpath("//*[@aria-required='true']")}
    marked = {label.get("for") for label in tree.xpath("//label[span[@class='required']]")}
    assert required, "the registration form has required fields"
    assert required <= marked, required - marked
    assert len(tree.xpath("//main//input[not(@type='hidden')] | //main//textarea")) > len(required)


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_every_page_a_role_reaches_has_clean_markup(client, login_as, role):
    """Follows the links from the role's home page (GET only) and checks every page found."""
    login_as(role)
    queue, seen, checked = ["/"], {"/"}, 0
    while queue and checked < 80:
        path = queue.pop(0)
        response = client.get(path)
        if response.status_code != 200 or not response.mimetype == "text/html":
            assert response.status_code < 500, path
            continue
        body = response.get_data(as_text=True)
        check_markup(body, f"{role.value} {path}")
        checked += 1
        for href in re.findall(r'href="([^"#]+)', body):
            parts = urlsplit(href.replace("&amp;", "&"))
            if parts.netloc or SKIP.search(parts.path) or not parts.path.startswith("/"):
                continue
            url = parts.path + (f"?{parts.query}" if parts.query else "")
            if url not in seen:
                seen.add(url)
                queue.append(url)
    assert checked >= 3, f"{role.value}: only {checked} pages reached"
