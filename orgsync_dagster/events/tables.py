"""Warehouse tables of the events sync."""

import sqlalchemy as sa

from orgsync_dagster.lib.tables import TZ, metadata

# The live copy of ActionKit's events table (replicated by the organisation's ActionKit mirror).
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
