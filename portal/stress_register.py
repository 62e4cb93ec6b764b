"""`seed-stress`, the registers: service-user registers at national scale over the grants `portal.stress` built —
by default 100 different people a grant (200,000 over 2,000 grants), each with a valid personal number (random date
of birth, region and serial, the real check digit) turned into its key by the real HMAC (`keys.keyer`), one
episode each within its grant's agreement (about a third of them ended), and a few people *planted* under a second
grant of another provider in the same service with overlapping months: the duplicates the ministry's check must
find, and nothing else (every other person is in one register only).

Written with bulk inserts (COPY on PostgreSQL, executemany elsewhere): the episodes and their first versions only,
which the database's append-only triggers allow. Never in production."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import (
    AgreementVersion,
    Application,
    GrantAgreement,
    LeavingReason,
    Organisation,
    RegisterEpisode,
    RegisterEpisodeVersion,
)
from portal.models.applications import application_service_type
from portal.register import keys
from portal.register.services import WEIGHTS, check_digit, today_in_skopje

PLANTED_SHARE = 200  # one person in 200 is planted under a second grant
CHUNK = 20_000
EPISODE_COLUMNS = ("id", "agreement_id", "person_key", "key_version", "current_version", "created_by_id", "created_at")
VERSION_COLUMNS = ("id", "episode_id", "version", "decision_number", "decision_date", "decision_centre",
                   "service_type_id", "start_date", "end_date", "leaving_reason", "sex", "birth_year", "disability",
                   "municipality_id", "local_reference", "withdrawn", "change", "note", "created_by_id", "created_at")
REASONS = [r.value for r in LeavingReason]
CENTRES = ("ЈУ МЦСР Скопје", "ЦСР Куманово", "ЦСР Битола", "ЦСР Тетово", "ЦСР Штип", "ЦСР Охрид", "ЦСР Велес")

assert len(WEIGHTS) == 12  # noqa: S101 (the personal number's shape this module builds)


def numbers(rng: random.Random, count: int, today: date):
    """`count` different valid personal numbers, with the birth date and sex they say."""
    seen: set[str] = set()
    while len(seen) < count:
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(0, (today - date(1930, 1, 1)).days))
        serial = rng.randrange(0, 1000)
        first = f"{born.day:02d}{born.month:02d}{born.year % 1000:03d}{rng.randint(41, 49):02d}{serial:03d}"
        number = first + str(check_digit(first))
        if number in seen:
            continue
        seen.add(number)
        yield number, born, "male" if serial < 500 else "female"


def _grants(session: Session) -> list[tuple]:
    """(agreement id, provider, start, end, municipality id, [service type ids]) of every grant."""
    version = AgreementVersion
    rows = session.execute(
        sa.select(GrantAgreement.id, GrantAgreement.organisation_id, version.start_date, version.end_date,
                  Organisation.municipality_id, GrantAgreement.application_id)
        .join(version, sa.and_(version.agreement_id == GrantAgreement.id, version.version == 1))
        .join(Organisation, Organisation.id == GrantAgreement.municipality_org_id)
        .order_by(GrantAgreement.id)).all()
    types: dict[int, list[int]] = {}
    for application_id, type_id in session.execute(
            sa.select(application_service_type.c.application_id, application_service_type.c.service_type_id)
            .join(Application, Application.id == application_service_type.c.application_id)
            .order_by(application_service_type.c.application_id, application_service_type.c.service_type_id)):
        types.setdefault(application_id, []).append(type_id)
    return [(r[0], r[1], r[2], r[3], r[4], types.get(r[5], [])) for r in rows if types.get(r[5])]


def _insert(session: Session, model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        cursor = session.connection().connection.driver_connection.cursor()
        with cursor, cursor.copy(f"COPY {model.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    for first in range(0, len(rows), CHUNK):
        session.execute(sa.insert(model), [dict(zip(columns, row, strict=True))
                                           for row in rows[first:first + CHUNK]])


def seed_registers(session: Session, rng: random.Random, people: int, admin_id: int, echo=print) -> dict[str, int]:
    """The registers of every grant in the database; returns the counts (people, episodes, planted duplicates)."""
    grants = _grants(session)
    if not grants or people <= 0:
        return {"people": 0, "episodes": 0, "planted_duplicates": 0}
    key = keys.keyer(session)
    today = today_in_skopje()
    now = datetime.now(UTC)
    by_type: dict[int, list[int]] = {}
    for index, grant in enumerate(grants):
        for type_id in grant[5]:
            by_type.setdefault(type_id, []).append(index)
    episode_id = (session.scalar(sa.select(sa.func.max(RegisterEpisode.id))) or 0) + 1
    version_id = (session.scalar(sa.select(sa.func.max(RegisterEpisodeVersion.id))) or 0) + 1
    episodes: list[tuple] = []
    versions: list[tuple] = []
    planted = 0

    def add(grant: tuple, person_key: str, type_id: int, start: date, end: date | None, born: date, sex: str) -> None:
        nonlocal episode_id, version_id
        episodes.append((episode_id, grant[0], person_key, 1, 1, admin_id, now))
        decided = start - timedelta(days=rng.randint(3, 40))
        versions.append((version_id, episode_id, 1, f"{rng.randint(8, 45):02d}-{rng.randint(1, 9999)}/{rng.randint(1, 9)}",
                         decided, rng.choice(CENTRES), type_id, start, end, rng.choice(REASONS) if end else None, sex,
                         born.year, rng.random() < 0.3, grant[4], f"S-{episode_id}", False, "added", "", admin_id, now))
        episode_id += 1
        version_id += 1

    served = 0
    for n, (number, born, sex) in enumerate(numbers(rng, people, today)):
        grant = grants[n % len(grants)]
        last = min(grant[3], today)
        if last < grant[2]:
            continue  # a grant that has not started: no one served yet
        served += 1
        person_key = key(number)[0]
        type_id = rng.choice(grant[5])
        start = grant[2] + timedelta(days=rng.randrange(0, (last - grant[2]).days + 1))
        # A third leave before the end; the others are served to the grant's end (or still, if it goes on).
        end = start + timedelta(days=rng.randrange(0, (last - start).days + 1)) if rng.random() < 0.33 else \
            (grant[3] if grant[3] < today else None)
        add(grant, person_key, type_id, start, end, born, sex)
        if n % PLANTED_SHARE == PLANTED_SHARE - 1:
            # The same person and service under another provider's grant, in an overlapping month.
            for index in rng.sample(by_type[type_id], min(5, len(by_type[type_id]))):
                other = grants[index]
                second = max(start, other[2])
                if other[1] == grant[1] or second > min(other[3], today) or \
                        (end is not None and second.replace(day=1) > end.replace(day=1)):
                    continue
                add(other, person_key, type_id, second, other[3] if other[3] < today else None, born, sex)
                planted += 1
                break
        if len(versions) >= CHUNK:
            _insert(session, RegisterEpisode, EPISODE_COLUMNS, episodes)
            _insert(session, RegisterEpisodeVersion, VERSION_COLUMNS, versions)
            episodes.clear()
            versions.clear()
        if n and n % 50_000 == 0:
            echo(f"  {n} people in the registers")
    _insert(session, RegisterEpisode, EPISODE_COLUMNS, episodes)
    _insert(session, RegisterEpisodeVersion, VERSION_COLUMNS, versions)
    total = session.scalar(sa.select(sa.func.count(RegisterEpisode.id)))
    return {"people": served, "episodes": total, "planted_duplicates": planted}
