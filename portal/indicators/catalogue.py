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

DISAGGREGATIONS = ("service_type", "municipality", "region", "sex", "age_band", "disability", "hte_category", "call",
                   "grievance_category")

# code, unit, level, (mk, sq, en), (definition mk, sq, en), baseline, {year: target}, end target, disaggregations, source
DEFAULTS = [
    ("BEN", "number", IndicatorLevel.OBJECTIVE,
     ("Корисници на социјални услуги во заедницата (во месецот)", "Përfitues të shërbimeve sociale në bashkësi (në muaj)",
      "Beneficiaries of community-based social services (in the month)"),
     ("Состојба на крајот на периодот: лицата што ја добиле услугата во последниот месец од периодот, за секој грант "
      "од неговиот прифатен извештај за тој месец или, ако го нема, од последниот прифатен месец во последните "
      "неколку месеци (пренесено); грантовите без таков месец се прикажани како недостасуваат.",
      "Gjendja në fund të periudhës: personat që kanë marrë shërbimin në muajin e fundit të periudhës, për çdo grant "
      "nga raporti i tij i pranuar për atë muaj ose, nëse mungon, nga muaji i fundit i pranuar brenda disa muajve "
      "të fundit (i bartur); grantet pa një muaj të tillë shfaqen si mungojnë.",
      "Stock at the period's end: people served in the period's last month, for each grant from its accepted report "
      "for that month or, when it is missing, from its latest accepted month within the carry window (carried); "
      "grants with no such month are shown as missing."),
     "0", {}, None,
     ["service_type", "municipality", "region", "sex", "age_band", "disability"], "accepted"),
    ("BEN_CUM", "number", IndicatorLevel.OBJECTIVE,
     ("Лица опслужени од почетокот", "Persona të shërbyer që nga fillimi", "People served since the start"),
     ("Кумулативно: збир на новите корисници од сите прифатени месечни извештаи од почетокот на програмата до "
      "крајот на периодот, со поделба по пол (од кои жени), возраст и попреченост.",
      "Kumulative: shuma e përfituesve të rinj nga të gjitha raportet mujore të pranuara që nga fillimi i programit "
      "deri në fund të periudhës, sipas gjinisë (nga të cilët gra), moshës dhe aftësisë së kufizuar.",
      "Cumulative: the new beneficiaries of every accepted monthly report from the programme's start to the end of "
      "the period, by sex (of which women), age band and disability."),
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
     "0", {}, None, ["service_type", "municipality", "region", "sex", "age_band", "disability"], "accepted"),
    ("HTE", "number", IndicatorLevel.OBJECTIVE,
     ("Тешко вработливи лица ангажирани како даватели на услуги (во месецот)", "Persona të vështirë për punësim të "
      "angazhuar si ofrues shërbimesh (në muaj)", "Hard-to-employ persons engaged as service providers (in the month)"),
     ("Состојба на крајот на периодот: вработените од групите тешко вработливи лица (секое лице во една примарна "
      "група) во последниот месец од периодот, со истото правило за пренесување како кај корисниците.",
      "Gjendja në fund të periudhës: të punësuarit nga grupet e vështira për punësim (çdo person në një grup "
      "parësor) në muajin e fundit të periudhës, me të njëjtin rregull bartjeje si te përfituesit.",
      "Stock at the period's end: staff from hard-to-employ groups (each person under one primary group) in the "
      "period's last month, with the same carry rule as the beneficiaries."),
     "0", {}, None, ["hte_category", "sex", "municipality", "region"], "accepted"),
    ("HTE_NEW", "number", IndicatorLevel.INTERMEDIATE,
     ("Новововработени тешко вработливи лица во периодот", "Persona të vështirë për punësim të punësuar rishtas në "
      "periudhë", "Hard-to-employ persons newly hired in the period"),
     ("Збир на новововработените од групите тешко вработливи лица во прифатените месечни извештаи од периодот.",
      "Shuma e të punësuarve të rinj nga grupet e vështira për punësim në raportet mujore të pranuara të periudhës.",
      "Sum of the newly hired staff from hard-to-employ groups in the accepted monthly reports of the period."),
     "0", {}, None, ["hte_category", "sex", "municipality", "region"], "accepted"),
    ("HTE_CUM", "number", IndicatorLevel.OBJECTIVE,
     ("Тешко вработливи лица ангажирани од почетокот", "Persona të vështirë për punësim të angazhuar që nga fillimi",
      "Hard-to-employ persons engaged since the start"),
     ("Кумулативно: збир на новововработените од групите тешко вработливи лица од почетокот на програмата до "
      "крајот на периодот, со поделба по пол (од кои жени).",
      "Kumulative: shuma e të punësuarve të rinj nga grupet e vështira për punësim që nga fillimi i programit deri "
      "në fund të periudhës, sipas gjinisë (nga të cilët gra).",
      "Cumulative: the newly hired staff from hard-to-employ groups from the programme's start to the end of the "
      "period, by sex (of which women)."),
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
     ("Состојба на крајот на периодот: општини со барем еден грант што покажува корисници во последниот месец од "
      "периодот (со истото правило за пренесување како кај корисниците).",
      "Gjendja në fund të periudhës: komuna me të paktën një grant që tregon përfitues në muajin e fundit të "
      "periudhës (me të njëjtin rregull bartjeje si te përfituesit).",
      "Stock at the period's end: municipalities with at least one grant showing beneficiaries in the period's last "
      "month (with the same carry rule as the beneficiaries)."),
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

DEFAULTS += [
    ("GRM_RECEIVED", "number", IndicatorLevel.INTERMEDIATE,
     ("Примени поплаки", "Ankesa të pranuara", "Grievances received"),
     ("Поплаки примени во периодот (месец на прием, време во Скопје), преку механизмот за поплаки на портатот. "
      "Чувствителните поплаки не се прикажуваат по место или категорија.",
      "Ankesa të pranuara në periudhë (muaji i pranimit, ora e Shkupit), përmes mekanizmit të ankesave të portalit. "
      "Ankesat e ndjeshme nuk shfaqen sipas vendit ose kategorisë.",
      "Grievances received in the period (month of receipt, Skopje time) through the portal's grievance "
      "mechanism. Sensitive cases are never shown by place or category."),
     "0", {}, None, ["municipality", "region", "grievance_category"], "grievances"),
    ("GRM_ACK_ONTIME", "percent", IndicatorLevel.INTERMEDIATE,
     ("Поплаки потврдени навреме (%)", "Ankesa të konfirmuara në kohë (%)", "Grievances acknowledged on time (%)"),
     ("Од поплаките примени во периодот чиј рок за потврда поминал или што се потврдени, удел потврдени до рокот.",
      "Nga ankesat e pranuara në periudhë, afati i konfirmimit të të cilave ka kaluar ose që janë konfirmuar, pjesa "
      "e konfirmuar brenda afatit.",
      "Of the grievances received in the period whose acknowledgement was due or that were acknowledged, the share "
      "acknowledged by the deadline."),
     "0", {}, "100", ["municipality", "region", "grievance_category"], "grievances"),
    ("GRM_RESOLVED_ONTIME", "percent", IndicatorLevel.INTERMEDIATE,
     ("Поплаки решени навреме (%)", "Ankesa të zgjidhura në kohë (%)", "Grievances resolved on time (%)"),
     ("Од поплаките примени во периодот чиј рок за решавање поминал или што се затворени, удел затворени (првпат) "
      "до рокот.",
      "Nga ankesat e pranuara në periudhë, afati i zgjidhjes së të cilave ka kaluar ose që janë mbyllur, pjesa e "
      "mbyllur (për herë të parë) brenda afatit.",
      "Of the grievances received in the period whose resolution was due or that were closed, the share first "
      "closed by the deadline."),
     "0", {}, "90", ["municipality", "region", "grievance_category"], "grievances"),
]

DEFAULTS += [
    ("BEN_UNIQUE", "number", IndicatorLevel.OBJECTIVE,
     ("Различни лица опслужени од почетокот", "Persona të ndryshëm të shërbyer që nga fillimi",
      "Different people served since the start"),
     ("Кумулативно, секое лице еднаш: каде што грантот води регистар на корисници, различните лица во регистарот "
      "(точно; повлечените записи не се бројат), каде што нема регистар, збир на новите корисници од прифатените "
      "месечни извештаи (проценка). Секоја вредност кажува дали е точна, проценета или мешана. По пол (од кои "
      "жени), вид услуга, општина и плански регион на грантот; лице во две услуги се брои во секоја од нив.",
      "Kumulative, çdo person një herë: ku granti mban regjistër përdoruesish, personat e ndryshëm në regjistër "
      "(saktë; regjistrimet e tërhequra nuk numërohen), ku nuk ka regjistër, shuma e përfituesve të rinj nga "
      "raportet mujore të pranuara (vlerësim). Çdo vlerë tregon nëse është e saktë, e vlerësuar apo e përzier. "
      "Sipas gjinisë (nga të cilët gra), llojit të shërbimit, komunës dhe rajonit planor të grantit; një person në "
      "dy shërbime numërohet në secilin prej tyre.",
      "Cumulative, each person once: where a grant keeps a service-user register, the different people in it "
      "(exact; withdrawn entries never count); where it keeps none, the new beneficiaries of its accepted monthly "
      "reports added up (estimated). Each value says whether it is exact, estimated or mixed. By sex (of which "
      "women), service type, and the grant's municipality and planning region; a person in two services counts in "
      "each of them."),
     "0", {}, None, ["service_type", "municipality", "region", "sex"], "register"),
]

SOURCES = {"register": "The service-user registers (different people), and accepted monthly reports where a grant "
                       "keeps none",
           "accepted": "Accepted monthly reports (the version in force of each report)",
           "reports": "Monthly reports: first submission and due date", "ledger": "The programme ledger",
           "grievances": "The grievance redress mechanism: cases received, acknowledged and closed"}


#: What each indicator measures (portal.indicators.rollup): the time rule its periods follow.
MEASURES = {
    "BEN": "stock", "HTE": "stock", "MUN": "stock",
    "BEN_CUM": "cumulative", "HTE_CUM": "cumulative", "COMMITTED": "cumulative", "DISBURSED": "cumulative",
    "BEN_UNIQUE": "cumulative_unique",
    "BEN_NEW": "flow", "HTE_NEW": "flow", "GRANTS": "flow",
    "BEN_FEMALE": "ratio", "HTE_FEMALE": "ratio", "ONTIME": "ratio", "COMMITTED_PCT": "ratio", "DISBURSED_PCT": "ratio",
    "GRM_RECEIVED": "flow", "GRM_ACK_ONTIME": "ratio", "GRM_RESOLVED_ONTIME": "ratio",
}

#: How the programme runs rather than what it achieves: not published as IATI results unless an
#: administrator ticks it in the catalogue.
NOT_IATI_RESULTS = frozenset({"ONTIME", "COMMITTED", "COMMITTED_PCT", "DISBURSED", "DISBURSED_PCT", "GRM_RECEIVED",
                              "GRM_ACK_ONTIME"})


#: Where an indicator added after the first catalogue sits (beside the one it refines), not at the end.
SORT_ORDERS = {"BEN_UNIQUE": 25}


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


#: The first English definitions of the stocks (before issue 15 defined the measures): a catalogue that still holds
#: them unedited is brought to the current wording by `load_defaults`.
PREVIOUS_DEFINITIONS = {
    "BEN": "People served in the latest reported month of the period: for each grant, its latest accepted monthly",
    "HTE": "Staff from hard-to-employ groups (each person under one primary group) in the latest reported month of",
    "MUN": "Municipalities with at least one grant whose accepted monthly report in the period shows beneficiaries.",
}


def load_defaults(session: Session) -> dict[str, int]:
    added = {"calendar_periods": 0, "indicators": 0}
    if not session.scalar(sa.select(sa.func.count(CalendarPeriod.id))):
        rows = calendar_rows()
        session.execute(sa.insert(CalendarPeriod), rows)
        added["calendar_periods"] = len(rows)
    existing = {i.code: i for i in session.scalars(sa.select(Indicator))}
    for order, (code, unit, level, names, definitions, baseline, targets, end, disaggregations, source) in enumerate(
            DEFAULTS, start=1):
        if code in existing:
            indicator = existing[code]
            if indicator.definition_en.startswith(PREVIOUS_DEFINITIONS.get(code, "\0")):
                # The first wording, never edited: it described the old time rule, so it takes the new one.
                indicator.name_mk, indicator.name_sq, indicator.name_en = names
                indicator.definition_mk, indicator.definition_sq, indicator.definition_en = definitions
                added["definitions"] = added.get("definitions", 0) + 1
            continue
        session.add(Indicator(code=code, unit=unit, level=level, name_mk=names[0], name_sq=names[1], name_en=names[2],
                              definition_mk=definitions[0], definition_sq=definitions[1], definition_en=definitions[2],
                              baseline=Decimal(baseline), baseline_date=BASELINE_DATE, targets=targets,
                              end_target=Decimal(end) if end is not None else None,
                              end_target_date=END_DATE if end is not None else None,
                              disaggregations=disaggregations, source=SOURCES[source],
                              sort_order=SORT_ORDERS.get(code, order * 10),
                              iati_result=code not in NOT_IATI_RESULTS, measure=MEASURES.get(code, "flow"),
                              carry_months=3))
        added["indicators"] += 1
    session.flush()
    return added
