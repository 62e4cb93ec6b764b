"""Spending and co-financing against plan (issue 18): exact figures on hand-built grants (accepted reports count,
returned, submitted and draft ones do not; a corrected report counts its accepted version only), who sees which
rows, the CSV and XLSX, the charts, the IFR's uses of funds, and a page whose statements do not grow with grants."""

from __future__ import annotations

import csv
import html
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from portal.finance_reports import overview
from portal.finance_reports import services as finance
from portal.grants import ledger
from tests import factories
from tests.conftest import count_queries, login
from tests.test_financial_reports import budget

D = Decimal


def _report(session, user, agreement, number, *amounts, municipality="0", other="0", submit=True):
    report = finance.start(session, user, agreement, number)
    lines = finance.budget_lines(agreement)
    finance.save(session, user, report, finance.FigureData(
        spent={line.id: amount for line, amount in zip(lines, amounts, strict=True)},
        cofinancing_municipality=municipality, cofinancing_other=other), report.newest.edit_version)
    if submit:
        finance.submit(session, user, report)
    return report


@pytest.fixture
def grants(app, world, session):
    """Grant A (provider A, municipality A; budget 1000.00 + 2500.50, co-financing declared 400.00):
    period 1 accepted (600.00 + 1000.00, 100.00 of it ineligible; co-financing 200.00 + 50.25), period 2 returned
    and accepted once corrected (50.00 + 25.00; co-financing 10.00), period 3 returned, period 4 a draft; 5000.00
    disbursed. Grant B (provider B, municipality B; budget 2000.00): period 1 submitted, not reviewed."""
    provider, finance_officer = world.users["provider"], world.users["finance"]
    with app.test_request_context():
        a = factories.signed_grant(session, world.users["admin"], world.orgs["provider"], world.orgs["municipality"],
                                   start=factories.months_ago(10), number="VIEW-A")
        a.application.cofinancing_eur = D("400.00")
        budget(session, a)
        lines = finance.budget_lines(a)
        first = _report(session, provider, a, 1, "600.00", "1000.00", municipality="200.00", other="50.25")
        finance.accept(session, finance_officer, first, {lines[1].id: "100.00"}, {lines[1].id: "Без фактура."})
        second = _report(session, provider, a, 2, "100.00", "100.00", municipality="999.00")
        finance.return_report(session, finance_officer, second, "Поправете.")
        finance.revise(session, provider, second)
        finance.save(session, provider, second, finance.FigureData(spent={lines[0].id: "50.00", lines[1].id: "25.00"},
                                                                    cofinancing_municipality="10.00"),
                     second.newest.edit_version)
        finance.submit(session, provider, second)
        finance.accept(session, finance_officer, second)
        third = _report(session, provider, a, 3, "300.00", "0")
        finance.return_report(session, finance_officer, third, "Недостасува извод.")
        _report(session, provider, a, 4, "10.00", "10.00", submit=False)
        ledger.disburse(session, world.users["finance"], a, D("5000.00"), "Прва транша")
        b = factories.signed_grant(session, world.users["admin"], world.orgs["provider_b"], world.orgs["municipality_b"],
                                   start=factories.months_ago(4), number="VIEW-B")
        budget(session, b, amounts=("2000.00",))
        _report(session, world.users["provider_b"], b, 1, "500.00")
        session.commit()
    world.a, world.b = a, b
    return world


EXPECTED_A = {"approved": D("3500.50"), "spent": D("1675.00"), "eligible": D("1575.00"), "disbursed": D("5000.00"),
              "cofinancing_declared": D("400.00"), "cofinancing_received": D("260.25")}
EXPECTED_B = {"approved": D("2000.00"), "spent": D("0.00"), "eligible": D("0.00"), "disbursed": D("0.00"),
              "cofinancing_declared": D("0.00"), "cofinancing_received": D("0.00")}


def _figures(row) -> dict:
    return {name: getattr(row, name) for name in overview.FIGURES}


def test_only_accepted_versions_count_exactly(app, session, grants):
    with app.test_request_context():
        data = overview.build(session, grants.users["admin"])
    rows = {r.number: r for r in data.rows}
    assert set(rows) == {"VIEW-A", "VIEW-B"}
    assert _figures(rows["VIEW-A"]) == EXPECTED_A
    assert _figures(rows["VIEW-B"]) == EXPECTED_B
    assert rows["VIEW-A"].spent_share == D("47.9")  # 1675.00 / 3500.50 = 47.85…
    assert {c.reference: c.grants for c in data.calls} == {grants.a.call.reference: 1, grants.b.call.reference: 1}
    assert _figures(data.total) == {k: EXPECTED_A[k] + EXPECTED_B[k] for k in EXPECTED_A}
    assert data.grants == 2
    with app.test_request_context():  # the same figures as the grant's own page (one rule)
        own = finance.grant_finance(session, grants.a)
    assert (own.total("spent"), own.total("eligible"), own.disbursed, own.cofinancing_received) == (
        EXPECTED_A["spent"], EXPECTED_A["eligible"], EXPECTED_A["disbursed"], EXPECTED_A["cofinancing_received"])


def test_a_call_filter_keeps_that_calls_grants_only(app, session, grants):
    with app.test_request_context():
        data = overview.build(session, grants.users["monitor"], grants.b.call_id)
    assert [r.number for r in data.rows] == ["VIEW-B"] and [c.reference for c in data.calls] == [grants.b.call.reference]
    assert _figures(data.total) == EXPECTED_B


@pytest.mark.parametrize(("role", "shown"), [("admin", {"VIEW-A", "VIEW-B"}), ("reviewer", {"VIEW-A", "VIEW-B"}),
                                             ("finance", {"VIEW-A", "VIEW-B"}), ("monitor", {"VIEW-A", "VIEW-B"}),
                                             ("provider", {"VIEW-A"}), ("provider_b", {"VIEW-B"}),
                                             ("municipality", {"VIEW-A"}), ("municipality_b", {"VIEW-B"})])
def test_each_role_sees_its_rows_and_totals_only(app, session, client, grants, role, shown):
    with app.test_request_context():
        data = overview.build(session, grants.users[role])
    assert {r.number for r in data.rows} == shown
    expected = {k: sum((e[k] for n, e in (("VIEW-A", EXPECTED_A), ("VIEW-B", EXPECTED_B)) if n in shown), D("0.00"))
                for k in EXPECTED_A}
    assert _figures(data.total) == expected  # the totals never count another organisation's grants
    login(client, grants.users[role])
    for url in ("/financial-reports/overview", "/financial-reports/overview.csv", "/financial-reports/overview.xlsx"):
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.get_data()
        if body[:2] == b"PK":
            book = load_workbook(io.BytesIO(body))
            body = str([[c.value for c in row] for sheet in book.worksheets for row in sheet.iter_rows()]).encode()
        assert {n for n in ("VIEW-A", "VIEW-B") if n.encode() in body} == shown, (role, url)


def test_the_page_states_as_of_defines_each_figure_and_draws_the_chart(app, session, client, grants):
    login(client, grants.users["monitor"])
    page = client.get("/financial-reports/overview").get_data(as_text=True)
    assert "1.675,00" in page and "3.500,50" in page and "5.000,00" in page and "260,25" in page
    assert '<svg viewBox' in page and 'role="img"' in page and "<title id=\"spending-title\">" in page
    with app.test_request_context():  # every figure defined on the page, in the reader's language
        definitions = [str(text) for text in overview.DEFINITIONS.values()]
    assert all(text in html.unescape(page) for text in definitions)
    assert "Состојба на" in page or "As of" in page
    assert "/financial-reports/" + "overview.xlsx" in page
    # A monitor gets summaries: no link into a report or its documents.
    assert "/financial-reports/" + str(grants.a.id) not in page and "/documents/" not in page
    grant_page = client.get(f"/grants/{grants.a.id}/finance").get_data(as_text=True)
    assert 'id="grant-finance-chart"' in grant_page and 'role="img"' in grant_page


def test_the_csv_and_the_xlsx_hold_the_same_figures(app, session, client, grants):
    login(client, grants.users["finance"])
    response = client.get(f"/financial-reports/overview.csv?call={grants.a.call_id}")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    by_number = {row[0]: row for row in rows[1:] if row}
    assert by_number["VIEW-A"][4:10] == ["3500.50", "1675.00", "1575.00", "5000.00", "400.00", "260.25"]
    assert "VIEW-B" not in by_number
    assert any("1675.00" in row for row in rows if row and row[0] != "VIEW-A")  # the total row
    assert any(row and "Спроведени" not in row[0] and len(row) == 2 for row in rows)  # definitions, as of when
    book = load_workbook(io.BytesIO(client.get("/financial-reports/overview.xlsx").get_data()))
    grants_sheet, calls_sheet, definitions = book.worksheets
    values = {row[0]: row for row in grants_sheet.iter_rows(min_row=2, values_only=True)}
    assert [D(str(v)) for v in values["VIEW-A"][4:10]] == list(EXPECTED_A.values())
    assert values["VIEW-A"][10] == 47.9
    assert sum(1 for _r in calls_sheet.iter_rows(min_row=2)) == 3  # two calls and the total
    assert definitions.max_row == len(overview.DEFINITIONS) + 1


def test_the_page_is_paginated_and_its_statements_do_not_grow_with_grants(app, session, client, grants):
    login(client, grants.users["admin"])
    client.get("/financial-reports/overview")
    with count_queries(app) as few:
        assert client.get("/financial-reports/overview").status_code == 200
    with app.test_request_context():
        for n in range(4):
            agreement = factories.signed_grant(session, grants.users["admin"], grants.orgs["provider"],
                                               grants.orgs["municipality"], number=f"VIEW-MORE-{n}")
            budget(session, agreement)
            first = _report(session, grants.users["provider"], agreement, 1, "1.00", "2.00")
            finance.accept(session, grants.users["finance"], first)
        session.commit()
    app.config["PAGE_SIZE"] = 3
    with count_queries(app) as many:
        page = client.get("/financial-reports/overview").get_data(as_text=True)
    assert many.count == few.count, many.statements
    assert "VIEW-A" in page and "VIEW-MORE-3" not in page  # ordered by call reference: the first page of three
    second = client.get("/financial-reports/overview?page=2").get_data(as_text=True)
    assert "VIEW-A" not in second and "rel=\"prev\"" in second


def test_the_ifr_has_the_uses_of_funds_by_category_per_quarter_and_cumulative(app, session, client, grants):
    from portal.applications.services import category_label

    first, second = finance.periods(grants.a)[:2]
    q1, q2 = overview.quarter(first.end), overview.quarter(second.end)
    with app.test_request_context():
        rows = overview.uses_of_funds(session)
        staff, operating = category_label("staff"), category_label("operating")
    by_key = {(q, c): (amount, cumulative, plan) for q, c, amount, cumulative, plan in rows}
    assert by_key[(q1, staff)] == (D("600.00"), D("600.00"), D("3000.00"))  # grant B's 2000.00 is planned staff too
    assert by_key[(q1, operating)] == (D("900.00"), D("900.00"), D("2500.50"))  # 100.00 ineligible
    assert by_key[(q2, staff)] == (D("50.00"), D("650.00"), D("3000.00"))
    assert by_key[(q2, operating)] == (D("25.00"), D("925.00"), D("2500.50"))
    assert {q for q, *_rest in rows} == {q1, q2}  # the returned third period and the draft count nothing
    login(client, grants.users["monitor"])
    text = client.get("/envelope/ifr.csv").get_data(as_text=True)
    assert f"{q2},{staff},50.00,650.00,3000.00" in text
    book = load_workbook(io.BytesIO(client.get("/envelope/ifr.xlsx").get_data()))
    uses = book.worksheets[1]
    assert [q1, staff, 600, 600, 3000] == list(next(uses.iter_rows(min_row=2, values_only=True)))
