"""Alembic environment: the portal's models are the target; the URL comes from the caller."""

from __future__ import annotations

import os
import sys
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import create_engine, pool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import portal.models  # noqa: E402,F401  (registers every table on the metadata)
from portal.db import Base  # noqa: E402

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        url = os.environ.get("DATABASE_URL", "")
    if not url:
        from config import get_config

        url = get_config(os.environ.get("PORTAL_ENV", "development")).DATABASE_URL
    return url


#: Tables that only migrations keep, with no model (0013: SQLite's deferred money-invariant check).
DATABASE_ONLY_TABLES = {"money_invariant_breach"}


def _include_object(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "table" and name in DATABASE_ONLY_TABLES)


def _options(url: str) -> dict:
    return {
        "target_metadata": target_metadata,
        "include_object": _include_object,
        "compare_type": True,
        "render_as_batch": url.startswith("sqlite"),
    }


def run_migrations_offline() -> None:
    url = _url()
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **_options(url))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **_options(str(connection.engine.url)))
        with context.begin_transaction():
            context.run_migrations()
        return
    url = _url()
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, **_options(url))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
