"""`make bench`: throughput of the foundation's pages on the embedded database.

Measured, reported, never asserted. Runs in-process against a fresh SQLite file with the demo
data plus 500 extra users and 10,000 audit rows; prints one line per measurement."""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path

from alembic import command

from config import TestingConfig
from portal import create_app
from portal.cli import alembic_config


def _timed(client, url, n):
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    return samples


def _eois_everywhere(db) -> int:
    """Every local government submits an EOI with two proposed services to the demo call."""
    from decimal import Decimal

    import sqlalchemy as sa

    from portal.models import Call, CallKind, EoiService, EoiStatus, ExpressionOfInterest, Municipality, Organisation, OrgKind

    call = db.scalar(sa.select(Call).where(Call.kind == CallKind.EOI))
    taken = set(db.scalars(sa.select(Organisation.municipality_id).where(Organisation.municipality_id.is_not(None))))
    for municipality in db.scalars(sa.select(Municipality)):
        if municipality.id not in taken:
            db.add(Organisation(kind=OrgKind.MUNICIPALITY, name=f"Општина {municipality.name_mk}",
                                municipality_id=municipality.id))
    db.flush()
    started = set(db.scalars(sa.select(ExpressionOfInterest.organisation_id).where(ExpressionOfInterest.call_id == call.id)))
    types = [t.id for t in call.service_types]
    for org in db.scalars(sa.select(Organisation).where(Organisation.kind == OrgKind.MUNICIPALITY)):
        if org.id in started:
            continue
        eoi = ExpressionOfInterest(call_id=call.id, organisation_id=org.id, status=EoiStatus.SUBMITTED,
                                   reference=f"{call.reference}-{org.id}", needs_assessment="…", people_in_need=100)
        eoi.services = [EoiService(position=i, service_type_id=types[i], beneficiaries_per_month=20 + i,
                                   annual_cost_eur=Decimal("50000.00")) for i in range(2)]
        db.add(eoi)
    db.commit()
    return call.id


def _applications_everywhere(app, db, eoi_call_id: int) -> tuple[int, int]:
    """Every EOI of the bench call accepted; the three verified demo providers apply in every municipality
    of the open grant call (about 240 applications), each endorsed, screened and scored by two reviewers,
    through the services. Returns (grant call id, number of applications)."""
    from decimal import Decimal

    import sqlalchemy as sa

    from portal.applications import review
    from portal.applications import services as applications
    from portal.models import Call, CallKind, EoiStatus, ExpressionOfInterest, User

    db.execute(sa.update(ExpressionOfInterest).where(ExpressionOfInterest.call_id == eoi_call_id)
               .values(status=EoiStatus.ACCEPTED))
    call = db.scalar(sa.select(Call).where(Call.kind == CallKind.GRANT, Call.linked_call_id == eoi_call_id))
    call.required_documents = []
    call.grant_ceiling_eur = Decimal("400000.00")
    users = {u.email.split("@")[0]: u for u in db.scalars(sa.select(User).where(User.email.like("%@demo.example")))}
    admin, reviewers = users["admin"], (users["reviewer"], users["reviewer2"])
    municipalities = applications.eligible_municipalities(db, call)
    count = 0
    with app.test_request_context():
        for n, provider in enumerate((users["provider"], users["soncev.zrak"], users["most"])):
            for i, municipality in enumerate(municipalities):
                application = applications.start(db, provider, call, municipality.id)
                applications.save(db, provider, application, applications.ApplicationData(
                    title="Помош во домот", summary="…", service_type_ids=[call.service_types[0].id],
                    beneficiaries_per_month=40, start_month=None, duration_months=24, certified_caregivers=4,
                    cofinancing_eur=Decimal("10000.00"), positions=[applications.PositionRow("Негувателка", 6)],
                    lines=[applications.LineRow("staff", "Плати", Decimal("6"), Decimal(500 + i), 24)]),
                    application.version_id)
                application.start_month = application.created_at.date().replace(day=1)
                applications.submit(db, provider, application)
                officer = db.scalar(sa.select(User).where(User.organisation_id == municipality.id)) or admin
                application.endorsement = application.endorsement.ENDORSED if officer is admin else application.endorsement
                if officer is not admin:
                    applications.endorse(db, officer, application, True, "")
                review.screen(db, admin, application, {item: True for item in review.checklist(call)}, "")
                for k, reviewer in enumerate(reviewers):
                    assignment = review.assign(db, admin, application, reviewer)
                    review.declare(db, reviewer, assignment, False, "")
                    review.submit_scores(db, reviewer, assignment, {
                        c.id: review.ScoreInput(Decimal(int(c.max_score) - (i + n + k) % 7), "…") for c in call.criteria})
                count += 1
        db.commit()
    return call.id, count


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    app = create_app(TestingConfig(DATABASE_URL=url, ARGON2_TIME_COST=3, ARGON2_MEMORY_KIB=65536))
    with app.app_context():
        command.upgrade(alembic_config(url), "head")
        from portal.db import db
        from portal.demo import DEMO_PASSWORD, seed_demo
        from portal.models import AuditEvent, Organisation, Role, User
        from portal.reference.services import load_reference_data

        load_reference_data(db)
        seed_demo(db)
        provider = db.query(Organisation).filter(Organisation.tax_number.is_not(None)).first()
        hash_ = db.query(User.password_hash).filter(User.email == "admin@demo.example").scalar()
        db.add_all(User(email=f"bench{i}@demo.example", full_name=f"Корисник {i}", role=Role.PROVIDER,
                        organisation=provider, password_hash=hash_) for i in range(500))
        db.add_all(AuditEvent(action="bench.event", object_type="thing", object_id=str(i)) for i in range(10_000))
        db.commit()
        call_id = _eois_everywhere(db)
        started = time.perf_counter()
        grant_id, applications = _applications_everywhere(app, db, call_id)
        print(f"seeding {applications} scored applications through the services: {time.perf_counter() - started:.1f} s")
    client = app.test_client()
    start = time.perf_counter()
    client.post("/login", data={"email": "admin@demo.example", "password": DEMO_PASSWORD})
    login_ms = (time.perf_counter() - start) * 1000
    print(f"login (argon2id t=3, 64 MiB): {login_ms:.0f} ms")
    for label, path in (("home (admin)", "/"), ("users list, 511 users", "/admin/users"),
                        ("users list, page 10", "/admin/users?page=10"),
                        ("audit log, 10k rows", "/admin/audit"), ("organisations", "/admin/organisations"),
                        ("municipalities (81)", "/admin/reference/municipalities"), ("healthz", "/healthz"),
                        ("public calls", "/calls/"), ("EOI screening, 81 EOIs", f"/review/calls/{call_id}/eois"),
                        ("EOI screening, page 4", f"/review/calls/{call_id}/eois?page=4"),
                        ("call summary (SVG)", f"/review/calls/{call_id}/summary"),
                        ("call summary XLSX", f"/review/calls/{call_id}/summary.xlsx"),
                        (f"applications list, {applications}", f"/review/calls/{grant_id}/applications"),
                        (f"ranking, {applications} scored", f"/review/calls/{grant_id}/ranking"),
                        ("ranking XLSX", f"/review/calls/{grant_id}/ranking.xlsx")):
        samples = _timed(client, path, 50)
        median = statistics.median(samples) * 1000
        p95 = sorted(samples)[int(len(samples) * 0.95) - 1] * 1000
        print(f"{label:<28} median {median:6.1f} ms  p95 {p95:6.1f} ms  ~{1000 / median:5.0f} req/s (one worker)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")
    _hostile_files(app)


def _hostile_files(app) -> None:
    """Hostile files: bulk XLSX uploads refused while they are read (issue 12) — time and memory per file."""
    import io
    import tracemalloc
    import zipfile

    from portal.demo import DEMO_PASSWORD
    from tests.test_report_bulk_rules import hostile_xlsx

    client = app.test_client()
    client.post("/login", data={"email": "provider@demo.example", "password": DEMO_PASSWORD})
    template = client.get("/reports/bulk/template.xlsx").data
    print("hostile files (bulk XLSX through POST /reports/bulk; measured, never asserted):")
    for label, rows, cells in (("the template, 60,000 rows × 17 cells", 60_000, 17),
                               ("the template, 4,900 rows × 40 cells", 4_900, 40)):
        payload = hostile_xlsx(template, rows, cells)
        expanded = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(payload)).infolist())
        def post(payload=payload):
            return client.post("/reports/bulk", data={"file": (io.BytesIO(payload), "reports.xlsx")},
                               content_type="multipart/form-data")

        post()  # warm-up: the page's templates are compiled once per process
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        response = post()
        elapsed = time.perf_counter() - started
        tracemalloc.start()  # a second run for the memory: tracing slows Python down
        post()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        print(f"  {label:<40} {len(payload) / 2**20:4.1f} MiB zipped, {expanded / 2**20:5.1f} MiB expanded: "
              f"HTTP {response.status_code} in {elapsed * 1000:5.0f} ms, peak Python allocations {peak / 2**20:.1f} MiB, "
              f"peak RSS +{grown:.0f} MiB")


if __name__ == "__main__":
    main()
