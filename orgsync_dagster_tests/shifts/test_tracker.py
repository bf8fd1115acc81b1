"""The tracker's rules and store on a real PostgreSQL: edits with versions and audit, permissions under the lock,
canvass groups, walk-in de-duplication, the review, the dashboard roll-up."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from orgsync_dagster.shifts import metrics, tracker, tracker_store
from orgsync_dagster.shifts.tables import edits, shifts
from orgsync_dagster.shifts.tracker import Scope, TrackerInputError

from .daydata import make_day

ANN = tracker_store.Actor(email="ann@example.org", name="Ann Organizer", initials="AO")
BOB = tracker_store.Actor(email="bob@example.org", name="Bob Organizer", initials="BO")
EVERYWHERE = lambda *_: True
R1A_ONLY = lambda instance, office, region: office == "R1A"


@pytest.fixture
def today_rows(engine, settings):
    day = settings.today()
    make_day(engine, day, settings)
    with engine.connect() as conn:
        return day, tracker_store.day_shifts(conn, day, Scope("MI"))


def test_shift_changes_are_validated(settings):
    row = {"status": "Scheduled", "call_pass": 2, "flake": False, "claim": None}
    assert tracker.shift_changes(row, "status", "no  SHOW", settings, "AO") == {"status": "No Show", "flake": True}
    assert tracker.shift_changes(row, "call_pass", "+1", settings, "AO") == {"call_pass": 3}
    with pytest.raises(TrackerInputError, match="cannot go below 0"):
        tracker.shift_changes({**row, "call_pass": 0}, "call_pass", "-1", settings, "AO")
    with pytest.raises(TrackerInputError, match="between 0 and 99"):
        tracker.shift_changes(row, "call_pass", "500", settings, "AO")
    with pytest.raises(TrackerInputError, match="already claimed by BO"):
        tracker.shift_changes({**row, "claim": "BO"}, "claim", "claim", settings, "AO")
    with pytest.raises(TrackerInputError, match="cannot be edited"):
        tracker.shift_changes(row, "van_id", "1", settings, "AO")


def test_walk_in_form_names_every_problem(settings):
    with pytest.raises(TrackerInputError) as err:
        tracker.parse_walk_in({"first_name": "", "phone": "12", "email": "x", "slot": "09:00"}, settings)
    text = str(err.value)
    for part in ("first and last name", "10-digit", "e-mail", "activity", "time slot"):
        assert part in text
    w = tracker.parse_walk_in(
        {
            "first_name": " Ana ",
            "last_name": "Li",
            "phone": "(314) 555-0100",
            "activity": "canvassing",
            "slot": "10:00",
        },
        settings,
    )
    assert (w.first_name, w.phone, w.activity, w.slot) == ("Ana", "3145550100", "Canvassing", dt.time(10))


def test_edit_is_versioned_audited_and_refused_when_stale(engine, settings, today_rows):
    day, rows = today_rows
    row = rows[0]
    fresh = tracker_store.edit_shift(engine, settings, ANN, row["id"], row["version"], "status", "In", EVERYWHERE)
    assert fresh["status"] == "In" and fresh["version"] == row["version"] + 1 and fresh["last_user"] == "Ann Organizer"
    with pytest.raises(tracker_store.Conflict) as err:  # Bob's page still had the old version
        tracker_store.edit_shift(engine, settings, BOB, row["id"], row["version"], "status", "Declined", EVERYWHERE)
    assert err.value.row["status"] == "In" and "Ann Organizer" in str(err.value)
    with pytest.raises(tracker_store.Forbidden):  # checked before the version: nothing about the row leaks
        tracker_store.edit_shift(engine, settings, BOB, row["id"], 0, "status", "Declined", lambda *_: False)
    with pytest.raises(tracker_store.NotFound):
        tracker_store.edit_shift(engine, settings, BOB, 10**9, 1, "status", "In", EVERYWHERE)
    with engine.connect() as conn:
        q = sa.select(edits).where(edits.c.entity_id == row["id"], edits.c.entity == "shift", edits.c.version > 1)
        audit = conn.execute(q.where(edits.c.user_email != "fo@example.org")).all()  # make_day's own audit row aside
    assert [(a.field, a.old_value, a.new_value, a.user_email, a.day) for a in audit] == [
        ("status", row["status"], "In", "ann@example.org", day)
    ]


def test_notes_are_appended_by_both_organizers(engine, settings, today_rows):
    _day, rows = today_rows
    row = rows[1]
    tracker_store.add_note(engine, ANN, "shift", row["id"], "sdc", "left a voicemail", EVERYWHERE)
    after = tracker_store.add_note(engine, BOB, "shift", row["id"], "sdc", "  called   back ", EVERYWHERE)
    assert [(n["user_name"], n["text"]) for n in after["notes"]] == [("AO", "left a voicemail"), ("BO", "called back")]
    with pytest.raises(TrackerInputError, match="at most 255"):
        tracker_store.add_note(engine, ANN, "shift", row["id"], "sdc", "x" * 300, EVERYWHERE)


def test_canvass_group_lifecycle_and_member_rules(engine, settings, today_rows):
    day, rows = today_rows
    a, b, c = [r for r in rows if r["canvass_group_id"] is None][:3]  # make_day put the others in a group
    for r, status in ((a, "Same Day Confirmed"), (b, "In")):
        tracker_store.edit_shift(engine, settings, ANN, r["id"], r["version"], "status", status, EVERYWHERE)
    with pytest.raises(TrackerInputError, match="only volunteers who are In or Same Day Confirmed"):
        tracker_store.create_group(engine, settings, ANN, day, "MI", "R1A", [a["id"], c["id"]], {}, EVERYWHERE)
    group = tracker_store.create_group(
        engine, settings, ANN, day, "MI", "R1A", [a["id"], b["id"]], {"goal": "50"}, EVERYWHERE
    )
    with pytest.raises(TrackerInputError, match="already in canvass group"):
        tracker_store.create_group(engine, settings, ANN, day, "MI", "R1A", [a["id"]], {}, EVERYWHERE)
    t0 = dt.datetime(2026, 11, 27, 15, tzinfo=dt.UTC)
    g = tracker_store.group_action(engine, settings, ANN, group["id"], group["version"], "out", {}, EVERYWHERE, t0)
    assert g["next_check_in_at"] == t0 + dt.timedelta(minutes=45) and {m["status"] for m in g["members"]} == {"In"}
    with pytest.raises(TrackerInputError, match="between 0 and 100000"):
        tracker_store.group_action(
            engine, settings, ANN, g["id"], g["version"], "check_in", {"doors": "-1"}, EVERYWHERE
        )
    t1 = t0 + dt.timedelta(minutes=50)
    g = tracker_store.group_action(
        engine, settings, ANN, g["id"], g["version"], "check_in", {"doors": "30"}, EVERYWHERE, t1
    )
    assert (g["doors"], g["check_ins"], g["next_check_in_at"]) == (30, 1, t1 + dt.timedelta(hours=1))
    assert tracker.is_overdue(g, t1 + dt.timedelta(hours=2)) and not tracker.is_overdue(g, t1)
    with pytest.raises(TrackerInputError, match="cannot go down"):
        tracker_store.group_action(
            engine, settings, ANN, g["id"], g["version"], "check_in", {"doors": "12"}, EVERYWHERE
        )
    with pytest.raises(tracker_store.Conflict):
        tracker_store.group_action(engine, settings, BOB, g["id"], g["version"] - 1, "return", {}, EVERYWHERE)
    g = tracker_store.group_action(
        engine, settings, ANN, g["id"], g["version"], "return", {"doors": "44"}, EVERYWHERE, t1
    )
    assert g["is_returned"] and g["doors"] == 44 and {m["status"] for m in g["members"]} == {"Completed"}
    with pytest.raises(tracker_store.Forbidden):
        tracker_store.group_action(engine, settings, BOB, g["id"], g["version"], "claim", {}, lambda *_: False)


def test_walk_in_is_deduplicated_by_van_id_then_name_and_phone(engine, settings, today_rows):
    day = today_rows[0]
    walk = tracker.parse_walk_in(
        {"first_name": "Wes", "last_name": "Walk", "phone": "3145550123", "activity": "Canvassing", "slot": "10:00"},
        settings,
    )
    first, reused = tracker_store.add_walk_in(engine, settings, ANN, day, "MI", "R1A", walk, EVERYWHERE)
    assert not reused and first["status"] == "In" and first["source"] == "walk_in"
    later = tracker.parse_walk_in(
        {
            "first_name": "WES",
            "last_name": "walk",
            "phone": "314-555-0123",
            "activity": "Phonebanking",
            "slot": "16:00",
        },
        settings,
    )
    second, reused = tracker_store.add_walk_in(engine, settings, ANN, day, "MI", "R1A", later, EVERYWHERE)
    assert reused and second["volunteer_id"] == first["volunteer_id"]
    with pytest.raises(TrackerInputError, match="already has a shift at 16:00"):
        tracker_store.add_walk_in(engine, settings, ANN, day, "MI", "R1A", later, EVERYWHERE)
    with pytest.raises(tracker_store.Forbidden):
        tracker_store.add_walk_in(engine, settings, ANN, day, "MI", "R2B", walk, R1A_ONLY)


def test_review_approval_and_its_limits(engine, settings, today_rows):
    day, rows = today_rows
    with engine.connect() as conn:
        review = {r["id"]: r for r in tracker_store.review_rows(conn, day, Scope("MI"), settings)}
    assert {r["review_state"] for r in review.values()} == {"to_review"}  # make_day: Completed / No Show vs Scheduled
    items = [(i, r["version"]) for i, r in review.items()]
    done = tracker_store.set_approval(engine, settings, ANN, items, EVERYWHERE)
    assert sorted(done["done"]) == sorted(review) and not done["conflicts"]
    first = sorted(review)[0]
    with engine.begin() as conn:  # the nightly sync sent it
        conn.execute(
            shifts.update().where(shifts.c.id == first).values(sync_outcome="sent", version=shifts.c.version + 1)
        )
    with engine.connect() as conn:
        v = conn.execute(sa.select(shifts.c.version).where(shifts.c.id == first)).scalar_one()
    withdrawn = tracker_store.set_approval(engine, settings, ANN, [(first, v)], EVERYWHERE, approve=False)
    assert withdrawn["refused"] == [{"id": first, "reason": "already sent to VAN"}]
    row = tracker_store.shift_row(engine.connect(), sorted(review)[1])
    tracker_store.edit_shift(engine, settings, ANN, row["id"], row["version"], "status", "Declined", EVERYWHERE)
    with engine.connect() as conn:
        states = {r["id"]: r["review_state"] for r in tracker_store.review_rows(conn, day, Scope("MI"), settings)}
    assert states[row["id"]] == "changed" and states[first] == "sent"


def test_dashboard_rolls_offices_up_to_regions_and_states(settings):
    now = dt.datetime(2026, 11, 27, 18, tzinfo=dt.UTC)
    shifts_ = [
        {"id": 1, "instance": "MI", "office": "R1A", "region": "R1", "status": "Completed", "source": "van", "flake": False, "flake_pass": 0, "canvass_group_id": 7},
        {"id": 2, "instance": "MI", "office": "R1A", "region": "R1", "status": "No Show", "source": "van", "flake": True, "flake_pass": 0, "canvass_group_id": None},
        {"id": 3, "instance": "MI", "office": "R1B", "region": "R1", "status": "Same Day Confirmed", "source": "van", "flake": False, "flake_pass": 0, "canvass_group_id": None},
        {"id": 4, "instance": "MI", "office": "R2A", "region": "R2", "status": "In", "source": "walk_in", "flake": False, "flake_pass": 0, "canvass_group_id": 7},
    ]  # fmt: skip
    groups = [
        {"id": 7, "instance": "MI", "office": "R1A", "doors": 40, "goal": 80, "is_returned": False, "departed_at": now - dt.timedelta(hours=2), "next_check_in_at": now - dt.timedelta(minutes=5)},
    ]  # fmt: skip
    rows = metrics.rollup(shifts_, groups, settings, now)
    assert [(r["level"], r["label"]) for r in rows] == [
        ("state", "MI total"),
        ("region", "Region R1"),
        ("office", "R1A"),
        ("office", "R1B"),
        ("region", "Region R2"),
        ("office", "R2A"),
    ]
    state, r1a = rows[0], rows[2]
    assert (state["scheduled"], state["walk_ins"], state["flakes_to_chase"]) == (3, 1, 1)
    assert r1a["canvassers_out"] == 2 and r1a["overdue_check_ins"] == 1 and r1a["pct_to_goal"] == 50.0
    assert r1a["kph"] == 10.0  # 40 doors / (2 canvassers x 2 hours out, to now): really per hour
    assert state["flake_pct"] == round(100 / 3, 1) and rows[1]["confirm_pct"] == round(200 / 3, 1)
