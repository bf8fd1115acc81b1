"""Warehouse tables of the membership sync (schema ``membership``).

Nothing derived from an S3 key has a length limit (Text): keys may be up to 1024 bytes, partition keys are bounded
by ``s3io.partition_key_for`` but older ones may be long.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from orgsync_dagster.lib.tables import TZ, metadata
from orgsync_dagster.membership.exports import CANONICAL_COLUMNS

# One row per export (one dynamic partition): where the raw file is, where its kept copy is, how it parsed.
exports = sa.Table(
    "exports",
    metadata,
    sa.Column("partition_key", sa.Text, primary_key=True),
    sa.Column("bucket", sa.Text, nullable=False),
    sa.Column("s3_key", sa.Text, nullable=False),
    sa.Column("etag", sa.String(100)),
    sa.Column("last_modified", TZ),  # export order = (last_modified, s3_key)
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("archive_key", sa.Text),  # the raw export, kept whatever happens to the original
    sa.Column("status", sa.String(16), nullable=False),  # received | loaded | failed | rejected
    sa.Column("error", sa.Text),
    sa.Column("container", sa.String(16)),
    sa.Column("member", sa.Text),
    sa.Column("encoding", sa.String(32)),
    sa.Column("key_column", sa.String(64)),
    sa.Column("columns", JSONB),  # canonical columns present in the file
    sa.Column("rows_in", sa.BigInteger),
    sa.Column("rows_ok", sa.BigInteger),
    sa.Column("rows_quarantined", sa.BigInteger),
    sa.Column("quarantine_counts", JSONB),
    sa.Column("warnings", JSONB),
    sa.Column("received_at", TZ, server_default=sa.func.now()),
    sa.Column("loaded_at", TZ),
    schema="membership",
)

# The validated rows of each export: every canonical column as text, unknown columns in ``extra``.
snapshot_rows = sa.Table(
    "snapshot_rows",
    metadata,
    sa.Column("partition_key", sa.Text, primary_key=True),
    sa.Column("member_key", sa.Text, primary_key=True),
    *[sa.Column(c, sa.Text) for c in CANONICAL_COLUMNS],
    sa.Column("extra", JSONB),
    schema="membership",
)

# Rows that could not be used, with the reason and their original values (never dropped silently).
quarantine_rows = sa.Table(
    "quarantine_rows",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("partition_key", sa.Text, nullable=False, index=True),
    sa.Column("line", sa.BigInteger),  # line in the CSV (header = 1)
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("data", JSONB),
    schema="membership",
)

# The diff of each export against the previous loaded export (None for the first one).
diffs = sa.Table(
    "diffs",
    metadata,
    sa.Column("partition_key", sa.Text, primary_key=True),
    sa.Column("base_partition", sa.Text),
    sa.Column("key_column", sa.String(64)),
    sa.Column("compare_columns", JSONB),
    sa.Column("older_rows", sa.BigInteger),
    sa.Column("newer_rows", sa.BigInteger),
    sa.Column("new", sa.BigInteger),
    sa.Column("updated", sa.BigInteger),
    sa.Column("lapsed", sa.BigInteger),
    sa.Column("unchanged", sa.BigInteger),
    sa.Column("held", sa.BigInteger),  # older members found only in quarantined rows: never lapsed
    sa.Column("computed_at", TZ, server_default=sa.func.now()),
    schema="membership",
)

# The changed members of each diff: new/updated with the newer row, lapsed with the older row.
diff_rows = sa.Table(
    "diff_rows",
    metadata,
    sa.Column("partition_key", sa.Text, primary_key=True),
    sa.Column("member_key", sa.Text, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # new | updated | lapsed
    sa.Column("changed_columns", sa.Text),  # comma-separated, updated rows only
    sa.Column("data", JSONB),
    schema="membership",
)

# A person's decision on an export the guard blocked: approve (push it) or reject (never push, never a base).
approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("partition_key", sa.Text, nullable=False, index=True),
    sa.Column("decision", sa.String(16), nullable=False),  # approve | reject
    sa.Column("decided_by", sa.Text, nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("decided_at", TZ, server_default=sa.func.now()),
    schema="membership",
)

# One row per export pushed to Action Network (the latest push of it).
pushes = sa.Table(
    "pushes",
    metadata,
    sa.Column("partition_key", sa.Text, primary_key=True),
    sa.Column("base_partition", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),  # complete | partial
    sa.Column("planned", sa.BigInteger),
    sa.Column("succeeded", sa.BigInteger),
    sa.Column("failed", sa.BigInteger),
    sa.Column("uncertain", sa.BigInteger),
    sa.Column("requests", sa.BigInteger),
    sa.Column("run_id", sa.String(64)),
    sa.Column("finished_at", TZ, server_default=sa.func.now()),
    schema="membership",
)

# Objects the intake refused (allow-list, plain file refused, unreadable): never parsed, raw copy kept, reason recorded.
intake_rejections = sa.Table(
    "intake_rejections",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("partition_key", sa.Text, index=True),
    sa.Column("bucket", sa.Text, nullable=False),
    sa.Column("s3_key", sa.Text, nullable=False),
    sa.Column("etag", sa.Text),
    sa.Column("reason", sa.Text, nullable=False),  # short code: sender_not_allowed, unauthenticated, ...
    sa.Column("detail", sa.Text),  # human-readable, e-mail addresses masked
    sa.Column("kept_copy", sa.Text),  # s3://bucket/archive key of the raw object, or None when it could not be kept
    sa.Column("seen_at", TZ, server_default=sa.func.now()),
    schema="membership",
)
