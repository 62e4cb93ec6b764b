"""Demo data, the service-user registers (issue 16): both pilot grants keep a register whose people follow their
monthly reports month by month — new people in the month they started, leavers at the month's end — with ЦСР
decisions, residence in the grant's and neighbouring municipalities, and one person planted in both registers in the
same service and months (moved from Kumanovo to Veles and entered by both providers): the duplicate the ministry
resolves on *Possible duplicates across grants*.

Personal numbers (ЕМБГ) are generated deterministically, valid by their check digit, typed into the service as a
provider would and dropped there: only their keys are stored."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.demo import _at
from portal.demo_reports import REPORT_STORY, _left
from portal.models import User

WEIGHTS = (7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
#: Per grant: the service its people receive, the Centre for Social Work, the register's prefix, the ЕМБГ region
#: digits, where its people live (LAU code, weight) and how old they are (birth years).
REGISTERS = {
    "SSIP-GA-2026-001": {"service": "home_help_care", "centre": "ЦСР Куманово", "prefix": "К", "region": 43,
                         "places": (("MK00703", 8), ("MK00704", 1), ("MK00706", 1)), "born": (1928, 1962)},
    "SSIP-GA-2026-002": {"service": "personal_assistance", "centre": "ЦСР Велес", "prefix": "В", "region": 49,
                         "places": (("MK00101", 8), ("MK00102", 1), ("MK00109", 1)), "born": (1950, 2014)},
}
REASONS = ("goals_met", "institution", "moved", "died", "declined")
PLANTED = "SSIP-GA-2026-002"  # the grant whose register also holds a person of the other's, in the same service


def personal_number(born: date, region: int, serial: int) -> str:
    """A valid ЕМБГ (DDMMYYY RR BBB K): serial 000–499 a man, 500–999 a woman."""
    first = f"{born.day:02d}{born.month:02d}{born.year % 1000:03d}{region:02d}{serial:03d}"
    m = 11 - sum(int(d) * w for d, w in zip(first, WEIGHTS, strict=True)) % 11
    return first + str(0 if m > 9 else m)


def _moment(day: date) -> datetime:
    from portal import clock

    return min(clock.skopje_to_utc(datetime.combine(day, time(11, 0))), utcnow() - timedelta(minutes=5))


def demo_registers(session: Session) -> int:
    """Episodes for the two signed pilot grants, through the register's services as the providers entered them."""
    from portal.models import GrantAgreement, Municipality, RegisterEpisode, ServiceType
    from portal.register import services
    from portal.reports import services as reports

    if session.scalar(sa.select(RegisterEpisode.id).limit(1)) is not None:
        return 0
    rng = random.Random(16)  # noqa: S311 (demo data, the same every time)
    types = {t.code: t.id for t in session.scalars(sa.select(ServiceType))}
    places = {m.code: m.id for m in session.scalars(sa.select(Municipality))}
    today = reports.today_in_skopje()
    added = 0
    planted = None
    for number_text, story in REPORT_STORY.items():
        agreement = session.scalar(sa.select(GrantAgreement).where(GrantAgreement.number == number_text))
        setup = REGISTERS.get(number_text)
        if agreement is None or setup is None or setup["service"] not in types:
            continue
        provider = session.scalar(sa.select(User).where(User.organisation_id == agreement.organisation_id,
                                                        User.email.like("%@demo.example")).order_by(User.id))
        first, _last = reports.grant_months(agreement)
        months = reports.months_from(first, reports.first_of(today))
        homes = [places[code] for code, weight in setup["places"] for _ in range(weight) if code in places]
        active: list = []
        serial = 0
        for month in months:
            n = reports.month_number(first, month)
            served = story["served"](n)
            continuing = len(active)
            for i in range(max(served - continuing, 0)):
                start = min(month + timedelta(days=(3 * i) % 25), today)
                serial += 1
                woman = rng.random() < 0.64
                born = date(rng.randint(*setup["born"]), rng.randint(1, 12), rng.randint(1, 28))
                number = personal_number(born, setup["region"], (500 if woman else 0) + serial % 500)
                data = services.EpisodeData(
                    decision_number=f"{10 + serial % 80:02d}-{1200 + 7 * serial}/{1 + serial % 3}",
                    decision_date=start - timedelta(days=12), decision_centre=setup["centre"],
                    service_type_id=types[setup["service"]], start_date=start,
                    disability="yes" if setup["service"] == "personal_assistance" or rng.random() < 0.35 else "no",
                    municipality_id=rng.choice(homes), local_reference=f"{setup['prefix']}-{serial:03d}")
                with _at(_moment(start)):
                    active.append(services.add_episode(session, provider, agreement, number, data))
                added += 1
                if planted is None and number_text != PLANTED:
                    planted = (number, born, data)
            leaving = _left(n)
            if month < reports.first_of(today) and leaving:
                end = reports.next_month(month) - timedelta(days=1)
                for episode in active[:leaving]:
                    with _at(_moment(end)):
                        services.end_episode(session, provider, episode, end, rng.choice(REASONS),
                                             episode.current_version)
                del active[:leaving]
        if number_text == PLANTED and planted is not None:
            added += _plant(session, provider, agreement, planted, types, places, today)
    session.flush()
    return added


def _plant(session: Session, provider: User, agreement, planted: tuple, types: dict, places: dict,
           today: date) -> int:
    """The first person of the other register entered here too, in the same service and months — and, for the
    match, the other grant's person is given the same service (the other grant offers it as its second)."""
    from portal.models import GrantAgreement, RegisterEpisode
    from portal.register import services

    number, _born, data = planted
    other = session.scalar(sa.select(RegisterEpisode).where(RegisterEpisode.agreement_id != agreement.id)
                           .order_by(RegisterEpisode.id))
    other_agreement = session.get(GrantAgreement, other.agreement_id)
    service = types["personal_assistance"]
    if service not in {t.id for t in services.service_types_of(other_agreement)}:
        return 0
    start = max(agreement.current.start_date, today.replace(day=1) - timedelta(days=60)).replace(day=10)
    other_provider = session.get(User, other.created_by_id)
    moved = services.EpisodeData(**{**data.__dict__, "service_type_id": service, "start_date": start,
                                    "decision_date": start - timedelta(days=20), "local_reference": "К-ЛА-01"})
    with _at(_moment(start)):
        services.add_episode(session, other_provider, other_agreement, number, moved)
    entered = services.EpisodeData(**{**data.__dict__, "service_type_id": service, "start_date": start + timedelta(days=5),
                                      "decision_date": start - timedelta(days=2), "decision_centre": "ЦСР Велес",
                                      "municipality_id": places.get("MK00101", data.municipality_id),
                                      "local_reference": "В-ЛА-01"})
    with _at(_moment(start + timedelta(days=5))):
        services.add_episode(session, provider, agreement, number, entered)
    return 2
