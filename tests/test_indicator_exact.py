"""`portal.indicators.compute` to the last figure: each step of the computation fed with month-level figures written
out here (the aggregation statements of `portal.indicators.aggregate` replaced by these rows, their arguments
checked), and every observation it makes compared whole — indicator, period, disaggregation, category, label, value,
unit, the month it stands for and the grants behind a stock. Also the query-string filters (each refusal and its
words), the shape of a value, the dictionary of an observation, the labels by code and the order of the output.
Written from the mutation-testing survivors of issue 19."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.calls.services import get_programme
from portal.errors import ValidationFailed
from portal.indicators import aggregate, rollup
from portal.indicators import compute as c
from portal.indicators.aggregate import Row, Scope
from portal.indicators.compute import Context, Filters, Observation
from portal.models import Call, EntryKind, GrievanceCategory, GrievanceSettings, HardToEmployCategory, Municipality, Region, ServiceType


def idx(year: int, month: int) -> int:
    return year * 12 + month - 1


DEC24, JAN, FEB, MAR = idx(2024, 12), idx(2025, 1), idx(2025, 2), idx(2025, 3)
FEB_P = rollup.Period("month", "2025-02", date(2025, 2, 1), date(2025, 2, 28), FEB, FEB)
Q1 = rollup.Period("quarter", "2025-Q1", date(2025, 1, 1), date(2025, 3, 31), MAR, JAN)
JAN_P = rollup.Period("month", "2025-01", date(2025, 1, 1), date(2025, 1, 31), JAN, JAN)
SCOPE = Scope(last=date(2025, 3, 1))
AS_FEB, AS_MAR, AS_JAN = date(2025, 2, 1), date(2025, 3, 1), date(2025, 1, 1)
NONE3 = (None, None, None)


def context(codes, allowed, units, *, periods=(FEB_P, Q1), labels=None, carry=None, period_types=("month", "quarter")):
    ctx = Context(filters=Filters(period_types=period_types, codes=tuple(codes)), units=units, allowed=allowed,
                  labels=labels or {}, carry=carry or {})
    ctx.periods = {(p.period_type, p.key): (p.start, p.end) for p in periods}
    return ctx


def made(ctx) -> Counter:
    """Every observation as a tuple (duplicates counted)."""
    return Counter((o.indicator, o.period_type, o.period, o.period_start, o.period_end, o.dimension, o.category,
                    o.label, o.value, o.unit, o.as_of_month, o.grants_current, o.grants_carried, o.grants_missing)
                   for o in ctx.out)


SPANS = {"2025-02": ("month", date(2025, 2, 1), date(2025, 2, 28)), "2025-Q1": ("quarter", date(2025, 1, 1), date(2025, 3, 31)),
         "2025-01": ("month", date(2025, 1, 1), date(2025, 1, 31))}
AS_OF = {"2025-02": AS_FEB, "2025-Q1": AS_MAR, "2025-01": AS_JAN}


def expect(rows, units) -> Counter:
    """(indicator, period, dimension, category, label, value[, counts]) → the full tuple of `made`; the month it
    stands for is the period's evaluation month unless given as an eighth item."""
    out = Counter()
    for row in rows:
        code, period, dimension, category, label, value, *rest = row
        counts = rest[0] if rest else NONE3
        as_of = rest[1] if len(rest) > 1 else AS_OF[period]
        ptype, start, end = SPANS[period]
        out[(code, ptype, period, start, end, dimension, category, label, Decimal(value), units[code], as_of, *counts)] += 1
    return out


class Fake:
    """An aggregation statement replaced by rows written here; remembers how it was called."""

    def __init__(self, rows):
        self.rows, self.calls = rows, []

    def __call__(self, session, *args):
        if not isinstance(session, Session):
            raise TypeError("the statement runs on the session")
        self.calls.append(args)
        return iter(self.rows)


def people(total, female, ages, disabled, new, new_female, new_ages, new_disabled) -> dict:
    return {"total": total, "female": female, "male": total - female,
            **dict(zip(("age_0_17", "age_18_64", "age_65_79", "age_80_plus"), ages, strict=True)),
            "with_disability": disabled, "without_disability": total - disabled,
            "new_this_month": new, "new_female": new_female, "new_male": new - new_female,
            **dict(zip(("new_age_0_17", "new_age_18_64", "new_age_65_79", "new_age_80_plus"), new_ages, strict=True)),
            "new_with_disability": new_disabled, "new_without_disability": new - new_disabled}


@pytest.fixture
def places(session):
    """Two real municipalities in two different regions (the municipalities operating are counted per region from
    the database), with labels."""
    m1 = session.scalar(sa.select(Municipality).order_by(Municipality.id))
    m2 = session.scalar(sa.select(Municipality).where(Municipality.region_id != m1.region_id).order_by(Municipality.id))
    return {"m1": m1.id, "m2": m2.id, "r1": m1.region_id, "r2": m2.region_id}


def place_labels(p) -> dict:
    return {"municipality": {p["m1"]: ("M-ONE", "Municipality one"), p["m2"]: ("M-TWO", "Municipality two")},
            "region": {p["r1"]: ("1", "Region one"), p["r2"]: ("2", "Region two")},
            "service_type": {7001: ("home_help", "Home help")}}


# Shapes, the dictionary of an observation, one observation put -------------------------------------------

def test_a_value_is_shaped_by_its_unit():
    assert c.shaped(7, "number") == 7 and isinstance(c.shaped(7, "number"), Decimal)
    assert c.shaped(10**30, "number") == Decimal(10**30)  # a whole number is never rounded
    assert str(c.shaped(Decimal("2.5"), "number")) == "2" and str(c.shaped(Decimal("3.5"), "number")) == "4"
    assert str(c.shaped(Decimal("2.6"), "number")) == "3"
    assert str(c.shaped(Decimal("1234.565"), "eur")) == "1234.56" and str(c.shaped(3, "eur")) == "3.00"
    assert str(c.shaped(Decimal("12.25"), "percent")) == "12.3"  # half up, not to the even
    assert str(c.shaped(Decimal("12.24"), "percent")) == "12.2" and str(c.shaped(50, "percent")) == "50.0"
    assert str(c.shaped(Decimal("12.25"), "other")) == "12"


def test_an_observation_as_a_dictionary():
    o = Observation("BEN", "quarter", "2025-Q1", date(2025, 1, 1), date(2025, 3, 31), "municipality", "M-ONE",
                    "Municipality one", Decimal("12.50"), "number", date(2025, 3, 1), 2, 1, 3)
    assert o.as_dict() == {"indicator": "BEN", "period_type": "quarter", "period": "2025-Q1",
                           "period_start": "2025-01-01", "period_end": "2025-03-31", "dimension": "municipality",
                           "category": "M-ONE", "label": "Municipality one", "value": 12.5, "unit": "number",
                           "as_of_month": "2025-03", "grants_current": 2, "grants_carried": 1, "grants_missing": 3,
                           "method": None, "suppressed": None}
    assert isinstance(o.as_dict()["value"], float)
    withheld = Observation("BEN", "month", "2025-12", date(2025, 12, 1), date(2025, 12, 31), "sex", "female", "female",
                           None, "number", date(2025, 12, 1), method="exact", suppressed="small")
    assert withheld.as_dict()["value"] is None and withheld.as_dict()["as_of_month"] == "2025-12"
    assert (withheld.as_dict()["method"], withheld.as_dict()["suppressed"]) == ("exact", "small")
    bare = Observation("GRANTS", "month", "2025-02", date(2025, 2, 1), date(2025, 2, 28), "total", "", "",
                       Decimal("3"), "number")
    assert bare.as_dict() == {"indicator": "GRANTS", "period_type": "month", "period": "2025-02",
                              "period_start": "2025-02-01", "period_end": "2025-02-28", "dimension": "total",
                              "category": "", "label": "", "value": 3.0, "unit": "number", "as_of_month": None,
                              "grants_current": None, "grants_carried": None, "grants_missing": None,
                              "method": None, "suppressed": None}


def test_add_keeps_what_the_filters_and_the_catalogue_allow_and_labels_each_category():
    ctx = context(("BEN", "ONTIME", "COMMITTED"), {"BEN": {"municipality", "sex", "call"}, "ONTIME": set()},
                  {"BEN": "number", "ONTIME": "percent"},
                  labels={"municipality": {5: ("M5", "Five")}, "call": {}}, periods=(FEB_P,))
    ctx.add("BEN", "month", "2025-02", "total", None, 12, AS_FEB, (1, 2, 3))
    ctx.add("BEN", "month", "2025-02", "municipality", 5, Decimal("4.4"))
    ctx.add("BEN", "month", "2025-02", "municipality", 6, 4)  # no label for 6: its id
    ctx.add("BEN", "month", "2025-02", "call", 9, 1)  # a dimension with labels, but not this one
    ctx.add("BEN", "month", "2025-02", "sex", "female", 2)  # a dimension without labels: the code itself
    ctx.add("ONTIME", "month", "2025-02", "total", None, Decimal("66.66"))
    ctx.add("COMMITTED", "month", "2025-02", "total", None, 10)  # a unit never given: a number
    ctx.add("COMMITTED", "month", "2025-02", "region", 1, 10)  # no disaggregation given: none
    ctx.add("BEN", "month", "2025-02", "region", 1, 5)  # not a disaggregation of BEN
    ctx.add("ONTIME", "month", "2025-02", "region", 1, 5)
    ctx.add("BEN", "month", "2025-03", "total", None, 5)  # no such period asked for
    ctx.add("BEN", "quarter", "2025-02", "total", None, 5)
    ctx.add("BEN", "month", "2025-02", "total", None, None)  # no value
    assert made(ctx) == Counter({
        ("BEN", "month", "2025-02", date(2025, 2, 1), date(2025, 2, 28), "total", "", "", Decimal(12), "number",
         AS_FEB, 1, 2, 3): 1,
        ("BEN", "month", "2025-02", date(2025, 2, 1), date(2025, 2, 28), "municipality", "M5", "Five", Decimal(4),
         "number", None, None, None, None): 1,
        ("BEN", "month", "2025-02", date(2025, 2, 1), date(2025, 2, 28), "municipality", "6", "6", Decimal(4),
         "number", None, None, None, None): 1,
        ("BEN", "month", "2025-02", date(2025, 2, 1), date(2025, 2, 28), "call", "9", "9", Decimal(1),
         "number", None, None, None, None): 1,
        ("BEN", "month", "2025-02", date(2025, 2, 1), date(2025, 2, 28), "sex", "female", "female", Decimal(2),
         "number", None, None, None, None): 1,
        ("ONTIME", "month", "2025-02", date(2025, 2, 1), date(2025, 2, 28), "total", "", "", Decimal("66.7"),
         "percent", None, None, None, None): 1,
        ("COMMITTED", "month", "2025-02", date(2025, 2, 1), date(2025, 2, 28), "total", "", "", Decimal(10),
         "number", None, None, None, None): 1,
    })
    assert [o.value for o in ctx.out if o.indicator == "ONTIME"] == [Decimal("66.7")]
    assert str(ctx.out[0].value) == "12" and [str(o.value) for o in ctx.out[-2:]] == ["66.7", "10"]


def test_put_reads_the_month_and_keeps_only_indicators_of_the_catalogue():
    ctx = context(("BEN", "HTE"), {"BEN": {"sex"}}, {"BEN": "number"}, periods=(FEB_P, Q1))
    ctx.put("BEN", Q1, "total", None, 7, MAR, (3, 0, 1))
    ctx.put("BEN", FEB_P, "sex", "male", 2, FEB)
    ctx.put("HTE", FEB_P, "total", None, 5, FEB)  # asked for, but not in the catalogue
    ctx.put("BEN", FEB_P, "total", None, None, FEB)
    assert made(ctx) == expect([("BEN", "2025-Q1", "total", "", "", 7, (3, 0, 1)),
                                ("BEN", "2025-02", "sex", "male", "male", 2)], {"BEN": "number"})


def test_wants_every_code_or_the_ones_asked_for():
    assert Filters().wants("ANY") and Filters(codes=("BEN",)).wants("BEN")
    assert not Filters(codes=("BEN",)).wants("HTE") and not Filters(codes=()).wants("BEN")


# The grants behind a stock, the municipalities operating ------------------------------------------------

def test_counts_of_the_grants_behind_a_stock():
    ctx = context((), {}, {})
    ctx.behind = rollup.Series(months={("total", None): {FEB: {"current": 2, "carried_BEN": 1, "carried_HTE": 4}},
                                       ("region", 3): {FEB: {"current": 5}}})
    ctx.active[("total", None)][FEB] = 10
    ctx.active[("municipality", 8)][FEB] = 2
    ctx.active[("region", 3)][FEB] = 1
    assert c._counts(ctx, "BEN", "total", None, FEB) == (2, 1, 7)
    assert c._counts(ctx, "HTE", "total", None, FEB) == (2, 4, 4)
    assert c._counts(ctx, "BEN", "municipality", 8, FEB) == (0, 0, 2)  # nothing behind: all missing
    assert c._counts(ctx, "BEN", "region", 3, FEB) == (5, 0, 0)  # more current than active: none missing
    assert c._counts(ctx, "BEN", "total", None, MAR) == (0, 0, 0)
    assert c._counts(ctx, "BEN", "service_type", 1, FEB) == NONE3
    assert c._counts(ctx, "BEN", "sex", "female", FEB) == NONE3


def test_municipalities_operating_by_month_in_all_per_region_and_per_service_type():
    series = rollup.Series(months={
        ("municipality", 1): {JAN: {"total": 5}, FEB: {"total": 0}, MAR: {"total": 2}},
        ("municipality", 2): {JAN: {"total": 1}, FEB: {"total": 3}},
        ("municipality", 3): {JAN: {"total": None}, FEB: {"total": 4}},
        ("region", 10): {JAN: {"total": 6}},
        ("service_type", 7): {JAN: {"total": 6}},
        ("service_type+municipality", (7, 1)): {JAN: {"total": 5}, MAR: {"total": 2}},
        ("service_type+municipality", (8, 1)): {JAN: {"total": 0}},
        ("service_type+municipality", (7, 2)): {JAN: {"total": 1}, FEB: {"total": 3}},
        ("service_type+municipality", (9, 3)): {FEB: {"total": 4}},
    })
    out = c._operating(series, {1: 10, 2: 10, 3: 20})
    assert {k: dict(v) for k, v in out.items()} == {
        ("total", None): {JAN: 2, FEB: 2, MAR: 1},
        ("region", 10): {JAN: 2, FEB: 1, MAR: 1},
        ("region", 20): {FEB: 1},
        ("service_type", 7): {JAN: 2, FEB: 1, MAR: 1},
        ("service_type", 9): {FEB: 1},
    }


# Beneficiaries (BEN, BEN_FEMALE, MUN, BEN_NEW, BEN_CUM) -------------------------------------------------

PEOPLE_UNITS = {"BEN": "number", "MUN": "number", "BEN_FEMALE": "percent", "BEN_NEW": "number", "BEN_CUM": "number"}
PEOPLE_ALLOWED = {"BEN": {"service_type", "municipality", "region", "sex", "age_band", "disability"},
                  "BEN_CUM": {"service_type", "municipality", "region", "sex", "age_band", "disability"},
                  "BEN_NEW": {"service_type", "municipality", "region", "sex", "age_band", "disability"},
                  "BEN_FEMALE": {"municipality", "region"}, "MUN": {"region", "service_type"}}


def people_rows(p) -> list[Row]:
    """The whole programme: December 2024 (7 new), January, February; nothing in March. Home help (7001): January
    only. Municipality one (region one): February and March (carried, nothing new); municipality two (region two):
    February."""
    m1, m2, r1, r2 = p["m1"], p["m2"], p["r1"], p["r2"]
    return [
        Row("total", None, DEC24, people(7, 7, (0, 0, 0, 7), 7, 7, 7, (0, 0, 0, 7), 7)),
        Row("total", None, JAN, people(50, 30, (5, 20, 15, 10), 12, 50, 30, (5, 20, 15, 10), 12)),
        Row("total", None, FEB, people(85, 49, (8, 30, 22, 25), 21, 30, 14, (3, 10, 7, 10), 9)),
        Row("service_type", 7001, JAN, people(50, 30, (5, 20, 15, 10), 12, 50, 30, (5, 20, 15, 10), 12)),
        Row("municipality", m1, FEB, people(80, 44, (8, 30, 22, 20), 21, 30, 14, (3, 10, 7, 10), 9)),
        Row("municipality", m1, MAR, people(40, 10, (0, 10, 10, 20), 5, 6, 2, (0, 2, 2, 2), 1)),
        Row("municipality", m2, FEB, people(5, 5, (0, 0, 0, 5), 0, 5, 5, (0, 0, 0, 5), 0)),
        Row("region", r1, FEB, people(80, 44, (8, 30, 22, 20), 21, 30, 14, (3, 10, 7, 10), 9)),
        Row("region", r1, MAR, people(40, 10, (0, 10, 10, 20), 5, 6, 2, (0, 2, 2, 2), 1)),
        Row("region", r2, FEB, people(5, 5, (0, 0, 0, 5), 0, 5, 5, (0, 0, 0, 5), 0)),
        Row("service_type+municipality", (7001, m1), FEB, {"total": 80}),
        Row("service_type+municipality", (7001, m1), MAR, {"total": 40}),
        Row("service_type+municipality", (7002, m2), FEB, {"total": 0}),
    ]


def people_context(session, monkeypatch, p, codes, rows):
    fake = Fake(rows)
    monkeypatch.setattr(aggregate, "service_months", fake)
    ctx = context(codes, PEOPLE_ALLOWED, PEOPLE_UNITS, labels=place_labels(p), carry={"BEN": 2, "HTE": 5})
    ctx.behind = rollup.Series(months={
        ("total", None): {FEB: {"current": 2, "carried_BEN": 1, "carried_HTE": 9}, MAR: {}},
        ("municipality", p["m1"]): {FEB: {"current": 1, "carried_BEN": 0}, MAR: {"current": 1}},
        ("municipality", p["m2"]): {FEB: {"current": 1}},
    })
    ctx.active[("total", None)].update({FEB: 4, MAR: 3})
    ctx.active[("municipality", p["m1"])].update({FEB: 1, MAR: 1})
    ctx.active[("region", p["r1"])].update({FEB: 1, MAR: 2})
    c._people(session, ctx, SCOPE, [FEB_P, Q1])
    assert fake.calls == [(SCOPE, 2, ("total", "service_type", "municipality", "region", "service_type+municipality"))]
    return ctx


def test_beneficiaries_in_stock_their_share_of_women_and_the_municipalities_operating(session, monkeypatch, places):
    ctx = people_context(session, monkeypatch, places, ("BEN", "BEN_FEMALE", "MUN"), people_rows(places))
    m = "municipality"
    assert made(ctx) == expect([
        # February: the total with its breakdowns (people by sex, age band and disability: no grants behind them)
        ("BEN", "2025-02", "total", "", "", 85, (2, 1, 1)),
        ("MUN", "2025-02", "total", "", "", 2, (2, 1, 1)),
        ("BEN_FEMALE", "2025-02", "total", "", "", Decimal("57.6"), (2, 1, 1)),
        ("BEN", "2025-02", "sex", "female", "female", 49), ("BEN", "2025-02", "sex", "male", "male", 36),
        ("BEN", "2025-02", "age_band", "0-17", "0-17", 8), ("BEN", "2025-02", "age_band", "18-64", "18-64", 30),
        ("BEN", "2025-02", "age_band", "65-79", "65-79", 22), ("BEN", "2025-02", "age_band", "80+", "80+", 25),
        ("BEN", "2025-02", "disability", "yes", "yes", 21), ("BEN", "2025-02", "disability", "no", "no", 64),
        ("BEN", "2025-02", m, "M-ONE", "Municipality one", 80, (1, 0, 0)),
        ("BEN_FEMALE", "2025-02", m, "M-ONE", "Municipality one", Decimal("55.0"), (1, 0, 0)),
        ("BEN", "2025-02", m, "M-TWO", "Municipality two", 5, (1, 0, 0)),  # more current than active: 0 missing
        ("BEN_FEMALE", "2025-02", m, "M-TWO", "Municipality two", 100, (1, 0, 0)),
        ("BEN", "2025-02", "region", "1", "Region one", 80, (0, 0, 1)),
        ("MUN", "2025-02", "region", "1", "Region one", 1, (0, 0, 1)),
        ("BEN_FEMALE", "2025-02", "region", "1", "Region one", 55, (0, 0, 1)),
        ("BEN", "2025-02", "region", "2", "Region two", 5, (0, 0, 0)),
        ("MUN", "2025-02", "region", "2", "Region two", 1, (0, 0, 0)),
        ("BEN_FEMALE", "2025-02", "region", "2", "Region two", 100, (0, 0, 0)),
        # home help has nothing in February and no grants behind it: no stock
        # Q1 at March: nothing reported in all, three grants missing; municipality one operating
        ("BEN", "2025-Q1", "total", "", "", 0, (0, 0, 3)),
        ("MUN", "2025-Q1", "total", "", "", 1, (0, 0, 3)),
        ("BEN", "2025-Q1", m, "M-ONE", "Municipality one", 40, (1, 0, 0)),
        ("BEN_FEMALE", "2025-Q1", m, "M-ONE", "Municipality one", 25, (1, 0, 0)),
        ("BEN", "2025-Q1", "region", "1", "Region one", 40, (0, 0, 2)),
        ("MUN", "2025-Q1", "region", "1", "Region one", 1, (0, 0, 2)),
        ("BEN_FEMALE", "2025-Q1", "region", "1", "Region one", 25, (0, 0, 2)),
    ], PEOPLE_UNITS)


def test_new_beneficiaries_and_the_people_served_since_the_start(session, monkeypatch, places):
    ctx = people_context(session, monkeypatch, places, ("BEN_NEW", "BEN_CUM"), people_rows(places))
    m = "municipality"
    rows = []
    for period, code, n, f, ages, d in (
            ("2025-02", "BEN_NEW", 30, 14, (3, 10, 7, 10), 9), ("2025-02", "BEN_CUM", 87, 51, (8, 30, 22, 27), 28),
            ("2025-Q1", "BEN_NEW", 80, 44, (8, 30, 22, 20), 21), ("2025-Q1", "BEN_CUM", 87, 51, (8, 30, 22, 27), 28)):
        rows += [(code, period, "total", "", "", n), (code, period, "sex", "female", "female", f),
                 (code, period, "sex", "male", "male", n - f),
                 *[(code, period, "age_band", band, band, a) for band, a in zip(("0-17", "18-64", "65-79", "80+"), ages,
                                                                               strict=True)],
                 (code, period, "disability", "yes", "yes", d), (code, period, "disability", "no", "no", n - d)]
    rows += [
        # home help: nothing new in February, 50 since the start; 50 new in the quarter
        ("BEN_CUM", "2025-02", "service_type", "home_help", "Home help", 50),
        ("BEN_NEW", "2025-Q1", "service_type", "home_help", "Home help", 50),
        ("BEN_CUM", "2025-Q1", "service_type", "home_help", "Home help", 50),
        ("BEN_NEW", "2025-02", m, "M-ONE", "Municipality one", 30), ("BEN_CUM", "2025-02", m, "M-ONE", "Municipality one", 30),
        ("BEN_NEW", "2025-Q1", m, "M-ONE", "Municipality one", 36), ("BEN_CUM", "2025-Q1", m, "M-ONE", "Municipality one", 36),
        ("BEN_NEW", "2025-02", m, "M-TWO", "Municipality two", 5), ("BEN_CUM", "2025-02", m, "M-TWO", "Municipality two", 5),
        ("BEN_NEW", "2025-Q1", m, "M-TWO", "Municipality two", 5), ("BEN_CUM", "2025-Q1", m, "M-TWO", "Municipality two", 5),
        ("BEN_NEW", "2025-02", "region", "1", "Region one", 30), ("BEN_CUM", "2025-02", "region", "1", "Region one", 30),
        ("BEN_NEW", "2025-Q1", "region", "1", "Region one", 36), ("BEN_CUM", "2025-Q1", "region", "1", "Region one", 36),
        ("BEN_NEW", "2025-02", "region", "2", "Region two", 5), ("BEN_CUM", "2025-02", "region", "2", "Region two", 5),
        ("BEN_NEW", "2025-Q1", "region", "2", "Region two", 5), ("BEN_CUM", "2025-Q1", "region", "2", "Region two", 5),
    ]
    assert made(ctx) == expect(rows, PEOPLE_UNITS)


def test_people_served_since_the_start_alone(session, monkeypatch, places):
    """BEN_CUM asked for without BEN_NEW: the flow is skipped, the cumulative figures still come."""
    ctx = people_context(session, monkeypatch, places, ("BEN_CUM",), people_rows(places))
    found = {(o.period, o.dimension, o.category): o.value for o in ctx.out}
    assert {o.indicator for o in ctx.out} == {"BEN_CUM"} and len(ctx.out) == 2 * 9 + 2 * 5
    assert found[("2025-02", "total", "")] == 87 and found[("2025-Q1", "service_type", "home_help")] == 50
    assert found[("2025-02", "age_band", "80+")] == 27 and found[("2025-Q1", "disability", "no")] == 59


def test_nothing_accepted_the_stock_is_zero_and_says_which_grants_are_missing(session, monkeypatch, places):
    fake = Fake([])
    monkeypatch.setattr(aggregate, "service_months", fake)
    codes = ("BEN", "BEN_FEMALE", "MUN", "BEN_NEW", "BEN_CUM")
    ctx = context(codes, PEOPLE_ALLOWED, PEOPLE_UNITS)
    ctx.active[("total", None)].update({FEB: 2, MAR: 0})
    c._people(session, ctx, SCOPE, [FEB_P, Q1])
    assert fake.calls[0][1] == 3  # BEN's carry window when the catalogue gives none
    assert made(ctx) == expect([("BEN", "2025-02", "total", "", "", 0, (0, 0, 2)),
                                ("MUN", "2025-02", "total", "", "", 0, (0, 0, 2))], PEOPLE_UNITS)


def test_no_beneficiary_indicator_asked_for_reads_nothing(session, monkeypatch):
    fake = Fake([])
    monkeypatch.setattr(aggregate, "service_months", fake)
    monkeypatch.setattr(aggregate, "staff_months", fake)
    monkeypatch.setattr(aggregate, "ledger_months", fake)
    monkeypatch.setattr(aggregate, "grievances", fake)
    ctx = context(("GRANTS",), PEOPLE_ALLOWED, PEOPLE_UNITS)
    c._people(session, ctx, SCOPE, [FEB_P])
    c._staff(session, ctx, SCOPE, [FEB_P])
    c._money(session, ctx, SCOPE, [FEB_P])
    c._grievances(session, ctx, SCOPE, [FEB_P], datetime(2025, 3, 20, tzinfo=UTC))
    assert fake.calls == [] and ctx.out == []
    for code in ("BEN", "BEN_FEMALE", "BEN_NEW", "BEN_CUM", "MUN"):
        one = context((code,), PEOPLE_ALLOWED, PEOPLE_UNITS)
        c._people(session, one, SCOPE, [])
    assert len(fake.calls) == 5
    for code in ("HTE", "HTE_FEMALE", "HTE_NEW", "HTE_CUM"):
        c._staff(session, context((code,), {}, {}), SCOPE, [])
    for code in ("COMMITTED", "COMMITTED_PCT", "DISBURSED", "DISBURSED_PCT"):
        c._money(session, context((code,), {}, {}), SCOPE, [])
    for code in ("GRM_RECEIVED", "GRM_ACK_ONTIME", "GRM_RESOLVED_ONTIME"):
        c._grievances(session, context((code,), {}, {}), SCOPE, [], datetime(2025, 3, 20, tzinfo=UTC))
    assert len(fake.calls) == 5 + 4 + 4 + 3


# Hard-to-employ staff (HTE, HTE_FEMALE, HTE_NEW, HTE_CUM) -----------------------------------------------

STAFF_UNITS = {"HTE": "number", "HTE_FEMALE": "percent", "HTE_NEW": "number", "HTE_CUM": "number"}
STAFF_ALLOWED = {"HTE": {"hte_category", "sex", "municipality", "region"},
                 "HTE_NEW": {"hte_category", "sex", "municipality", "region"},
                 "HTE_CUM": {"hte_category", "sex", "municipality", "region"},
                 "HTE_FEMALE": {"municipality", "region"}}


def test_hard_to_employ_staff_by_group_sex_and_place(session, monkeypatch, places):
    """January: 4 hired (3 women), all Roma (group 902). February: 6 in stock (4 women), 2 new (women not given),
    all group 901, in municipality one (region one). March: municipality one carried, nothing new. Municipality two
    has two grants active in February and nothing behind them."""
    m1, m2, r1 = places["m1"], places["m2"], places["r1"]
    feb = {"total": 6, "female": 4, "new": 2, "new_female": None}
    carried = {"total": 5, "female": 5, "new": None, "new_female": None}
    fake = Fake([
        Row("total", None, JAN, {"total": 4, "female": 3, "new": 4, "new_female": 3}), Row("total", None, FEB, feb),
        Row("hte_category", 901, FEB, feb), Row("hte_category", 902, JAN, {"total": 4, "female": 3, "new": 4, "new_female": 3}),
        Row("municipality", m1, FEB, feb), Row("municipality", m1, MAR, carried),
        Row("region", r1, FEB, feb), Row("region", r1, MAR, carried),
    ])
    monkeypatch.setattr(aggregate, "staff_months", fake)
    labels = {**place_labels(places), "hte_category": {901: ("roma", "Roma"), 902: ("disability", "With disability")}}
    ctx = context(("HTE", "HTE_FEMALE", "HTE_NEW", "HTE_CUM"), STAFF_ALLOWED, STAFF_UNITS, labels=labels,
                  carry={"HTE": 2, "BEN": 6})
    ctx.behind = rollup.Series(months={
        ("total", None): {FEB: {"current": 1, "carried_HTE": 1, "carried_BEN": 5}, MAR: {"current": 0, "carried_HTE": 1}},
        ("municipality", m1): {FEB: {"current": 1}, MAR: {"carried_HTE": 1}},
        ("municipality", m2): {FEB: {"current": 0, "carried_HTE": 0}},
    })
    ctx.active[("total", None)].update({FEB: 3, MAR: 2})
    ctx.active[("municipality", m1)].update({FEB: 1, MAR: 1})
    ctx.active[("municipality", m2)].update({FEB: 2})
    c._staff(session, ctx, SCOPE, [FEB_P, Q1])
    assert fake.calls == [(SCOPE, 2, ("total", "hte_category", "municipality", "region"))]
    m, g = "municipality", "hte_category"
    assert made(ctx) == expect([
        ("HTE", "2025-02", "total", "", "", 6, (1, 1, 1)),
        ("HTE", "2025-02", "sex", "female", "female", 4), ("HTE", "2025-02", "sex", "male", "male", 2),
        ("HTE_FEMALE", "2025-02", "total", "", "", Decimal("66.7"), (1, 1, 1)),
        ("HTE_NEW", "2025-02", "total", "", "", 2),
        ("HTE_NEW", "2025-02", "sex", "female", "female", 0), ("HTE_NEW", "2025-02", "sex", "male", "male", 2),
        ("HTE_CUM", "2025-02", "total", "", "", 6),
        ("HTE_CUM", "2025-02", "sex", "female", "female", 3), ("HTE_CUM", "2025-02", "sex", "male", "male", 3),
        ("HTE", "2025-02", g, "roma", "Roma", 6),
        ("HTE_NEW", "2025-02", g, "roma", "Roma", 2), ("HTE_CUM", "2025-02", g, "roma", "Roma", 2),
        ("HTE_CUM", "2025-02", g, "disability", "With disability", 4),  # hired in January only
        ("HTE", "2025-02", m, "M-ONE", "Municipality one", 6, (1, 0, 0)),
        ("HTE_FEMALE", "2025-02", m, "M-ONE", "Municipality one", Decimal("66.7"), (1, 0, 0)),
        ("HTE_NEW", "2025-02", m, "M-ONE", "Municipality one", 2), ("HTE_CUM", "2025-02", m, "M-ONE", "Municipality one", 2),
        ("HTE", "2025-02", m, "M-TWO", "Municipality two", 0, (0, 0, 2)),  # behind only: two grants missing
        ("HTE", "2025-02", "region", "1", "Region one", 6, (0, 0, 0)),
        ("HTE_FEMALE", "2025-02", "region", "1", "Region one", Decimal("66.7"), (0, 0, 0)),
        ("HTE_NEW", "2025-02", "region", "1", "Region one", 2), ("HTE_CUM", "2025-02", "region", "1", "Region one", 2),
        # Q1 at March: nothing in all (one grant carried, one missing), 6 hired in the quarter (3 women)
        ("HTE", "2025-Q1", "total", "", "", 0, (0, 1, 1)),
        ("HTE", "2025-Q1", "sex", "female", "female", 0), ("HTE", "2025-Q1", "sex", "male", "male", 0),
        ("HTE_NEW", "2025-Q1", "total", "", "", 6),
        ("HTE_NEW", "2025-Q1", "sex", "female", "female", 3), ("HTE_NEW", "2025-Q1", "sex", "male", "male", 3),
        ("HTE_CUM", "2025-Q1", "total", "", "", 6),
        ("HTE_CUM", "2025-Q1", "sex", "female", "female", 3), ("HTE_CUM", "2025-Q1", "sex", "male", "male", 3),
        ("HTE_NEW", "2025-Q1", g, "roma", "Roma", 2), ("HTE_CUM", "2025-Q1", g, "roma", "Roma", 2),
        ("HTE_NEW", "2025-Q1", g, "disability", "With disability", 4),
        ("HTE_CUM", "2025-Q1", g, "disability", "With disability", 4),
        ("HTE", "2025-Q1", m, "M-ONE", "Municipality one", 5, (0, 1, 0)),
        ("HTE_FEMALE", "2025-Q1", m, "M-ONE", "Municipality one", 100, (0, 1, 0)),
        ("HTE_NEW", "2025-Q1", m, "M-ONE", "Municipality one", 2), ("HTE_CUM", "2025-Q1", m, "M-ONE", "Municipality one", 2),
        ("HTE", "2025-Q1", "region", "1", "Region one", 5, (0, 0, 0)),
        ("HTE_FEMALE", "2025-Q1", "region", "1", "Region one", 100, (0, 0, 0)),
        ("HTE_NEW", "2025-Q1", "region", "1", "Region one", 2), ("HTE_CUM", "2025-Q1", "region", "1", "Region one", 2),
    ], STAFF_UNITS)


def test_hard_to_employ_with_no_grant_and_no_line(session, monkeypatch):
    fake = Fake([])
    monkeypatch.setattr(aggregate, "staff_months", fake)
    ctx = context(("HTE",), STAFF_ALLOWED, STAFF_UNITS)
    c._staff(session, ctx, SCOPE, [FEB_P])
    assert fake.calls[0][1] == 3 and ctx.out == []  # the default carry window; no grant active: no stock at all
    ctx.active[("total", None)][FEB] = 2  # two grants active, nothing behind them, no line at all
    c._staff(session, ctx, SCOPE, [FEB_P])
    assert made(ctx) == expect([("HTE", "2025-02", "total", "", "", 0, (0, 0, 2)),
                                ("HTE", "2025-02", "sex", "female", "female", 0),
                                ("HTE", "2025-02", "sex", "male", "male", 0)], STAFF_UNITS)


# Money (COMMITTED, DISBURSED and their shares of the envelope) ------------------------------------------

MONEY_UNITS = {"COMMITTED": "eur", "DISBURSED": "eur", "COMMITTED_PCT": "percent", "DISBURSED_PCT": "percent"}
MONEY_ALLOWED = {"COMMITTED": {"call", "municipality", "region", "service_type"},
                 "DISBURSED": {"call", "municipality", "region", "service_type"}, "COMMITTED_PCT": set(),
                 "DISBURSED_PCT": set()}


def money_rows() -> list[Row]:
    commit, pay = EntryKind.COMMITMENT, EntryKind.DISBURSEMENT
    return [Row("call", 43, MAR, {"kind": commit, "amount": Decimal("2500.00")}),  # a call committed in March only
            Row("total", None, DEC24, {"kind": commit, "amount": Decimal("80000.00")}),
            Row("total", None, MAR, {"kind": commit, "amount": Decimal("5000.50")}),
            Row("total", None, FEB, {"kind": pay, "amount": Decimal("12000.00")}),
            Row("call", 42, DEC24, {"kind": commit, "amount": Decimal("80000.00")}),
            Row("call", 42, MAR, {"kind": commit, "amount": Decimal("-1000.25")}),
            Row("call", 42, FEB, {"kind": pay, "amount": Decimal("12000.00")})]


def test_money_committed_and_paid_since_the_start_and_their_share_of_the_envelope(session, monkeypatch):
    fake = Fake(money_rows())
    monkeypatch.setattr(aggregate, "ledger_months", fake)
    get_programme(session).envelope_eur = Decimal("200000.00")
    ctx = context(tuple(MONEY_UNITS), MONEY_ALLOWED, MONEY_UNITS, periods=(JAN_P, FEB_P, Q1),
                  labels={"call": {42: ("JP-42", "JP-42")}})
    c._money(session, ctx, SCOPE, [JAN_P, FEB_P, Q1])
    assert fake.calls == [(SCOPE, ("total", "call", "municipality", "region", "service_type"))]
    assert made(ctx) == expect([
        ("COMMITTED", "2025-01", "total", "", "", "80000.00"), ("COMMITTED_PCT", "2025-01", "total", "", "", "40.0"),
        ("COMMITTED", "2025-02", "total", "", "", "80000.00"), ("COMMITTED_PCT", "2025-02", "total", "", "", "40.0"),
        ("COMMITTED", "2025-Q1", "total", "", "", "85000.50"), ("COMMITTED_PCT", "2025-Q1", "total", "", "", "42.5"),
        ("COMMITTED", "2025-01", "call", "JP-42", "JP-42", "80000.00"),
        ("COMMITTED", "2025-02", "call", "JP-42", "JP-42", "80000.00"),
        ("COMMITTED", "2025-Q1", "call", "JP-42", "JP-42", "78999.75"),  # net of the reduction
        ("COMMITTED", "2025-Q1", "call", "43", "43", "2500.00"),
        # nothing paid in January
        ("DISBURSED", "2025-02", "total", "", "", "12000.00"), ("DISBURSED_PCT", "2025-02", "total", "", "", "6.0"),
        ("DISBURSED", "2025-Q1", "total", "", "", "12000.00"), ("DISBURSED_PCT", "2025-Q1", "total", "", "", "6.0"),
        ("DISBURSED", "2025-02", "call", "JP-42", "JP-42", "12000.00"),
        ("DISBURSED", "2025-Q1", "call", "JP-42", "JP-42", "12000.00"),
    ], MONEY_UNITS)
    q1 = [o for o in ctx.out if o.period == "2025-Q1" and o.dimension == "total"]
    assert [str(o.value) for o in q1] == ["85000.50", "42.5", "12000.00", "6.0"]


def test_money_without_an_envelope_has_no_share(session, monkeypatch):
    monkeypatch.setattr(aggregate, "ledger_months", Fake(money_rows()))
    programme = get_programme(session)
    monkeypatch.setattr(c, "get_programme", lambda s: type("P", (), {"envelope_eur": Decimal("0")})())
    ctx = context(tuple(MONEY_UNITS), MONEY_ALLOWED, MONEY_UNITS, periods=(FEB_P,))
    c._money(session, ctx, SCOPE, [FEB_P])
    assert programme.envelope_eur > 0
    assert sorted((o.indicator, o.dimension, o.value) for o in ctx.out) == [
        ("COMMITTED", "call", Decimal("80000.00")), ("COMMITTED", "total", Decimal("80000.00")),
        ("DISBURSED", "call", Decimal("12000.00")), ("DISBURSED", "total", Decimal("12000.00"))]


# Grants active and timeliness (GRANTS, ONTIME) ----------------------------------------------------------

def test_the_latest_month_whose_report_is_due(session):
    # a month's report is due on the 10th of the next month, to the end of that day in Skopje
    assert get_programme(session).report_due_day == 10
    assert c._last_due_month(session, datetime(2025, 3, 20, 9, tzinfo=UTC)) == date(2025, 2, 1)
    assert c._last_due_month(session, datetime(2025, 3, 10, 22, 59, tzinfo=UTC)) == date(2025, 1, 1)
    assert c._last_due_month(session, datetime(2025, 3, 10, 23, 0, tzinfo=UTC)) == date(2025, 2, 1)  # midnight
    assert c._last_due_month(session, datetime(2025, 1, 5, 9, tzinfo=UTC)) == date(2024, 11, 1)
    assert c._last_due_month(session, datetime(2025, 1, 20, 9, tzinfo=UTC)) == date(2024, 12, 1)
    assert c._last_due_month(session, datetime(2025, 2, 20, 9, tzinfo=UTC)) == date(2025, 1, 1)


GRANT_UNITS = {"GRANTS": "number", "ONTIME": "percent"}
GRANT_ALLOWED = {"GRANTS": {"region", "municipality"}, "ONTIME": {"region"}}


def grant_fakes(monkeypatch, p):
    m1, r1, r2 = p["m1"], p["r1"], p["r2"]
    active = Fake([("month", "2025-03", "municipality", p["m2"], 1), ("month", "2024-12", "total", None, 1),
                   ("month", "2025-01", "total", None, 2), ("month", "2025-02", "total", None, 3),
                   ("month", "2025-03", "total", None, 3),
                   ("month", "2025-01", "region", r1, 1), ("month", "2025-02", "region", r1, 1),
                   ("month", "2025-03", "region", r1, 1), ("month", "2025-02", "region", r2, 1),
                   ("month", "2025-01", "municipality", m1, 1), ("month", "2025-02", "municipality", m1, 1),
                   ("quarter", "2025-Q1", "total", None, 3), ("quarter", "2025-Q1", "region", r1, 1),
                   ("quarter", "2025-Q1", "municipality", m1, 1), ("quarter", "2024-Q4", "total", None, 1)])
    on_time = Fake([Row("total", None, JAN, {"n": 1}), Row("total", None, FEB, {"n": 2}),
                    Row("total", None, MAR, {"n": 3}), Row("region", r1, FEB, {"n": 1})])
    monkeypatch.setattr(aggregate, "active_grants", active)
    monkeypatch.setattr(aggregate, "on_time_months", on_time)
    return active, on_time


def test_grants_active_and_reports_on_time(session, monkeypatch, places):
    """Reports up to February are due on 20 March 2025: the quarter's timeliness stands for February."""
    active, on_time = grant_fakes(monkeypatch, places)
    ctx = context(("GRANTS", "ONTIME"), GRANT_ALLOWED, GRANT_UNITS, labels=place_labels(places),
                  period_types=("quarter",))
    c._grants_and_timeliness(session, ctx, SCOPE, [FEB_P, Q1], datetime(2025, 3, 20, 9, tzinfo=UTC))
    assert active.calls == [(SCOPE, ("quarter", "month"), date(2025, 1, 1), ("total", "municipality", "region"))]
    assert on_time.calls == [(SCOPE, date(2025, 2, 1), ("total", "region"))]
    r1, r2, m1 = places["r1"], places["r2"], places["m1"]
    assert {k: dict(v) for k, v in ctx.active.items()} == {
        ("total", None): {DEC24: 1, JAN: 2, FEB: 3, MAR: 3}, ("region", r1): {JAN: 1, FEB: 1, MAR: 1},
        ("region", r2): {FEB: 1}, ("municipality", m1): {JAN: 1, FEB: 1}, ("municipality", places["m2"]): {MAR: 1}}
    m = "municipality"
    assert made(ctx) == expect([
        ("GRANTS", "2025-02", "total", "", "", 3, NONE3, None), ("GRANTS", "2025-02", "region", "1", "Region one", 1, NONE3, None),
        ("GRANTS", "2025-02", "region", "2", "Region two", 1, NONE3, None),
        ("GRANTS", "2025-02", m, "M-ONE", "Municipality one", 1, NONE3, None),
        ("GRANTS", "2025-Q1", "total", "", "", 3, NONE3, None), ("GRANTS", "2025-Q1", "region", "1", "Region one", 1, NONE3, None),
        ("GRANTS", "2025-Q1", m, "M-ONE", "Municipality one", 1, NONE3, None),
        # February: 2 of 3 on time; region one 1 of 1; region two 0 of 1
        ("ONTIME", "2025-02", "total", "", "", Decimal("66.7")),
        ("ONTIME", "2025-02", "region", "1", "Region one", 100), ("ONTIME", "2025-02", "region", "2", "Region two", 0),
        # Q1 up to February (March not yet due): 3 of 5; region one 1 of 2; region two 0 of 1
        ("ONTIME", "2025-Q1", "total", "", "", 60, NONE3, AS_FEB),
        ("ONTIME", "2025-Q1", "region", "1", "Region one", 50, NONE3, AS_FEB),
        ("ONTIME", "2025-Q1", "region", "2", "Region two", 0, NONE3, AS_FEB),
    ], GRANT_UNITS)


def test_grants_without_timeliness_and_the_first_month_asked_for(session, monkeypatch, places):
    active, on_time = grant_fakes(monkeypatch, places)
    ctx = context(("GRANTS",), GRANT_ALLOWED, GRANT_UNITS, period_types=("month", "year"))
    c._grants_and_timeliness(session, ctx, SCOPE, [], datetime(2025, 3, 20, 9, tzinfo=UTC))
    ctx.filters.start = date(2024, 6, 1)
    c._grants_and_timeliness(session, ctx, SCOPE, [], datetime(2025, 3, 20, 9, tzinfo=UTC))
    assert [call[1:] for call in active.calls] == [(("month", "year"), date(2018, 9, 1), ("total", "municipality", "region")),
                                                  (("month", "year"), date(2024, 6, 1), ("total", "municipality", "region"))]
    assert on_time.calls == [] and {o.indicator for o in ctx.out} == {"GRANTS"}


# Grievances (GRM_RECEIVED, GRM_ACK_ONTIME, GRM_RESOLVED_ONTIME) -----------------------------------------

GRM_UNITS = {"GRM_RECEIVED": "number", "GRM_ACK_ONTIME": "percent", "GRM_RESOLVED_ONTIME": "percent"}
GRM_ALLOWED = {code: {"municipality", "region", "grievance_category"} for code in GRM_UNITS}


def grievance(month, municipality, region, category, *, sensitive=False, ack=(1, 1), resolve=(0, 0)) -> dict:
    return {"month": month, "municipality": municipality, "region": region, "category": category,
            "sensitive": sensitive, "ack_due": ack[0], "ack_on_time": ack[1], "resolve_due": resolve[0],
            "resolved_on_time": resolve[1]}


def test_grievances_received_and_handled_on_time(session, monkeypatch, places):
    m1, r1 = places["m1"], places["r1"]
    rows = [grievance(JAN, m1, r1, "access", ack=(1, 1), resolve=(1, 1)),
            grievance(FEB, m1, r1, "access", ack=(1, 0), resolve=(1, 0)),
            grievance(FEB, m1, r1, "fees", ack=(1, 1), resolve=(0, 0)),
            grievance(FEB, m1, r1, "fraud", sensitive=True, ack=(1, 1), resolve=(1, 1))]
    fake = Fake(rows)
    monkeypatch.setattr(aggregate, "grievances", fake)
    now = datetime(2025, 3, 20, 9, tzinfo=UTC)
    labels = {**place_labels(places), "grievance_category": {"access": ("access", "Access"), "fees": ("fees", "Fees")}}
    session.execute(sa.delete(GrievanceSettings))
    ctx = context(tuple(GRM_UNITS), GRM_ALLOWED, GRM_UNITS, labels=labels)
    c._grievances(session, ctx, SCOPE, [FEB_P, Q1], now)
    assert fake.calls == [(SCOPE, now)]
    m, g = "municipality", "grievance_category"
    # one sensitive case, below the default threshold of 5: left out everywhere
    expected = []
    for dimension, category, label in (("total", "", ""), (m, "M-ONE", "Municipality one"), ("region", "1", "Region one")):
        expected += [("GRM_RECEIVED", "2025-02", dimension, category, label, 2),
                     ("GRM_ACK_ONTIME", "2025-02", dimension, category, label, 50),
                     ("GRM_RESOLVED_ONTIME", "2025-02", dimension, category, label, 0),
                     ("GRM_RECEIVED", "2025-Q1", dimension, category, label, 3),
                     ("GRM_ACK_ONTIME", "2025-Q1", dimension, category, label, Decimal("66.7")),
                     ("GRM_RESOLVED_ONTIME", "2025-Q1", dimension, category, label, 50)]
    expected += [("GRM_RECEIVED", "2025-02", g, "access", "Access", 1), ("GRM_ACK_ONTIME", "2025-02", g, "access", "Access", 0),
                 ("GRM_RESOLVED_ONTIME", "2025-02", g, "access", "Access", 0),
                 ("GRM_RECEIVED", "2025-Q1", g, "access", "Access", 2), ("GRM_ACK_ONTIME", "2025-Q1", g, "access", "Access", 50),
                 ("GRM_RESOLVED_ONTIME", "2025-Q1", g, "access", "Access", 50),
                 ("GRM_RECEIVED", "2025-02", g, "fees", "Fees", 1), ("GRM_ACK_ONTIME", "2025-02", g, "fees", "Fees", 100),
                 ("GRM_RECEIVED", "2025-Q1", g, "fees", "Fees", 1), ("GRM_ACK_ONTIME", "2025-Q1", g, "fees", "Fees", 100)]
    assert made(ctx) == expect(expected, GRM_UNITS)
    assert [str(o.value) for o in ctx.out if o.value == 0] == ["0.0"] * 5  # never "-0.0"

    # the mechanism's threshold at one: the sensitive case counts in the totals, never by place or category
    session.add(GrievanceSettings(sensitive_threshold=1))
    session.flush()
    again = context(tuple(GRM_UNITS), GRM_ALLOWED, GRM_UNITS, labels=labels)
    c._grievances(session, again, SCOPE, [FEB_P, Q1], now)
    totals = {(o.indicator, o.period): o.value for o in again.out if o.dimension == "total"}
    assert totals == {("GRM_RECEIVED", "2025-02"): 3, ("GRM_ACK_ONTIME", "2025-02"): Decimal("66.7"),
                      ("GRM_RESOLVED_ONTIME", "2025-02"): 50, ("GRM_RECEIVED", "2025-Q1"): 4,
                      ("GRM_ACK_ONTIME", "2025-Q1"): 75, ("GRM_RESOLVED_ONTIME", "2025-Q1"): Decimal("66.7")}
    assert Counter(o for o in made(again).elements() if o[5] != "total") == \
        Counter(o for o in made(ctx).elements() if o[5] != "total")


def test_grievances_threshold_is_reached_exactly(session, monkeypatch, places):
    m1, r1 = places["m1"], places["r1"]
    rows = [grievance(FEB, m1, r1, "fraud", sensitive=True) for _n in range(2)]
    monkeypatch.setattr(aggregate, "grievances", Fake(rows))
    session.execute(sa.delete(GrievanceSettings))
    session.add(GrievanceSettings(sensitive_threshold=2))
    session.flush()
    ctx = context(("GRM_RECEIVED",), GRM_ALLOWED, GRM_UNITS, labels=place_labels(places))
    c._grievances(session, ctx, SCOPE, [FEB_P], datetime(2025, 3, 20, tzinfo=UTC))
    assert made(ctx) == expect([("GRM_RECEIVED", "2025-02", "total", "", "", 2)], GRM_UNITS)


# The query-string filters ---------------------------------------------------------------------------------

def parse(app, args, **kw):
    with app.test_request_context("/api/v1/observations", headers={"Accept-Language": "en"}):
        return c.parse_filters(args, **kw)


def refusal(app, args) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        parse(app, args)
    assert str(caught.value.message) == "Some parameters are not valid."
    return {name: [str(m) for m in messages] for name, messages in caught.value.field_errors.items()}


def test_filters_read_from_a_query_string(app):
    assert parse(app, {}) == Filters(period_types=("quarter",))
    assert parse(app, {}, default_types=("half",)) == Filters(period_types=("half",))
    assert parse(app, {"period_type": "", "indicator": " , ", "region": "  ", "from": " "}) == Filters()
    found = parse(app, {"period_type": " month , ,year ", "from": " 2025-02 ", "to": "2025-11", "region": " 3 ",
                        "municipality": "41", "service_type": "7", "indicator": " ben , hte_new ,"})
    assert found == Filters(period_types=("month", "year"), start=date(2025, 2, 1), end=date(2025, 11, 1), region_id=3,
                            municipality_id=41, service_type_id=7, codes=("BEN", "HTE_NEW"))
    every = parse(app, {"period_type": "month,quarter,half,year", "from": "1900-01", "to": "2100-12",
                        "region": str(2**31 - 1)})
    assert every.period_types == ("month", "quarter", "half", "year")
    assert (every.start, every.end, every.region_id) == (date(1900, 1, 1), date(2100, 12, 1), 2**31 - 1)
    same = parse(app, {"from": "2025-03", "to": "2025-03"})
    assert same.start == same.end == date(2025, 3, 1)


def test_filters_refused_naming_each_parameter(app):
    whole = "{} must be a whole number (an id)."
    month = "{} must be a month written YYYY-MM, for example 2026-10."
    for name in ("region", "municipality", "service_type"):
        for bad in ("x", "-1", "1.5", str(2**31)):
            assert refusal(app, {name: bad}) == {name: [whole.format(name)]}, (name, bad)
    for name in ("from", "to"):
        for bad in ("2025", "2025-13", "2025-00", "1899-12", "2101-01", "2025-01-01", "May 2025", "2025-x"):
            assert refusal(app, {name: bad}) == {name: [month.format(name)]}, (name, bad)
    types = ["period_type is one or more of: month, quarter, half, year."]
    assert refusal(app, {"period_type": "week"}) == {"period_type": types}
    assert refusal(app, {"period_type": "month,week"}) == {"period_type": types}
    assert refusal(app, {"from": "2025-04", "to": "2025-03"}) == {"from": ["from comes before to."]}
    assert refusal(app, {"period_type": "day", "from": "2025-13", "to": "x", "region": "r", "municipality": "m",
                         "service_type": "s"}) == {
        "period_type": types, "from": [month.format("from")], "to": [month.format("to")],
        "region": [whole.format("region")], "municipality": [whole.format("municipality")],
        "service_type": [whole.format("service_type")]}


# Labels by code and the whole computation's order -----------------------------------------------------------

def test_labels_by_code_for_the_dimensions_asked_for(app, session, world):
    from tests import factories

    with app.test_request_context("/api/v1/indicators", headers={"Accept-Language": "en"}):
        call = factories.eoi_call(session, world.users["admin"])
        every = c.labels_by_code(session)
        assert set(every) == {"grievance_category", "service_type", "municipality", "region", "hte_category", "call"}
        assert every["service_type"] == {t.code: t.name_en for t in session.scalars(sa.select(ServiceType))}
        assert every["municipality"] == {m.code: m.name_en for m in session.scalars(sa.select(Municipality))}
        assert every["region"] == {str(r.code): r.name_en for r in session.scalars(sa.select(Region))}
        assert every["hte_category"] == {h.code: h.name_en for h in session.scalars(sa.select(HardToEmployCategory))}
        assert every["call"][call.reference] == call.reference
        assert set(every["call"]) == set(session.scalars(sa.select(Call.reference)))
        assert set(every["grievance_category"]) == {g.value for g in GrievanceCategory}
        assert every["grievance_category"]["fraud"] != "fraud" and every["municipality"]
        assert set(c.labels_by_code(session, ("region",))) == {"region"}
        assert c.labels_by_code(session, ("call", "grievance_category")) == {
            "call": every["call"], "grievance_category": every["grievance_category"]}
        assert c.labels_by_code(session, ()) == {}
        labels = c._labels(session)
        assert set(labels) == set(every)
        first = session.scalar(sa.select(Municipality).order_by(Municipality.id))
        assert labels["municipality"][first.id] == (first.code, first.name_en)
        region = session.scalar(sa.select(Region).order_by(Region.id))
        assert labels["region"][region.id] == (str(region.code), region.name_en)
        assert labels["call"][call.id] == (call.reference, call.reference)
        assert labels["grievance_category"]["fraud"] == ("fraud", every["grievance_category"]["fraud"])
        kind = session.scalar(sa.select(ServiceType).order_by(ServiceType.id.desc()))
        assert labels["service_type"][kind.id] == (kind.code, kind.name_en)
        group = session.scalar(sa.select(HardToEmployCategory).order_by(HardToEmployCategory.id.desc()))
        assert labels["hte_category"][group.id] == (group.code, group.name_en)
        assert len(labels["municipality"]) == len(every["municipality"]) and len(labels["region"]) == len(every["region"])


def test_the_output_is_ordered_by_indicator_period_type_period_then_total_first(app, session, world, monkeypatch):
    from portal.models import Indicator
    from tests.test_indicators import build

    build(app, session, world, monkeypatch)
    with app.test_request_context():
        found = c.compute(session, Filters(period_types=("year", "month", "quarter"), start=date(2025, 1, 1),
                                           end=date(2025, 3, 1), codes=("BEN", "GRANTS", "COMMITTED")),
                          now=datetime(2026, 11, 20, 9, tzinfo=UTC))
    order = {i.code: i.sort_order for i in session.scalars(sa.select(Indicator))}
    assert order["BEN"] < order["GRANTS"] < order["COMMITTED"]
    assert {o.period for o in found} == {"2025-01", "2025-02", "2025-03", "2025-Q1", "2025"}  # from the month asked
    codes = [o.indicator for o in found]
    assert codes == sorted(codes, key=order.get) and set(codes) == {"BEN", "GRANTS", "COMMITTED"}
    ben = [(o.period_type, o.period, o.dimension, o.label) for o in found if o.indicator == "BEN"]
    assert [b[1] for b in ben if b[2] == "total"] == ["2025-01", "2025-02", "2025-03", "2025-Q1", "2025"]
    months = [b for b in ben if b[0] == "month"]
    assert months == sorted(months, key=lambda b: (b[1], b[2] != "total", b[2], b[3]))
    assert [b[0] for b in ben] == sorted((b[0] for b in ben), key=("month", "quarter", "half", "year").index)
    january = [(b[2], b[3]) for b in ben if b[1] == "2025-01"]
    assert january[0] == ("total", "")
    assert [d for d, _label in january[1:5]] == ["age_band"] * 4
    assert [label for d, label in january if d == "age_band"] == ["0-17", "18-64", "65-79", "80+"]
    assert [label for d, label in january if d == "sex"] == ["female", "male"]
    dimensions = [d for d, _label in january]
    assert dimensions == ["total"] + sorted(dimensions[1:]) and "region" in dimensions and "sex" in dimensions
    for o in found:
        assert o.as_dict()["indicator"] == o.indicator


def test_the_whole_computation_reads_now_in_skopje_and_stops_at_its_month(app, session, world, monkeypatch):
    from portal import clock
    from tests.test_indicators import build

    build(app, session, world, monkeypatch)
    with app.test_request_context():
        # 31 January 2025, 23:30 UTC is already 1 February in Skopje
        found = c.compute(session, Filters(period_types=("month",), codes=("GRANTS",)),
                          now=datetime(2025, 1, 31, 23, 30, tzinfo=UTC))
        monkeypatch.setattr(clock, "now", lambda: datetime(2025, 3, 15, 9, tzinfo=UTC))
        unsaid = c.compute(session, Filters(period_types=("month",), codes=("GRANTS",)))
    assert [(o.period, o.period_start, o.period_end, o.value) for o in found if o.dimension == "total"] == [
        ("2025-01", date(2025, 1, 1), date(2025, 1, 31), 2), ("2025-02", date(2025, 2, 1), date(2025, 2, 28), 2)]
    assert [o.period for o in unsaid if o.dimension == "total"] == ["2025-01", "2025-02", "2025-03"]
    assert len(found) == len({(o.period, o.dimension, o.category) for o in found})  # each period once


def test_the_grants_behind_each_stock_whichever_is_asked_for(app, session, world, monkeypatch):
    """February 2025 of the small dataset: grant 1 current, grant 2 carried from January. With HTE's window at one
    month, grant 2 is missing for the hard-to-employ figures while BEN's three months still carry it."""
    from portal.models import Indicator
    from tests.test_indicators import build

    built = build(app, session, world, monkeypatch)
    codes = dict(session.execute(sa.select(Municipality.id, Municipality.code)).all())
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    feb = dict(period_types=("month",), start=date(2025, 2, 1), end=date(2025, 2, 1))

    def behind(code):
        with app.test_request_context():
            found = c.compute(session, Filters(**feb, codes=(code,)), now=now)
        return {(o.dimension, o.category): (o.grants_current, o.grants_carried, o.grants_missing)
                for o in found if o.indicator == code and o.dimension in ("total", "municipality", "region")}

    for code in ("BEN", "BEN_FEMALE", "MUN", "HTE", "HTE_FEMALE"):
        assert behind(code)[("total", "")] == (1, 1, 0), code
    assert behind("BEN")[("municipality", codes[built["a"]])] == (1, 0, 0)
    assert behind("BEN")[("municipality", codes[built["b"]])] == (0, 1, 0)
    region_a, region_b = (session.get(Municipality, built[k]).region for k in ("a", "b"))
    if region_a is region_b:
        assert behind("BEN")[("region", str(region_a.code))] == (1, 1, 0)
    else:
        assert behind("BEN")[("region", str(region_a.code))] == (1, 0, 0)
        assert behind("BEN")[("region", str(region_b.code))] == (0, 1, 0)
    session.execute(sa.update(Indicator).where(Indicator.code == "HTE").values(carry_months=1))
    session.commit()
    assert behind("HTE")[("total", "")] == (1, 0, 1)
    session.execute(sa.update(Indicator).where(Indicator.code == "HTE").values(carry_months=0))
    session.commit()
    assert behind("HTE")[("total", "")] == (1, 0, 1)  # a window of none is read as one month
    assert behind("HTE_FEMALE")[("total", "")] == (1, 0, 1)
    assert behind("BEN")[("total", "")] == (1, 1, 0)
    session.execute(sa.update(Indicator).where(Indicator.code == "BEN").values(carry_months=1))
    session.commit()
    assert behind("BEN")[("total", "")] == (1, 0, 1)


def test_the_whole_computation_narrowed_to_a_place_or_a_service(app, session, world, monkeypatch):
    from tests.test_indicators import build

    built = build(app, session, world, monkeypatch)
    day_care = session.scalar(sa.select(ServiceType.id).where(ServiceType.code == "day_care"))
    region_a = session.get(Municipality, built["a"]).region_id
    region_b = session.scalar(sa.select(Region.id).where(Region.id != region_a).order_by(Region.id))
    session.get(Municipality, built["b"]).region_id = region_b  # the two grants in two regions
    session.flush()
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    q1 = dict(period_types=("quarter",), start=date(2025, 1, 1), end=date(2025, 3, 1), codes=("GRANTS", "COMMITTED"))

    def total(**narrow):
        with app.test_request_context():
            found = c.compute(session, Filters(**q1, **narrow), now=now)
        return {(o.indicator, o.unit, str(o.value)) for o in found if o.dimension == "total"}

    assert total() == {("GRANTS", "number", "2"), ("COMMITTED", "eur", "80000.00")}
    one = {("GRANTS", "number", "1"), ("COMMITTED", "eur", "40000.00")}
    assert total(municipality_id=built["a"]) == one and total(service_type_id=day_care) == one
    assert total(region_id=region_b) == one


def test_grievances_a_place_with_nothing_in_the_period_and_a_hidden_case_first(session, monkeypatch, places):
    m1, m2, r1, r2 = places["m1"], places["m2"], places["r1"], places["r2"]
    rows = [grievance(FEB, m1, r1, "fraud", sensitive=True), grievance(JAN, m2, r2, "access"),
            grievance(FEB, m1, r1, "fees")]
    monkeypatch.setattr(aggregate, "grievances", Fake(rows))
    session.execute(sa.delete(GrievanceSettings))
    ctx = context(("GRM_RECEIVED",), GRM_ALLOWED, GRM_UNITS, labels=place_labels(places), periods=(FEB_P,))
    c._grievances(session, ctx, SCOPE, [FEB_P], datetime(2025, 3, 20, tzinfo=UTC))
    assert made(ctx) == expect([("GRM_RECEIVED", "2025-02", "total", "", "", 1),
                                ("GRM_RECEIVED", "2025-02", "municipality", "M-ONE", "Municipality one", 1),
                                ("GRM_RECEIVED", "2025-02", "region", "1", "Region one", 1),
                                ("GRM_RECEIVED", "2025-02", "grievance_category", "fees", "fees", 1)], GRM_UNITS)


@pytest.mark.parametrize(("sensitive", "counted"), [(4, False), (5, True)])
def test_grievances_sensitive_cases_count_from_five_when_the_mechanism_sets_nothing(session, monkeypatch, places,
                                                                                    sensitive, counted):
    rows = [grievance(FEB, places["m1"], places["r1"], "fraud", sensitive=True) for _n in range(sensitive)]
    monkeypatch.setattr(aggregate, "grievances", Fake(rows))
    session.execute(sa.delete(GrievanceSettings))
    ctx = context(("GRM_RECEIVED",), GRM_ALLOWED, GRM_UNITS, periods=(FEB_P,))
    c._grievances(session, ctx, SCOPE, [FEB_P], datetime(2025, 3, 20, tzinfo=UTC))
    assert [(o.dimension, o.value) for o in ctx.out] == ([("total", sensitive)] if counted else [])
