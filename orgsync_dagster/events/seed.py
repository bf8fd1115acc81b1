"""Sample ActionKit events for the demo, the sandbox and tests: realistic, deterministic, relative to now."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy.engine import Engine

from orgsync_dagster.events.tables import ak_events_event

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
                "updated_at": now - dt.timedelta(days=1),
            }
        )
    return rows


def seed_actionkit_events(engine: Engine, rows: list[dict]) -> int:
    with engine.begin() as conn:
        conn.execute(ak_events_event.delete().where(ak_events_event.c.id.in_([r["id"] for r in rows])))
        conn.execute(ak_events_event.insert(), rows)
    return len(rows)
