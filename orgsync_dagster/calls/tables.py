"""Warehouse tables of the calls sync (the calls themselves live in the calls store, MongoDB)."""

import sqlalchemy as sa

from orgsync_dagster.lib.tables import TZ, metadata

# VAN reference data per VAN database (instance + mode), as last fetched by ["van", "reference_data"].
van_reference_data = sa.Table(
    "van_reference_data",
    metadata,
    sa.Column("instance", sa.String(64), primary_key=True),
    sa.Column("mode", sa.Integer, primary_key=True),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("fetched_at", TZ, nullable=False, server_default=sa.func.now()),
    schema="calls",
)

# One summary per candidate and day (the original's call_sync.reports): counts only, never personal data.
daily_reports = sa.Table(
    "daily_reports",
    metadata,
    sa.Column("candidate", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("contents", sa.Text, nullable=False),
    sa.Column("counts", sa.JSON),
    sa.Column("posted_to_slack", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
    schema="calls",
)
