"""Warehouse tables of the Action Network people mirror (schema ``membership``; created by lib/tables.py).

``group_id`` identifies one Action Network group: its API URL and a fingerprint of its key (never the key).
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from orgsync_dagster.lib.tables import TZ, metadata

# One row per Action Network person of a group, as last seen by paging GET /people.
an_people = sa.Table(
    "an_people",
    metadata,
    sa.Column("group_id", sa.String(120), primary_key=True),
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("email", sa.Text),  # primary address, lower-cased (the match key)
    sa.Column("given_name", sa.Text),
    sa.Column("family_name", sa.Text),
    sa.Column("postal_address", JSONB),  # the first postal address
    sa.Column("custom_fields", JSONB),
    sa.Column("modified_date", TZ),
    sa.Column("refresh_id", sa.String(32)),  # the refresh that last saw the person (full refresh drops the rest)
    schema="membership",
)
sa.Index("ix_an_people_email", an_people.c.group_id, an_people.c.email)

# One row per group: when the mirror was refreshed and up to which Action Network modified_date.
an_mirror_state = sa.Table(
    "an_mirror_state",
    metadata,
    sa.Column("group_id", sa.String(120), primary_key=True),
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("watermark", TZ),  # the newest modified_date seen
    sa.Column("refreshed_at", TZ),
    sa.Column("full_refreshed_at", TZ),
    sa.Column("people", sa.BigInteger),
    schema="membership",
)
