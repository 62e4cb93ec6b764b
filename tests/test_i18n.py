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


def _source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(BASE_DIR), method_map=_method_map(),
            keywords={"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


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
