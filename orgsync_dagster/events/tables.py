"""Warehouse tables of the events sync."""

import sqlalchemy as sa

from orgsync_dagster.lib.tables import TZ, metadata

# ActionKit's events table as the sync reads it, in the warehouse's `actionkit` schema: the source in the local
# profile (demo, playground, tests) when ACTIONKIT_DATABASE_URL is unset, or a mirror of ActionKit that an
# organisation replicates into its warehouse. Production reads ActionKit itself (or the mirror) through the
# `actionkit` resource; this project never writes to ActionKit.
ak_events_event = sa.Table(
    "events_event",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("created_at", TZ),
    sa.Column("updated_at", TZ),
    sa.Column("campaign_id", sa.BigInteger),
    sa.Column("creator_id", sa.BigInteger),
    sa.Column("title", sa.Text),
    sa.Column("venue", sa.Text),
    sa.Column("address1", sa.Text),
    sa.Column("address2", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("state", sa.String(8)),
    sa.Column("region", sa.Text),
    sa.Column("postal", sa.Text),
    sa.Column("zip", sa.String(10)),
    sa.Column("plus4", sa.String(10)),
    sa.Column("country", sa.Text),
    sa.Column("starts_at", sa.DateTime),  # local wall time, as ActionKit stores it
    sa.Column("ends_at", sa.DateTime),
    sa.Column("starts_at_utc", sa.DateTime),  # naive UTC, as ActionKit stores it
    sa.Column("ends_at_utc", sa.DateTime),
    sa.Column("timezone", sa.String(64)),
    sa.Column("status", sa.String(32)),
    sa.Column("host_is_confirmed", sa.Integer),
    sa.Index("ix_events_event_updated_at", "updated_at"),  # the incremental read: updated_at >= watermark
    schema="actionkit",
)

# ActionKit's campaigns (joined only when the mapping names campaigns instead of giving their ids).
ak_events_campaign = sa.Table(
    "events_campaign",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.String(255)),  # the campaign's slug, e.g. "barnstorm"
    sa.Column("title", sa.Text),
    schema="actionkit",
)

# Our copy of what the sync reads from ActionKit (the columns it needs, normalised), one row per event, kept up
# to date incrementally: the rows whose updated_at passed the watermark, plus a periodic full pass that finds
# events deleted at the source. Validation runs on this copy, never on a partial read.
ak_events_source_rows = sa.Table(
    "events_source_rows",
    metadata,
    sa.Column("ak_event_id", sa.BigInteger, primary_key=True),
    sa.Column("source_row", sa.JSON, nullable=False),  # the columns the sync reads; times as ISO text (naive)
    sa.Column("source_updated_at", sa.DateTime),  # ActionKit's updated_at, naive UTC
    sa.Column("deleted_in_source", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("read_at", TZ, server_default=sa.func.now()),
    schema="actionkit",
)

# Where the incremental read of each ActionKit source stands (the watermark lives in the warehouse).
ak_events_source_state = sa.Table(
    "events_source_state",
    metadata,
    sa.Column("source", sa.String(300), primary_key=True),  # e.g. "mysql://ak-db.example.org:3306/ak" (no user)
    sa.Column("watermark", sa.DateTime),  # newest updated_at read so far (naive UTC, the source's own clock)
    sa.Column("last_full_pass_at", TZ),
    sa.Column("settings_hash", sa.String(64)),  # validation settings last applied to every row
    sa.Column("rows_in_copy", sa.BigInteger),
    sa.Column("updated_at", TZ, server_default=sa.func.now()),
    schema="actionkit",
)

# The validated ActionKit events: eligibility, target VAN instance and event type, or why not.
ak_events_validated = sa.Table(
    "events_validated",
    metadata,
    sa.Column("ak_event_id", sa.BigInteger, primary_key=True),
    sa.Column("instance", sa.String(64)),
    sa.Column("event_type_name", sa.String(100)),
    sa.Column("eligible", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text),  # why not eligible / why quarantined
    sa.Column("quarantined", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.false()),  # cancelled/deleted in AK
    sa.Column("payload", sa.JSON),  # normalised event (title, start/end ISO with offset, location)
    sa.Column("validated_at", TZ, server_default=sa.func.now()),
    schema="actionkit",
)

# Mirror of VAN events per instance (ngpvan.events of the original, with the raw object kept for updates).
van_events = sa.Table(
    "events",
    metadata,
    sa.Column("instance", sa.String(64), primary_key=True),
    sa.Column("van_event_id", sa.BigInteger, primary_key=True),
    sa.Column("ak_event_id", sa.BigInteger, index=True),  # parsed from shortName when it is numeric
    sa.Column("short_name", sa.String(20)),
    sa.Column("title", sa.Text),
    sa.Column("event_type_id", sa.BigInteger),
    sa.Column("event_type_name", sa.String(100)),
    sa.Column("starts_at", TZ),
    sa.Column("ends_at", TZ),
    sa.Column("venue", sa.Text),
    sa.Column("address1", sa.Text),
    sa.Column("address2", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("state", sa.Text),
    sa.Column("zip", sa.Text),
    sa.Column("country", sa.Text),
    sa.Column("location_id", sa.BigInteger),
    sa.Column("is_active", sa.Boolean),
    sa.Column("raw", sa.JSON),
    sa.Column("source", sa.String(16)),  # export | created
    sa.Column("last_seen_at", TZ, server_default=sa.func.now()),
    schema="ngpvan",
)

# VAN event types per instance (cached by the export so the sync needs no extra request).
van_event_types = sa.Table(
    "event_types",
    metadata,
    sa.Column("instance", sa.String(64), primary_key=True),
    sa.Column("event_type_id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.String(100)),
    sa.Column("raw", sa.JSON),
    sa.Column("fetched_at", TZ, server_default=sa.func.now()),
    schema="ngpvan",
)
