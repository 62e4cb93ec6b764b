"""The programme as one IATI 2.03 activity: the World Bank-financed component for community social services,
its commitments and disbursements as transactions (from the ledger) and its results indicators with yearly
periods (baseline, targets and actuals from `compute`). Built with the standard library; the test suite
validates it against the official IATI 2.03 activity schema."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.calls.services import get_programme
from portal.indicators import snapshot
from portal.indicators.compute import Filters
from portal.models import EntryKind, GrantAgreement, Indicator, LedgerEntry, Organisation

WORLD_BANK = "44000"  # the World Bank's IATI organisation identifier
ACTIVITY = f"{WORLD_BANK}-P162246-SOCIAL-SERVICES"
MINISTRY_REF = "MK-MLSP"  # no registered identifier: the reference is the portal's own
COUNTRY = "MK"
SECTOR_SOCIAL_PROTECTION = "16010"  # DAC 5: social protection
MEASURE = {"number": "1", "percent": "2", "eur": "1"}


def _narrative(parent: ET.Element, tag: str, texts: dict[str, str], **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    for lang, text in texts.items():
        if text:
            narrative = ET.SubElement(element, "narrative")
            if lang != "en":
                narrative.set("xml:lang", lang)
            narrative.text = text
    return element


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


def activity_file(session: Session) -> bytes:
    programme = get_programme(session)
    now = clock.now().replace(microsecond=0)
    root = ET.Element("iati-activities", {"version": "2.03", "generated-datetime": now.isoformat()})
    activity = ET.SubElement(root, "iati-activity", {"last-updated-datetime": now.isoformat(), "xml:lang": "en",
                                                     "default-currency": "EUR", "humanitarian": "0"})
    ET.SubElement(activity, "iati-identifier").text = ACTIVITY
    _narrative(activity, "reporting-org", {"en": "World Bank"}, ref=WORLD_BANK, type="40")
    _narrative(activity, "title", {"en": f"{programme.name}: community social services grants",
                                   "mk": "Социјални услуги во заедницата: грантови"})
    _narrative(activity, "description", {
        "en": "Grants of the Social Services Improvement Project (IBRD loan 8902-MK) to service providers and "
              "municipalities for community social services — home help and care, personal assistance, day centres, "
              "small group homes — employing people from hard-to-employ groups."}, type="1")
    _narrative(activity, "participating-org", {"en": "World Bank"}, ref=WORLD_BANK, role="1", type="40")
    _narrative(activity, "participating-org", {"en": "Ministry of Social Policy, Demography and Youth",
                                               "mk": "Министерство за социјална политика, демографија и млади"},
               ref=MINISTRY_REF, role="2", type="10")
    ET.SubElement(activity, "activity-status", code="2")  # implementation
    ET.SubElement(activity, "activity-date", type="2", **{"iso-date": "2018-09-13"})  # actual start (approval)
    ET.SubElement(activity, "recipient-country", code=COUNTRY, percentage="100")
    ET.SubElement(activity, "sector", vocabulary="1", code=SECTOR_SOCIAL_PROTECTION, percentage="100")
    ET.SubElement(activity, "default-flow-type", code="10")  # ODA
    ET.SubElement(activity, "default-finance-type", code="421")  # standard loan
    ET.SubElement(activity, "default-aid-type", code="C01")  # project-type interventions
    ET.SubElement(activity, "default-tied-status", code="5")  # untied
    _transactions(session, activity)
    _results(session, activity)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _transactions(session: Session, activity: ET.Element) -> None:
    """One transaction per grant, kind and day: commitments (type 2) and disbursements (type 3), net of
    reversals, to the provider that holds the grant."""
    rows = session.execute(
        sa.select(LedgerEntry.kind, LedgerEntry.entry_date, GrantAgreement.number, Organisation.name,
                  sa.func.sum(LedgerEntry.amount_eur))
        .join(GrantAgreement, GrantAgreement.id == LedgerEntry.agreement_id)
        .join(Organisation, Organisation.id == GrantAgreement.organisation_id)
        .group_by(LedgerEntry.kind, LedgerEntry.entry_date, GrantAgreement.number, Organisation.name)
        .order_by(LedgerEntry.entry_date, GrantAgreement.number, LedgerEntry.kind)).all()
    for kind, day, number, provider, amount in rows:
        if not amount:
            continue
        transaction = ET.SubElement(activity, "transaction", ref=f"{number}-{kind.value}-{day.isoformat()}")
        ET.SubElement(transaction, "transaction-type", code="2" if kind == EntryKind.COMMITMENT else "3")
        ET.SubElement(transaction, "transaction-date", **{"iso-date": day.isoformat()})
        value = ET.SubElement(transaction, "value", currency="EUR", **{"value-date": day.isoformat()})
        value.text = format(Decimal(amount), "f")
        _narrative(transaction, "description", {"en": f"Grant agreement {number}"})
        _narrative(transaction, "receiver-org", {"en": provider}, type="22")


def _results(session: Session, activity: ET.Element) -> None:
    indicators = list(session.scalars(sa.select(Indicator).where(Indicator.active.is_(True)).order_by(Indicator.sort_order)))
    actual: dict[tuple[str, str], Decimal] = {}
    periods: dict[str, tuple[date, date]] = {}
    for o in snapshot.read(session, Filters(period_types=("year",)), dimensions=("total",))[0]:
        if o.dimension == "total":
            actual[(o.indicator, o.period)] = o.value
            periods[o.period] = (o.period_start, o.period_end)
    by_level = defaultdict(list)
    for indicator in indicators:
        by_level[indicator.level.value].append(indicator)
    for level, members in by_level.items():
        result = ET.SubElement(activity, "result", type="2" if level == "objective" else "1", **{"aggregation-status": "1"})
        _narrative(result, "title", {"en": "Project development objective: access to and quality of social services"
                                     if level == "objective" else "Intermediate results"})
        for indicator in members:
            element = ET.SubElement(result, "indicator", measure=MEASURE.get(indicator.unit, "1"), ascending="1")
            _narrative(element, "title", {"en": indicator.name_en, "mk": indicator.name_mk, "sq": indicator.name_sq})
            if indicator.definition_en:
                _narrative(element, "description", {"en": indicator.definition_en})
            ET.SubElement(element, "baseline", year=str(indicator.baseline_date.year),
                          **{"iso-date": indicator.baseline_date.isoformat(), "value": _number(indicator.baseline)})
            years = sorted({int(y) for y in (indicator.targets or {})} | {int(p) for (code, p) in actual if code == indicator.code})
            for year in years:
                period = ET.SubElement(element, "period")
                start, end = periods.get(str(year), (date(year, 1, 1), date(year, 12, 31)))
                ET.SubElement(period, "period-start", **{"iso-date": start.isoformat()})
                ET.SubElement(period, "period-end", **{"iso-date": end.isoformat()})
                target = indicator.target_for(year)
                if target is not None:
                    ET.SubElement(period, "target", value=_number(target))
                if (indicator.code, str(year)) in actual:
                    ET.SubElement(period, "actual", value=_number(actual[(indicator.code, str(year))]))
