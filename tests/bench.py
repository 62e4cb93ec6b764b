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
                        ("call summary XLSX", f"/review/calls/{call_id}/summary.xlsx")):
        samples = _timed(client, path, 50)
        median = statistics.median(samples) * 1000
        p95 = sorted(samples)[int(len(samples) * 0.95) - 1] * 1000
        print(f"{label:<28} median {median:6.1f} ms  p95 {p95:6.1f} ms  ~{1000 / median:5.0f} req/s (one worker)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
