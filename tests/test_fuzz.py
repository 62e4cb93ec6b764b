"""Hostile input on every route of `app.url_map`: NUL and other control characters, overlong strings,
huge and non-finite numbers, invalid UTF-8, path tricks — in every query parameter and every form field,
sent as a role that may use the route. Nothing may answer 5xx.

Routes come from the access matrix (so a new route is fuzzed as soon as it has its rows there); the form
fields of a POST route are read from the page that shows its form when there is one."""

from __future__ import annotations

import re
from collections import defaultdict
from urllib.parse import parse_qsl

import pytest

from tests.conftest import login
from tests.test_access_matrix import MATRIX, ROLES, world_docs  # noqa: F401 (the fixture is used by name)

HOSTILE = [
    "a\x00b",
    "\x1b[31m\x07",
    "x" * 70_000,
    "9" * 25,
    "-99999999999999999999",
    "2147483648",
    "999999999",
    "-1",
    "1e30",
    "NaN",
    "-Infinity",
    "0.0000000000000000000001",
    "../../../etc/passwd",
    "<script>alert(1)</script>",
    "2026-13-45",
    "",
]
RAW_BODIES = [b"%FF%FE%FD", b"\xff\xfe\x00\x01"]
QUERY_PARAMS = ["q", "page", "region", "municipality", "status", "action", "actor", "object_type", "object_id",
                "indicator", "service_type", "period", "year", "by", "until", "window", "call", "agreement",
                "kind", "role", "date_from", "date_to", "next", "format", "disaggregation", "limit", "offset",
                "group", "month", "lang"]
NAME = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"')


def _role_for(row) -> tuple[str, str]:
    """A role (and scope) for which the route does its work rather than refusing."""
    for scope in ("own", "any", "foreign"):
        table = row.expected.get(scope)
        if not table:
            continue
        for role in ROLES[1:] + ["anonymous"]:
            if table[role] < 400 and not (role == "anonymous" and table[role] == 302):
                return role, scope
    scope = next(iter(row.expected))
    return "admin", scope


def _by_blueprint() -> dict[str, list[tuple[str, str]]]:
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key in sorted(MATRIX):
        groups[key[0].split(".")[0]].append(key)
    return groups


GROUPS = _by_blueprint()


def _client(app, world, role):
    client = app.test_client()
    if role != "anonymous":
        login(client, world.users[role])
    return client


@pytest.mark.parametrize("blueprint", sorted(GROUPS))
def test_no_server_error_from_hostile_input(blueprint, app, world_docs, session):  # noqa: F811
    world = world_docs
    failures: list[str] = []
    sent = 0
    for endpoint, method in GROUPS[blueprint]:
        row = MATRIX[(endpoint, method)]
        role, scope = _role_for(row)
        url = row.url(world, role, session, scope)
        client = _client(app, world, role)
        if method == "GET":
            path, _, existing = url.partition("?")
            for value in HOSTILE:
                response = client.get(path, query_string={**dict(parse_qsl(existing)),
                                                           **{name: value for name in QUERY_PARAMS}})
                sent += 1
                if response.status_code >= 500:
                    failures.append(f"GET {url} ({role}) with {value[:20]!r}: {response.status_code}")
                response.close()
            response = client.get(url + ("&" if "?" in url else "?") + "q=%FF%FE&page=%C0%AF")
            sent += 1
            if response.status_code >= 500:
                failures.append(f"GET {url} ({role}) with invalid UTF-8: {response.status_code}")
            response.close()
            continue
        fields = {"body", "reason", "name", "amount", "comment", "note"}
        if (endpoint, "GET") in MATRIX:
            page = client.get(url)
            if page.status_code == 200 and page.mimetype == "text/html":
                fields |= set(NAME.findall(page.get_data(as_text=True))) - {"csrf_token"}
            page.close()
        for value in HOSTILE:
            response = client.open(url, method=method, data={name: value for name in sorted(fields)})
            sent += 1
            if response.status_code >= 500:
                failures.append(f"{method} {url} ({role}) with {value[:20]!r}: {response.status_code}")
            response.close()
        for body in RAW_BODIES:
            payload = b"&".join(name.encode() + b"=" + body for name in sorted(fields))
            response = client.open(url, method=method, data=payload, content_type="application/x-www-form-urlencoded")
            sent += 1
            if response.status_code >= 500:
                failures.append(f"{method} {url} ({role}) with raw bytes {body!r}: {response.status_code}")
            response.close()
    assert sent > 0
    assert not failures, f"{len(failures)} of {sent} hostile requests answered 5xx:\n" + "\n".join(failures[:60])


HOSTILE_FILES = [
    (b"", "r.csv"), (b"\xef\xbb\xbf", "r.csv"), (b"\xff\xfe\x00\x01", "r.csv"), (b"a\x00b,c\n", "r.csv"),
    (b'"unclosed;' + b"x" * 300_000, "r.csv"), (b"[personal_number]\n" + b"9" * 40 + b"\n", "r.csv"),
    (b";;;;\n;;;\n", "r.csv"), (b"PK\x03\x04" + b"\x00" * 64, "r.xlsx"), (b"%PDF-1.4\n", "r.pdf"),
    (b"[personal_number],[start_date]\n0101990450006,2026-13-45\n", "r.txt"),
    (bytes(range(256)) * 40, "r.bin"), (b"=cmd|' /C calc'!A0\n", "r.csv"),
]


def test_no_server_error_from_hostile_register_files(app, world_docs, session):  # noqa: F811
    """The register's bulk import (issue 16) with hostile files in place of a spreadsheet: refused, never a 5xx."""
    client = _client(app, world_docs, "provider")
    url = f"/grants/{world_docs.agreement['own'].id}/register/import"
    import io

    for content, name in HOSTILE_FILES:
        response = client.post(url, data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")
        assert response.status_code == 422, (name, content[:20], response.status_code)
