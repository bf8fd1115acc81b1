"""Sample ActionKit events for the demo, the sandbox and tests: realistic, deterministic, relative to now."""

from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.events.tables import ak_events_campaign, ak_events_event

# ActionKit campaigns of the samples: 1 and 2 are mapped to VAN event types in orgsync.yaml, 3 is not.
SAMPLE_CAMPAIGNS = [
    {"id": 1, "name": "barnstorm", "title": "Barnstorm"},
    {"id": 2, "name": "canvass", "title": "Canvass"},
    {"id": 3, "name": "house-party", "title": "House party"},
]

CITIES = {
    "MI": [
        ("Detroit", "48201", "America/Detroit"),
        ("Lansing", "48933", "America/Detroit"),
        ("Flint", "48502", "America/Detroit"),
        ("Grand Rapids", "49503", "America/Detroit"),
    ],
    "WI": [
        ("Milwaukee", "53202", "America/Chicago"),
        ("Madison", "53703", "America/Chicago"),
        ("Green Bay", "54301", "America/Chicago"),
    ],
    "OH": [("Columbus", "43215", "America/New_York")],
}
VENUES = [
    "Public Library Community Room",
    "Union Hall Local 1234",
    "First Congregational Church Fellowship Hall",
    "Coffee House",
    "Neighborhood Center",
    "Volunteer's Living Room",
    "VFW Post 2222 Meeting Room and Annex Hall",
]


def sample_events(n: int = 40, *, seed: int = 7, now: dt.datetime | None = None, start_id: int = 1001) -> list[dict]:
    """``n`` events: most eligible (campaign 1 = Barnstorm, 2 = Canvass), some unconfirmed, cancelled, past,
    in a state without a VAN instance, in an unmapped campaign, and one unusable (no title)."""
    rng = random.Random(seed)
    now = (now or dt.datetime.now(dt.UTC)).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    rows = []
    for i in range(n):
        state = rng.choice(["MI", "MI", "WI", "WI", "OH"]) if i % 9 == 8 else rng.choice(["MI", "WI"])
        city, zip5, tz = rng.choice(CITIES[state])
        start = now + dt.timedelta(days=rng.randint(1, 30), hours=rng.randint(0, 6))
        kind = i % 10
        rows.append(
            {
                "id": start_id + i,
                "campaign_id": 3 if kind == 7 else rng.choice([1, 2]),
                "creator_id": 500 + i,
                "title": ""
                if kind == 9 and i == 9
                else f"{'Barnstorm' if i % 2 else 'Canvass'} kickoff in {city} #{i}",
                "venue": rng.choice(VENUES),
                "address1": f"{rng.randint(10, 9999)} {rng.choice(['Main', 'Oak', 'Maple', 'Grand River', 'State'])} St",
                "address2": "",
                "city": city,
                "state": state,
                "zip": zip5,
                "postal": zip5,
                "country": "United States",
                "starts_at_utc": start - dt.timedelta(days=60) if kind == 6 else start,
                "ends_at_utc": None if i % 3 == 0 else start + dt.timedelta(hours=2),
                "timezone": tz,
                "status": "cancelled" if kind == 5 else "active",
                "host_is_confirmed": 0 if kind == 4 else 1,
                "created_at": now - dt.timedelta(days=3),
                "updated_at": now - dt.timedelta(days=1, minutes=15 * i),
            }
        )
    return rows


def actionkit_tables(engine: Engine, schema: str | None = "actionkit") -> tuple[sa.Table, sa.Table]:
    """ActionKit's events_event and events_campaign (the columns the sync reads, the index on updated_at) in any
    database: the warehouse's `actionkit` schema, or a MySQL/MariaDB database standing in for ActionKit's own
    (tests, benchmarks). Created if missing."""
    md = sa.MetaData()
    events = ak_events_event.to_metadata(md, schema=schema)
    campaigns = ak_events_campaign.to_metadata(md, schema=schema)
    with engine.begin() as conn:
        if schema and engine.dialect.name == "postgresql":
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        md.create_all(conn, checkfirst=True)
    return events, campaigns


def seed_actionkit_events(
    engine: Engine,
    rows: list[dict],
    *,
    schema: str | None = "actionkit",
    campaigns: list[dict] | None = None,
) -> int:
    """Insert (or replace) ``rows`` in ActionKit's events table, with the sample campaigns; ``updated_at`` defaults
    to now (naive UTC, as ActionKit stores it) so that an incremental read sees them."""
    events, campaign_table = actionkit_tables(engine, schema)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    aware = [c.name for c in events.columns if getattr(c.type, "timezone", False)]
    full = []
    for r in rows:
        row = {c.name: r.get(c.name) for c in events.columns}
        row["updated_at"] = r.get("updated_at") or now
        if engine.dialect.name == "postgresql":  # created_at/updated_at are time-zone aware in the warehouse
            row.update({k: row[k].replace(tzinfo=dt.UTC) for k in aware if row[k] and row[k].tzinfo is None})
        full.append(row)
    campaigns = SAMPLE_CAMPAIGNS if campaigns is None else campaigns
    with engine.begin() as conn:
        for i in range(0, len(full), 5000):
            chunk = full[i : i + 5000]
            conn.execute(events.delete().where(events.c.id.in_([r["id"] for r in chunk])))
            conn.execute(events.insert(), chunk)
        if campaigns:
            conn.execute(campaign_table.delete().where(campaign_table.c.id.in_([c["id"] for c in campaigns])))
            conn.execute(campaign_table.insert(), campaigns)
    return len(rows)
