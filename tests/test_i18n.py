"""Three languages: every string translated into Macedonian and Albanian, and the choice persists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from config import BASE_DIR
from portal.models import AuditEvent, User
from tests.conftest import login

TRANSLATIONS = BASE_DIR / "portal" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _method_map():
    return [("portal/**.py", "python"), ("templates/**.html", "jinja2"), ("templates/**.txt", "jinja2")]


def _walked(dirpath: str) -> bool:
    """Babel's default skips directories starting with "_" (it hid templates/_macros from the catalogues);
    only hidden directories, caches and the instance folder are skipped here, as in `make extract-messages`."""
    name = Path(dirpath).name
    return not (name.startswith(".") or name in {"__pycache__", "node_modules", "instance"})


def _source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(BASE_DIR), method_map=_method_map(), directory_filter=_walked,
            keywords={"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_macros_are_extracted():
    """The error summary's heading lives in templates/_macros: it must reach the catalogues."""
    assert "There is a problem" in _source_messages()


def _catalog(lang: str, compiled: bool = False):
    if compiled:
        from babel.messages.mofile import read_mo

        with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo", "rb") as fh:
            return read_mo(fh)
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh)


def _untranslated(catalog) -> list[str]:
    empty = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(s and s.strip() for s in strings):
            empty.append(message.id[0] if isinstance(message.id, tuple) else message.id)
    return empty


def test_the_check_sees_a_missing_msgstr():
    from babel.messages.catalog import Catalog

    catalog = Catalog(locale="mk")
    catalog.add("Done", "Готово")
    catalog.add("There is a problem", "")
    catalog.add(("%(num)d report", "%(num)d reports"), ("%(num)d извештај", ""))
    catalog.add("Fuzzy", "Нејасно", flags=["fuzzy"])
    assert _untranslated(catalog) == ["There is a problem", "%(num)d report", "Fuzzy"]


@pytest.mark.parametrize("lang", ["mk", "sq"])
def test_no_message_in_the_catalogue_lacks_its_translation(lang):
    """Every entry of the catalogue has its msgstr (every plural form), not only the ones still in the code."""
    empty = _untranslated(_catalog(lang))
    assert not empty, f"{len(empty)} {lang} entries without a translation:\n" + "\n".join(sorted(empty)[:40])


@pytest.mark.parametrize("lang", ["mk", "sq"])
def test_compiled_catalogue_is_complete(lang):
    """The .mo the portal reads holds a translation of every string in the code (`make translations`)."""
    compiled = {(m.id[0] if isinstance(m.id, (tuple, list)) else m.id) for m in _catalog(lang, compiled=True)
                if m.id and all(m.string if isinstance(m.string, (tuple, list)) else (m.string,))}
    missing = sorted(_source_messages() - compiled)
    assert not missing, f"{len(missing)} strings missing from the compiled {lang} catalogue (run `make translations`):\n" \
        + "\n".join(missing[:40])


# Text in a template that is not wrapped in _(): allowed only for these (units, formats, names of languages).
ALLOWED_LITERALS = {"EUR", "MKD", "CSV", "XLSX", "Македонски", "Shqip", "English", "/api/v1/openapi.json",
                    "/api/v1/iati-activity.xml", "v"}
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
LETTERS = re.compile(r"[^\W\d_]{2,}|/api/\S+|\bv\b")


def _literal_texts(source: str) -> list[str]:
    """Visible text (and placeholder/title/aria-label/alt attributes) of a template with every Jinja
    expression and tag removed: what would show untranslated."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Visible(HTMLParser):
        skip = 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("script", "style")
            found.extend(v for k, v in attrs if k in ("placeholder", "title", "aria-label", "alt") and v)

        def handle_endtag(self, tag):
            self.skip -= tag in ("script", "style")

        def handle_data(self, data):
            if not self.skip:
                found.append(data)

    Visible(convert_charrefs=True).feed(JINJA.sub(" ", source))
    return [word for text in found for word in LETTERS.findall(text)]


def test_templates_have_no_untranslated_text():
    offenders = []
    for path in sorted((BASE_DIR / "templates").rglob("*.html")):
        words = [w for w in _literal_texts(path.read_text(encoding="utf-8")) if w not in ALLOWED_LITERALS]
        if words:
            offenders.append(f"{path.relative_to(BASE_DIR)}: {' '.join(words)[:120]}")
    assert not offenders, "text shown without _():\n" + "\n".join(offenders)


def test_the_scan_sees_untranslated_text():
    assert _literal_texts('<p>{{ _("Fine") }} Tranches to approve</p><input placeholder="Search">') == \
        ["Tranches", "to", "approve", "Search"]
    assert _literal_texts('<p class="x">{{ t.amount|money }} EUR</p>') == ["EUR"]


def test_python_messages_are_wrapped():
    """Form labels, descriptions, validator messages, flashes and errors shown to people are wrapped in _()/_l()."""
    import ast

    shown = {"flash", "InvalidTransition", "NotAllowed", "Conflict", "NotFound", "ValidationFailed"}
    validators = {"DataRequired", "InputRequired", "Email", "Regexp", "Length", "NumberRange"}

    def name(func):
        return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""

    def text(node):
        return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)
                                                   and any(c.isalpha() for c in node.value))

    offenders = []
    for path in sorted((BASE_DIR / "portal").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            called = name(node.func)
            watched = called.endswith("Field") or called in shown
            candidates = []
            if watched and node.args:
                candidates.append(node.args[0])
            if called in validators and node.args:
                candidates.append(node.args[-1])
            if watched or called in validators:
                candidates += [k.value for k in node.keywords if k.arg in ("label", "description", "message")]
            offenders += [f"{path.relative_to(BASE_DIR)}:{node.lineno}: {ast.unparse(c)[:60]}"
                          for c in candidates if text(c)]
    assert not offenders, "strings shown without _()/_l():\n" + "\n".join(offenders)


@pytest.mark.parametrize("lang", ["mk", "sq"])
def test_every_string_is_translated(lang):
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh)
    translated = {}
    for message in catalog:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not message.fuzzy and all(strings):
            translated[key] = (message.id, strings)
    missing = sorted(_source_messages() - translated.keys())
    assert not missing, f"{len(missing)} strings without a {lang} translation (run `make extract-messages`):\n" + \
        "\n".join(missing[:40])
    for key, (ids, strings) in translated.items():
        wanted = set(PLACEHOLDER.findall(" ".join(ids if isinstance(ids, tuple) else (ids,))))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == wanted, (lang, key, text)


def test_compiled_catalogues_exist():
    for lang in ("mk", "sq"):
        assert Path(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo").exists(), "run `make translations`"


def test_macedonian_is_the_default(client):
    assert 'lang="mk"' in client.get("/").get_data(as_text=True)


def test_anonymous_visitor_switches_language(client):
    response = client.post("/language", data={"language": "sq", "next": "/login"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert 'lang="sq"' in client.get("/login").get_data(as_text=True)
    client.post("/language", data={"language": "xx", "next": "/login"})
    assert 'lang="sq"' in client.get("/login").get_data(as_text=True)


def test_language_choice_persists_for_the_user(app, client, world, session):
    login(client, world.users["provider"])
    client.post("/language", data={"language": "en", "next": "/"})
    session.expire_all()
    assert session.get(User, world.users["provider"].id).preferred_language == "en"
    other_device = app.test_client()
    login(other_device, session.get(User, world.users["provider"].id))
    assert 'lang="en"' in other_device.get("/").get_data(as_text=True)
    assert session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.language_changed"))


def test_language_redirect_is_kept_inside_the_portal(client):
    response = client.post("/language", data={"language": "en", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_pages_are_translated(client):
    client.post("/language", data={"language": "en", "next": "/"})
    english = client.get("/login").get_data(as_text=True)
    client.post("/language", data={"language": "mk", "next": "/"})
    macedonian = client.get("/login").get_data(as_text=True)
    assert "Forgot your password?" in english
    assert "Forgot your password?" not in macedonian
