"""Command-line tasks: `flask --app wsgi <command>`."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, current_app

from config import BASE_DIR

MIGRATIONS = BASE_DIR / "migrations"


def alembic_config(url: str | None = None) -> AlembicConfig:
    cfg = AlembicConfig(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", (url or current_app.config["DATABASE_URL"]).replace("%", "%%"))
    return cfg


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)


def register_commands(app: Flask) -> None:
    @app.cli.group("db")
    def db_group() -> None:
        """Database migrations (Alembic)."""

    @db_group.command("upgrade")
    @click.argument("revision", default="head")
    def upgrade(revision: str) -> None:
        """Upgrade the database to REVISION (default: head)."""
        _ensure_sqlite_dir(current_app.config["DATABASE_URL"])
        command.upgrade(alembic_config(), revision)

    @db_group.command("downgrade")
    @click.argument("revision", default="-1")
    def downgrade(revision: str) -> None:
        """Downgrade the database to REVISION (default: one step back)."""
        command.downgrade(alembic_config(), revision)

    @db_group.command("current")
    def current() -> None:
        command.current(alembic_config(), verbose=True)

    @db_group.command("heads")
    def heads() -> None:
        command.heads(alembic_config(), verbose=True)

    @db_group.command("check")
    def check() -> None:
        """Fail if the models and the migrations disagree."""
        command.check(alembic_config())

    @db_group.command("revision")
    @click.option("-m", "--message", required=True)
    def revision(message: str) -> None:
        """Autogenerate a new revision from the models."""
        command.revision(alembic_config(), message=message, autogenerate=True)

    @app.cli.command("seed-reference")
    def seed_reference() -> None:
        """Load regions, local governments and catalogues (idempotent)."""
        from portal.db import db
        from portal.reference.services import load_reference_data

        added = load_reference_data(db)
        db.commit()
        click.echo("reference data: " + ", ".join(f"{k} +{v}" for k, v in added.items()))

    @app.cli.command("rates-load")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--source", default="NBRM middle rate", show_default=True, help="Where the rates come from.")
    def rates_load(path: str, source: str) -> None:
        """Load the National Bank's daily middle rates (CSV: day,mkd_per_eur). All or nothing: every wrong line is
        listed and nothing is loaded; submitted financial reports keep the rates they were submitted with."""
        from portal.db import db
        from portal.finance_reports.rates import load

        text = Path(path).read_bytes()[:5_000_000].decode("utf-8-sig", errors="replace")
        added, replaced, problems = load(db, text, source)
        if problems:
            db.rollback()
            raise click.ClickException("nothing loaded:\n" + "\n".join(
                f"line {p.line}{' ' + p.column if p.column else ''}: {p.message}" for p in problems[:200]))
        db.commit()
        click.echo(f"exchange rates: {added} added, {replaced} replaced")

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Load the demo organisations, accounts and story (never in production)."""
        from portal.db import db
        from portal.demo import seed_demo as run

        if current_app.config["PORTAL_ENV"] == "production":
            raise click.ClickException("Demo data is never loaded in production (PORTAL_ENV=production).")
        created = run(db)
        db.commit()
        click.echo(f"demo data: {created} new records" if created else "demo data: already present, nothing changed")

    @app.cli.command("refresh-indicators")
    @click.option("--force", is_flag=True, help="Recompute even when nothing has changed.")
    def refresh_indicators(force: bool) -> None:
        """Recompute the indicator snapshot when the data version or the month has moved since (run from cron)."""
        from portal.db import db
        from portal.indicators.snapshot import refresh

        run = refresh(db, force=force)
        click.echo(f"indicators: {run.rows} observations, computed in {run.duration_ms} ms at {run.finished_at:%Y-%m-%d %H:%M} UTC "
                   f"(data version {run.data_version})")

    @app.cli.command("seed-stress")
    @click.option("--grants", default=2000, show_default=True, help="Grant agreements to create.")
    @click.option("--months", default=60, show_default=True, help="Months each grant runs and reports.")
    @click.option("--providers", default=500, show_default=True, help="Provider organisations holding them.")
    @click.option("--people", default=None, type=int, help="People in the service-user registers (default 100 a grant).")
    def seed_stress(grants: int, months: int, providers: int, people: int | None) -> None:
        """A national-scale dataset for the benchmark: every local government, grants with years of monthly reports,
        and the ledger (never in production; the database must have no grant agreement yet)."""
        import time

        from portal.db import db
        from portal.stress import seed_stress as run

        if current_app.config["PORTAL_ENV"] == "production":
            raise click.ClickException("The stress dataset is never loaded in production (PORTAL_ENV=production).")
        started = time.perf_counter()
        try:
            counts = run(db, grants=grants, months=months, providers=providers, echo=click.echo, people=people)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        if db.get_bind().dialect.name == "postgresql":
            db.execute(sa.text("ANALYZE"))  # after a bulk change the planner's statistics are stale
            db.commit()
        click.echo("stress data: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                   + f" in {time.perf_counter() - started:.1f} s")

    @app.cli.command("create-admin")
    @click.option("--email", prompt=True)
    @click.option("--name", "full_name", prompt="Full name")
    @click.option("--organisation", default="", help="Ministry name (used when no ministry exists yet).")
    @click.password_option(confirmation_prompt=True)
    def create_admin(email: str, full_name: str, organisation: str, password: str) -> None:
        """Create the first administrator (and the ministry organisation if missing)."""
        from portal.auth.services import create_administrator
        from portal.db import db
        from portal.errors import ValidationFailed

        try:
            user = create_administrator(db, email, full_name, password, organisation)
        except ValidationFailed as exc:
            messages = [str(m) for msgs in exc.field_errors.values() for m in msgs] or [str(exc.message)]
            raise click.ClickException(" ".join(messages)) from None
        db.commit()
        click.echo(f"administrator {user.email} created in {user.organisation.name}")

    @app.cli.command("mfa-reset")
    @click.option("--email", prompt=True)
    @click.option("--reason", prompt="How the person's identity was confirmed, and why")
    def mfa_reset(email: str, reason: str) -> None:
        """Remove a user's second factor (when no administrator can sign in to do it); ends their sessions."""
        from portal.auth import mfa
        from portal.auth.services import normalise_email
        from portal.db import db
        from portal.errors import DomainError
        from portal.models import User

        user = db.scalar(sa.select(User).where(User.email == normalise_email(email)))
        if user is None:
            raise click.ClickException(f"no user with the email address {email}")
        try:
            mfa.reset_from_command_line(db, user, reason)
        except DomainError as exc:
            messages = [str(m) for msgs in exc.field_errors.values() for m in msgs] or [str(exc.message)]
            raise click.ClickException(" ".join(messages)) from None
        db.commit()
        click.echo(f"second factor of {user.email} reset; every session of theirs has ended")

    @app.cli.command("register-rekey")
    def register_rekey() -> None:
        """Carry every keyed hash of the service-user register to the current key. First put the current
        REGISTER_HMAC_KEY at the end of REGISTER_HMAC_OLD_KEYS and set a new REGISTER_HMAC_KEY; no personal number is
        needed (README, "Service-user register")."""
        from portal.db import db
        from portal.errors import DomainError
        from portal.register import keys

        try:
            result = keys.rekey(db)
        except DomainError as exc:
            raise click.ClickException(str(exc.message)) from None
        db.commit()
        click.echo(f"register key version {result['key_version']}: {result['episodes_rekeyed']} episodes re-keyed")

    @app.cli.command("register-anonymise")
    def register_anonymise() -> None:
        """Anonymise the service-user registers of grants that ended more than REGISTER_RETENTION_YEARS ago (run
        monthly from cron, connected as the database owner)."""
        from portal.db import db
        from portal.register import retention

        result = retention.anonymise_due(db)
        db.commit()
        click.echo(f"{result['episodes']} episodes of {result['grants']} grants anonymised")

    @app.cli.command("send-mail")
    def send_mail() -> None:
        """Queue the monthly- and financial-report reminders and overdue notices that are due, the daily list of overdue concerns
        for their handlers, then deliver pending messages
        from the outbox (run from cron every few minutes; it also retries failures)."""
        from portal.db import db
        from portal.mail import deliver_pending
        from portal.reports.services import queue_notices

        queued = queue_notices(db)
        db.commit()
        from portal.finance_reports.overdue import queue_notices as queue_finance_notices

        finance = queue_finance_notices(db)  # financial reports due and overdue (issue 18)
        db.commit()
        from portal.grievances.services import queue_overdue_digests

        digests = queue_overdue_digests(db)  # overdue concerns, once a day per handler
        db.commit()
        sent, failed = deliver_pending(db, limit=500)
        click.echo(f"report reminders {queued['reminder']}, overdue notices {queued['overdue']}, overdue concern digests "
                   f"{digests}; sent {sent}, failed {failed}")
        click.echo(f"financial report reminders {finance['reminder']}, financial report overdue notices {finance['overdue']}")
        _sweep(db)

    def _sweep(db, minutes: int = 60) -> None:
        from portal.api.ratelimit import sweep as sweep_rate_counters
        from portal.documents.services import sweep_storage

        sweep_rate_counters(db)
        db.commit()
        removed = sweep_storage(db, older_than_minutes=minutes)
        click.echo(f"storage sweep: {removed['unfinished']} unfinished uploads, {removed['orphaned']} orphaned objects removed")

    @app.cli.command("db-roles")
    @click.option("--role", default="portal_app", show_default=True, help="The application's login role.")
    @click.option("--schema", default="public", show_default=True)
    @click.option("--password-env", default="PORTAL_APP_DB_PASSWORD", show_default=True,
                  help="Environment variable holding the role's password (set on creation only).")
    @click.option("--execute", is_flag=True, help="Run the statements as the connected owner instead of printing them.")
    def db_roles(role: str, schema: str, password_env: str, execute: bool) -> None:
        """The least-privilege PostgreSQL role the application connects as (migrations stay with the owner)."""
        import os

        from portal import dbroles

        password = os.environ.get(password_env) or None
        if not execute:
            for statement in dbroles.statements(role, schema, "********" if password else None):
                click.echo(statement + ";")
            return
        engine = current_app.extensions["db_engine"]
        if engine.dialect.name != "postgresql":
            raise click.ClickException("db-roles is for PostgreSQL; the embedded SQLite database has no roles.")
        dbroles.apply(engine, role, schema, password)
        click.echo(f"role {role}: privileges on schema {schema} set (append-only: {', '.join(dbroles.APPEND_ONLY)})")

    @app.cli.command("sweep-uploads")
    @click.option("--older-than-minutes", default=60, show_default=True, type=click.IntRange(min=5))
    def sweep_uploads(older_than_minutes: int) -> None:
        """Remove temporary files of interrupted uploads and stored objects that no document points at."""
        from portal.db import db

        _sweep(db, older_than_minutes)

    @app.cli.command("storage-check")
    def storage_check() -> None:
        """Write, read and delete a probe object; report what is configured."""
        import io
        import uuid

        from portal.documents.storage import get_storage

        storage = get_storage()
        click.echo(f"storage: {storage.description}")
        key = f"healthcheck/{uuid.uuid4().hex}"
        payload = b"portal storage probe " + key.encode()
        storage.put(key, io.BytesIO(payload), "text/plain")
        try:
            if b"".join(storage.open(key)) != payload:
                raise click.ClickException("the probe object read back differs from what was written")
        finally:
            storage.delete(key)
        click.echo(f"write, read and delete of {key}: ok")

    @app.cli.command("check-db")
    def check_db() -> None:
        """Exit non-zero when the database does not answer."""
        from portal.db import db

        db.execute(sa.text("SELECT 1"))
        click.echo("database ok")
