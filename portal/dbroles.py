"""A least-privilege PostgreSQL role for the running application.

Migrations run as the owner of the tables; the application connects as a role that may read and write
rows but owns nothing, so it cannot ALTER a table, DISABLE TRIGGER, or set `session_replication_role`
(superuser-only), and so cannot switch off the append-only triggers on the audit trail, the ledger and
the submitted report versions. On the append-only tables (the audit trail, the ledger, the
messages of grievances, the versions of register episodes) it may only SELECT and INSERT.

`flask --app wsgi db-roles --role portal_app` prints the statements; `--execute` runs them as the
connected owner. Run it again after every `flask db upgrade` (it is idempotent) so new tables are granted.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

#: Never UPDATE, DELETE or TRUNCATE for the application, whatever the triggers say.
APPEND_ONLY = ("audit_event", "ledger_entry", "grievance_message", "register_episode_version")
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def statements(role: str, schema: str, password: str | None = None) -> list[str]:
    if not ROLE_NAME.match(role) or not ROLE_NAME.match(schema):
        raise ValueError("role and schema names: lower-case letters, digits and _ only")
    create = f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS"
    if password:
        create += " PASSWORD " + "'" + password.replace("'", "''") + "'"
    guarded = ", ".join(f"{schema}.{table}" for table in APPEND_ONLY)
    return [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN EXECUTE "  # noqa: S608 (names checked above)
        + "'" + create.replace("'", "''") + "'; END IF; END $$",
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"REVOKE CREATE ON SCHEMA {schema} FROM {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {guarded} FROM {role}",
    ]


def apply(engine: sa.Engine, role: str, schema: str, password: str | None = None) -> None:
    with engine.begin() as conn:
        for statement in statements(role, schema, password):
            conn.execute(sa.text(statement))
