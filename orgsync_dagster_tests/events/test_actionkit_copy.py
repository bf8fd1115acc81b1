"""The warehouse copy of ActionKit's events: when to read fully, and applying reads that overlap in time."""

import datetime as dt

import sqlalchemy as sa

from orgsync_dagster.events import actionkit_copy
from orgsync_dagster.events.settings import EventsSettings, SourceSettings
from orgsync_dagster.events.tables import ak_events_source_rows, ak_events_validated
from orgsync_dagster.resources.actionkit import normalize_row

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
SETTINGS = EventsSettings(event_type_campaigns={"Barnstorm": [1]}, instances=["MI"])


def row(ak_id, title="Kickoff", updated=dt.datetime(2026, 11, 1, 9, 0)):
    return normalize_row(
        {
            "id": ak_id,
            "updated_at": updated,
            "campaign_id": 1,
            "title": title,
            "city": "Detroit",
            "state": "MI",
            "starts_at_utc": dt.datetime(2027, 1, 5, 18, 0),
            "timezone": "America/Detroit",
            "status": "active",
            "host_is_confirmed": 1,
        }
    )


def test_plan_read_full_first_then_incremental_then_periodic_full():
    s = SourceSettings(full_pass_every_hours=24, overlap_minutes=10)
    assert actionkit_copy.plan_read(None, NOW, s).full
    state = {"watermark": dt.datetime(2026, 11, 27, 11, 0), "last_full_pass_at": NOW - dt.timedelta(hours=3)}
    incremental = actionkit_copy.plan_read(state, NOW, s)
    assert not incremental.full and incremental.since == dt.datetime(2026, 11, 27, 10, 50)
    assert actionkit_copy.plan_read(state, NOW, s, force_full=True).full
    stale = {**state, "last_full_pass_at": NOW - dt.timedelta(hours=25)}
    assert "periodic full pass" in actionkit_copy.plan_read(stale, NOW, s).why


def test_an_older_full_pass_never_deletes_or_overwrites_what_a_newer_read_copied(engine):
    full = actionkit_copy.ReadPlan(True, None, "full")
    actionkit_copy.apply_read(engine, "src", full, [row(1), row(2)], SETTINGS, NOW)
    # a full pass starts reading at NOW+1h; meanwhile an incremental read (started at NOW+2h) copies a new event 3
    # and a newer title of event 2, and is applied first
    incremental = actionkit_copy.ReadPlan(False, dt.datetime(2026, 11, 1), "incremental")
    newer = [row(2, "Renamed", dt.datetime(2026, 11, 27, 13, 30)), row(3, updated=dt.datetime(2026, 11, 27, 13, 30))]
    actionkit_copy.apply_read(engine, "src", incremental, newer, SETTINGS, NOW + dt.timedelta(hours=2))
    late = actionkit_copy.apply_read(engine, "src", full, [row(1), row(2)], SETTINGS, NOW + dt.timedelta(hours=1))
    assert late.deleted == 0 and late.changed == 0
    with engine.connect() as conn:
        copy = {r.ak_event_id: r for r in conn.execute(sa.select(ak_events_source_rows))}
        validated = {r.ak_event_id: r for r in conn.execute(sa.select(ak_events_validated))}
    assert not copy[3].deleted_in_source and copy[2].source_row["title"] == "Renamed"
    assert validated[2].payload["title"] == "Renamed" and validated[3].eligible
    assert late.watermark_after == dt.datetime(2026, 11, 27, 13, 30)  # the watermark never goes back
