"""The grants component as one IATI 2.03 activity, published by the ministry that runs it.

- Reporting organisation: the ministry (type 10), its identifier from `IATI_REPORTING_ORG_REF`, or its
  tax number under the registration agency prefix `IATI_ORG_PREFIX` (default MK-CRN, the Central
  Registry); the activity identifier starts with it.
- The World Bank is the funding participating organisation; the IBRD loan and the World Bank project
  are other identifiers owned by it.
- Flow type 20 (other official flows: an IBRD loan is not concessional), finance type 110 (the money
  reaches providers as grants), aid type C01 (project-type interventions).
- Receivers typed from their legal form, with their tax number as reference under the same prefix.
- Narratives tagged with the language they are written in (Cyrillic: mk; Albanian letters: sq).
- Budgets per year and planned disbursements from the agreements' tranche plans; commitments and
  disbursements from the ledger; planned and actual start and end dates from the agreements.
- Results: only indicators the catalogue marks as results, with baseline, yearly targets, the end
  target and actuals per year; `last-updated-datetime` is when the figures were computed.

Built with the standard library; the tests validate it against the IATI 2.03 schema and the
Standard's activity rulesets."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from portal import clock
from portal.calls.services import get_programme
from portal.indicators import snapshot, suppression
from portal.indicators.compute import Filters
from portal.models import (
    AgreementVersion,
    EntryKind,
    GrantAgreement,
    Indicator,
    LedgerEntry,
    LegalForm,
    Organisation,
    OrgKind,
    Tranche,
    TrancheStatus,
)

WORLD_BANK = "44000"  # the World Bank's IATI organisation identifier
COUNTRY = "MK"
SECTOR_SOCIAL_PROTECTION = "16010"  # DAC 5: social protection
MEASURE = {"number": "1", "percent": "2", "eur": "1"}
ORG_TYPE = {LegalForm.ASSOCIATION: "22", LegalForm.COMPANY: "72", LegalForm.PUBLIC_INSTITUTION: "15",
            LegalForm.INDIVIDUAL: "90"}
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
ALBANIAN = re.compile(r"[ëËçÇ]")
REF_UNSAFE = re.compile(r"[/&|?\s]+")


def language_of(text: str) -> str | None:
    """The language a name is written in, as far as its letters tell (None: the file's default, English)."""
    if CYRILLIC.search(text or ""):
        return "mk"
    if ALBANIAN.search(text or ""):
        return "sq"
    return None


def _narrative(parent: ET.Element, tag: str, texts: list[tuple[str | None, str]], **attrs: str) -> ET.Element:
    """`texts`: (language or None for English, text) pairs."""
    element = ET.SubElement(parent, tag, attrs)
    for lang, text in texts:
        if text:
            narrative = ET.SubElement(element, "narrative")
            if lang and lang != "en":
                narrative.set("xml:lang", lang)
            narrative.text = text
    return element


def _named(text: str) -> list[tuple[str | None, str]]:
    return [(language_of(text), text)]


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


def _money(value: Decimal) -> str:
    return format(Decimal(value).quantize(Decimal("0.01")), "f")


def _ref(value: str) -> str:
    return REF_UNSAFE.sub("-", value.strip()).strip("-")


def reporting_org_ref(session: Session) -> str:
    config = current_app.config
    if config.get("IATI_REPORTING_ORG_REF"):
        return _ref(config["IATI_REPORTING_ORG_REF"])
    ministry = session.scalar(sa.select(Organisation).where(Organisation.kind == OrgKind.MINISTRY).order_by(Organisation.id))
    number = ministry.tax_number if ministry is not None and ministry.tax_number else "MLSP"
    return _ref(f"{config['IATI_ORG_PREFIX']}-{number}")


def activity_identifier(session: Session) -> str:
    return f"{reporting_org_ref(session)}-{_ref(current_app.config['IATI_PROJECT_ID'])}-GRANTS"


def _receiver(parent: ET.Element, tag: str, organisation: Organisation) -> None:
    attrs = {"type": "11" if organisation.kind == OrgKind.MUNICIPALITY else ORG_TYPE.get(organisation.legal_form, "90")}
    if organisation.tax_number:
        attrs["ref"] = _ref(f"{current_app.config['IATI_ORG_PREFIX']}-{organisation.tax_number}")
    _narrative(parent, tag, _named(organisation.name), **attrs)


def activity_file(session: Session) -> bytes:
    programme = get_programme(session)
    config = current_app.config
    now = clock.now().replace(microsecond=0)
    snap = snapshot.ensure(session, now)
    as_of = (snap.refresh.finished_at or snap.refresh.started_at or now).replace(microsecond=0)
    org_ref = reporting_org_ref(session)
    root = ET.Element("iati-activities", {"version": "2.03", "generated-datetime": now.isoformat()})
    root.append(ET.Comment(f" Figures as of {as_of.isoformat()} (UTC): the indicator values were computed then; the "
                           "transactions, budgets and planned disbursements are read from the ledger and the "
                           "agreements when the file is generated. "))
    activity = ET.SubElement(root, "iati-activity", {"last-updated-datetime": as_of.isoformat(), "xml:lang": "en",
                                                     "default-currency": "EUR", "humanitarian": "0"})
    ET.SubElement(activity, "iati-identifier").text = activity_identifier(session)
    ministry_names = [("mk", "Министерство за социјална политика, демографија и млади"),
                      ("sq", "Ministria e Politikës Sociale, Demografisë dhe Rinisë"),
                      ("en", "Ministry of Social Policy, Demography and Youth")]
    _narrative(activity, "reporting-org", ministry_names, ref=org_ref, type="10")
    _narrative(activity, "title", [("en", "Community social services grants"),
                                   ("mk", "Грантови за социјални услуги во заедницата"),
                                   ("sq", "Grante për shërbime sociale në komunitet")])
    _narrative(activity, "description", [
        ("en", f"{programme.name}: grants financed by an IBRD loan ({config['IATI_LOAN_ID']}) to service providers "
               "and municipalities for community social services — home help and care, personal assistance, day "
               "centres, small group homes — employing people from hard-to-employ groups.")], type="1")
    _narrative(activity, "participating-org", [("en", "World Bank")], ref=WORLD_BANK, role="1", type="40")
    _narrative(activity, "participating-org", ministry_names, ref=org_ref, role="2", type="10")
    _narrative(activity, "participating-org", ministry_names, ref=org_ref, role="4", type="10")
    for ref, label in ((config["IATI_PROJECT_ID"], "World Bank project"), (config["IATI_LOAN_ID"], "IBRD loan")):
        other = ET.SubElement(activity, "other-identifier", ref=_ref(ref), type="A9")
        _narrative(other, "owner-org", [("en", f"World Bank ({label})")], ref=WORLD_BANK)
    ET.SubElement(activity, "activity-status", code="2")  # implementation
    _dates(session, activity)
    ET.SubElement(activity, "recipient-country", code=COUNTRY, percentage="100")
    ET.SubElement(activity, "sector", vocabulary="1", code=SECTOR_SOCIAL_PROTECTION, percentage="100")
    ET.SubElement(activity, "default-flow-type", code="20")  # OOF: an IBRD loan
    ET.SubElement(activity, "default-finance-type", code="110")  # passed on as standard grants
    ET.SubElement(activity, "default-aid-type", code="C01")  # project-type interventions
    ET.SubElement(activity, "default-tied-status", code="5")  # untied
    _budgets_and_plans(session, activity, now.date())
    _transactions(session, activity, now.date())
    _results(session, activity)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _terms(session: Session) -> list[tuple[GrantAgreement, AgreementVersion]]:
    newest = (sa.select(AgreementVersion.agreement_id, sa.func.max(AgreementVersion.version).label("version"))
              .group_by(AgreementVersion.agreement_id).subquery())
    return list(session.execute(
        sa.select(GrantAgreement, AgreementVersion)
        .join(AgreementVersion, AgreementVersion.agreement_id == GrantAgreement.id)
        .join(newest, sa.and_(newest.c.agreement_id == AgreementVersion.agreement_id,
                              newest.c.version == AgreementVersion.version))
        .order_by(GrantAgreement.number)).tuples())


def _dates(session: Session, activity: ET.Element) -> None:
    """Planned start (the first agreement's start), actual start (the first signature), planned end (the
    last agreement's end); actual end once every agreement has ended."""
    terms = _terms(session)
    if not terms:
        ET.SubElement(activity, "activity-date", type="1", **{"iso-date": current_app.config["IATI_PLANNED_START"]})
        return
    first_signature = session.scalar(sa.select(sa.func.min(AgreementVersion.signature_date))) or terms[0][1].start_date
    start = min(v.start_date for _, v in terms)
    end = max(v.end_date for _, v in terms)
    today = clock.utc_to_skopje(clock.now()).date()
    ET.SubElement(activity, "activity-date", type="1", **{"iso-date": start.isoformat()})
    ET.SubElement(activity, "activity-date", type="2", **{"iso-date": min(first_signature, today).isoformat()})
    ET.SubElement(activity, "activity-date", type="3", **{"iso-date": end.isoformat()})
    if end < today:
        ET.SubElement(activity, "activity-date", type="4", **{"iso-date": end.isoformat()})


def _budgets_and_plans(session: Session, activity: ET.Element, today: date) -> None:
    """A committed budget per calendar year (the tranches planned in it), then one planned disbursement per
    tranche not yet paid, to the provider that holds the grant."""
    rows = session.execute(
        sa.select(Tranche, Organisation).join(GrantAgreement, GrantAgreement.id == Tranche.agreement_id)
        .join(Organisation, Organisation.id == GrantAgreement.organisation_id)
        .order_by(Tranche.planned_date, Tranche.id)).tuples().all()
    by_year: dict[int, Decimal] = defaultdict(Decimal)
    for tranche, _org in rows:
        by_year[tranche.planned_date.year] += tranche.amount_eur
    for year, amount in sorted(by_year.items()):
        budget = ET.SubElement(activity, "budget", type="1", status="2")
        ET.SubElement(budget, "period-start", **{"iso-date": date(year, 1, 1).isoformat()})
        ET.SubElement(budget, "period-end", **{"iso-date": date(year, 12, 31).isoformat()})
        value = ET.SubElement(budget, "value", currency="EUR", **{"value-date": date(year, 1, 1).isoformat()})
        value.text = _money(amount)
    for tranche, organisation in rows:
        if tranche.status == TrancheStatus.PAID:
            continue
        day = tranche.planned_date
        planned = ET.SubElement(activity, "planned-disbursement", type="1")
        ET.SubElement(planned, "period-start", **{"iso-date": date(day.year, 3 * ((day.month - 1) // 3) + 1, 1).isoformat()})
        ET.SubElement(planned, "period-end", **{"iso-date": _quarter_end(day).isoformat()})
        value = ET.SubElement(planned, "value", currency="EUR", **{"value-date": day.isoformat()})
        value.text = _money(tranche.amount_eur)
        _receiver(planned, "receiver-org", organisation)


def _quarter_end(day: date) -> date:
    """The last day of the quarter `day` falls in."""
    month = 3 * ((day.month - 1) // 3 + 1)
    following = date(day.year + month // 12, month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


def _transactions(session: Session, activity: ET.Element, today: date) -> None:
    """One transaction per grant, kind and day: commitments (type 2) and disbursements (type 3), net of
    reversals, to the provider that holds the grant, as grants (finance type 110)."""
    rows = session.execute(
        sa.select(LedgerEntry.kind, LedgerEntry.entry_date, GrantAgreement.number, Organisation,
                  sa.func.sum(LedgerEntry.amount_eur))
        .join(GrantAgreement, GrantAgreement.id == LedgerEntry.agreement_id)
        .join(Organisation, Organisation.id == GrantAgreement.organisation_id)
        .group_by(LedgerEntry.kind, LedgerEntry.entry_date, GrantAgreement.number, Organisation)
        .order_by(LedgerEntry.entry_date, GrantAgreement.number, LedgerEntry.kind)).all()
    for kind, day, number, provider, amount in rows:
        if not amount or day > today:
            continue
        transaction = ET.SubElement(activity, "transaction", ref=_ref(f"{number}-{kind.value}-{day.isoformat()}"))
        ET.SubElement(transaction, "transaction-type", code="2" if kind == EntryKind.COMMITMENT else "3")
        ET.SubElement(transaction, "transaction-date", **{"iso-date": day.isoformat()})
        value = ET.SubElement(transaction, "value", currency="EUR", **{"value-date": day.isoformat()})
        value.text = _money(Decimal(amount))
        _narrative(transaction, "description", [("en", f"Grant agreement {number}")])
        _receiver(transaction, "receiver-org", provider)
        ET.SubElement(transaction, "finance-type", code="110")


def _results(session: Session, activity: ET.Element) -> None:
    indicators = list(session.scalars(sa.select(Indicator).where(Indicator.active.is_(True), Indicator.iati_result.is_(True))
                                      .order_by(Indicator.sort_order)))
    actual: dict[tuple[str, str], Decimal] = {}
    periods: dict[str, tuple[date, date]] = {}
    # Public: small counts of people withheld, as for the monitors (portal.indicators.suppression).
    for o in suppression.read(session, Filters(period_types=("year",)), False, dimensions=("total",))[0]:
        if o.dimension == "total" and o.value is not None:
            actual[(o.indicator, o.period)] = o.value
            periods[o.period] = (o.period_start, o.period_end)
    by_level = defaultdict(list)
    for indicator in indicators:
        by_level[indicator.level.value].append(indicator)
    for level, members in by_level.items():
        result = ET.SubElement(activity, "result", type="2" if level == "objective" else "1", **{"aggregation-status": "1"})
        _narrative(result, "title", [("en", "Project development objective: access to and quality of social services"
                                      if level == "objective" else "Intermediate results")])
        for indicator in members:
            element = ET.SubElement(result, "indicator", measure=MEASURE.get(indicator.unit, "1"), ascending="1")
            _narrative(element, "title", [("en", indicator.name_en), ("mk", indicator.name_mk), ("sq", indicator.name_sq)])
            if indicator.definition_en or indicator.definition_mk:
                _narrative(element, "description", [("en", indicator.definition_en), ("mk", indicator.definition_mk),
                                                    ("sq", indicator.definition_sq)])
            ET.SubElement(element, "baseline", year=str(indicator.baseline_date.year),
                          **{"iso-date": indicator.baseline_date.isoformat(), "value": _number(indicator.baseline)})
            years = sorted({int(y) for y in (indicator.targets or {})}
                           | {int(p) for (code, p) in actual if code == indicator.code}
                           | ({indicator.end_target_date.year} if indicator.end_target_date else set()))
            for year in years:
                period = ET.SubElement(element, "period")
                start, end = periods.get(str(year), (date(year, 1, 1), date(year, 12, 31)))
                ET.SubElement(period, "period-start", **{"iso-date": start.isoformat()})
                ET.SubElement(period, "period-end", **{"iso-date": end.isoformat()})
                target = indicator.target_for(year)
                if target is None and indicator.end_target_date and indicator.end_target_date.year == year:
                    target = indicator.end_target
                if target is not None:
                    ET.SubElement(period, "target", value=_number(target))
                if (indicator.code, str(year)) in actual:
                    ET.SubElement(period, "actual", value=_number(actual[(indicator.code, str(year))]))
