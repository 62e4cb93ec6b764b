"""`make bench` (third part): the service-user registers at national scale on PostgreSQL.

Builds `seed-stress` (2,000 grants and, in their registers, 200,000 different people with valid personal numbers
keyed by the real HMAC, one in 200 planted under a second provider's grant) in a schema of its own, then measures —
reported, never asserted, except that the duplicate check finds exactly the planted pairs:

- the duplicate check (`duplicates.find`: one statement, the self-join on key, key version and service type with
  overlapping months under two grants) — the statement alone, the first page the ministry reads (count + 25 pairs),
  and every pair with its episodes;
- different people served (from the start): `portal.indicators.unique.people_served` in total and by region when
  that module is there, beside the plain COUNT(DISTINCT person_key) by region;
- a provider's register page (`/grants/<id>/register`, about 100 episodes and a month's figures), the ministry's list
  of registers (`/registers`, first page and page 40) and the duplicate list (`/registers/duplicates`);
- a bulk import of 1,000 rows into one register (checked, keyed, inserted; rolled back).

BENCH_DATABASE_URL overrides postgresql+psycopg://postgres@127.0.0.1:5432/test; BENCH_GRANTS (default 2000),
BENCH_PEOPLE (default 100 a grant) and BENCH_MONTHS (default 60) scale the dataset."""

from __future__ import annotations

import io
import os
import random
import secrets
import statistics
import time
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import command

from config import TestingConfig
from portal import create_app
from portal.cli import alembic_config
from tests.bench_indicators import _client, _rss, _timed, in_schema

URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def main() -> None:
    in_schema(_run, "bench_reg", URL)


def _best(fn, n: int = 5) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(n):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def _run(url: str) -> None:
    from portal.db import db
    from portal.models import (
        GrantAgreement,
        Municipality,
        Organisation,
        OrgKind,
        RegisterEpisode,
        RegisterEpisodeVersion,
        Role,
        User,
    )
    from portal.reference.services import load_reference_data
    from portal.register import duplicates
    from portal.stress import seed_stress

    app = create_app(TestingConfig(DATABASE_URL=url, SECRET_KEY=secrets.token_hex(16)))
    engine = app.extensions["db_engine"]
    grants = int(os.environ.get("BENCH_GRANTS", "2000"))
    people = int(os.environ.get("BENCH_PEOPLE", str(grants * 100)))
    print("service-user registers at national scale, PostgreSQL (one process, this machine):")
    with app.app_context():
        command.upgrade(alembic_config(url), "head")
        load_reference_data(db)
        db.commit()
        start = time.perf_counter()
        counts = seed_stress(db, grants=grants, months=int(os.environ.get("BENCH_MONTHS", "60")), people=people,
                             echo=lambda _line: None)
        print(f"  seed-stress: {counts['grants']} grants, {counts['reports']} reports; registers: {counts['people']} "
              f"people, {counts['episodes']} episodes, {counts['planted_duplicates']} planted duplicates, "
              f"in {time.perf_counter() - start:.1f} s in all (peak RSS so far {_rss()})")
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
            conn.commit()
        ministry = db.scalar(sa.select(Organisation).where(Organisation.kind == OrgKind.MINISTRY))
        agreement = db.scalar(sa.select(GrantAgreement).order_by(GrantAgreement.id))
        reviewer = User(email="reviewer@bench.example", full_name="Reviewer", role=Role.REVIEWER,
                        organisation_id=ministry.id, password_hash="-", preferred_language="en")
        provider = User(email="provider@bench.example", full_name="Provider", role=Role.PROVIDER,
                        organisation_id=agreement.organisation_id, password_hash="-", preferred_language="en")
        db.add_all([reviewer, provider])
        db.commit()
        reviewer_id, provider_id, agreement_id = reviewer.get_id(), provider.get_id(), agreement.id
        reviewer_pk, provider_pk = reviewer.id, provider.id

    with app.test_request_context():
        query = duplicates.pairs_query()
        compiled = query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        raw, rows = _best(lambda: db.execute(sa.text(str(compiled))).all())
        print(f"  duplicate check, the one statement (self-join of current versions): {len(rows)} pairs, median "
              f"{raw * 1000:.0f} ms")
        assert len(rows) == counts["planted_duplicates"], (len(rows), counts["planted_duplicates"])
        with engine.connect() as conn:
            plan = [r[0] for r in conn.execute(sa.text("EXPLAIN " + str(compiled)))]
        print("    plan: " + "; ".join(line.strip() for line in plan if "Join" in line or "Scan" in line)[:400])
        first, page = _best(lambda: duplicates.listed(db, db.get(User, reviewer_pk), 1, 25))
        print(f"  the ministry's first page of duplicates (count + 25 pairs with their episodes): median "
              f"{first * 1000:.0f} ms ({page.total} pairs)")
        every, found = _best(lambda: duplicates.find(db), 3)
        print(f"  every pair with both episodes (duplicates.find): median {every * 1000:.0f} ms ({len(found)} pairs)")
        db.rollback()
        _unique(db, people)
        _bulk(app, db, agreement_id, provider_pk)

    staff = _client(app, reviewer_id)
    own = _client(app, provider_id)
    register = _timed(own, f"/grants/{agreement_id}/register", 11)
    with app.app_context():
        size = db.scalar(sa.select(sa.func.count(RegisterEpisode.id)).where(RegisterEpisode.agreement_id == agreement_id))
    print(f"  a provider's register page ({size} episodes, with a month's figures): median "
          f"{statistics.median(register) * 1000:.0f} ms")
    listing = _timed(staff, "/registers", 11)
    deep = _timed(staff, "/registers?page=40", 11)
    print(f"  the ministry's list of registers (/registers, {app.config['PAGE_SIZE']} a page, counts for the page): "
          f"first page median {statistics.median(listing) * 1000:.0f} ms, page 40 "
          f"{statistics.median(deep) * 1000:.0f} ms")
    dup_page = _timed(staff, "/registers/duplicates", 11)
    print(f"  the duplicate list page (/registers/duplicates): median {statistics.median(dup_page) * 1000:.0f} ms")
    with app.app_context():
        versions = db.scalar(sa.select(sa.func.count(RegisterEpisodeVersion.id)))
        places = db.scalar(sa.select(sa.func.count(Municipality.id)))
    print(f"  ({versions} versions in all; {places} municipalities; peak RSS at the end {_rss()})")
    engine.dispose()


def _unique(db, people: int) -> None:
    from portal.models import GrantAgreement, Municipality, Organisation, RegisterEpisode, RegisterEpisodeVersion

    e, v = RegisterEpisode, RegisterEpisodeVersion
    by_region = (sa.select(Municipality.region_id, sa.func.count(sa.distinct(e.person_key)))
                 .join(v, sa.and_(v.episode_id == e.id, v.version == e.current_version))
                 .join(GrantAgreement, GrantAgreement.id == e.agreement_id)
                 .join(Organisation, Organisation.id == GrantAgreement.municipality_org_id)
                 .join(Municipality, Municipality.id == Organisation.municipality_id)
                 .where(v.withdrawn.is_(False)).group_by(Municipality.region_id))
    total = (sa.select(sa.func.count(sa.distinct(e.person_key)))
             .join(v, sa.and_(v.episode_id == e.id, v.version == e.current_version)).where(v.withdrawn.is_(False)))
    plain, regions = _best(lambda: db.execute(by_region).all())
    whole, count = _best(lambda: db.scalar(total))
    print(f"  different people served, plain COUNT(DISTINCT person_key): in all {count} (of {people} seeded) median "
          f"{whole * 1000:.0f} ms; by region ({len(regions)} regions) median {plain * 1000:.0f} ms")
    try:
        from portal.indicators import unique
    except ImportError:
        print("  portal.indicators.unique is not there: only the plain count above")
        return
    spent, result = _best(lambda: unique.people_served(db, sets=("total", "region")), 3)
    served = result.get(("total", None), {}).get("people")
    print(f"  unique.people_served (total and by region, cumulative to this month): median {spent * 1000:.0f} ms "
          f"(total {served})")
    spent, result = _best(lambda: unique.people_served(db), 3)
    print(f"  unique.people_served (total only): median {spent * 1000:.0f} ms")
    db.rollback()


def _bulk(app, db, agreement_id: int, provider_pk: int) -> None:
    """1,000 rows through the import's checks, keys and inserts (rolled back)."""
    from openpyxl import Workbook

    from portal.models import GrantAgreement, Municipality, User
    from portal.register import bulk
    from portal.stress_register import numbers

    agreement = db.get(GrantAgreement, agreement_id)
    terms = agreement.current
    place = db.scalar(sa.select(Municipality.code).order_by(Municipality.id))
    code = agreement.application.service_types[0].code
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "register"
    sheet.append([f"[{key}]" for key, _label in bulk.columns()])
    rng = random.Random(99)  # noqa: S311 (test data)
    last = min(terms.end_date, date.today())  # noqa: DTZ011
    for number, _born, _sex in numbers(rng, 1000, terms.start_date - timedelta(days=1)):
        start = terms.start_date + timedelta(days=rng.randrange(0, (last - terms.start_date).days + 1))
        sheet.append([number, "", "08-1/1", start - timedelta(days=5), "ЦСР Скопје", code, start, None, None, "no",
                      place, ""])
    buffer = io.BytesIO()
    workbook.save(buffer)
    content = buffer.getvalue()
    user = db.get(User, provider_pk)
    start = time.perf_counter()
    outcome = bulk.upload(db, user, agreement, content, "register.xlsx")
    spent = time.perf_counter() - start
    db.rollback()
    print(f"  bulk import of 1,000 rows ({len(content) / 1024:.0f} KB XLSX) into a register of ~100: {spent:.2f} s "
          f"({outcome.added} added, {len(outcome.problems)} problems; rolled back)")


if __name__ == "__main__":
    main()
