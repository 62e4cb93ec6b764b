"""One labelling function for codes, locale formatting of numbers and dates, and no code on a Macedonian page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from portal import i18n
from portal.labels import KINDS, known_codes, label, object_label
from portal.models import AuditEvent, Role, TrancheStatus, User
from tests.conftest import login
from tests.test_access_matrix import world_docs  # noqa: F401  (the fixture)


def test_every_code_has_words_in_each_language(app):
    with app.test_request_context():
        for lang in ("mk", "sq"):
            with force_locale(lang):
                for kind, table in KINDS.items():
                    for code in table:
                        text = label(code, kind)
                        # ("draft" is also the Albanian word.)
                        assert text and (text != code or lang == "sq"), (lang, kind, code)


def test_labels_follow_the_language_and_accept_enums(app):
    with app.test_request_context():
        with force_locale("mk"):
            assert label(TrancheStatus.REQUESTED, "tranche_status") == "побарано ослободување" or \
                label(TrancheStatus.REQUESTED, "tranche_status") != "requested"
            assert label("login.succeeded", "audit_action") == "Успешна најава"
            assert object_label("user_account", 14) == "Кориснички профил #14"
            assert label(Role.FINANCE, "role") != "finance"
        with force_locale("en"):
            assert label("tranche.approved", "audit_action") == "Tranche release approved"
            assert object_label("user_account", 14) == "User account #14"
        assert label("something.new", "audit_action") == "something.new"  # unknown: shown as it is, never a 500
        assert label(None, "role") == ""


def test_every_audit_action_written_by_the_code_has_a_label():
    """A new `audit.record(…, "x.y")` without its words fails here."""
    from pathlib import Path

    from config import BASE_DIR

    written = set()
    for path in (Path(BASE_DIR) / "portal").rglob("*.py"):
        written |= set(re.findall(r'audit\.record\(\s*[^,]+,\s*[^,]+,\s*"([a-z_]+\.[a-z_]+|logout)"', path.read_text()))
    missing = sorted(written - set(KINDS["audit_action"]))
    assert not missing, missing


@pytest.mark.parametrize("lang, weight, money, percent", [
    ("mk", "1", "75.000,00", "12,5 %"), ("sq", "1", "75 000,00", "12,5 %"), ("en", "1", "75,000.00", "12.5 %")])
def test_numbers_follow_the_locale_and_weights_have_no_grouping(app, lang, weight, money, percent):
    with app.test_request_context(), force_locale(lang):
        assert i18n.weight(Decimal("1.000")) == weight
        assert i18n.weight(Decimal("1500.250")) in ("1500,25", "1500.25")  # never 1.500,25
        assert i18n.money(Decimal("75000")).replace("\xa0", " ").replace("\u202f", " ") == money
        assert i18n.percent(Decimal("12.5")).replace("\xa0", " ") == percent
        assert i18n.percent(Decimal("0.125"), ratio=True).replace("\xa0", " ") == percent
        assert i18n.number(None) == "—"


def test_dates_and_times_are_shown_to_the_minute(app):
    with app.test_request_context(), force_locale("mk"):
        shown = i18n.local_datetime(datetime(2026, 12, 2, 4, 19, 0, tzinfo=UTC))
    assert shown.endswith("05:19") and "05:19:00" not in shown  # Skopje time, no seconds


def test_the_public_call_shows_the_weight_without_a_thousands_separator(app, world, session):
    from tests import factories

    with app.test_request_context():
        call = factories.grant_call(session, world.users["admin"], factories.eoi_call(session, world.users["admin"]))
        session.commit()
    page = app.test_client().get(f"/calls/{call.id}").get_data(as_text=True)
    weights = re.findall(r'<td class="num">([^<]*)</td></tr>', page)  # the last column of the rubric
    assert weights == ["1", "1,5", "0,5"], weights  # never "1.000", which reads as one thousand


# Rendered pages ------------------------------------------------------------------------------------------

class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        # <pre>: the audit log's before/after record, kept as data on purpose.
        self._skip += tag in ("script", "style", "pre")
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            self.links.append(href)

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style", "pre")

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


#: Codes that must never show as text on a Macedonian page: statuses, roles, audit actions, object types.
CODES = known_codes("tranche_status", "application_status", "eoi_status", "report_status", "call_status",
                    "org_status", "endorsement", "eligibility", "outcome", "timeliness", "entry_kind", "role",
                    "audit_action") | {c for c in known_codes("object_type") if "_" in c}
CODE_PATTERN = re.compile(r"(?<![\w.@/-])(" + "|".join(sorted(map(re.escape, CODES), key=len, reverse=True))
                          + r")(?![\w@/-])")
SKIPPED = re.compile(r"^/(logout|language|documents/|api/)|\.(csv|xlsx|pdf|xml|json)(\?|$)|/download")


def _codes_on(page: str) -> tuple[list[str], list[str]]:
    parser = _Visible()
    parser.feed(page)
    return CODE_PATTERN.findall(" ".join(parser.text)), parser.links


def test_the_scan_finds_a_code():
    assert _codes_on("<p>SSIP · requested · <span>login.succeeded</span></p>")[0] == ["requested", "login.succeeded"]
    assert _codes_on('<p class="tag--requested">побарано</p><a href="/x?status=approved">x</a>')[0] == []


def _crawl(app, users) -> tuple[int, list[str]]:
    """Each user's home page and every page it links to (GET only): the codes shown as text."""
    found, visited = [], 0
    for user in users:
        client = app.test_client()
        login(client, user)
        queue, seen = ["/"], set()
        while queue and len(seen) < 25:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            try:
                response = client.get(url)
            except Exception:  # noqa: BLE001, S112 (a page that fails is another test's business; codes are ours)
                continue
            if response.status_code != 200 or "text/html" not in response.content_type:
                continue
            codes, links = _codes_on(response.get_data(as_text=True))
            visited += 1
            found += [f"{user.email} {url}: {code}" for code in codes]
            if url == "/":
                queue += [link.split("#")[0] for link in links
                          if link.startswith("/") and not SKIPPED.search(link) and link.split("#")[0] not in seen]
    return visited, found


def test_no_english_code_on_the_macedonian_pages_of_any_role(app, world_docs, session):  # noqa: F811
    """Every role's home page and the pages it links to, in Macedonian (calls, EOIs, applications, agreements
    with a requested tranche, reports, the audit log with sign-ins): no code shows as text."""
    from portal.grants import services as grants

    with app.test_request_context():
        grants.request_release(session, world_docs.users["finance"], world_docs.agreement["own"].tranches[0])
        session.commit()
    app.test_client().post("/login", data={"email": "admin@test.example", "password": "wrong"})
    visited, found = _crawl(app, [u for u in world_docs.users.values()])
    assert visited > 40
    assert not found, "codes shown on Macedonian pages:\n" + "\n".join(sorted(set(found)))
    admin = app.test_client()
    login(admin, world_docs.users["admin"])
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert _codes_on(page)[0] == [] and "Неуспешна најава" in page  # the code stays only in the filter's value="…"


def test_no_english_code_on_the_macedonian_pages_of_any_demo_role(app, session):
    """The same over the demo data, as a new user would try it (every demo role, in Macedonian)."""
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    session.execute(sa.update(User).values(preferred_language="mk"))
    session.commit()
    emails = ("admin@demo.example", "reviewer@demo.example", "finance@demo.example", "finance2@demo.example",
              "kumanovo@demo.example", "provider@demo.example", "soncev.zrak@demo.example", "monitor@demo.example")
    visited, found = _crawl(app, [session.scalar(sa.select(User).where(User.email == e)) for e in emails])
    assert visited > 40
    assert not found, "codes shown on Macedonian pages:\n" + "\n".join(sorted(set(found)))
    # The audit log names actions and objects in words.
    admin = app.test_client()
    login(admin, session.scalar(sa.select(User).where(User.email == "admin@demo.example")))
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) and "user_account" not in page
