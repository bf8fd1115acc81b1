"""Warehouse tables shared by every sync: the ledger, its attempt log and the request meter.

Domain tables live in ``<domain>/tables.py`` on the same ``metadata``; ``ensure_schema`` creates all of them.
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()
TZ = sa.DateTime(timezone=True)

# Per record: the last known state of its push. One row per (sync, scope, record_key).
sync_ledger = sa.Table(
    "sync_ledger",
    metadata,
    sa.Column("sync", sa.String(64), primary_key=True),  # e.g. "van.events", "action_network.membership"
    sa.Column("scope", sa.String(64), primary_key=True),  # e.g. VAN instance "MI", a candidate, a list
    sa.Column("record_key", sa.String(200), primary_key=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # planned|in_flight|succeeded|failed|uncertain
    sa.Column("receipt", sa.String(300)),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("run_id", sa.String(64)),
    sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    schema="orgsync",
)
sa.Index("ix_sync_ledger_status", sync_ledger.c.sync, sync_ledger.c.scope, sync_ledger.c.status)

# Append-only: every push outcome ever recorded (the audit trail behind the ledger's current state).
sync_attempts = sa.Table(
    "sync_attempts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("sync", sa.String(64), nullable=False),
    sa.Column("scope", sa.String(64), nullable=False),
    sa.Column("record_key", sa.String(200), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # succeeded|failed|uncertain|reconciled
    sa.Column("receipt", sa.String(300)),
    sa.Column("error", sa.Text),
    sa.Column("http_status", sa.Integer),
    sa.Column("run_id", sa.String(64)),
    sa.Column("at", TZ, nullable=False, server_default=sa.func.now()),
    schema="orgsync",
)
sa.Index("ix_sync_attempts_key", sync_attempts.c.sync, sync_attempts.c.scope, sync_attempts.c.record_key)

# The request meter: requests sent per day, API, instance, endpoint and status (the cost report's basis).
api_requests = sa.Table(
    "api_requests",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("system", sa.String(32), primary_key=True),
    sa.Column("instance", sa.String(64), primary_key=True),
    sa.Column("method", sa.String(8), primary_key=True),
    sa.Column("endpoint", sa.String(200), primary_key=True),
    sa.Column("status", sa.Integer, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    schema="orgsync",
)

DOMAIN_TABLE_MODULES = (
    "orgsync_dagster.events.tables",
    "orgsync_dagster.membership.tables",
    "orgsync_dagster.membership.mirror_tables",
    "orgsync_dagster.calls.tables",
    "orgsync_dagster.shifts.tables",
    "orgsync_dagster.web.tables",
)
_ADVISORY_LOCK_ID = 7_214_001


def load_domain_tables() -> None:
    for name in DOMAIN_TABLE_MODULES:
        importlib.import_module(name)


def ensure_schema(engine: Engine) -> None:
    """Create every schema and table that is missing. Safe to call concurrently from many processes."""
    load_domain_tables()
    schemas = sorted({t.schema for t in metadata.tables.values() if t.schema})
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        for schema in schemas:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        metadata.create_all(conn, checkfirst=True)
        _add_missing_columns(conn)


def _add_missing_columns(conn) -> None:
    """Additive migration: a nullable column added to a table definition after its table was created (an older
    warehouse) is added with ALTER TABLE. Anything else (a NOT NULL column without default, a changed type) stops
    with a message naming it rather than failing later in an INSERT."""
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        existing = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
        for column in table.columns:
            if column.name in existing:
                continue
            if not column.nullable and column.server_default is None:
                raise RuntimeError(
                    f"warehouse table {table.schema}.{table.name} lacks the NOT NULL column {column.name!r}: it needs "
                    "a hand-written migration"
                )
            ddl = column.type.compile(dialect=conn.dialect)
            conn.execute(
                sa.text(f'ALTER TABLE "{table.schema}"."{table.name}" ADD COLUMN IF NOT EXISTS "{column.name}" {ddl}')
            )
