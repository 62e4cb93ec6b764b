"""The default results framework (DOMAIN.md) and the reporting calendar, loaded once and then kept as
data: an administrator's corrections are never overwritten."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import CalendarPeriod, Indicator, IndicatorLevel

CALENDAR_FIRST_YEAR = 2018
CALENDAR_LAST_YEAR = 2035

BASELINE_DATE = date(2018, 9, 13)  # the loan's approval
END_DATE = date(2028, 12, 31)

DISAGGREGATIONS = ("service_type", "municipality", "region", "sex", "age_band", "disability", "hte_category", "call")

# code, unit, level, (mk, sq, en), (definition mk, sq, en), baseline, {year: target}, end target, disaggregations, source
DEFAULTS = [
    ("BEN", "number", IndicatorLevel.OBJECTIVE,
     ("Корисници на социјални услуги во заедницата", "Përfitues të shërbimeve sociale në bashkësi",
      "Beneficiaries of community-based social services"),
     ("Лица што ја добиле услугата во последниот известен месец од периодот: за секој грант, неговиот последен "
      "прифатен месечен извештај во периодот, собрано за сите грантови.",
      "Personat që kanë marrë shërbimin në muajin e fundit të raportuar të periudhës: për çdo grant, raporti i tij i "
      "fundit mujor i pranuar në periudhë, i mbledhur për të gjitha grantet.",
      "People served in the latest reported month of the period: for each grant, its latest accepted monthly "
      "report in the period, added up over the grants."),
     "0", {"2024": "1200", "2025": "1600", "2026": "2000", "2027": "2400"}, "2500",
     ["service_type", "municipality", "region", "sex", "age_band", "disability"], "accepted"),
    ("BEN_FEMALE", "percent", IndicatorLevel.OBJECTIVE,
     ("Корисници: жени и девојчиња (%)", "Përfitues: gra dhe vajza (%)", "Beneficiaries who are women and girls (%)"),
     ("Учество на жените и девојчињата во корисниците (BEN).", "Pjesa e grave dhe vajzave te përfituesit (BEN).",
      "Share of women and girls among the beneficiaries (BEN)."),
     "0", {}, "55", ["municipality", "region"], "accepted"),
    ("BEN_NEW", "number", IndicatorLevel.INTERMEDIATE,
     ("Нови корисници во периодот", "Përfitues të rinj në periudhë", "New beneficiaries in the period"),
     ("Збир на корисниците пријавени како нови во прифатените месечни извештаи од периодот.",
      "Shuma e përfituesve të raportuar si të rinj në raportet mujore të pranuara të periudhës.",
      "Sum of the beneficiaries reported as new this month in the accepted monthly reports of the period."),
     "0", {}, None, ["service_type", "municipality", "region"], "accepted"),
    ("HTE", "number", IndicatorLevel.OBJECTIVE,
     ("Тешко вработливи лица ангажирани како даватели на услуги", "Persona të vështirë për punësim të angazhuar si "
      "ofrues shërbimesh", "Hard-to-employ persons engaged as service providers"),
     ("Вработени од групите тешко вработливи лица (секое лице во една примарна група) во последниот известен месец "
      "од периодот, собрано за сите грантови.",
      "Të punësuar nga grupet e vështira për punësim (çdo person në një grup parësor) në muajin e fundit të raportuar "
      "të periudhës, të mbledhur për të gjitha grantet.",
      "Staff from hard-to-employ groups (each person under one primary group) in the latest reported month of the "
      "period, added up over the grants."),
     "0", {"2024": "500", "2025": "700", "2026": "800", "2027": "850"}, "900",
     ["hte_category", "sex", "municipality", "region"], "accepted"),
    ("HTE_FEMALE", "percent", IndicatorLevel.INTERMEDIATE,
     ("Тешко вработливи лица: жени (%)", "Persona të vështirë për punësim: gra (%)",
      "Hard-to-employ persons engaged: women (%)"),
     ("Учество на жените во HTE.", "Pjesa e grave te HTE.", "Share of women in HTE."),
     "0", {}, "70", ["municipality", "region"], "accepted"),
    ("MUN", "number", IndicatorLevel.INTERMEDIATE,
     ("Општини со нови социјални услуги што работат", "Komuna me shërbime të reja sociale që funksionojnë",
      "Municipalities with new social services operating"),
     ("Општини со барем еден грант чиј прифатен месечен извештај од периодот покажува корисници.",
      "Komuna me të paktën një grant, raporti mujor i pranuar i të cilit në periudhë tregon përfitues.",
      "Municipalities with at least one grant whose accepted monthly report in the period shows beneficiaries."),
     "0", {"2025": "40", "2026": "43", "2027": "50"}, "60", ["region", "service_type"], "accepted"),
    ("GRANTS", "number", IndicatorLevel.INTERMEDIATE,
     ("Активни грантови", "Grante aktive", "Grants active"),
     ("Договори за грант со средства обврзани во книгата на трансакции, чиј рок опфаќа барем еден месец од периодот.",
      "Marrëveshje granti me fonde të angazhuara në libër, afati i të cilave përfshin së paku një muaj të periudhës.",
      "Grant agreements with money committed in the ledger whose term covers at least one month of the period."),
     "0", {}, None, ["region", "municipality"], "ledger"),
    ("ONTIME", "percent", IndicatorLevel.INTERMEDIATE,
     ("Месечни извештаи поднесени навреме (%)", "Raporte mujore të dorëzuara në kohë (%)",
      "Monthly reports submitted on time (%)"),
     ("Месечни извештаи поднесени до рокот, од сите извештаи со поминат рок во периодот.",
      "Raporte mujore të dorëzuara brenda afatit, nga të gjitha raportet me afat të kaluar në periudhë.",
      "Monthly reports first submitted by their due date, of all the reports whose due date has passed in the period."),
     "0", {}, "90", ["region"], "reports"),
    ("COMMITTED", "eur", IndicatorLevel.INTERMEDIATE,
     ("Обврзани средства (EUR)", "Fonde të angazhuara (EUR)", "Funds committed (EUR)"),
     ("Обврски во книгата на трансакции (потпишани договори и анекси, со сторната) до крајот на периодот.",
      "Angazhimet në libër (marrëveshje të nënshkruara dhe amendamente, me stornime) deri në fund të periudhës.",
      "Commitments in the ledger (signed agreements and amendments, net of reversals) up to the end of the period."),
     "0", {}, "10800000", ["call", "municipality", "region", "service_type"], "ledger"),
    ("COMMITTED_PCT", "percent", IndicatorLevel.INTERMEDIATE,
     ("Обврзани средства (% од пакетот)", "Fonde të angazhuara (% e paketës)", "Funds committed (% of the envelope)"),
     ("COMMITTED како процент од пакетот на програмата.", "COMMITTED si përqindje e paketës së programit.",
      "COMMITTED as a share of the programme envelope."),
     "0", {}, "100", [], "ledger"),
    ("DISBURSED", "eur", IndicatorLevel.INTERMEDIATE,
     ("Исплатени средства (EUR)", "Fonde të disbursuara (EUR)", "Funds disbursed (EUR)"),
     ("Исплатени транши во книгата на трансакции до крајот на периодот.",
      "Këste të paguara në libër deri në fund të periudhës.",
      "Tranches paid in the ledger up to the end of the period."),
     "0", {}, "10800000", ["call", "municipality", "region", "service_type"], "ledger"),
    ("DISBURSED_PCT", "percent", IndicatorLevel.INTERMEDIATE,
     ("Исплатени средства (% од пакетот)", "Fonde të disbursuara (% e paketës)", "Funds disbursed (% of the envelope)"),
     ("DISBURSED како процент од пакетот на програмата.", "DISBURSED si përqindje e paketës së programit.",
      "DISBURSED as a share of the programme envelope."),
     "0", {}, "100", [], "ledger"),
]

SOURCES = {"accepted": "Accepted monthly reports (the version in force of each report)",
           "reports": "Monthly reports: first submission and due date", "ledger": "The programme ledger"}


#: How the programme runs rather than what it achieves: not published as IATI results unless an
#: administrator ticks it in the catalogue.
NOT_IATI_RESULTS = frozenset({"ONTIME", "COMMITTED", "COMMITTED_PCT", "DISBURSED", "DISBURSED_PCT"})


def _month_end(month: date) -> date:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return following - timedelta(days=1)


def calendar_rows(first_year: int = CALENDAR_FIRST_YEAR, last_year: int = CALENDAR_LAST_YEAR) -> list[dict]:
    rows = []
    for year in range(first_year, last_year + 1):
        for m in range(1, 13):
            month = date(year, m, 1)
            quarter, half = (m - 1) // 3 + 1, (m - 1) // 6 + 1
            spans = {
                "month": (f"{year}-{m:02d}", month, _month_end(month)),
                "quarter": (f"{year}-Q{quarter}", date(year, 3 * quarter - 2, 1), _month_end(date(year, 3 * quarter, 1))),
                "half": (f"{year}-H{half}", date(year, 6 * half - 5, 1), _month_end(date(year, 6 * half, 1))),
                "year": (str(year), date(year, 1, 1), date(year, 12, 31)),
            }
            for period_type, (key, start, end) in spans.items():
                rows.append({"period_type": period_type, "period_key": key, "month": month,
                             "month_end": _month_end(month), "period_start": start, "period_end": end})
    return rows


def load_defaults(session: Session) -> dict[str, int]:
    added = {"calendar_periods": 0, "indicators": 0}
    if not session.scalar(sa.select(sa.func.count(CalendarPeriod.id))):
        rows = calendar_rows()
        session.execute(sa.insert(CalendarPeriod), rows)
        added["calendar_periods"] = len(rows)
    codes = set(session.scalars(sa.select(Indicator.code)))
    for order, (code, unit, level, names, definitions, baseline, targets, end, disaggregations, source) in enumerate(
            DEFAULTS, start=1):
        if code in codes:
            continue
        session.add(Indicator(code=code, unit=unit, level=level, name_mk=names[0], name_sq=names[1], name_en=names[2],
                              definition_mk=definitions[0], definition_sq=definitions[1], definition_en=definitions[2],
                              baseline=Decimal(baseline), baseline_date=BASELINE_DATE, targets=targets,
                              end_target=Decimal(end) if end is not None else None,
                              end_target_date=END_DATE if end is not None else None,
                              disaggregations=disaggregations, source=SOURCES[source], sort_order=order * 10,
                              iati_result=code not in NOT_IATI_RESULTS))
        added["indicators"] += 1
    session.flush()
    return added
