"""Migrations: one head; upgrade from empty to head and back to base; models agree with them."""

from __future__ import annotations

import os
import secrets

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from portal.cli import alembic_config
from tests.conftest import is_postgres


def test_there_is_exactly_one_head(database_url):
    script = ScriptDirectory.from_config(alembic_config(database_url))
    assert len(script.get_heads()) == 1


def test_models_and_migrations_agree(database_url, base_app):
    # `alembic check` raises if autogenerate would produce any operation.
    command.check(alembic_config(database_url))


def _fresh_database(tmp_path):
    if not is_postgres():
        return f"sqlite:///{tmp_path / 'migrations.db'}", None
    target = os.environ["TEST_DATABASE_URL"]
    schema = f"test_mig_{secrets.token_hex(4)}"
    engine = sa.create_engine(target, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in target else "?"
    return f"{target}{separator}options=-csearch_path%3D{schema}", (engine, schema)


def test_upgrade_from_empty_to_head_and_downgrade_to_base(tmp_path):
    url, cleanup = _fresh_database(tmp_path)
    try:
        cfg = alembic_config(url)
        command.upgrade(cfg, "head")
        engine = sa.create_engine(url)
        tables = set(sa.inspect(engine).get_table_names())
        assert {"organisation", "user_account", "audit_event", "municipality", "alembic_version"} <= tables
        command.downgrade(cfg, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        command.upgrade(cfg, "head")  # and up again: downgrades leave nothing behind
        engine.dispose()
    finally:
        if cleanup:
            admin_engine, schema = cleanup
            with admin_engine.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin_engine.dispose()
