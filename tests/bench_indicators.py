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
SECRET = "bench-" + secrets.token_hex(16)  # shared with the gunicorn workers (tests.bench_wsgi): one session cookie
SERVE_SECONDS = float(os.environ.get("BENCH_SERVE_SECONDS", "10"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))  # gunicorn's gthread workers, as deployed (README, Deploying)


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


def in_schema(run, prefix: str = "bench", url: str = URL) -> None:
    """`run(url)` on a PostgreSQL schema of its own, dropped afterwards (every national-scale bench)."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        run(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def copy_median(engine, sql, n: int = 5) -> tuple[float, int]:
    """The median time of `sql` (a `COPY … TO STDOUT`) read whole through the driver, and the bytes it wrote."""
    times, copied = [], 0
    for _ in range(n):
        start = time.perf_counter()
        raw = engine.raw_connection()
        try:
            with raw.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
                copied = sum(len(block) for block in copy)
        finally:
            raw.close()
        times.append(time.perf_counter() - start)
    return statistics.median(times), copied


def main() -> None:
    in_schema(_run)


def _run(url: str) -> None:
    from portal.db import db
    from portal.indicators import snapshot
    from portal.indicators.compute import PERIOD_TYPES, Filters, compute
    from portal.models import IndicatorValue, MonthlyReport, Organisation, OrgKind, Role, User
    from portal.reference.services import load_reference_data
    from portal.stress import seed_stress

    app = create_app(TestingConfig(DATABASE_URL=url, SECRET_KEY=SECRET))
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

    # The floor of computing: every aggregation statement of `compute` re-run as raw SQL through the driver (no ORM,
    # no Python beyond fetching the rows) — the month-level one-pass shape with GROUPING SETS — beside `compute`
    # end to end (the same statements plus turning months into periods by each indicator's measure).
    spent: list[float] = []
    statements: list[tuple[str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["t"] = time.perf_counter()
        statements.append((statement, parameters))

    def after(conn, cursor, statement, parameters, context, executemany):
        spent.append(time.perf_counter() - conn.info["t"])

    with app.test_request_context():
        for _warm in range(2):  # the first run also warms the caches; the second is measured
            spent.clear()
            statements.clear()
            sa.event.listen(engine, "before_cursor_execute", before)
            sa.event.listen(engine, "after_cursor_execute", after)
            start = time.perf_counter()
            observations = compute(db, Filters(period_types=PERIOD_TYPES))
            total = time.perf_counter() - start
            sa.event.remove(engine, "before_cursor_execute", before)
            sa.event.remove(engine, "after_cursor_execute", after)
        floors = []
        for _ in range(3):
            start = time.perf_counter()
            with engine.connect() as conn:
                for statement, parameters in statements:
                    result = conn.exec_driver_sql(statement, parameters)
                    if result.returns_rows:  # (helper: compute's SET statements return none)
                        result.fetchall()
            floors.append(time.perf_counter() - start)
        floor = min(floors)
        heaviest = sorted(zip(spent, (s for s, _p in statements), strict=False), reverse=True)[:3]
        print(f"  full aggregation: {len(observations)} observations from {len(statements)} SQL statements")
        print(f"    raw floor (the same SQL through the driver, best of 3): {floor:.2f} s; the portal's compute: "
              f"{total:.2f} s = {total / floor:.2f} × the floor (target ≤ 2×) (peak RSS so far {_rss()})")
        print("    heaviest statements: " + "; ".join(f"{t:.2f} s ({' '.join(sql.split())[:60]}…)" for t, sql in heaviest))
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
        # The floor of a CSV: the database writing the same rows as CSV itself (`COPY (…) TO STDOUT`), read whole.
        copy_sql = "COPY (" + str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})) + \
            ") TO STDOUT WITH (FORMAT csv)"
        snapshot_copy, copied = copy_median(engine, copy_sql)
        print(f"  raw COPY (…) TO STDOUT of the snapshot's rows: {copied / 1e6:.1f} MB, median {snapshot_copy * 1000:.0f} ms")
        # The floor of the CSV download proper: the database writing the download's own rows (the 15 columns, with the
        # indicators' names and the categories' labels — twice the bytes) as CSV, read whole, with no Python or HTTP.
        from portal.indicators import exports
        from portal.indicators.compute import labels_by_code
        from portal.models import Indicator

        names = {i.code: i.name() for i in db.scalars(sa.select(Indicator).where(Indicator.active.is_(True)))}
        csv_query = exports.csv_copy_query(snap.refresh.id, Filters(period_types=PERIOD_TYPES), names, labels_by_code(db))
        copy_floor, copied = copy_median(engine, csv_query)
        print(f"  raw COPY (…) TO STDOUT of the CSV's own rows (the floor of the download): {copied / 1e6:.1f} MB, "
              f"median {copy_floor * 1000:.0f} ms")
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
          f"= {statistics.median(csv_times) / copy_floor:.2f} × the raw COPY of its rows (target ≤ 2×), "
          f"{statistics.median(csv_times) / snapshot_copy:.2f} × the snapshot's, "
          f"{statistics.median(csv_times) / floor:.1f} × the raw SQL (peak RSS so far {_rss()})")
    xlsx_times = _timed(client, "/indicators/observations.xlsx", 3)
    print(f"  XLSX of all observations (target ≤ 5 s): first build {xlsx_times[0]:.2f} s, then kept for the data version: "
          f"median {statistics.median(xlsx_times):.2f} s of 3 (peak RSS so far {_rss()})")
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
    grid = _timed(staff, "/reports/completeness", 11)
    print(f"  /reports/completeness (12 months × a page of grants, in SQL): median {statistics.median(grid) * 1000:.0f} ms")
    grid_places = _timed(staff, "/reports/completeness?by=municipality", 11)
    print(f"  /reports/completeness by municipality: median {statistics.median(grid_places) * 1000:.0f} ms")
    envelope = _timed(client, "/envelope", 11)
    print(f"  /envelope (sums in SQL, months paginated): median {statistics.median(envelope) * 1000:.0f} ms")
    _served_side_by_side(app, client, url, copy_floor)
    print(f"  peak RSS of the process at the end: {_rss()}")
    # Last, as tracemalloc itself costs memory: what each download allocates in Python at its peak.
    print(f"  peak Python memory (tracemalloc): CSV {_peak(client, '/indicators/observations.csv'):.0f} MiB, "
          f"XLSX {_peak(client, '/indicators/observations.xlsx'):.0f} MiB")
    engine.dispose()


def _served_side_by_side(app, client, url: str, copy_floor: float) -> None:
    """A bare Flask page and the monitor dashboard, each served by gunicorn with 2 workers under 20 connections
    (one after the other, the same load generator): requests per second, their ratio and the latencies."""
    from tests.bench_load import served, worker_peak

    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    headers = {"Cookie": f"{cookie.key}={cookie.value}", "Accept-Language": "en"}
    env = {"BENCH_WSGI_URL": url, "BENCH_WSGI_SECRET": SECRET}
    bare = served("tests.bench_wsgi:bare", "/", env=env, seconds=SERVE_SECONDS, threads=THREADS)
    page = served("tests.bench_wsgi:portal", "/indicators", env=env, headers=headers, seconds=SERVE_SECONDS, threads=THREADS)
    print(f"  served by gunicorn, 2 workers × {THREADS} threads (gthread, as deployed), 20 connections, "
          f"{SERVE_SECONDS:.0f} s each (load generator: Python threads on the same 2 cores):")
    print(f"    bare Flask page:    {bare.per_second:7.1f} requests/s, median {bare.median_ms:.0f} ms, "
          f"p90 {bare.p90_ms:.0f} ms ({bare.errors} errors)")
    print(f"    monitor dashboard:  {page.per_second:7.1f} requests/s, median {page.median_ms:.0f} ms, "
          f"p90 {page.p90_ms:.0f} ms ({page.errors} errors)")
    print(f"    ratio dashboard / bare page: {page.per_second / bare.per_second:.2f}× (target ≥ 0.25×, median ≤ 300 ms); "
          f"workers' peak RSS {', '.join(f'{m:.0f}' for m in page.worker_rss_mib)} MiB")
    downloads = ["/indicators", "/indicators/observations.csv", "/indicators/observations.xlsx", "/envelope",
                 "/api/v1/observations?per_page=500"]
    timings: dict[str, list[float]] = {}
    peak = worker_peak("tests.bench_wsgi:portal", downloads, env=env, headers=headers, timings=timings, repeat=3)
    print(f"  peak RSS of a gunicorn worker that served the dashboard, the CSV and the XLSX of all observations, "
          f"/envelope and the API (3 times each): {peak:.0f} MiB (target ≤ 400 MB)")
    csv_http, xlsx_http = timings[downloads[1]], timings[downloads[2]]
    print(f"  over HTTP from that worker: CSV median {statistics.median(csv_http) * 1000:.0f} ms "
          f"= {statistics.median(csv_http) / copy_floor:.2f} × the raw COPY; XLSX first build {xlsx_http[0]:.2f} s, "
          f"then {statistics.median(xlsx_http[1:]) * 1000:.0f} ms (kept for the data version)")


if __name__ == "__main__":
    main()
