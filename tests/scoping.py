"""Scoping by content: plant rows of several organisations, open a list (page, download or API answer) as
each role, and check which rows it contains, not only its status code.

Four grants are planted, each with a submitted monthly report and a distinctive agreement number and
application title:

    "AA": provider A in municipality A      "AB": provider A in municipality B
    "BA": provider B in municipality A      "BB": provider B in municipality B

The `world` users are provider A's and municipality A's, so a provider must see exactly AA and AB, a
municipality exactly AA and BA, and the ministry all four. A list gets this check with one line in
`tests/test_scoping.py`:

    Scoped("/grants", {"provider": PROVIDER_A, "municipality": MUNICIPALITY_A, "admin": ALL, ...}),

A role given in the line must see exactly those grants' rows (so a page that shows nothing fails too);
a role left out must see none of them, whatever the status code."""

from __future__ import annotations

import io
import secrets
import zipfile
from dataclasses import dataclass, field

from portal.grievances import services as grievance_services
from tests import factories
from tests.conftest import login

ALL = frozenset({"AA", "AB", "BA", "BB"})
PROVIDER_A = frozenset({"AA", "AB"})
MUNICIPALITY_A = frozenset({"AA", "BA"})
NONE: frozenset[str] = frozenset()
#: Expressions of interest (marker "eoi"): one submitted by municipality A, one by municipality B.
EOI_A = frozenset({"A"})
EOI_ALL = frozenset({"A", "B"})
ROLES = ("anonymous", "admin", "reviewer", "finance", "municipality", "provider", "monitor")


@dataclass(frozen=True)
class Scoped:
    """One list: its URL and, per role, which planted grants it shows (roles not given: none)."""

    url: str
    shows: dict[str, frozenset[str]] = field(default_factory=dict)
    #: what identifies a planted row here: "number" (agreement number), "title" (application title) or "eoi"
    #: (the reference of the planted expressions of interest, keyed "A" and "B" by municipality) or "token" (the
    #: names of API tokens planted for the monitor, the admin and finance, keyed by role) or "grievance" (the
    #: tracking code of a concern planted about each grant, keyed like the grants)
    marker: str = "number"

    def __str__(self) -> str:
        return self.url


@dataclass
class Planted:
    numbers: dict[str, str]
    titles: dict[str, str]
    eois: dict[str, str]
    tokens: dict[str, str]
    grievances: dict[str, str]

    def markers(self, kind: str) -> dict[str, str]:
        return {"number": self.numbers, "title": self.titles, "eoi": self.eois, "token": self.tokens,
                "grievance": self.grievances}[kind]


def plant(app, session, world) -> Planted:
    """The four grants, each with a submitted report of its first month, an expression of interest of each
    municipality, an API token of three users and a concern (not sensitive) about each grant, committed to the
    test's transaction."""
    tag = secrets.token_hex(3).upper()
    providers = {"A": (world.orgs["provider"], world.users["provider"]),
                 "B": (world.orgs["provider_b"], world.users["provider_b"])}
    municipalities = {"A": world.orgs["municipality"], "B": world.orgs["municipality_b"]}
    numbers, titles, grievances = {}, {}, {}
    with app.test_request_context():
        for key in sorted(ALL):
            provider_org, provider_user = providers[key[0]]
            number = f"SCOPE-{key}-{tag}"
            agreement = factories.signed_grant(session, world.users["admin"], provider_org, municipalities[key[1]],
                                               number=number)
            agreement.application.title = f"Scoped title {key}-{tag}"
            factories.report(session, provider_user, agreement, agreement.current.start_date)
            numbers[key], titles[key] = number, agreement.application.title
            case, _secret = grievance_services.submit(session, grievance_services.IntakeData(
                category="service_quality", municipality_id=municipalities[key[1]].municipality_id, agreement_id=agreement.id,
                about="", description=f"The carer comes late ({key}).", anonymous=True), address=f"192.0.2.{len(numbers)}")
            grievances[key] = case.tracking_code
        call = factories.eoi_call(session, world.users["admin"])
        eois = {key: factories.filled_eoi(session, world.users[user], call).reference
                for key, user in (("A", "municipality"), ("B", "municipality_b"))}
        from portal.api import tokens as api_tokens

        tokens = {role: f"Token of {role} {tag}" for role in ("monitor", "admin", "finance")}
        for role, name in tokens.items():
            api_tokens.create(session, world.users[role], name)
        session.commit()
    return Planted(numbers, titles, eois, tokens, grievances)


def text_of(response) -> str:
    """The body as text; an XLSX (a zip of XML files) as the text of its parts."""
    data = response.get_data()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return "\n".join(book.read(name).decode("utf-8", "replace") for name in book.namelist()
                             if name.endswith(".xml"))
    return data.decode("utf-8", "replace")


def check(client, world, planted: Planted, scoped: Scoped, role: str) -> None:
    """Open `scoped.url` as `role` and compare the planted rows it contains with what the role may see."""
    if role == "anonymous":
        with client.session_transaction() as sess:
            sess.clear()
    else:
        login(client, world.users[role])
    response = client.get(scoped.url)
    body = text_of(response)
    markers = planted.markers(scoped.marker)
    shown = {key for key, marker in markers.items() if marker in body}
    expected = scoped.shows.get(role, NONE)
    if expected:
        assert response.status_code == 200, f"{scoped.url} as {role}: {response.status_code}"
    assert shown == expected, (f"{scoped.url} as {role} shows {sorted(shown)}, expected {sorted(expected)} "
                               f"(other organisations' rows must not appear; its own must)")
