"""Demo data, the monthly reports: months of reports for the two signed pilot grants, through the services as
they happened (so they obey every rule of a submission: the month has ended, the timesheet the call requires
is attached, continuity holds or is explained)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.demo import _at, demo_pdf
from portal.models import User

# How each pilot grant has reported. `back` counts months back from the current one (0 = this month):
# what happened to that month's report, and how many days after the month's end it was submitted.
REPORT_STORY = {
    "SSIP-GA-2026-001": {  # Достоинство, Куманово: home help and care for older people, capacity 60
        "served": lambda n: min(60, 38 + 4 * (n - 1)),
        "staff": (12, 11), "certified": 10,
        "hires": {"long_term_unemployed": (4, 4), "roma": (2, 2), "over_50": (3, 3)},
        "ages": (0, 0.12, 0.43), "disability": 0.35, "hours": 28,
        "back": {0: "draft", 1: "submitted"}, "otherwise": "accepted", "late": {5}, "days": 6,
    },
    "SSIP-GA-2026-002": {  # Сончев зрак, Велес: personal assistance for persons with disabilities, capacity 40
        "served": lambda n: 22 if n == 1 else min(40, 34 + (n - 2)),
        "staff": (16, 12), "certified": 12,
        "hires": {"disability": (2, 1), "long_term_unemployed": (5, 4)},
        "ages": (0.2, 0.62, 0.18), "disability": 1.0, "hours": 64,
        "back": {0: None, 1: None, 2: None, 3: "returned"}, "otherwise": "accepted", "late": {6}, "days": 8,
    },
}
EXPLANATIONS = {("SSIP-GA-2026-002", 2): "Од вториот месец ЦСР Велес упати втора група од 12 корисници, како што е "
                "предвидено во работниот план; тимот беше зголемен уште во првиот месец."}
RETURN_COMMENT = ("Часовите на услугата не се совпаѓаат со потпишаните листи за присуство за овој месец. "
                  "Проверете ги и прикачете ги листите.")


def _left(number: int) -> int:
    """Beneficiaries who leave in month `number` of a grant."""
    return 0 if number <= 1 else (1 if number % 3 else 2)


def split_like(new: int, parts: list[int]) -> list[int]:
    """`new` (at most the sum of `parts`) split in the proportions of `parts`, each share at most its part (largest
    remainders): the new beneficiaries broken down as those served are."""
    served = sum(parts)
    if not served:
        return [0] * len(parts)
    shares = [new * part // served for part in parts]
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(new * parts[i] % served), i))
    for i in by_remainder[:new - sum(shares)]:
        shares[i] += 1
    return shares


def _figures(story: dict, number: int, groups: dict[str, int], previous: int):
    """Believable figures for month `number` that pass every rule: each breakdown adds up to the total."""
    from portal.reports.validation import HireFigures, ReportData, ServiceFigures

    served = story["served"](number)
    female = round(served * 0.64)
    young, adult, middle = (round(served * share) for share in story["ages"])
    old = served - young - adult - middle
    if old < 0:
        middle, old = middle + old, 0
    disabled = round(served * story["disability"])
    left = _left(number)
    # Those continuing are last month's served minus those who left last month (the continuity rule).
    continuing = min(previous - _left(number - 1), served) if number > 1 else 0
    new = served - continuing
    new_female, new_male = split_like(new, [female, served - female])
    new_ages = split_like(new, [young, adult, middle, old])
    new_disabled, new_able = split_like(new, [disabled, served - disabled])
    staff_total, staff_female = story["staff"]
    hires = [HireFigures(category_id=groups[code], total=total, female=women,
                         new_this_month=total if number == 1 else 0, new_female=women if number == 1 else 0,
                         continuing=0 if number == 1 else total)
             for code, (total, women) in story["hires"].items() if code in groups]
    return served, lambda service_type_id: ReportData(
        services=[ServiceFigures(service_type_id=service_type_id, total=served, female=female, male=served - female,
                                 age_0_17=young, age_18_64=adult, age_65_79=middle, age_80_plus=old,
                                 with_disability=disabled, without_disability=served - disabled,
                                 new_this_month=new, new_female=new_female, new_male=new_male,
                                 new_age_0_17=new_ages[0], new_age_18_64=new_ages[1], new_age_65_79=new_ages[2],
                                 new_age_80_plus=new_ages[3], new_with_disability=new_disabled,
                                 new_without_disability=new_able, continuing=continuing, left_this_month=left,
                                 service_hours=served * story["hours"])],
        hires=hires, staff_total=staff_total, staff_female=staff_female, staff_male=staff_total - staff_female,
        certified_caregivers=story["certified"],
        narrative="Услугата се одвива според работниот план." if number > 1 else
        "Прв месец: вработени и обучени негувателките, првите корисници по решение на ЦСР.")


def demo_reports(session: Session) -> int:
    """Months of reports for the two signed pilot grants, through the services as they happened: most accepted,
    one late, one submitted with an explained warning, one returned with comments, one waiting for review, one
    missing, and this month's draft."""
    import io
    from datetime import datetime, time

    from portal import clock
    from portal.documents import services as documents
    from portal.models import GrantAgreement, HardToEmployCategory, MonthlyReport
    from portal.reports import services as reports
    from portal.reports import validation

    if session.scalar(sa.select(MonthlyReport.id).limit(1)) is not None:
        return 0
    groups = {g.code: g.id for g in session.scalars(sa.select(HardToEmployCategory))}
    users = {u.email.split("@")[0]: u for u in session.scalars(sa.select(User).where(User.email.like("%@demo.example")))}
    added = 0
    for number_text, story in REPORT_STORY.items():
        agreement = session.scalar(sa.select(GrantAgreement).where(GrantAgreement.number == number_text))
        if agreement is None:
            continue
        provider = session.scalar(sa.select(User).where(User.organisation_id == agreement.organisation_id,
                                                        User.email.like("%@demo.example")).order_by(User.id))
        service_type_id = agreement.application.service_types[0].id
        first, _last = reports.grant_months(agreement)
        current = reports.first_of(reports.today_in_skopje())
        previous = 0
        months = reports.months_from(first, current)
        for month in months:
            number = reports.month_number(first, month)
            back = len(months) - number
            outcome = story["back"][back] if back in story["back"] else story["otherwise"]
            served, data_for = _figures(story, number, groups, previous)
            previous = served
            if outcome is None:
                continue  # never started: shown as missing once the due date has passed
            start_of_next = clock.skopje_to_utc(datetime.combine(reports.next_month(month), time(10, 30)))
            days = 14 if number in story["late"] else story["days"]
            when = max(reports.to_utc_month_start(month), min(start_of_next + timedelta(days=days - 1),
                                                               utcnow() - timedelta(hours=1)))
            with _at(when):
                report = reports.start(session, provider, agreement, month)
                data = data_for(service_type_id)
                data.explanation = EXPLANATIONS.get((number_text, number), "")
                reports.save(session, provider, report, data, report.newest.edit_version)
                added += 1
                if outcome == "draft" or reports.today_in_skopje() < validation.submittable_from(month):
                    continue  # a month is submitted once it has ended (in the first hours of a month: a draft)
                evidence = demo_pdf("Timesheet", [f"{number_text} {month:%m/%Y}", "Demo document - not a real timesheet."])
                documents.upload(session, provider, owner=agreement.application.organisation, object_type="report",
                                 object_id=report.id, purpose="timesheet", stream=io.BytesIO(evidence),
                                 filename=f"листи-за-присуство-{month:%Y-%m}.pdf")
                reports.submit(session, provider, report)
            if outcome == "submitted":
                continue
            with _at(min(when + timedelta(days=3), utcnow())):
                if outcome == "accepted":
                    reports.accept(session, users["reviewer"], report, "")
                else:
                    reports.return_report(session, users["reviewer"], report, RETURN_COMMENT)
    session.flush()
    return added
