"""`make bench` (second part): the indicators at national scale on PostgreSQL.

Builds `seed-stress` (81 local governments, 2,000 grants × 60 months ≈ 120,000 monthly reports with their
disaggregations, and the ledger) in a schema of its own, then measures — reported, never asserted:

- the full aggregation (every indicator, every kind of period) as raw SQL through the driver: the floor of
  computing the figures; the refresh that stores them (the snapshot);
- the snapshot's rows as raw SQL: the floor of a download; the CSV and XLSX downloads of all observations
  (time, and peak Python memory with tracemalloc, plus the process's peak RSS);
- the monitor dashboard and the API's indicators call (median of repeated requests);
- freshness: the data-version check every reader makes (one primary-key read) beside the scans of
  `monthly_report` it replaced (the old fingerprint), and whether an accept at this scale refreshes the figures in
  its own request (only when the last refresh took less than AUTO_REFRESH_MS; otherwise cron does);
- the reviewer queue (`/reports`, by status and submission time: index `ix_monthly_report_queue`) and a page of
  `/grants` for the ministry.

BENCH_DATABASE_URL overrides postgresql+psycopg://postgres@127.0.0.1:5432/test; BENCH_GRANTS (default 2000) scales
the dataset down for a quick check of this script."""

from __future__ import annotations

import os
import resource
import secrets
import statistics
import time
import tracemalloc
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from config import TestingConfig
from portal import create_app
from portal.cli import alembic_config

URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _rss() -> str:
    """The process's peak resident memory so far."""
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"


def _client(app, user_id: str):
    client = app.test_client()
    now = datetime.now(UTC).timestamp()
    with client.session_transaction() as session:
        session.update({"_user_id": user_id, "_fresh": True, "started_at": now, "seen_at": now})
    return client


def _timed(client, url: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url)
        response.get_data()
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    return samples


def _peak(client, url: str) -> float:
    tracemalloc.start()
    client.get(url).get_data()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024 / 1024


def main() -> None:
    admin = sa.create_engine(URL, isolation_level="AUTOCOMMIT")
    schema = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{URL}{'&' if '?' in URL else '?'}options=-csearch_path%3D{schema}"
    try:
        _run(url)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _run(url: str) -> None:
    from portal.db import db
    from portal.indicators import snapshot
    from portal.indicators.compute import PERIOD_TYPES, Filters, compute
    from portal.models import IndicatorValue, MonthlyReport, Organisation, OrgKind, Role, User
    from portal.reference.services import load_reference_data
    from portal.stress import seed_stress

    app = create_app(TestingConfig(DATABASE_URL=url))
    engine = app.extensions["db_engine"]
    print("indicators at national scale, PostgreSQL (one process, this machine):")
    with app.app_context():
        command.upgrade(alembic_config(url), "head")
        load_reference_data(db)
        db.commit()
        start = time.perf_counter()
        counts = seed_stress(db, grants=int(os.environ.get("BENCH_GRANTS", "2000")), echo=lambda _line: None)
        print(f"  seed-stress: {counts['grants']} grants, {counts['reports']} reports, {counts['service_lines']} service "
              f"lines, {counts['hire_lines']} hard-to-employ lines, {counts['ledger_entries']} ledger entries "
              f"in {time.perf_counter() - start:.1f} s (peak RSS so far {_rss()})")
        ministry = db.scalar(sa.select(Organisation).where(Organisation.kind == OrgKind.MINISTRY))
        monitors = Organisation(kind=OrgKind.MONITOR, name="World Bank")
        db.add(monitors)
        db.flush()
        monitor = User(email="monitor@bench.example", full_name="Monitor", role=Role.MONITOR, organisation=monitors,
                       password_hash="-", preferred_language="en")
        reviewer = User(email="reviewer@bench.example", full_name="Reviewer", role=Role.REVIEWER, organisation=ministry or monitors,
                        password_hash="-", preferred_language="en")
        db.add_all([monitor, reviewer])
        db.commit()
        user_id, reviewer_id = monitor.get_id(), reviewer.get_id()
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
            conn.commit()

    # The floor of computing: every aggregation statement of `compute`, timed at the driver.
    spent: list[float] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["t"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        spent.append(time.perf_counter() - conn.info["t"])

    with app.test_request_context():
        sa.event.listen(engine, "before_cursor_execute", before)
        sa.event.listen(engine, "after_cursor_execute", after)
        start = time.perf_counter()
        observations = compute(db, Filters(period_types=PERIOD_TYPES))
        total = time.perf_counter() - start
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
        print(f"  full aggregation: {len(observations)} observations from {len(spent)} SQL statements; "
              f"SQL {sum(spent):.2f} s (the floor), with Python {total:.2f} s (peak RSS so far {_rss()})")
        run = snapshot.refresh(db, force=True)
        del observations
        print(f"  refresh (aggregation + storing the snapshot): {run.duration_ms / 1000:.2f} s, {run.rows} rows "
              f"(peak RSS so far {_rss()})")
        snap = snapshot.ensure(db)
        query = snapshot._query(snap, Filters(period_types=PERIOD_TYPES), None, None)
        compiled = query.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
        raw = []
        for _ in range(5):
            start = time.perf_counter()
            with engine.connect() as conn:
                rows = conn.exec_driver_sql(compiled.string, compiled.construct_params()).fetchall()
            raw.append(time.perf_counter() - start)
        floor = statistics.median(raw)
        print(f"  the snapshot's rows as raw SQL: {len(rows)} rows, median {floor * 1000:.0f} ms (the floor of a download)")
        assert db.scalar(sa.select(sa.func.count(IndicatorValue.id))) == run.rows
        check = []
        for _ in range(21):
            start = time.perf_counter()
            assert not snapshot.ensure(db).stale
            check.append(time.perf_counter() - start)
        scan = []
        for _ in range(5):  # what every reader ran before the data version: the fingerprint's scans of the reports
            start = time.perf_counter()
            db.execute(sa.select(sa.func.count(MonthlyReport.accepted_version), sa.func.sum(MonthlyReport.accepted_version),
                                 sa.func.max(MonthlyReport.accepted_at),
                                 sa.func.count(MonthlyReport.first_submitted_at))).one()
            scan.append(time.perf_counter() - start)
        db.rollback()
        print(f"  freshness check per read: median {statistics.median(check) * 1000:.2f} ms (data version, one primary-key "
              f"read) vs {statistics.median(scan) * 1000:.0f} ms for the old scan of monthly_report")
        print(f"  an accept refreshes the figures in its own request: "
              f"{'yes' if run.duration_ms < snapshot.AUTO_REFRESH_MS else 'no'} (last refresh {run.duration_ms} ms, "
              f"limit {snapshot.AUTO_REFRESH_MS} ms; otherwise `flask refresh-indicators` from cron)")

    client = _client(app, user_id)
    csv_times = _timed(client, "/indicators/observations.csv", 5)
    csv_size = len(client.get("/indicators/observations.csv").get_data())
    print(f"  CSV of all observations: {csv_size / 1e6:.1f} MB, median {statistics.median(csv_times) * 1000:.0f} ms "
          f"= {statistics.median(csv_times) / floor:.1f} × the raw SQL (peak RSS so far {_rss()})")
    xlsx_times = _timed(client, "/indicators/observations.xlsx", 3)
    print(f"  XLSX of all observations: median {statistics.median(xlsx_times):.2f} s (peak RSS so far {_rss()})")
    dashboard = _timed(client, "/indicators", 21)
    print(f"  monitor dashboard: median {statistics.median(dashboard) * 1000:.0f} ms "
          f"(p90 {sorted(dashboard)[int(len(dashboard) * 0.9)] * 1000:.0f} ms)")
    api = _timed(client, "/api/v1/indicators", 21)
    print(f"  API /api/v1/indicators: median {statistics.median(api) * 1000:.0f} ms")
    api_obs = _timed(client, "/api/v1/observations?per_page=500", 11)
    print(f"  API /api/v1/observations (500 a page): median {statistics.median(api_obs) * 1000:.0f} ms")
    live = _timed(client, "/api/v1/observations?region=1&period_type=quarter&per_page=500", 3)
    print(f"  API /api/v1/observations filtered by a region (computed live): median {statistics.median(live):.2f} s")
    staff = _client(app, reviewer_id)
    queue = _timed(staff, "/reports?status=submitted", 11)
    print(f"  reviewer queue /reports (submitted, oldest first): median {statistics.median(queue) * 1000:.0f} ms")
    grants_page = _timed(staff, "/grants?page=40", 11)
    print(f"  /grants (page 40, {app.config['PAGE_SIZE']} a page): median {statistics.median(grants_page) * 1000:.0f} ms")
    print(f"  peak RSS of the process at the end: {_rss()}")
    # Last, as tracemalloc itself costs memory: what each download allocates in Python at its peak.
    print(f"  peak Python memory (tracemalloc): CSV {_peak(client, '/indicators/observations.csv'):.0f} MiB, "
          f"XLSX {_peak(client, '/indicators/observations.xlsx'):.0f} MiB")
    engine.dispose()


if __name__ == "__main__":
    main()
