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

# The configuration staff edit without a deploy: one current document per (kind, name) with an optimistic version.
# kind: "candidate" (name = slug), "van_instance" (name = instance), "term_codes" (name = "default").
# ``body`` is the document as written in candidates.yaml (json, not jsonb: key order is kept for exports).
config_documents = sa.Table(
    "config_documents",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_by", sa.String(200), nullable=False),
    schema="calls",
)

# Every change ever made to a configuration document: who, when, and each field's old -> new value.
config_history = sa.Table(
    "config_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # create | update | remove | restore
    sa.Column("changed_at", TZ, nullable=False, server_default=sa.func.now()),
    sa.Column("changed_by", sa.String(200), nullable=False),
    sa.Column("changes", sa.JSON, nullable=False),  # [{"field": "results['busy'].value", "old": 10, "new": 20}]
    sa.Column("old_body", sa.JSON),
    sa.Column("new_body", sa.JSON),
    schema="calls",
)
sa.Index("ix_calls_config_history_doc", config_history.c.kind, config_history.c.name, config_history.c.version)

# VAN bulk import batches: one row per job, committed before every step that can be lost (see calls/bulk.py).
bulk_import_batches = sa.Table(
    "bulk_import_batches",
    metadata,
    sa.Column("token", sa.String(40), primary_key=True),  # client-generated; in the job's description
    sa.Column("candidate", sa.String(64), nullable=False),
    sa.Column("day", sa.Date, nullable=False),  # the partition whose run created the batch
    sa.Column("instance", sa.String(64), nullable=False),
    sa.Column("mode", sa.Integer, nullable=False),
    # prepared -> posting -> posted -> completed | failed ; refused (VAN said no: nothing created) ;
    # unknown (the POST's answer was lost: the job may exist; never re-posted) ; abandoned (never sent)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("s3_key", sa.String(500), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
    sa.Column("job_id", sa.BigInteger),
    sa.Column("job_status", sa.String(32)),
    sa.Column("outcome", sa.JSON),  # counts once the results file is read
    sa.Column("error", sa.Text),
    sa.Column("run_id", sa.String(64)),
    sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    schema="calls",
)
sa.Index("ix_calls_bulk_batches_state", bulk_import_batches.c.candidate, bulk_import_batches.c.state)

# The outcome of each (non-dry) sync run of a candidate-day, for the every_call_final check (a separate check so a
# dry run, which is not a materialization, is not checked either).
sync_outcomes = sa.Table(
    "sync_outcomes",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("candidate", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Column("problems", sa.JSON, nullable=False),
    sa.Column("waiting_for_budget", sa.Integer, nullable=False, server_default="0"),
    sa.Column("at", TZ, nullable=False, server_default=sa.func.now()),
    schema="calls",
)
