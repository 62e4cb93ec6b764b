"""File names are cleaned for display; they never become storage keys."""

import pytest

from portal.documents.validation import clean_filename


@pytest.mark.parametrize("raw,clean", [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("..\\..\\windows\\system32\\licence.pdf", "licence.pdf"),
    ("evil\u202egpj.pdf", "evilgpj.pdf"),
    ("a\u200b\u2066b\u2069.pdf", "ab.pdf"),
    ("line\nbreak\t.pdf", "line break.pdf"),
    (".hidden.pdf", "hidden.pdf"),
    ("", "document"),
])
def test_file_names_are_cleaned(raw, clean):
    assert clean_filename(raw) == clean


def test_overlong_names_keep_their_extension():
    cleaned = clean_filename("Одлука на Советот на општина Куманово " * 20 + ".pdf")
    assert len(cleaned) <= 150 and cleaned.endswith(".pdf")
